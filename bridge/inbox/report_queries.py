"""A manager's report for a period, computed by the database (SQL aggregates only).

Scope: an optional inbox and an optional agent (the conversations assigned to that agent
now). Definitions, the same for chat, terminal, CSV and JSON:

- texts in: customer texts received; texts out: every SMS that left (replies and
  automatic replies; drafts, held, undone and blocked ones never left); replies: the
  teammates' texts among them.
- cycles (bridge/inbox/cycles.py) belong to the period in which they started: new
  (a customer's first text), team-started (`/sms new`) and reopened conversations.
- first response: from the customer's first text of a cycle to the first teammate reply,
  for customer-started cycles; team-started cycles are measured separately, from the
  customer's answer. Resolution: from the start of a cycle to its closing.
- medians and p90: linear interpolation (bridge/inbox/percentiles.py), whole seconds.
- per agent: conversations handled = the period's cycles the agent answered first (a
  reopened conversation counts once per cycle); replies sent; the median first response
  of those cycles (a team-started one timed from the customer's answer); open now =
  assigned, not closed.
- backlog and "open now": conversations not closed, at the time of the report.

Texts are counted from `report_message_hours` (hourly counters kept by triggers) for the
period's whole hours and from the messages themselves for its partial first and last
hour, so a month costs a few thousand rows, not a million. An agent's scope depends on
today's assignments, which the counters do not know: it reads that agent's messages.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    case,
    cast,
    exists,
    func,
    literal,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox import percentiles
from bridge.inbox.models import (
    Agent,
    ConsentEvent,
    Contact,
    Conversation,
    ConversationCycle,
    Inbox,
    Message,
    ReportMessageHour,
    SlaBreach,
)

# Outbound statuses of a text that left smsbridge (the provider saw it).
SENT = ("submitting", "accepted", "queued", "scheduled", "sending", "sent", "delivered", "read", "undelivered", "failed")
FAILED = ("failed", "undelivered")
DELIVERED = ("delivered", "read")
OPT_OUTS = ("opt_out", "opt_out_all")


class Clock(StrEnum):
    """Which durations: wall-clock, or within the inbox's opening hours (when it has hours)."""

    WALL = "wall"
    BUSINESS = "business"


@dataclass(frozen=True)
class Scope:
    since: datetime
    until: datetime
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    inbox_id: int | None = None
    agent_id: int | None = None
    clock: Clock = Clock.WALL


@dataclass(frozen=True)
class Spread:
    """Median and p90 of some durations, in seconds, and how many there were."""

    count: int = 0
    median: int | None = None
    p90: int | None = None


@dataclass(frozen=True)
class AgentRow:
    name: str
    conversations: int
    replies: int
    median_first_response: int | None
    open_now: int


@dataclass(frozen=True)
class DayRow:
    day: date
    texts_in: int
    texts_out: int
    first_response: Spread


@dataclass(frozen=True)
class Failure:
    code: str
    reason: str
    count: int


@dataclass(frozen=True)
class ReportData:
    scope: Scope
    texts_in: int
    texts_out: int
    replies: int
    delivered: int
    new_conversations: int
    team_started: int
    reopened: int
    first_response: Spread
    team_first_response: Spread
    unanswered: int
    resolution: Spread
    agents: list[AgentRow]
    backlog: dict[str, int]
    opt_outs: int
    failures: list[Failure]
    daily: list[DayRow]
    # inbound texts by local weekday (0 = Monday) and hour
    heat: list[list[int]]
    away: list[str] = field(default_factory=list)  # teammates away now
    # SLA clocks that ran out in the period, by clock (first_reply, next_reply, resolution)
    sla_breaches: dict[str, int] = field(default_factory=dict)

    @property
    def has_traffic(self) -> bool:
        return bool(self.texts_in or self.texts_out or self.new_conversations or self.team_started or self.reopened)


# -- local time in SQL ---------------------------------------------------------------


