"""A rule's `snippet` action: a saved snippet texted to the customer as an automated text.

It is never written for a contact who opted out; it leaves at once inside the
recipient's quiet-hours window and under Florida's three automated texts a day
(docs/compliance.md rules 10 and 11), and is held otherwise: a scheduled message
(`later.send`) for the first allowed moment, which checks consent, quiet hours and the
Florida count again when it fires. What happened is returned in words for the rule's
note in the thread.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox import consent, snippets
from bridge.inbox.agents import AgentView
from bridge.inbox.autoreplies import AUTOMATED
from bridge.inbox.errors import Refused
from bridge.inbox.later import ScheduledMessages, both_times, zone_override
from bridge.inbox.models import Contact, Conversation
from bridge.inbox.outgoing import OutgoingSms
from bridge.inbox.quiet_hours import FLORIDA_PERIOD, automated_send_times, hold_until, window_for
from bridge.inbox.routing import InboxRoute
from bridge.inbox.timephrases import When
from bridge.inbox.types import Author


async def send_snippet(
    session: AsyncSession,
    outgoing: OutgoingSms | None,
    later: ScheduledMessages | None,
    inbox: InboxRoute,
    conv: Conversation,
    contact: Contact,
    rule: str,
    name: str,
    now: datetime,
) -> str:
    """Send, hold or refuse the snippet `name` for rule `rule`; what happened, in words."""
    if outgoing is None or not contact.phone_valid:
        return f"snippet {name} not sent: the sender cannot be texted"
    if await consent.is_suppressed(session, contact.phone, inbox.id):
        return f"snippet {name} not sent: the customer opted out"
    sender = AgentView(0, "smsbridge", "smsbridge", inbox.business_name or inbox.name, "admin", False)
    try:
        text = await snippets.render(session, name, inbox, conv, sender)
    except Refused as exc:
        return f"snippet {name} not sent: {exc.text.plain().rstrip('.')}"
    sent = await automated_send_times(session, contact.phone, now - FLORIDA_PERIOD)
    override, fallback = zone_override(contact), inbox.hours.zone.key
    until = hold_until(contact.phone, now, override_tz=override, fallback_tz=fallback, automated_sent_at=sent)
    if until <= now:
        await outgoing.queue(session, inbox, conv, contact.phone, text, kind=AUTOMATED, author=None, at=now)
        return f"sent snippet {name}"
    if later is None:
        return f"snippet {name} not sent: it is quiet hours for the customer"  # nothing to hold it with
    author = Author("smsbridge", "", f"Rule {rule}")
    await later.schedule(session, inbox, conv, author, text, When(until, until, "quiet hours"), f"rule:{conv.id}:{rule}:{now.isoformat()}")
    window = window_for(contact.phone, override, fallback)
    why = "quiet hours" if not window.allowed_at(now) else f"the Florida limit, {len(sent)} automated texts in 24 hours"
    return f"snippet {name} held by {why}; it leaves {both_times(until, window.zones[0], inbox.hours.zone).plain()}"
