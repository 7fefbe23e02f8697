"""Taking the texts back at the SMS provider: after an erasure (rule 9) or when retention
removes old bodies. Twilio (and a SignalWire space) keep every Message resource with
its body, and every inbound MMS picture, until they are deleted through the API.

- `sms.erase` jobs (erasure): each of the contact's messages with a provider sid, in
  and out, is deleted (`DELETE Messages/{sid}.json`); the inbound pictures first
  (`DELETE Messages/{sid}/Media/{media}.json`: Twilio deletes a message's media with
  it, SignalWire does not). A message the provider is still delivering cannot be
  deleted yet (Twilio 20009): its body is redacted at once if the provider lets it,
  and the job tries the deletion again with the outbox's backoff (at most 5 minutes
  apart, OUTBOX_RETRY_MAX) until the message is final.
- `sms.redact` jobs (retention): each swept message's body is redacted at the
  provider (`POST Messages/{sid}.json` with `Body=""`, Twilio's documented way), and
  its pictures are deleted: a customer's, by the ids in their MediaUrl; a reply's,
  which Twilio copied from smsbridge, as the provider lists them (`GET Media.json`).

Like the chat cleanups (chat_cleanup.py), these jobs outlive what they are about: the
payload carries the sids (and the media ids read from the stored MediaUrl), never a
message to look up. They go through the durable outbox, so an outage delays them,
never loses them (a job keeps trying for 30 days); something already gone at the
provider counts as done. They are queued in the erasure's or the sweep's own
transaction, which they never block or fail.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox.outbox import Job, Outbox, RetryLater
from bridge.inbox.types import ProviderError

log = logging.getLogger(__name__)

ERASE_JOB = "sms.erase"
REDACT_JOB = "sms.redact"
REDACT_QUEUE = "sms:redact"  # retention's jobs, one queue: their order does not matter
CHUNK = 100  # messages per job: a retry repeats at most this many calls
MAX_AGE = timedelta(days=30)  # an outage this long and the job goes dead (logged with its sids)
_ID = re.compile(r"[A-Za-z0-9-]{8,64}")


def erase_queue(conversation_id: int) -> str:
    return f"sms:erase:{conversation_id}"


@dataclass(frozen=True)
class ProviderCopy:
    """A message as the provider holds it: its sid and its inbound pictures' ids."""

    sid: str
    media: tuple[str, ...] = ()
    # A reply with pictures: Twilio copied them from smsbridge under ids smsbridge never
    # learned; they are listed at the provider.
    list_media: bool = False


class ProviderCleaner(Protocol):
    """What an SMS provider adapter does for these jobs. Gone counts as done (no
    error); an outage or a refusal to try later raises ProviderError(retryable=True)."""

    async def delete_message(self, sid: str) -> bool:
        """Delete the message (and, at Twilio, its media); False: still being delivered."""
        ...

    async def redact_message(self, sid: str) -> None: ...

    async def delete_media(self, sid: str, media_sid: str) -> None: ...

    async def list_media(self, sid: str) -> list[str]:
        """The ids of the message's media at the provider (none when it is gone)."""
        ...


def media_ids(media: Sequence[Mapping[str, Any]] | None) -> tuple[str, ...]:
    """The provider's ids of an inbound message's pictures, from their stored MediaUrl
    (`.../Messages/{sid}/Media/{ME...}`, the same shape on SignalWire). Reply files
    (`/media/<token>`, ours) have none."""
    found = []
    for item in media or []:
        parts = urlsplit(str(item.get("url") or "")).path.rstrip("/").split("/")
        if len(parts) >= 4 and parts[-2] == "Media" and parts[-4] == "Messages":
            media_id = parts[-1].removesuffix(".json")
            if _ID.fullmatch(media_id):
                found.append(media_id)
    return tuple(found)


def copy_of(sid: str | None, direction: str, media: Sequence[Mapping[str, Any]] | None) -> ProviderCopy | None:
    if not sid:
        return None
    if direction == "in":
        return ProviderCopy(sid, media_ids(media))
    return ProviderCopy(sid, list_media=bool(media))