def _offsets(zone: ZoneInfo, since: datetime, until: datetime) -> list[tuple[datetime, int]]:
    """[(from this UTC instant, the zone's offset in seconds)] covering [since, until)."""
    def offset(at: datetime) -> int:
        delta = at.astimezone(zone).utcoffset()
        return int(delta.total_seconds()) if delta else 0

    changes = [(since, offset(since))]
    step = since
    while step < until:
        nxt = min(step + timedelta(hours=1), until)
        if offset(nxt) != changes[-1][1]:
            low, high = step, nxt  # the change is in (low, high]: find its minute
            while high - low > timedelta(minutes=1):
                mid = low + (high - low) / 2
                low, high = (mid, high) if offset(mid) == changes[-1][1] else (low, mid)
            changes.append((high, offset(high)))
        step = nxt
    return changes


def _epoch(column: Any, dialect: str) -> ColumnElement[int]:
    if dialect == "postgresql":
        return cast(func.extract("epoch", column), BigInteger)
    return cast(func.strftime("%s", column), Integer)


def _local_bucket(column: Any, scope: Scope, dialect: str, seconds: int) -> ColumnElement[int]:
    """The local-time bucket of `column` (e.g. hour number since 1970 in the zone's wall clock)."""
    changes = _offsets(scope.zone, scope.since, scope.until)
    offset: ColumnElement[int]
    if len(changes) == 1:
        offset = literal(changes[0][1])
    else:
        whens = [(column < start, literal(prev[1])) for prev, (start, _) in pairwise(changes)]
        offset = case(*whens, else_=literal(changes[-1][1]))
    return (_epoch(column, dialect) + offset) // seconds


def _bucket_start(bucket: int, seconds: int) -> datetime:
    """A bucket's local wall-clock start (naive)."""
    return datetime(1970, 1, 1) + timedelta(seconds=bucket * seconds)


# -- the queries ---------------------------------------------------------------------


def _conversations_in_scope(scope: Scope) -> Select[Any] | None:
    if scope.inbox_id is None and scope.agent_id is None:
        return None
    query = select(Conversation.id)
    if scope.inbox_id is not None:
        query = query.where(Conversation.inbox_id == scope.inbox_id)
    if scope.agent_id is not None:
        query = query.where(Conversation.assignee_id == scope.agent_id)
    return query


def _messages(scope: Scope, *columns: Any) -> Select[Any]:
    query = select(*columns).where(Message.created_at >= scope.since, Message.created_at < scope.until)
    conversations = _conversations_in_scope(scope)
    if conversations is not None:
        query = query.where(Message.conversation_id.in_(conversations))
    return query


def _cycles(scope: Scope, *columns: Any) -> Select[Any]:
    query = select(*columns).where(ConversationCycle.started_at >= scope.since, ConversationCycle.started_at < scope.until)
    if scope.inbox_id is not None:
        query = query.where(ConversationCycle.inbox_id == scope.inbox_id)
    if scope.agent_id is not None:
        query = query.where(
            ConversationCycle.conversation_id.in_(select(Conversation.id).where(Conversation.assignee_id == scope.agent_id))
        )
    return query


def _durations(scope: Scope) -> tuple[Any, Any]:
    if scope.clock is Clock.BUSINESS:
        return ConversationCycle.first_response_business_seconds, ConversationCycle.resolution_business_seconds
    return ConversationCycle.first_response_seconds, ConversationCycle.resolution_seconds


def _spread(found: dict[Hashable, tuple[int, list[int | None]]], key: Hashable) -> Spread:
    if key not in found:
        return Spread()
    count, (median, p90) = found[key]
    return Spread(count, median, p90)


@dataclass
class _Tally:
    """Texts per UTC hour ([in, out, replies, delivered]) and replies per author key ("platform:id")."""

    hours: dict[datetime, list[int]] = field(default_factory=dict)
    replies_by: dict[str, int] = field(default_factory=dict)

    def add(self, other: _Tally) -> None:
        for hour, counts in other.hours.items():
            mine = self.hours.setdefault(hour, [0, 0, 0, 0])
            for i, n in enumerate(counts):
                mine[i] += n
        for key, n in other.replies_by.items():
            self.replies_by[key] = self.replies_by.get(key, 0) + n


