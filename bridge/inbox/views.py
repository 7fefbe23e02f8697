"""Read models that chat adapters render: everything a card or a status line shows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox.consent import NO_CONSENT, ConsentState, consent_columns, consent_from
from bridge.inbox.durations import spoken
from bridge.inbox.labels import ConversationStatus, Priority
from bridge.inbox.models import Agent, Contact, Conversation, Message
from bridge.inbox.phone import format_phone
from bridge.inbox.routing import InboxRoute
from bridge.inbox.sla_policy import SlaClock, SlaPolicy
from bridge.inbox.sla_text import due_text
from bridge.inbox.whatsapp import channel_from, is_whatsapp, latest_to_number


@dataclass(frozen=True)
class ConversationView:
    id: int
    inbox_name: str
    business_name: str
    contact_name: str | None
    phone: str
    phone_display: str
    phone_valid: bool
    status: ConversationStatus
    assignee: str | None
    priority: Priority
    tags: list[str]
    properties: dict[str, str]
    notes: str | None
    timezone: str | None
    opted_out: bool
    last_inbound_at: datetime | None
    created_at: datetime
    assigned_by: str | None = None  # "round-robin", "rule VIP": smsbridge chose the assignee
    reply_due_at: datetime | None = None  # the running reply clock's deadline
    resolve_due_at: datetime | None = None
    now: datetime | None = None  # when the view was read, for the clocks' "due in"
    consent: ConsentState = NO_CONSENT  # the card's consent line (rule 8)
    sla_target: str | None = None  # "urgent SLA 5 min" when the priority has targets of its own

    @property
    def consent_text(self) -> str:
        """The consent line without its time, which each platform shows its own way:
        "Opted out (keyword STOP)", "Consent on record (import contacts.csv)",
        "Consent: they texted in", "No consent on record"."""
        c = self.consent
        how = f" {c.how}" if c.how else ""
        if c.opted_out:
            return f"Opted out ({c.source}{how})" if c.source else "Opted out"
        if c.state == "consent":
            return "Consent: they texted in" if c.source == "texted in" else f"Consent on record ({c.source}{how})"
        return "No consent on record"

    @property
    def consent_icon(self) -> str:
        """🚫 opted out (replies blocked), ✅ consent on record, ⚪ none."""
        if self.consent.opted_out:
            return "🚫"
        return "✅" if self.consent.state == "consent" else "⚪"

    @property
    def sla_text(self) -> str | None:
        """The card's SLA line: "reply due in 12 min", "overdue by 5 min", "resolve due in 3 h",
        with the priority's own target when it has one: "reply due in 4 min (urgent SLA 5 min)"."""
        if self.now is None:
            return None
        line = None
        if self.reply_due_at is not None:
            line = sla_line("reply", self.reply_due_at, self.now)
        elif self.resolve_due_at is not None:
            line = sla_line("resolution", self.resolve_due_at, self.now)
        return f"{line} ({self.sla_target})" if line and self.sla_target else line

    @property
    def assignee_text(self) -> str | None:
        """The assignee as a card shows them: "Ana (assigned by round-robin)"."""
        if self.assignee is None:
            return None
        return f"{self.assignee} (assigned by {self.assigned_by})" if self.assigned_by else self.assignee
    channel: str = "sms"  # "whatsapp" when the customer writes on WhatsApp

    @property
    def channel_label(self) -> str:
        return "WhatsApp" if self.channel == "whatsapp" else "SMS"

    @property
    def title(self) -> str:
        return self.contact_name or self.phone_display


@dataclass(frozen=True)
class MessageView:
    id: int
    conversation_id: int
    direction: str
    kind: str
    body: str
    media: list[dict[str, str]]
    status: str
    error_code: str | None
    error_text: str | None
    segments: int | None
    encoding: str | None
    author_name: str | None
    author_id: str | None
    author_platform: str | None
    created_at: datetime
    send_after: datetime | None = None
    send_attempts: int | None = None
    hidden: bool = False  # no-bodies mode: `body` says how long it is, not what it says
    channel: str = "sms"  # "whatsapp" when it goes from (or came to) a WhatsApp sender


_SUPPRESSED, _LATEST_CONSENT = consent_columns()
# What a card shows besides the conversation and its contact (joined to the assignee,
# Agent, with an outer join): see CardRow.
CARD_COLUMNS = (Agent.id, Agent.name, _SUPPRESSED, _LATEST_CONSENT, latest_to_number())
# Everything a card shows, one statement (conversation_view).
_CARD = (
    select(Conversation, Contact, *CARD_COLUMNS)
    .join(Contact, Contact.id == Conversation.contact_id)
    .outerjoin(Agent, Agent.id == Conversation.assignee_id)
    .where(Conversation.id == bindparam("conversation_id"))
)


