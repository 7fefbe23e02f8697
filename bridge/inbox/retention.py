"""Retention: message bodies and media older than SMSBRIDGE_RETENTION_DAYS (or an
inbox's `retention_days`) are deleted by a background job, and smsbridge's chat posts
that showed them are edited to say so.

A sweep is a durable timer (scheduler.py), daily at 03:00 UTC; its key is the due
instant, so every process may plan it at start-up and it still runs once. A sweep
removes, for messages older than the inbox's retention that are no longer on their
way (not pending, held or a draft): the body (so also its search entry: the search
triggers drop a message without a body), the media list and the reply files kept for
it, and it queues one `<platform>.redact` job per conversation and chat (through the
outbox: an outage delays it). The rows stay, with their times, numbers, authors and
delivery statuses: rule 16's record of every send, and the reports.

Kept, always: consent events and suppressions (rule 8), notes (the team's own
writing; a teammate deletes a note by deleting its chat message, and `contacts erase`
removes them with the contact), and the audit trail. Outbox jobs that went dead and
fired `!later` timers hold message text too: those older than the shortest retention
lose it in the same sweep.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import Text, cast, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox import audit
from bridge.inbox.assignment import SYSTEM_ACTOR
from bridge.inbox.chat_cleanup import REDACT, UPLOAD, RedactPosts, encode_redact
from bridge.inbox.db import changed_rows
from bridge.inbox.later import LATER
from bridge.inbox.models import ChatRef, Conversation, MediaFile, Message, OutboxJob, ThreadLink, Timer
from bridge.inbox.outbox import Outbox
from bridge.inbox.provider_cleanup import REDACT_JOB, REDACT_QUEUE, copy_of, queue_cleanup
from bridge.inbox.routing import InboxDirectory
from bridge.inbox.scheduler import Scheduler, TimerInfo

log = logging.getLogger(__name__)

RETENTION_KIND = "retention.sweep"
SWEEP_AT = time(3, 0)  # UTC: a quiet hour in the Americas
BATCH = 2000  # messages per sweep transaction; a larger backlog continues at once
WAITING = ("pending", "submitting", "held", "draft")  # still on their way: never swept
DEFAULT_CONSENT_DAYS = 1461  # four years (a leap day included): TCPA claims reach back 4 years
MIN_CONSENT_DAYS = 1461


def redacted_text(days: int) -> str:
    return f"🗑️ Text removed after {days} day{'s' if days != 1 else ''} (retention)."


def next_sweep(after: datetime) -> datetime:
    """The first 03:00 UTC strictly after `after`."""
    due = datetime.combine(after.astimezone(UTC).date(), SWEEP_AT, UTC)
    return due if due > after else due + timedelta(days=1)


@dataclass(frozen=True)
class SweepCounts:
    messages: int = 0
    media_files: int = 0
    chat_jobs: int = 0


class Retention:
    """Plans the daily sweep and runs it; `register()` it on the scheduler, `plan()` at start-up."""

    def __init__(self, scheduler: Scheduler, outbox: Outbox, directory: InboxDirectory, days: dict[str, int]) -> None:
        self.scheduler = scheduler
        self.outbox = outbox
        self.directory = directory
        self.days = {name: d for name, d in days.items() if d >= 1}  # `check` refuses the rest

    def register(self) -> None:
        self.scheduler.register(RETENTION_KIND, self.fire)

    async def plan(self, session: AsyncSession, now: datetime) -> int | None:
        if not self.days:
            return None
        due = next_sweep(now)
        return await self.scheduler.schedule(session, RETENTION_KIND, due, {}, key=f"retention:{due.isoformat()}")

    async def fire(self, session: AsyncSession, timer: TimerInfo) -> None:
        now = self.scheduler.clock.now()
        counts = await self.sweep(session, now)
        if counts.messages >= BATCH:  # more to do: continue right away, in a new transaction
            await self.scheduler.schedule(session, RETENTION_KIND, now, {}, key=f"retention:{now.isoformat()}:more")
        else:
            due = next_sweep(max(timer.due_at, now))
            await self.scheduler.schedule(session, RETENTION_KIND, due, {}, key=f"retention:{due.isoformat()}")

    async def sweep(self, session: AsyncSession, now: datetime) -> SweepCounts:
        total = SweepCounts()
        left = BATCH
        for route in self.directory.all():
            days = self.days.get(route.name)
            if days is None or left <= 0:
                continue
            counts = await self._sweep_inbox(session, route.id, days, now - timedelta(days=days), left)
            left -= counts.messages
            total = SweepCounts(total.messages + counts.messages, total.media_files + counts.media_files, total.chat_jobs + counts.chat_jobs)
        if self.days:
            await self._old_copies(session, now - timedelta(days=min(self.days.values())))
        if total.messages:
            audit.record(session, SYSTEM_ACTOR, "retention_swept", messages=total.messages, media_files=total.media_files)
            log.info("retention: removed the bodies of %d message(s), %d file(s)", total.messages, total.media_files)
        return total

    async def _sweep_inbox(self, session: AsyncSession, inbox_id: int, days: int, cutoff: datetime, limit: int) -> SweepCounts:
        rows = (
            await session.execute(
                select(Message.id, Message.conversation_id, Message.provider_sid, Message.direction, Message.media)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(
                    Conversation.inbox_id == inbox_id,
                    Message.created_at < cutoff,
                    Message.status.notin_(WAITING),
                    or_(Message.body != "", cast(Message.media, Text).notin_(("[]", "null"))),
                )
                .order_by(Message.id)
                .limit(limit)
            )
        ).all()
        if not rows:
            return SweepCounts()
        ids = [row.id for row in rows]
        media = changed_rows(await session.execute(delete(MediaFile).where(MediaFile.message_id.in_(ids))))
        await session.execute(
            update(Message).where(Message.id.in_(ids)).values(body="", media=[]).execution_options(synchronize_session=False)
        )
        jobs = await self._redact_posts(session, ids, redacted_text(days))
        # The provider's copies too: the body redacted, the inbound pictures deleted.
        copies = [c for row in rows if (c := copy_of(row.provider_sid, row.direction, row.media)) is not None]
        await queue_cleanup(self.outbox, session, REDACT_JOB, REDACT_QUEUE, copies)
        return SweepCounts(len(ids), media, jobs)

    async def _redact_posts(self, session: AsyncSession, ids: list[int], text: str) -> int:
        refs = (
            await session.execute(
                select(
                    ChatRef.platform, ChatRef.channel, ChatRef.purpose, ChatRef.posted_id, Message.conversation_id, ThreadLink.thread_id
                )
                .join(Message, Message.id == ChatRef.message_id)
                .outerjoin(
                    ThreadLink,
                    (ThreadLink.conversation_id == Message.conversation_id)
                    & (ThreadLink.platform == ChatRef.platform)
                    & (ThreadLink.channel == ChatRef.channel),
                )
                .where(ChatRef.message_id.in_(ids))
            )
        ).all()
        posts: dict[tuple[str, str, int, str | None], list[str]] = defaultdict(list)
        pictures: dict[tuple[str, str, int, str | None], list[str]] = defaultdict(list)
        for ref in refs:
            where = (ref.platform, ref.channel, ref.conversation_id, ref.thread_id)
            (pictures if ref.purpose.startswith(UPLOAD) else posts)[where].append(ref.posted_id)
        for where in posts.keys() | pictures.keys():
            platform, channel, conv_id, thread = where
            request = RedactPosts(channel, thread, tuple(posts[where]), text, tuple(pictures[where]))
            await self.outbox.enqueue(
                session, queue=f"{platform}:conv:{conv_id}", kind=f"{platform}.{REDACT}", payload=dict(encode_redact(request))
            )
        return len(posts.keys() | pictures.keys())

    async def _old_copies(self, session: AsyncSession, cutoff: datetime) -> None:
        """Message text kept elsewhere: dead outbox jobs, fired `!later` timers."""
        await session.execute(
            delete(OutboxJob).where(OutboxJob.state == "dead", OutboxJob.created_at < cutoff).execution_options(synchronize_session=False)
        )
        await session.execute(
            update(Timer)
            .where(Timer.kind == LATER, Timer.state != "pending", Timer.finished_at < cutoff)
            .values(payload={})
            .execution_options(synchronize_session=False)
        )
