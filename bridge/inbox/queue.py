"""The team's queue: open conversations, who has them and how long the customer has waited.

One SQL statement per view (SQLite and PostgreSQL alike): the customer has waited since
their first text after the team's last reply, so a burst of texts counts from its first
one and a conversation the team answered last is not waiting at all. Longest wait first;
conversations nobody waits on come last, most recently active first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bridge.inbox.durations import spoken
from bridge.inbox.labels import ConversationStatus, Priority, status_of
from bridge.inbox.models import Agent, Contact, Conversation, Message, UTCDateTime
from bridge.inbox.phone import format_phone
from bridge.inbox.views import sla_line

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # before any reply: every text counts
QUEUE_LIMIT = 10  # rows one answer shows; the rest are counted ("and 3 more")


class QueueView(StrEnum):
    UNASSIGNED = "unassigned"
    MINE = "mine"
    OVERDUE = "overdue"
    ALL = "all"

    @property
    def label(self) -> str:
        return self.value.capitalize()


@dataclass(frozen=True)
class QueueItem:
    conversation_id: int
    inbox_id: int
    contact_name: str | None
    phone: str
    status: ConversationStatus
    assignee: str | None
    waiting_since: datetime | None  # the customer's first text since the last reply
    reply_due_at: datetime | None = None  # the SLA clocks (bridge/inbox/sla.py), when running
    resolve_due_at: datetime | None = None
    priority: Priority = Priority.NORMAL  # its SLA targets may be its own (SMSBRIDGE_SLA_PRIORITY)

    def sla_text(self, now: datetime) -> str | None:
        """"reply due in 12 min", "overdue by 5 min" (the reply clock first), or None."""
        if self.reply_due_at is not None:
            return sla_line("reply", self.reply_due_at, now)
        if self.resolve_due_at is not None:
            return sla_line("resolution", self.resolve_due_at, now)
        return None

    @property
    def title(self) -> str:
        return self.contact_name or format_phone(self.phone)

    def waited(self, now: datetime) -> timedelta | None:
        return max(now - self.waiting_since, timedelta(0)) if self.waiting_since else None


@dataclass(frozen=True)
class QueuePage:
    items: tuple[QueueItem, ...]
    total: int  # every match, of which `items` are the first

    @property
    def more(self) -> int:
        return self.total - len(self.items)


async def open_queue(
    session: AsyncSession,
    view: QueueView,
    *,
    now: datetime,
    agent_id: int | None = None,
    overdue_after: timedelta | None = None,
    limit: int = QUEUE_LIMIT,
    inbox_id: int | None = None,
) -> QueuePage:
    """The open (not closed) conversations `view` selects, longest wait first.

    `mine` needs `agent_id`. `overdue` lists the conversations whose SLA clock ran out
    (bridge/inbox/sla.py), and with `overdue_after` also those waiting longer than that.
    """
    if view is QueueView.MINE and agent_id is None:
        raise ValueError("the 'mine' view needs the agent's id")
    inbound = aliased(Message)
    since_reply = func.coalesce(Conversation.last_outbound_at, literal(_EPOCH, UTCDateTime))
    waiting_since = (
        select(func.min(inbound.created_at))
        .where(inbound.conversation_id == Conversation.id, inbound.direction == "in", inbound.created_at > since_reply)
        .correlate(Conversation)
        .scalar_subquery()
    )
    chosen: list[ColumnElement[bool]] = [Conversation.status != ConversationStatus.CLOSED.value]
    if inbox_id is not None:
        chosen.append(Conversation.inbox_id == inbox_id)
    if view is QueueView.UNASSIGNED:
        chosen.append(Conversation.assignee_id.is_(None))
    elif view is QueueView.MINE:
        chosen.append(Conversation.assignee_id == agent_id)
    # Each wait is worked out once, in the inner query (an index seek per conversation,
    # ix_messages_wait); the outer one filters, counts and sorts on it.
    inner = (
        select(
            Conversation.id,
            Conversation.inbox_id,
            Contact.name.label("contact_name"),
            Contact.phone,
            Conversation.status,
            Agent.name.label("assignee"),
            Conversation.updated_at,
            Conversation.reply_due_at,
            Conversation.resolve_due_at,
            Conversation.priority,
            waiting_since.label("waiting_since"),
        )
        .join(Contact, Contact.id == Conversation.contact_id)
        .outerjoin(Agent, Agent.id == Conversation.assignee_id)
        .where(and_(*chosen))
        .subquery("open_conversations")
    )
    outer_filter: list[ColumnElement[bool]] = []
    if view is QueueView.OVERDUE:
        late = [inner.c.reply_due_at <= now, inner.c.resolve_due_at <= now]
        if overdue_after is not None:
            late.append(inner.c.waiting_since <= now - overdue_after)
        outer_filter.append(or_(*late))
    statement = (
        select(
            inner.c.id,
            inner.c.inbox_id,
            inner.c.contact_name,
            inner.c.phone,
            inner.c.status,
            inner.c.assignee,
            inner.c.waiting_since,
            func.count(literal(1)).over().label("total"),
            inner.c.reply_due_at,
            inner.c.resolve_due_at,
            inner.c.priority,
        )
        .where(*outer_filter)
        # NULLS LAST spelled portably: waiting conversations first, oldest wait first.
        .order_by(case((inner.c.waiting_since.is_(None), 1), else_=0), inner.c.waiting_since, inner.c.updated_at.desc(), inner.c.id)
        .limit(limit)
    )
    rows = (await session.execute(statement)).all()
    items = tuple(
        QueueItem(
            conversation_id=row[0],
            inbox_id=row[1],
            contact_name=row[2],
            phone=row[3],
            status=status_of(row[4]) or ConversationStatus.OPEN,
            assignee=row[5],
            waiting_since=_utc(row[6]),
            reply_due_at=_utc(row[8]),
            resolve_due_at=_utc(row[9]),
            priority=Priority.of(int(row[10] or 0)),
        )
        for row in rows
    )
    return QueuePage(items, int(rows[0][7]) if rows else 0)


def _utc(value: object) -> datetime | None:
    """MIN keeps the column's type (aware UTC); a driver giving text or naive is read as UTC."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=moment.tzinfo or UTC)


def waited_text(delta: timedelta) -> str:
    """How long, as a queue shows it: "under a minute", "12 min", "3 h 5 min", "2 d 4 h"."""
    seconds = int(delta.total_seconds())
    return "under a minute" if seconds < 60 else spoken(seconds)