def encode(copies: Sequence[ProviderCopy]) -> dict[str, object]:
    return {"messages": [{"sid": c.sid, "media": list(c.media), **({"list_media": True} if c.list_media else {})} for c in copies]}


def decode(data: Mapping[str, object]) -> list[ProviderCopy]:
    raw = data.get("messages")
    copies = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict) and item.get("sid"):
            media = item.get("media")
            known = tuple(str(m) for m in media) if isinstance(media, list) else ()
            copies.append(ProviderCopy(str(item["sid"]), known, bool(item.get("list_media"))))
    return copies


async def queue_cleanup(outbox: Outbox, session: AsyncSession, kind: str, queue: str, copies: Iterable[ProviderCopy]) -> int:
    """Queue `kind` jobs for `copies`, CHUNK messages a job, in the caller's transaction."""
    items = list(copies)
    jobs = 0
    for start in range(0, len(items), CHUNK):
        await outbox.enqueue(session, queue=queue, kind=kind, payload=encode(items[start : start + CHUNK]))
        jobs += 1
    return jobs


class ProviderCleanup:
    """The `sms.erase` and `sms.redact` jobs, run with a provider's ProviderCleaner."""

    def __init__(self, cleaner: ProviderCleaner, name: str = "the SMS provider") -> None:
        self.cleaner = cleaner
        self.name = name

    def register(self, outbox: Outbox) -> None:
        outbox.register(ERASE_JOB, self.erase, max_age=MAX_AGE, on_give_up=self.give_up)
        outbox.register(REDACT_JOB, self.redact, max_age=MAX_AGE, on_give_up=self.give_up)

    async def erase(self, job: Job) -> None:
        busy = []
        for copy in decode(job.payload):
            try:
                await self._delete_media(copy)
                if await self.cleaner.delete_message(copy.sid):
                    continue
            except ProviderError as exc:
                self._failed(exc, copy)
                continue
            busy.append(copy.sid)
            try:  # the words go now if the provider allows it; the deletion waits
                await self.cleaner.redact_message(copy.sid)
            except ProviderError as exc:
                log.info("%s: could not redact message %s while it is still being delivered: %s", self.name, copy.sid, exc.reason)
        if busy:
            raise RetryLater(f"{len(busy)} message(s) still being delivered by {self.name}; deleting them later")

    async def redact(self, job: Job) -> None:
        for copy in decode(job.payload):
            try:
                await self._delete_media(copy)
                await self.cleaner.redact_message(copy.sid)
            except ProviderError as exc:
                self._failed(exc, copy)

    async def _delete_media(self, copy: ProviderCopy) -> None:
        """The pictures first: a SignalWire space keeps a deleted message's media."""
        found = list(copy.media)
        if copy.list_media:
            found += [m for m in await self.cleaner.list_media(copy.sid) if m not in found]
        for media_id in found:
            await self.cleaner.delete_media(copy.sid, media_id)

    def _failed(self, exc: ProviderError, copy: ProviderCopy) -> None:
        """An outage: the job waits (RetryLater). A refusal about this one message (a
        4xx that no retry changes): logged, and the others go on."""
        if exc.retryable:
            raise RetryLater(f"{exc.summary}: {exc.reason}", exc.retry_after) from exc
        log.warning("%s refused to clean up message %s: %s", self.name, copy.sid, exc.reason)

    async def give_up(self, job: Job, reason: str) -> None:
        sids = ", ".join(c.sid for c in decode(job.payload))
        log.error("%s still holds these messages (delete them by hand in its console): %s", self.name, sids)


class NoProviderCopies:
    """A provider that keeps nothing of its own (the sandbox's phones read smsbridge's
    rows): every cleanup is done at once."""

    async def delete_message(self, sid: str) -> bool:
        return True

    async def redact_message(self, sid: str) -> None:
        return None

    async def delete_media(self, sid: str, media_sid: str) -> None:
        return None

    async def list_media(self, sid: str) -> list[str]:
        return []
