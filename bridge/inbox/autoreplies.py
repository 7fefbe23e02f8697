"""Automatic answers to a customer's text: after hours and first contact.

Each is off unless its template is set, and each goes at most once per window:
- after hours: once per closed period per conversation (the period is named by the
  opening that ends it, so texts at 19:00 and 23:00 share one answer);
- first contact: once to a number that never wrote to this inbox before.

A customer gets at most one of them per text. When both are due (a new number writes
while the inbox is closed) the after-hours answer goes, because only it says when
someone will answer ({next_open}), and it counts as the first-contact answer too: that
window is closed without a second text. The first-contact answer goes only when the
after-hours one is not due (open, off, or this closed period answered already) or
renders empty.

They answer the customer's own text, so quiet hours do not hold them (docs/compliance.md
rule 10), but they are never sent to an opted-out contact and never in answer to a
keyword (the caller files STOP/START/HELP before and without calling this). "Once" is a
row in `processed_events` written in the same transaction as the message, so a retried
webhook (already stopped by its MessageSid) or a replayed job can never send it twice.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox import consent
from bridge.inbox.autotext import next_open_text, render
from bridge.inbox.clock import Clock, SystemClock
from bridge.inbox.db import insert_ignore
from bridge.inbox.models import Contact, Conversation, ProcessedEvent
from bridge.inbox.outgoing import OutgoingSms
from bridge.inbox.phone import format_phone
from bridge.inbox.routing import InboxRoute

AUTOMATED = "automated"  # Message.kind of these answers (quiet_hours.AUTOMATED_KINDS)


class AutoReplies:
    def __init__(self, outgoing: OutgoingSms, clock: Clock | None = None) -> None:
        self.outgoing = outgoing
        self.clock: Clock = clock or SystemClock()  # tests set a ManualClock

    async def answer(self, session: AsyncSession, inbox: InboxRoute, conv: Conversation, phone: str, *, first_text: bool) -> int:
        """Queue the auto-reply this text earns, if any; how many were queued (0 or 1)."""
        if not (inbox.after_hours_reply or inbox.first_contact_reply):
            return 0
        if await consent.is_suppressed(session, phone, inbox.id):
            return 0
        now = self.clock.now()
        next_open = None if inbox.hours.always_open or inbox.hours.is_open(now) else inbox.hours.next_open(now)
        wanted: list[tuple[str, str]] = []  # in order of precedence: at most one is sent
        if inbox.after_hours_reply and next_open is not None:
            wanted.append((f"auto:after:{conv.id}:{next_open.isoformat()}", inbox.after_hours_reply))
        if inbox.first_contact_reply and first_text:
            wanted.append((f"auto:first:{inbox.id}:{phone}", inbox.first_contact_reply))
        if not wanted:
            return 0
        contact = await session.get_one(Contact, conv.contact_id)
        values: dict[str, str | None] = {key.lower(): value for key, value in (contact.properties or {}).items()}
        values.update(
            name=contact.name,
            first_name=contact.name.split()[0] if contact.name else None,
            business=inbox.business_name or inbox.name,
            number=format_phone(contact.phone),
            next_open=next_open_text(inbox.hours.local(next_open), inbox.hours.local(now)) if next_open else None,
        )
        sent = 0
        for key, template in wanted:
            # Every window this text falls in is used up, even by the other answer.
            if await insert_ignore(session, ProcessedEvent, {"key": key, "created_at": now}, ["key"]) is None:
                continue  # this window's answer went already
            text = render(template, values) if not sent else ""
            if text:
                await self.outgoing.queue(session, inbox, conv, phone, text, kind=AUTOMATED, author=None, at=now)
                sent += 1
        return sent
