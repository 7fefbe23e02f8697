"""Neutral rich text: what the core says, with no chat platform's markup in it.

The core writes its own wording as a *template* in a tiny neutral markup (`**strong**`,
`` `code` ``, `{name}` placeholders) and passes every customer- or teammate-supplied value
separately. Values are never parsed as markup: each chat adapter renders the segments and
escapes the values its own way (Slack mrkdwn `& < >`, Discord markdown and mentions), so a
contact named `*Bob* <!channel>` or `@everyone` can neither ping anyone nor break formatting.

    rich("Status: **{status}** (was {before}) — by {who}.", status="Closed", before="open", who=name)
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Plain:
    text: str


@dataclass(frozen=True)
class Strong:
    text: str


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class Mention:
    """A person, rendered as a notifying mention on their own platform, else as @name."""

    platform: str
    user_id: str
    name: str


@dataclass(frozen=True)
class Link:
    url: str
    label: str


@dataclass(frozen=True)
class Quote:
    """Untrusted text shown as a block quote; put it at the start of a line."""

    text: str


Segment = Plain | Strong | Code | Mention | Link | Quote

_SPANS = re.compile(r"(\*\*.+?\*\*|`[^`]*`)", re.S)
_FORMATTER = string.Formatter()


@dataclass(frozen=True)
class Rich:
    segments: tuple[Segment, ...] = ()

    def __iter__(self) -> Iterator[Segment]:
        return iter(self.segments)

    def __bool__(self) -> bool:
        return any(_plain_of(s) for s in self.segments)

    def __add__(self, other: Rich | str) -> Rich:
        extra = other.segments if isinstance(other, Rich) else (Plain(other),)
        return Rich(self.segments + extra)

    def __radd__(self, other: str) -> Rich:
        return Rich((Plain(other),) + self.segments)

    def plain(self) -> str:
        """The words without any markup (mentions as @name): logs, SMS, fallbacks, tests."""
        return "".join(_plain_of(s) for s in self.segments)

    def __str__(self) -> str:
        return self.plain()


Value = str | int | float | Segment | Rich


def _plain_of(segment: Segment) -> str:
    if isinstance(segment, Mention):
        return f"@{segment.name}"
    if isinstance(segment, Link):
        return segment.label
    if isinstance(segment, Quote):
        return "> " + segment.text.replace("\n", "\n> ")
    return segment.text


def _as_text(value: Value) -> str:
    if isinstance(value, Rich):
        return value.plain()
    if isinstance(value, (Plain, Strong, Code, Mention, Link, Quote)):
        return _plain_of(value)
    return str(value)


def _fill(span: str, values: dict[str, Value]) -> Iterator[Segment]:
    """Plain text with placeholders: each value becomes its own segment(s)."""
    for literal, field, spec, conversion in _FORMATTER.parse(span):
        if literal:
            yield Plain(literal)
        if field is None:
            continue
        value = values[field]
        if isinstance(value, Rich):
            yield from value.segments
        elif isinstance(value, (Plain, Strong, Code, Mention, Link, Quote)):
            yield value
        else:
            yield Plain(_FORMATTER.format_field(_FORMATTER.convert_field(value, conversion), spec or ""))


def _flat(span: str, values: dict[str, Value]) -> str:
    """A strong or code span: placeholders are filled in as plain words."""
    return "".join(
        literal + ("" if field is None else _as_text(values[field])) for literal, field, _, _ in _FORMATTER.parse(span)
    )


def rich(template: str, /, **values: Value) -> Rich:
    """Build rich text from smsbridge's own `template` (trusted) and `values` (never trusted)."""
    segments: list[Segment] = []
    for span in _SPANS.split(template):
        if not span:
            continue
        if span.startswith("**") and span.endswith("**") and len(span) > 4:
            segments.append(Strong(_flat(span[2:-2], values)))
        elif span.startswith("`") and span.endswith("`") and len(span) > 1:
            segments.append(Code(_flat(span[1:-1], values)))
        else:
            segments.extend(_fill(span, values))
    return Rich(tuple(segments))


def own_words(text: str) -> Rich:
    """smsbridge's own finished sentence in the neutral markup (`**strong**`, `` `code` ``).

    For text built before rich text existed (command answers): its spans are kept, every
    character is still escaped by the renderers, so nothing in it can ping anyone.
    """
    return rich(text.replace("{", "{{").replace("}", "}}"))


def plain(text: str) -> Rich:
    """Untrusted text as it is: no markup is read in it."""
    return Rich((Plain(text),))


def quote(text: str) -> Rich:
    """Untrusted text as a block quote (each of its lines quoted)."""
    return Rich((Quote(text),))


def join(parts: Iterable[Rich | str], separator: str = "\n") -> Rich:
    out: list[Segment] = []
    for index, part in enumerate(parts):
        if index:
            out.append(Plain(separator))
        out.extend(part.segments if isinstance(part, Rich) else (Plain(part),))
    return Rich(tuple(out))


class Renderer(Protocol):
    """One chat platform's way to write each kind of segment (escaping the words)."""

    def plain(self, text: str) -> str: ...
    def strong(self, text: str) -> str: ...
    def code(self, text: str) -> str: ...
    def mention(self, person: Mention) -> str: ...
    def link(self, url: str, label: str) -> str: ...
    def quote(self, text: str) -> str: ...


def render(text: Rich | str, renderer: Renderer) -> str:
    out: list[str] = []
    for segment in as_rich(text):
        match segment:
            case Plain(text=words):
                out.append(renderer.plain(words))
            case Strong(text=words):
                out.append(renderer.strong(words) if words.strip() else renderer.plain(words))
            case Code(text=words):
                out.append(renderer.code(words) if words else "")
            case Mention():
                out.append(renderer.mention(segment))
            case Link(url=url, label=label):
                out.append(renderer.link(url, label))
            case Quote(text=words):
                out.append(renderer.quote(words))
    return "".join(out)


Text = Rich | str  # what a reply or notice may carry: a bare str is plain, untrusted text


def as_rich(text: Text) -> Rich:
    return text if isinstance(text, Rich) else plain(text)
