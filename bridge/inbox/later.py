"""Scheduled messages (`!later WHEN TEXT`): a durable timer per message, fired once.

- Scheduling writes a `later.send` timer in the command's transaction; its key is made
  from the chat message that asked, so a retried event never schedules it twice.
- At its time the handler runs every send-time check on the scheduler's session: an
  opted-out contact gets nothing (the thread says so); outside the recipient's quiet
  hours window, or over Florida's three automated texts in 24 h, the message is held:
  a new timer for the moment it may leave, and the thread says when that is
  (docs/compliance.md rules 10 and 11). Otherwise the message row (kind "scheduled",
  created now, so the Florida count sees it) and its `sms.send` job are queued through
  the normal outbox, and the thread's status line shows it leave.
- Times are read in the contact's zone: the one a teammate set with `!tz`, else the
  number's (phonenumbers), else the inbox's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox import consent
from bridge.inbox.clock import Clock
from bridge.inbox.fanout import ChatFanout
from bridge.inbox.hours import load_zone
from bridge.inbox.markup import Rich, rich
from bridge.inbox.models import Contact, Conversation, Timer
from bridge.inbox.opt_outs import OPTED_OUT
from bridge.inbox.outgoing import OutgoingSms
from bridge.inbox.phone import guess_timezone
from bridge.inbox.quiet_hours import FLORIDA_PERIOD, automated_send_times, hold_until, window_for
from bridge.inbox.routing import InboxDirectory, InboxRoute
from bridge.inbox.scheduler import Scheduler, TimerInfo
from bridge.inbox.timephrases import When
from bridge.inbox.types import Author

LATER = "later.send"
SCHEDULED = "scheduled"  # Message.kind (quiet_hours.AUTOMATED_KINDS)


@dataclass(frozen=True)
class ContactZone:
    zone: ZoneInfo
    source: str  # "set with !tz" | "from their number" | "the inbox's; none is known for their number"


def zone_override(contact: Contact) -> str | None:
    """The contact's zone when a teammate chose it (`!tz`, an import), None when it is
    only the guess from the number that was stored with the contact: quiet hours then
    read every zone the number may be in."""
    guessed = guess_timezone(contact.phone) if contact.phone_valid else None
    return contact.timezone if contact.timezone and contact.timezone != guessed else None


def contact_zone(contact: Contact, inbox: InboxRoute) -> ContactZone:
    override = zone_override(contact)
    if override:
        return ContactZone(load_zone(override), "set with !tz")
    guessed = guess_timezone(contact.phone) if contact.phone_valid else None
    if guessed:
        return ContactZone(ZoneInfo(guessed), "from their number")
    return ContactZone(inbox.hours.zone, "the inbox's; none is known for their number")


def local_text(at: datetime, zone: ZoneInfo) -> str:
    """"Wed Dec 2, 9:00 AM" in `zone`."""
    local = at.astimezone(zone)
    hour = local.hour % 12 or 12
    return f"{local:%a %b} {local.day}, {hour}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}"


def both_times(at: datetime, customer: ZoneInfo, team: ZoneInfo) -> Rich:
    """"Wed Dec 2, 9:00 AM for the customer (America/New_York) · Wed Dec 2, 8:00 AM team time (America/Chicago)"."""
    return rich(
        "{customer} for the customer ({czone}) · {team} team time ({tzone})",
        customer=local_text(at, customer), czone=customer.key, team=local_text(at, team), tzone=team.key,
    )


class ScheduledMessages:
    def __init__(self, scheduler: Scheduler, outgoing: OutgoingSms, fanout: ChatFanout, directory: InboxDirectory) -> None:
        self.scheduler = scheduler
        self.outgoing = outgoing
        self.fanout = fanout
        self.directory = directory
        scheduler.register(LATER, self.fire)

    @property
    def clock(self) -> Clock:
        return self.scheduler.clock  # one clock for firing and deciding (a ManualClock in tests)

    async def schedule(
        self, session: AsyncSession, inbox: InboxRoute, conv: Conversation, author: Author, text: str, when: When, key: str
    ) -> int | None:
        """The timer's id, or None when this request scheduled it already."""
        payload: dict[str, Any] = {
            "text": text,
            "author": {"platform": author.platform, "user_id": author.user_id, "name": author.name},
            "requested_at": when.at.isoformat(),
        }
        return await self.scheduler.schedule(session, LATER, when.at, payload, key=key, conversation_id=conv.id)

    async def pending(self, session: AsyncSession, conversation_id: int) -> list[TimerInfo]:
        return await self.scheduler.pending(session, conversation_id=conversation_id, kind=LATER)

    async def cancel(self, session: AsyncSession, timer_id: int, conversation_id: int | None = None) -> bool:
        """Cancel a scheduled text, or the hold it became (the confirmation's Cancel
        button names the first timer; a held text waits on a later one)."""
        if await self.scheduler.cancel(session, timer_id=timer_id, conversation_id=conversation_id):
            return True
        key = await session.scalar(select(Timer.key).where(Timer.id == timer_id, Timer.kind == LATER))
        if key is None:
            return False
        held = await session.execute(
            select(Timer.id).where(Timer.kind == LATER, Timer.state == "pending", Timer.key.startswith(f"{key}:held:"))
        )
        for held_id in held.scalars().all():
            if await self.scheduler.cancel(session, timer_id=held_id, conversation_id=conversation_id):
                return True
        return False

    async def fire(self, session: AsyncSession, timer: TimerInfo) -> None:
        """The timer's handler: every send-time check, then hold, block or queue."""
        assert timer.conversation_id is not None
        conv = await session.get_one(Conversation, timer.conversation_id)
        inbox = self.directory.get(conv.inbox_id)
        contact = await session.get_one(Contact, conv.contact_id)
        payload = timer.payload
        who = payload.get("author") or {}
        author = Author(str(who.get("platform") or "smsbridge"), str(who.get("user_id") or ""), who.get("name"))
        text = str(payload["text"])
        now = self.clock.now()
        if not contact.phone_valid:
            await self.fanout.notice(session, inbox, conv.id, rich("Scheduled message not sent: the customer's number cannot be texted."))
            return
        if await consent.is_suppressed(session, contact.phone, inbox.id):
            message = self.outgoing.new_message(inbox, conv, contact.phone, text, SCHEDULED, author, status="blocked", at=now)
            message.error_text = OPTED_OUT
            session.add(message)
            await session.flush()
            await self.outgoing.status_changed(session, message)
            return
        sent = await automated_send_times(session, contact.phone, now - FLORIDA_PERIOD)
        fallback = inbox.hours.zone.key
        until = hold_until(contact.phone, now, override_tz=zone_override(contact), fallback_tz=fallback, automated_sent_at=sent)
        if until > now:
            base = str(payload.get("base") or timer.key)
            held = dict(payload, base=base)
            await self.scheduler.schedule(
                session, LATER, until, held, key=f"{base}:held:{until.isoformat()}", conversation_id=conv.id
            )
            await self.fanout.notice(session, inbox, conv.id, self._held_text(contact, inbox, now, until, sent, author))
            return
        await self.outgoing.queue(session, inbox, conv, contact.phone, text, kind=SCHEDULED, author=author, at=now)

    def _held_text(
        self, contact: Contact, inbox: InboxRoute, now: datetime, until: datetime, sent: list[datetime], author: Author
    ) -> Rich:
        window = window_for(contact.phone, zone_override(contact), inbox.hours.zone.key)
        zone = window.zones[0]
        if window.allowed_at(now):  # inside the window: the Florida limit holds it
            why = rich("Florida numbers get at most three automated texts in 24 hours ({count} sent)", count=len(sent))
        else:
            why = rich(
                "it is {local} for the customer, outside {start}–{end} their time",
                local=local_text(now, zone), start=f"{window.start:%H:%M}", end=f"{window.end:%H:%M}",
            )
        return (
            rich("⏸️ {name}'s scheduled message is held: ", name=author.name or "a teammate")
            + why
            + rich(". It leaves ")
            + both_times(until, zone, inbox.hours.zone)
            + rich(".")
        )
