"""Taking smsbridge's own chat posts back: after an erasure (rule 9) or when retention
removes old texts. A second, small chat contract beside `chat.py`.

These jobs outlive what they are about: by the time one runs, the conversation and its
messages may be gone from the database. So each payload carries everything the platform
needs (the channel, the thread, the posts' ids), never a conversation to look up. They
go through the durable outbox like every post, so an outage delays them, never loses
them; deleting or editing something already gone counts as done.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Protocol

from bridge.inbox.outbox import Job, Outbox

ERASE = "erase"  # job kind `<platform>.erase`
REDACT = "redact"  # job kind `<platform>.redact`


@dataclass(frozen=True)
class ErasePosts:
    """Delete smsbridge's posts about an erased contact in one chat channel."""

    channel: str
    thread: str | None  # the conversation's thread (Slack root ts, Discord forum post id)
    posts: tuple[str, ...] = ()  # posts of ours recorded outside the thread's listing


UPLOAD = "upload"  # chat_refs.purpose of a customer's picture shared in the chat: upload0, upload1…


@dataclass(frozen=True)
class RedactPosts:
    """Replace the text of posts that show a message body retention removed, and take
    back the pictures shared with it."""

    channel: str
    thread: str | None
    posts: tuple[str, ...]
    text: str  # what the posts say instead ("Text removed after 30 days")
    # The pictures' records (purpose upload<i>): a Slack file id, a Discord message id.
    pictures: tuple[str, ...] = ()


class ChatCleaner(Protocol):
    @property
    def platform(self) -> str: ...

    async def erase(self, job: Job, request: ErasePosts) -> None: ...

    async def redact(self, job: Job, request: RedactPosts) -> None: ...


def encode_erase(request: ErasePosts) -> dict[str, object]:
    return {"channel": request.channel, "thread": request.thread, "posts": list(request.posts)}


def encode_redact(request: RedactPosts) -> dict[str, object]:
    return {
        "channel": request.channel, "thread": request.thread, "posts": list(request.posts), "text": request.text,
        "pictures": list(request.pictures),
    }


def _posts(data: Mapping[str, object], key: str = "posts") -> tuple[str, ...]:
    raw = data.get(key)
    return tuple(str(p) for p in raw) if isinstance(raw, list) else ()


def _thread(data: Mapping[str, object]) -> str | None:
    thread = data.get("thread")
    return str(thread) if thread else None


def decode_erase(data: Mapping[str, object]) -> ErasePosts:
    return ErasePosts(str(data["channel"]), _thread(data), _posts(data))


def decode_redact(data: Mapping[str, object]) -> RedactPosts:
    return RedactPosts(str(data["channel"]), _thread(data), _posts(data), str(data.get("text") or ""), _posts(data, "pictures"))


def register_chat_cleaner(outbox: Outbox, cleaner: ChatCleaner) -> None:
    def erase(job: Job) -> Awaitable[None]:
        return cleaner.erase(job, decode_erase(job.payload))

    def redact(job: Job) -> Awaitable[None]:
        return cleaner.redact(job, decode_redact(job.payload))

    outbox.register(f"{cleaner.platform}.{ERASE}", erase)
    outbox.register(f"{cleaner.platform}.{REDACT}", redact)
