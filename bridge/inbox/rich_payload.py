"""Neutral rich text in a job payload (JSON) and back, so an adapter renders it later."""

from __future__ import annotations

from collections.abc import Sequence

from bridge.inbox.markup import Code, Link, Mention, Plain, Rich, Segment, Strong

Encoded = list[dict[str, str]]


def encode(text: Rich) -> Encoded:
    out: Encoded = []
    for segment in text:
        match segment:
            case Plain(text=words):
                out.append({"plain": words})
            case Strong(text=words):
                out.append({"strong": words})
            case Code(text=words):
                out.append({"code": words})
            case Mention(platform=platform, user_id=user_id, name=name):
                out.append({"mention": name, "platform": platform, "user_id": user_id})
            case Link(url=url, label=label):
                out.append({"link": label, "url": url})
    return out


def decode(data: Sequence[dict[str, str]]) -> Rich:
    segments: list[Segment] = []
    for item in data:
        if "plain" in item:
            segments.append(Plain(item["plain"]))
        elif "strong" in item:
            segments.append(Strong(item["strong"]))
        elif "code" in item:
            segments.append(Code(item["code"]))
        elif "mention" in item:
            segments.append(Mention(item["platform"], item["user_id"], item["mention"]))
        elif "link" in item:
            segments.append(Link(item["url"], item["link"]))
    return Rich(tuple(segments))