def _as_hour(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite's substr(created_at, 1, 13)
        return datetime.strptime(value[:13], "%Y-%m-%d %H").replace(tzinfo=UTC)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def _tally(
    session: AsyncSession, hour: Any, direction: Any, kind: Any, status: Any, author: Any, weight: Any, filters: list[Any]
) -> _Tally:
    sent = (direction == "out") & status.in_(SENT)
    reply = sent & (kind == "reply")
    per_hour = await session.execute(
        select(
            hour,
            func.sum(case((direction == "in", weight), else_=0)),
            func.sum(case((sent, weight), else_=0)),
            func.sum(case((reply, weight), else_=0)),
            func.sum(case(((direction == "out") & status.in_(DELIVERED), weight), else_=0)),
        )
        .where(*filters)
        .group_by(hour)
    )
    per_author = await session.execute(select(author, func.sum(weight)).where(*filters, reply).group_by(author))
    return _Tally(
        hours={_as_hour(h): [int(n or 0) for n in counts] for h, *counts in per_hour.all()},
        replies_by={str(key): int(n or 0) for key, n in per_author.all()},
    )


async def _tally_messages(session: AsyncSession, scope: Scope, start: datetime, end: datetime, dialect: str) -> _Tally:
    """Straight from the messages: for an agent's scope, and the partial hours at a period's edges."""
    if start >= end:
        return _Tally()
    hour = func.date_trunc("hour", Message.created_at) if dialect == "postgresql" else func.substr(Message.created_at, 1, 13)
    filters: list[Any] = [Message.created_at >= start, Message.created_at < end]
    conversations = _conversations_in_scope(scope)
    if scope.agent_id is not None and conversations is not None:
        # An agent's conversations are few: read their messages through the conversation index.
        filters.append(Message.conversation_id.in_(conversations))
    elif scope.inbox_id is not None:
        # An edge hour is short: read it by time and look up each text's conversation.
        filters.append(
            exists().where(Conversation.id == Message.conversation_id, Conversation.inbox_id == scope.inbox_id)
        )
    return await _tally(
        session, hour, Message.direction, Message.kind, Message.status,
        _agent_key(Message.author_platform, Message.author_id), literal(1), filters,
    )


async def _tally_hours(session: AsyncSession, scope: Scope, start: datetime, end: datetime) -> _Tally:
    """From the hourly counters (whole hours only)."""
    if start >= end:
        return _Tally()
    row = ReportMessageHour
    filters: list[Any] = [row.hour >= start, row.hour < end]
    if scope.inbox_id is not None:
        filters.append(row.inbox_id == scope.inbox_id)
    return await _tally(
        session, row.hour, row.direction, row.kind, row.status, row.author_platform + ":" + row.author_id, row.messages, filters
    )


def _floor_hour(value: datetime) -> datetime:
    return value.replace(minute=0, second=0, microsecond=0)


async def _texts(session: AsyncSession, scope: Scope, dialect: str) -> _Tally:
    if scope.agent_id is not None:  # assignment is not counted per hour: read the agent's messages
        return await _tally_messages(session, scope, scope.since, scope.until, dialect)
    first_whole = _floor_hour(scope.since)
    if first_whole < scope.since:
        first_whole += timedelta(hours=1)
    last_whole = max(_floor_hour(scope.until), first_whole)
    tally = await _tally_hours(session, scope, first_whole, last_whole)
    tally.add(await _tally_messages(session, scope, scope.since, min(first_whole, scope.until), dialect))
    tally.add(await _tally_messages(session, scope, max(last_whole, scope.since), scope.until, dialect))
    return tally


async def _cycle_counts(session: AsyncSession, scope: Scope) -> tuple[int, int, int, int]:
    row = (
        await session.execute(
            _cycles(
                scope,
                func.count(case((ConversationCycle.seq == 1, case((ConversationCycle.origin == "customer", 1))))),
                func.count(case((ConversationCycle.seq == 1, case((ConversationCycle.origin == "team", 1))))),
                func.count(case((ConversationCycle.seq > 1, 1))),
                func.count(case(((ConversationCycle.origin == "customer") & ConversationCycle.first_response_at.is_(None), 1))),
            )
        )
    ).one()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


async def _speed(session: AsyncSession, scope: Scope) -> tuple[Spread, Spread, Spread]:
    first, resolution = _durations(scope)
    by_origin = await percentiles.grouped(
        session, _cycles(scope, ConversationCycle.origin.label("key"), first.label("value")), (0.5, 0.9)
    )
    resolved = await percentiles.grouped(
        session, _cycles(scope, literal(0).label("key"), resolution.label("value")), (0.5, 0.9)
    )
    return _spread(by_origin, "customer"), _spread(by_origin, "team"), _spread(resolved, 0)


def _agent_key(platform: Any, user_id: Any) -> ColumnElement[str]:
    return func.coalesce(platform, "") + ":" + func.coalesce(user_id, "")


async def _agents(session: AsyncSession, scope: Scope, texts: _Tally) -> list[AgentRow]:
    first, _ = _durations(scope)
    responder = _agent_key(ConversationCycle.responder_platform, ConversationCycle.responder_id)
    # Every cycle an agent answered first, customer- or team-started (the latter timed
    # from the customer's answer): how many, and their median.
    answered = await percentiles.grouped(
        session,
        _cycles(scope, responder.label("key"), first.label("value")).where(ConversationCycle.responder_id.is_not(None)),
        (0.5,),
    )
    handled = {str(key): count for key, (count, _) in answered.items()}
    open_query = select(Conversation.assignee_id, func.count()).where(
        Conversation.status != "closed", Conversation.assignee_id.is_not(None)
    )
    if scope.inbox_id is not None:
        open_query = open_query.where(Conversation.inbox_id == scope.inbox_id)
    if scope.agent_id is not None:
        open_query = open_query.where(Conversation.assignee_id == scope.agent_id)
    assigned = (await session.execute(open_query.group_by(Conversation.assignee_id))).all()
    open_now = {int(agent_id or 0): int(n) for agent_id, n in assigned}
    agents = (await session.execute(select(Agent.id, Agent.platform, Agent.user_id, Agent.name))).all()
    by_key = {f"{platform}:{user_id}": (int(agent_id), str(name)) for agent_id, platform, user_id, name in agents}
    by_id = {agent_id: key for key, (agent_id, _) in by_key.items()}
    replies = {key: n for key, n in texts.replies_by.items() if key != ":"}  # ":" : automatic texts
    keys = set(replies) | set(handled) | {by_id[agent_id] for agent_id in open_now if agent_id in by_id}
    rows = []
    for key in keys:
        agent_id, name = by_key.get(key, (-1, key.split(":", 1)[-1] or "unknown"))
        median = answered[key][1][0] if key in answered else None
        rows.append(AgentRow(name, handled.get(key, 0), replies.get(key, 0), median, open_now.get(agent_id, 0)))
    return sorted(rows, key=lambda row: (-row.conversations, -row.replies, row.name.lower()))


async def _backlog(session: AsyncSession, scope: Scope) -> dict[str, int]:
    query = select(Conversation.status, func.count()).where(Conversation.status != "closed")
    if scope.inbox_id is not None:
        query = query.where(Conversation.inbox_id == scope.inbox_id)
    if scope.agent_id is not None:
        query = query.where(Conversation.assignee_id == scope.agent_id)
    return {str(status): int(n) for status, n in (await session.execute(query.group_by(Conversation.status))).all()}


async def _opt_outs(session: AsyncSession, scope: Scope) -> int:
    query = select(func.count()).where(
        ConsentEvent.created_at >= scope.since, ConsentEvent.created_at < scope.until, ConsentEvent.action.in_(OPT_OUTS)
    )
    if scope.inbox_id is not None:
        query = query.where(ConsentEvent.inbox_id == scope.inbox_id)
    if scope.agent_id is not None:
        query = query.where(
            ConsentEvent.phone.in_(
                select(Contact.phone).join(Conversation, Conversation.contact_id == Contact.id).where(
                    Conversation.assignee_id == scope.agent_id
                )
            )
        )
    return int((await session.scalar(query)) or 0)


async def _sla_breaches(session: AsyncSession, scope: Scope) -> dict[str, int]:
    query = select(SlaBreach.clock, func.count()).where(SlaBreach.breached_at >= scope.since, SlaBreach.breached_at < scope.until)
    if scope.inbox_id is not None:
        query = query.where(SlaBreach.inbox_id == scope.inbox_id)
    if scope.agent_id is not None:
        query = query.where(SlaBreach.assignee_id == scope.agent_id)
    return {str(clock): int(n) for clock, n in (await session.execute(query.group_by(SlaBreach.clock))).all()}


async def _failures(session: AsyncSession, scope: Scope) -> list[Failure]:
    # Spelled as ix_messages_failed's own condition, so the database reads only failed texts.
    failed = text("messages.status IN ('failed', 'undelivered')")
    rows = await session.execute(
        _messages(scope, Message.error_code, func.max(Message.error_text), func.count())
        .where(failed, Message.direction == "out")
        .group_by(Message.error_code)
    )
    found = [Failure(str(code or ""), str(reason or "no reason given"), int(n)) for code, reason, n in rows.all()]
    return sorted(found, key=lambda f: (-f.count, f.code))


async def _timeline(session: AsyncSession, scope: Scope, dialect: str, texts: _Tally) -> tuple[list[DayRow], list[list[int]]]:
    # Hours become local by the zone's offset at that hour: exact for zones whose offsets
    # are whole hours; a half-hour zone's texts land in the local hour their UTC hour starts in.
    heat = [[0] * 24 for _ in range(7)]
    volume: dict[date, list[int]] = {}
    for hour, (texts_in, texts_out, *_) in texts.hours.items():
        local = hour.astimezone(scope.zone)
        counts = volume.setdefault(local.date(), [0, 0])
        counts[0] += texts_in
        counts[1] += texts_out
        heat[local.weekday()][local.hour] += texts_in
    first, _ = _durations(scope)
    day = _local_bucket(ConversationCycle.started_at, scope, dialect, 86400).label("key")
    speed = await percentiles.grouped(
        session, _cycles(scope, day, first.label("value")).where(ConversationCycle.origin == "customer"), (0.5, 0.9)
    )
    by_day = {_bucket_start(int(str(key)), 86400).date(): key for key in speed}
    first_day = scope.since.astimezone(scope.zone).date()
    last_day = (scope.until - timedelta(microseconds=1)).astimezone(scope.zone).date()
    days = []
    current = first_day
    while current <= last_day:
        texts_in, texts_out = volume.get(current, [0, 0])
        key = by_day.get(current)
        days.append(DayRow(current, texts_in, texts_out, _spread(speed, key) if key is not None else Spread()))
        current += timedelta(days=1)
    return days, heat


async def build(session: AsyncSession, scope: Scope) -> ReportData:
    """Every number of the report, from a dozen aggregate queries."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    texts = await _texts(session, scope, dialect)
    texts_in, texts_out, replies, delivered = (sum(counts[i] for counts in texts.hours.values()) for i in range(4))
    new, team, reopened, unanswered = await _cycle_counts(session, scope)
    first, team_first, resolution = await _speed(session, scope)
    daily, heat = await _timeline(session, scope, dialect, texts)
    return ReportData(
        scope=scope,
        texts_in=texts_in,
        texts_out=texts_out,
        replies=replies,
        delivered=delivered,
        new_conversations=new,
        team_started=team,
        reopened=reopened,
        first_response=first,
        team_first_response=team_first,
        unanswered=unanswered,
        resolution=resolution,
        agents=await _agents(session, scope, texts),
        backlog=await _backlog(session, scope),
        opt_outs=await _opt_outs(session, scope),
        failures=await _failures(session, scope),
        daily=daily,
        heat=heat,
        away=list((await session.execute(select(Agent.name).where(Agent.away.is_(True)).order_by(Agent.name))).scalars()),
        sla_breaches=await _sla_breaches(session, scope),
    )


async def inbox_names(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(Inbox.name, Inbox.id).order_by(Inbox.name))
    return {str(name): int(inbox_id) for name, inbox_id in rows.all()}


async def agent_choices(session: AsyncSession) -> list[tuple[int, str, str, str]]:
    """(id, platform, user id, name) of every teammate, by name."""
    rows = await session.execute(select(Agent.id, Agent.platform, Agent.user_id, Agent.name).order_by(Agent.name))
    return [(int(i), str(p), str(u), str(n)) for i, p, u, n in rows.all()]