def sla_line(what: str, due_at: datetime, now: datetime) -> str:
    text = due_text(due_at, now)
    return text if text.startswith("overdue") else f"{what} {text}"


async def conversation_view(
    session: AsyncSession,
    conversation_id: int,
    inbox: InboxRoute | Callable[[int], InboxRoute],
    now: datetime | None = None,
) -> ConversationView:
    """`inbox`: the conversation's inbox, or how to find it by id (one query less than
    looking the conversation up first).

    One statement: the conversation, its contact and assignee, the consent columns and
    the channel of the customer's latest text; a second only for a contact with consent
    events on record (consent.py)."""
    row = (await session.execute(_CARD, {"conversation_id": conversation_id})).one()
    return await view_of(session, CardRow(*row), inbox, now)


@dataclass(frozen=True)
class CardRow:
    """What a card's statement reads (CARD_COLUMNS after the conversation and contact)."""

    conv: Conversation
    contact: Contact
    agent_id: int | None
    agent_name: str | None
    suppressed: bool
    latest_consent: int | None
    latest_to: str | None


async def view_of(
    session: AsyncSession, row: CardRow, inbox: InboxRoute | Callable[[int], InboxRoute], now: datetime | None = None
) -> ConversationView:
    """The view of a card read by `_CARD`, or by another statement with the same columns
    (chatstate.py reads a new conversation's text and its card in one)."""
    conv, contact, agent_id, agent_name, latest_to = row.conv, row.contact, row.agent_id, row.agent_name, row.latest_to
    suppressed, latest_consent = row.suppressed, row.latest_consent
    if callable(inbox):
        inbox = inbox(conv.inbox_id)
    consent = await consent_from(
        session, contact.phone, conv.inbox_id, texted_in=conv.last_inbound_at is not None,
        suppressed=bool(suppressed), latest_id=latest_consent,
    )
    agent = agent_id is not None
    return ConversationView(
        id=conv.id,
        inbox_name=inbox.name,
        business_name=inbox.business_name,
        contact_name=contact.name,
        phone=contact.phone,
        phone_display=format_phone(contact.phone),
        phone_valid=contact.phone_valid,
        status=ConversationStatus(conv.status),
        assignee=agent_name if agent else None,
        priority=Priority.of(conv.priority),
        tags=list(contact.tags or []),
        properties=dict(contact.properties or {}),
        notes=contact.notes,
        timezone=contact.timezone,
        opted_out=consent.opted_out,
        last_inbound_at=conv.last_inbound_at,
        created_at=conv.created_at,
        assigned_by=conv.assigned_by if agent else None,
        channel=channel_from(latest_to).name,
        reply_due_at=conv.reply_due_at,
        resolve_due_at=conv.resolve_due_at,
        now=now,
        consent=consent,
        sla_target=priority_target(inbox.sla, conv),
    )


def priority_target(policy: SlaPolicy, conv: Conversation) -> str | None:
    """"urgent SLA 5 min": the running clock's target when the priority sets its own."""
    if conv.reply_due_at is not None and conv.reply_clock:
        clock = SlaClock(conv.reply_clock)
    elif conv.resolve_due_at is not None:
        clock = SlaClock.RESOLUTION
    else:
        return None
    priority = Priority.of(conv.priority)
    own = policy.own_target(clock, priority)
    return f"{priority.name.lower()} SLA {spoken(int(own.total_seconds()))}" if own is not None else None


async def message_view(session: AsyncSession, message_id: int) -> MessageView:
    return message_view_of(await session.get_one(Message, message_id))


def message_view_of(m: Message) -> MessageView:
    return MessageView(
        id=m.id,
        conversation_id=m.conversation_id,
        direction=m.direction,
        kind=m.kind,
        body=m.body,
        media=list(m.media or []),
        status=m.status,
        error_code=m.error_code,
        error_text=m.error_text,
        segments=m.segments,
        encoding=m.encoding,
        author_name=m.author_name,
        author_id=m.author_id,
        author_platform=m.author_platform,
        created_at=m.created_at,
        send_after=m.send_after,
        send_attempts=m.send_attempts,
        channel="whatsapp" if is_whatsapp(m.from_number if m.direction == "out" else m.to_number) else "sms",
    )
