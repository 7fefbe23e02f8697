"""Erasing a contact (compliance rule 9): everything smsbridge holds about a number,
except the fact that it must not be texted.

One transaction removes the contact's profile, conversations, messages, notes, reply
files, search entries (the search triggers follow the deletes), timers (scheduled
texts, reminders, SLA clocks) and the outbox jobs still waiting for them, and queues
one `<platform>.erase` chat job per chat channel that shows them (chat_cleanup.py), so
smsbridge's own posts go too, later, even across an outage.

What stays, without the number in clear (pseudonyms.py): the suppressions (an
opted-out number stays opted out) and the consent history, both keyed by the number's
keyed hash; the audit trail's rows about the contact's conversations (who did what,
when), their details emptied; and one `contact_erased` audit row with the actor, the
hash and the counts. Report counters (`report_message_hours`) hold no personal data
and stay.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import Text, cast, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox import audit
from bridge.inbox.chat_cleanup import ERASE, ErasePosts, encode_erase
from bridge.inbox.db import Database, changed_rows, insert_ignore
from bridge.inbox.models import (
    AuditEvent,
    ChatRef,
    ConsentEvent,
    Contact,
    Conversation,
    ConversationCycle,
    MediaFile,
    Message,
    Note,
    OutboxJob,
    ProcessedEvent,
    SlaBreach,
    Suppression,
    ThreadLink,
    Timer,
    utcnow,
)
from bridge.inbox.outbox import Outbox
from bridge.inbox.phone import parse_phone
from bridge.inbox.provider_cleanup import ERASE_JOB, copy_of, erase_queue, queue_cleanup
from bridge.inbox.pseudonyms import number_hash, pepper

ERASED = {"erased": True}  # what an audit row about an erased conversation still says


@dataclass(frozen=True)
class ErasureCounts:
    """What an erasure removed (or, for `preview`, would remove)."""

    conversations: int = 0
    messages: int = 0
    notes: int = 0
    media_files: int = 0
    timers: int = 0
    queued_jobs: int = 0
    chat_threads: int = 0  # threads / forum posts whose deletion was queued
    provider_messages: int = 0  # texts with a provider sid, deleted at the provider (sms.erase)
    consent_events: int = 0  # kept, keyed by the hash
    suppressions: int = 0  # kept, keyed by the hash

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Erasure:
    """The result: the number's hash (what the records keep) and the counts."""

    number: str  # as typed, normalised (E.164 when valid); never stored
    subject: str  # the keyed hash the kept records are filed under
    counts: ErasureCounts
    chat_platforms: tuple[str, ...]  # where posts are being deleted


def number_key(raw: str) -> str:
    """The number as contacts and consent store it (E.164 when valid)."""
    return parse_phone(raw).key


def _like(value: str) -> str:
    return "%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class Eraser:
    def __init__(self, db: Database, outbox: Outbox) -> None:
        self.db = db
        self.outbox = outbox

    async def preview(self, session: AsyncSession, number: str) -> tuple[Contact | None, ErasureCounts] | None:
        """What erasing `number` would remove; None when smsbridge knows nothing of it."""
        contact = (await session.execute(select(Contact).where(Contact.phone == number))).scalar_one_or_none()
        conv_ids = await _conversations(session, contact)
        message_ids = select(Message.id).where(Message.conversation_id.in_(conv_ids)).scalar_subquery()
        counts = ErasureCounts(
            conversations=len(conv_ids),
            messages=await _count(session, Message, Message.conversation_id.in_(conv_ids)),
            notes=await _count(session, Note, Note.conversation_id.in_(conv_ids)),
            media_files=await _count(session, MediaFile, MediaFile.message_id.in_(message_ids)),
            timers=await _count(session, Timer, Timer.conversation_id.in_(conv_ids), Timer.state == "pending"),
            provider_messages=await _count(session, Message, Message.conversation_id.in_(conv_ids), Message.provider_sid.is_not(None)),
            consent_events=await _count(session, ConsentEvent, ConsentEvent.phone == number),
            suppressions=await _count(session, Suppression, Suppression.phone == number),
        )
        if contact is None and not counts.consent_events and not counts.suppressions:
            return None
        return contact, counts

    async def erase(self, number: str, actor: str, *, contact_id: int | None = None) -> Erasure | None:
        """Erase everything about `number` (a stored number key); None when unknown.

        `contact_id`, from a confirm button: erase only if the number still belongs to it
        (a click on a stale button must not erase someone else)."""
        await self.prepare()
        async with self.db.sessions.begin() as session:
            return await self.erase_in(session, number, actor, contact_id=contact_id)

    async def prepare(self) -> None:
        """Make the pepper and commit it before any row is filed under it (erase_in's
        transaction may roll back; the pepper must not go with it once read)."""
        async with self.db.sessions.begin() as session:
            await pepper(session)

    async def erase_in(self, session: AsyncSession, number: str, actor: str, *, contact_id: int | None = None) -> Erasure | None:
        found = await self.preview(session, number)
        if found is None:
            return None
        contact, _ = found
        if contact_id is not None and (contact is None or contact.id != contact_id):
            return None
        subject = await number_hash(session, number)
        conv_ids = await _conversations(session, contact)
        # A subquery, not a list: a long-time customer's thousands of messages are no
        # thousands of bound parameters (SQLite caps them).
        message_ids = select(Message.id).where(Message.conversation_id.in_(conv_ids)).scalar_subquery()

        jobs = await self._drop_jobs(session, number, conv_ids)
        threads, platforms = await self._queue_chat_erasure(session, conv_ids, message_ids)
        provider = await self._queue_provider_erasure(session, conv_ids)

        media = changed_rows(await session.execute(delete(MediaFile).where(MediaFile.message_id.in_(message_ids))))
        await session.execute(delete(ChatRef).where(ChatRef.message_id.in_(message_ids)))
        await session.execute(delete(ConversationCycle).where(ConversationCycle.conversation_id.in_(conv_ids)))
        await session.execute(delete(SlaBreach).where(SlaBreach.conversation_id.in_(conv_ids)))
        timers = changed_rows(
            await session.execute(delete(Timer).where(Timer.conversation_id.in_(conv_ids), Timer.state == "pending"))
        )
        await session.execute(delete(Timer).where(Timer.conversation_id.in_(conv_ids)))  # fired ones keep texts too
        await session.execute(
            update(AuditEvent)
            .where(or_(AuditEvent.conversation_id.in_(conv_ids), cast(AuditEvent.detail, Text).like(_like(number), escape="\\")))
            .values(conversation_id=None, detail=ERASED)
            .execution_options(synchronize_session=False)
        )
        await session.execute(delete(ProcessedEvent).where(ProcessedEvent.key.like(_like(number), escape="\\")))
        notes = changed_rows(await session.execute(delete(Note).where(Note.conversation_id.in_(conv_ids))))
        messages = changed_rows(await session.execute(delete(Message).where(Message.conversation_id.in_(conv_ids))))
        await session.execute(delete(ThreadLink).where(ThreadLink.conversation_id.in_(conv_ids)))
        await session.execute(delete(Conversation).where(Conversation.id.in_(conv_ids)))
        if contact is not None:
            await session.execute(delete(Contact).where(Contact.id == contact.id))

        suppressions = await _hash_suppressions(session, number, subject)
        consent = changed_rows(
            await session.execute(
                update(ConsentEvent).where(ConsentEvent.phone == number).values(phone=subject).execution_options(synchronize_session=False)
            )
        )
        counts = ErasureCounts(
            conversations=len(conv_ids), messages=messages, notes=notes, media_files=media, timers=timers,
            queued_jobs=jobs, chat_threads=threads, provider_messages=provider, consent_events=consent, suppressions=suppressions,
        )
        audit.record(session, actor, "contact_erased", subject=subject, **counts.as_dict())
        return Erasure(number, subject, counts, platforms)

    async def _drop_jobs(self, session: AsyncSession, number: str, conv_ids: list[int]) -> int:
        """Jobs not yet running that would send to, post about or file a text of the
        contact (and finished-but-dead ones that still hold their words)."""
        queues = [f"{prefix}:conv:{cid}" for cid in conv_ids for prefix in ("sms", *_chat_prefixes())]
        where = [OutboxJob.queue.like(f"inbound:%:{number}"), cast(OutboxJob.payload, Text).like(_like(number), escape="\\")]
        if queues:
            where.append(OutboxJob.queue.in_(queues))
        result = await session.execute(
            delete(OutboxJob).where(OutboxJob.state != "running", or_(*where)).execution_options(synchronize_session=False)
        )
        return changed_rows(result)

    async def _queue_provider_erasure(self, session: AsyncSession, conv_ids: list[int]) -> int:
        """`sms.erase` jobs for the contact's texts the provider keeps (in and out): the
        payload carries their sids, the rows are gone when the jobs run."""
        rows = (
            await session.execute(
                select(Message.conversation_id, Message.provider_sid, Message.direction, Message.media)
                .where(Message.conversation_id.in_(conv_ids), Message.provider_sid.is_not(None))
                .order_by(Message.id)
            )
        ).all()
        copies: dict[int, list[Any]] = defaultdict(list)
        for row in rows:
            if (found := copy_of(row.provider_sid, row.direction, row.media)) is not None:
                copies[row.conversation_id].append(found)
        for conv_id, items in copies.items():
            await queue_cleanup(self.outbox, session, ERASE_JOB, erase_queue(conv_id), items)
        return sum(len(items) for items in copies.values())

    async def _queue_chat_erasure(self, session: AsyncSession, conv_ids: list[int], message_ids: Any) -> tuple[int, tuple[str, ...]]:
        """One `<platform>.erase` job per chat channel, in the conversation's own queue
        (after any post still running there)."""
        links = (
            await session.execute(
                select(ThreadLink.conversation_id, ThreadLink.platform, ThreadLink.channel, ThreadLink.thread_id).where(
                    ThreadLink.conversation_id.in_(conv_ids)
                )
            )
        ).all()
        refs = (
            await session.execute(
                select(ChatRef.platform, ChatRef.channel, ChatRef.posted_id, Message.conversation_id)
                .join(Message, Message.id == ChatRef.message_id)
                .where(ChatRef.message_id.in_(message_ids))
            )
        ).all()
        posts: dict[tuple[str, str, int], list[str]] = defaultdict(list)
        for ref in refs:
            posts[(ref.platform, ref.channel, ref.conversation_id)].append(ref.posted_id)
        requests: list[tuple[str, int, ErasePosts]] = []
        for link in links:
            key = (link.platform, link.channel, link.conversation_id)
            requests.append((link.platform, link.conversation_id, ErasePosts(link.channel, link.thread_id, tuple(posts.pop(key, [])))))
        for (platform, channel, conv_id), ids in posts.items():  # posts whose thread was forgotten
            requests.append((platform, conv_id, ErasePosts(channel, None, tuple(ids))))
        for platform, conv_id, request in requests:
            await self.outbox.enqueue(
                session, queue=f"{platform}:conv:{conv_id}", kind=f"{platform}.{ERASE}", payload=dict(encode_erase(request))
            )
        return len(links), tuple(sorted({platform for platform, _, _ in requests}))


def _chat_prefixes() -> tuple[str, ...]:
    return ("slack", "discord", "web")


async def _conversations(session: AsyncSession, contact: Contact | None) -> list[int]:
    if contact is None:
        return []
    return list((await session.execute(select(Conversation.id).where(Conversation.contact_id == contact.id))).scalars())


async def _count(session: AsyncSession, model: Any, *where: Any) -> int:
    return int((await session.execute(select(func.count()).select_from(model).where(*where))).scalar_one())


async def _hash_suppressions(session: AsyncSession, number: str, subject: str) -> int:
    """Each suppression of the number, filed under its hash instead (same scope and source)."""
    rows = (await session.execute(select(Suppression).where(Suppression.phone == number))).scalars().all()
    for row in rows:
        await insert_ignore(
            session, Suppression, {"phone": subject, "scope": row.scope, "source": row.source, "created_at": row.created_at or utcnow()},
            ["phone", "scope"],
        )
    await session.execute(delete(Suppression).where(Suppression.phone == number).execution_options(synchronize_session=False))
    return len(rows)
