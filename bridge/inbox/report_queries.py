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

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    case,
    cast,
    exists,
    func,
    literal,
    literal_column,
    select,
    text,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

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

_T = TypeVar("_T")

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


def local_days(scope: Scope) -> list[date]:
    """The local days the scope's period touches, first to last."""
    first = scope.since.astimezone(scope.zone).date()
    last = (scope.until - timedelta(microseconds=1)).astimezone(scope.zone).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def day_index(column: Any, scope: Scope) -> ColumnElement[int]:
    """Which of `local_days(scope)` `column` falls on, as its position in that list.

    A balanced tree of comparisons with the days' local midnights (in UTC, so DST days
    of 23 or 25 hours are exact): about five comparisons per row for a month, instead of
    turning every timestamp into local time (SQLite's strftime per row costs far more).
    """
    days = local_days(scope)
    starts = [datetime.combine(day, time(0), scope.zone).astimezone(UTC) for day in days[1:]]

    def pick(low: int, high: int) -> ColumnElement[int]:  # the day is in days[low..high]
        if low == high:
            return literal(low)
        middle = (low + high + 1) // 2  # days[middle] starts at starts[middle - 1]
        return case((column < starts[middle - 1], pick(low, middle - 1)), else_=pick(middle, high))

    return pick(0, len(days) - 1)


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


def _cycles(scope: Scope, *columns: Any, since: datetime | None = None, until: datetime | None = None) -> Select[Any]:
    """The scope's cycles started in the period (or in [since, until), a part of it)."""
    start = scope.since if since is None else since
    end = scope.until if until is None else until
    query = select(*columns).where(ConversationCycle.started_at >= start, ConversationCycle.started_at < end)
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
    failed_by: dict[str, int] = field(default_factory=dict)  # failed and undelivered texts per error code

    def add(self, other: _Tally) -> None:
        for code, n in other.failed_by.items():
            self.failed_by[code] = self.failed_by.get(code, 0) + n
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
    session: AsyncSession,
    hour: Any,
    direction: Any,
    kind: Any,
    status: Any,
    author: Any,
    error_code: Any,
    weight: Any,
    filters: list[Any],
) -> _Tally:
    """Texts per hour (read in the hour's order), replies per author, failures per code.

    Three aggregates: one GROUP BY (author, error code) over the outbound counters was
    tried and cost SQLite twice as much (sorting every outbound row by the wider key)."""
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
    per_code = await session.execute(
        select(error_code, func.sum(weight)).where(*filters, direction == "out", status.in_(FAILED)).group_by(error_code)
    )
    return _Tally(
        hours={_as_hour(h): [int(n or 0) for n in counts] for h, *counts in per_hour.all()},
        replies_by={str(key): int(n or 0) for key, n in per_author.all()},
        failed_by={str(code or ""): int(n or 0) for code, n in per_code.all()},
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
        _agent_key(Message.author_platform, Message.author_id), func.coalesce(Message.error_code, ""), literal(1), filters,
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
        session, row.hour, row.direction, row.kind, row.status, row.author_platform + ":" + row.author_id, row.error_code,
        row.messages, filters,
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


def _day_bounds(scope: Scope) -> list[tuple[datetime, datetime]]:
    """The part of the period on each of `local_days(scope)`: [start, end) in UTC, exact across DST."""
    days = local_days(scope)
    midnights = [datetime.combine(day, time(0), scope.zone).astimezone(UTC) for day in days[1:]]
    edges = [scope.since, *midnights, scope.until]
    return list(pairwise(edges))


# SQLite's default SQLITE_MAX_COMPOUND_SELECT is 500; a period is at most 366 days.
_MAX_DAY_SELECTS = 400


@dataclass
class _CycleSpreads:
    """The period's durations, from one read of its cycles (the percentiles need every value)."""

    by_origin: dict[Hashable, tuple[int, list[int | None]]]
    resolution: dict[Hashable, tuple[int, list[int | None]]]
    by_responder: dict[Hashable, tuple[int, list[int | None]]]  # median only
    by_day: dict[Hashable, tuple[int, list[int | None]]]  # customer-started cycles
    # new (customer-started), team-started, reopened, customer-started and unanswered
    counts: tuple[int, int, int, int] = (0, 0, 0, 0)


def _summarise(
    groups: dict[Hashable, list[np.ndarray]], fractions: tuple[float, ...]
) -> dict[Hashable, tuple[int, list[int | None]]]:
    found: dict[Hashable, tuple[int, list[int | None]]] = {}
    for key, parts in groups.items():
        values = parts[0] if len(parts) == 1 else np.concatenate(parts)
        found[key] = (len(values), percentiles.of_values(values, fractions))
    return found


def _joined(column: Any, dialect: str, where: ColumnElement[bool] | None = None) -> ColumnElement[Any]:
    """A group's non-NULL values (of the rows `where` holds) as one comma-separated string,
    in no particular order (`string_agg` on PostgreSQL: text costs asyncpg far less to
    decode than an array)."""
    value = column if where is None else case((where, column))
    if dialect == "postgresql":
        return func.string_agg(cast(value, Text), ",")
    return func.group_concat(value)


def _numbers(joined: str) -> np.ndarray:
    """A joined column's values as an array (NumPy parses a month's worth in a millisecond or two)."""
    return np.fromstring(joined, dtype=np.int64, sep=",")


async def _cycle_spreads(session: AsyncSession, scope: Scope, dialect: str) -> _CycleSpreads:
    """Every count, median and p90 over the period's cycles, from two passes without a sort.

    Per local day, one aggregate row over that day's range of ix_cycles_report (a UNION
    ALL of one SELECT per day: each reads its range in index order, so nothing is sorted
    or grouped): the customer-started and team-started first responses and the
    resolutions joined into one column each, and the cycle counts. Per teammate, a GROUP
    BY responder that reads ix_cycles_responder in its order (responder, then start).
    An agent's few cycles (found through their conversations) are read once instead,
    grouped by local day and responder; so are periods longer than SQLite lets a UNION
    ALL be. NumPy then finds each metric's percentiles (a partition around the values
    they need, not a sort), by bridge/inbox/percentiles.py's definition exactly.
    """
    cycle = ConversationCycle
    first, resolution = _durations(scope)
    customer = cycle.origin == "customer"
    team = cycle.origin == "team"
    aggregates = (
        _joined(first, dialect, customer),
        _joined(first, dialect, team),
        _joined(resolution, dialect),
        func.count(case(((cycle.seq == 1) & customer, 1))),
        func.count(case(((cycle.seq == 1) & team, 1))),
        func.count(case((cycle.seq > 1, 1))),
        func.count(case((customer & cycle.first_response_at.is_(None), 1))),
    )
    bounds = _day_bounds(scope)
    grouped = scope.agent_id is not None or len(bounds) > _MAX_DAY_SELECTS
    days_query: Any
    if grouped:
        day = day_index(cycle.started_at, scope)
        days_query = _cycles(scope, day.label("day"), cycle.responder_platform, cycle.responder_id, *aggregates).group_by(
            day, cycle.responder_platform, cycle.responder_id
        )
    else:
        per_day = [
            _cycles(scope, literal_column(str(index)).label("day"), literal_column("NULL"), literal_column("NULL"), *aggregates,
                    since=start, until=end)
            for index, (start, end) in enumerate(bounds)
        ]
        days_query = per_day[0] if len(per_day) == 1 else union_all(*per_day)
    by_origin: dict[Hashable, list[np.ndarray]] = {}
    resolved: dict[Hashable, list[np.ndarray]] = {}
    by_day: dict[Hashable, list[np.ndarray]] = {}
    by_responder: dict[Hashable, list[np.ndarray]] = {}
    counts = [0, 0, 0, 0]
    rows = (await session.execute(days_query)).all()
    for day_key, platform, user_id, customer_firsts, team_firsts, resolutions, *day_counts in rows:
        for i, n in enumerate(day_counts):
            counts[i] += int(n)
        if resolutions:
            resolved.setdefault(0, []).append(_numbers(resolutions))
        answered = by_responder.setdefault(f"{platform or ''}:{user_id}", []) if user_id is not None else []
        if team_firsts:
            values = _numbers(team_firsts)
            by_origin.setdefault("team", []).append(values)
            answered.append(values)
        if customer_firsts:
            values = _numbers(customer_firsts)
            by_origin.setdefault("customer", []).append(values)
            by_day.setdefault(int(day_key), []).append(values)
            answered.append(values)
    if not grouped:
        per_responder = (
            _cycles(scope, cycle.responder_platform, cycle.responder_id, _joined(first, dialect))
            .where(cycle.responder_id.is_not(None))
            .group_by(cycle.responder_platform, cycle.responder_id)
        )
        for platform, user_id, firsts in (await session.execute(per_responder)).all():
            if firsts:
                by_responder.setdefault(f"{platform or ''}:{user_id}", []).append(_numbers(firsts))
    return _CycleSpreads(
        _summarise(by_origin, (0.5, 0.9)),
        _summarise(resolved, (0.5, 0.9)),
        _summarise({key: parts for key, parts in by_responder.items() if parts}, (0.5,)),
        _summarise(by_day, (0.5, 0.9)),
        (counts[0], counts[1], counts[2], counts[3]),
    )


def _agent_key(platform: Any, user_id: Any) -> ColumnElement[str]:
    return func.coalesce(platform, "") + ":" + func.coalesce(user_id, "")


def _agents(
    agents: list[tuple[int, str, str, str]], texts: _Tally, backlog: dict[tuple[str, int | None], int], spreads: _CycleSpreads
) -> list[AgentRow]:
    # Every cycle an agent answered first, customer- or team-started (the latter timed
    # from the customer's answer): how many, and their median.
    answered = spreads.by_responder
    handled = {str(key): count for key, (count, _) in answered.items()}
    open_now: dict[int, int] = {}
    for (_status, agent_id), n in backlog.items():
        if agent_id is not None:
            open_now[agent_id] = open_now.get(agent_id, 0) + n
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


async def _backlog(session: AsyncSession, scope: Scope) -> dict[tuple[str, int | None], int]:
    """Conversations not closed now, per (status, assignee): the backlog and "open now" in one pass."""
    query = select(Conversation.status, Conversation.assignee_id, func.count()).where(Conversation.status != "closed")
    if scope.inbox_id is not None:
        query = query.where(Conversation.inbox_id == scope.inbox_id)
    if scope.agent_id is not None:
        query = query.where(Conversation.assignee_id == scope.agent_id)
    rows = await session.execute(query.group_by(Conversation.status, Conversation.assignee_id))
    return {(str(status), None if agent is None else int(agent)): int(n) for status, agent, n in rows.all()}


def _by_status(backlog: dict[tuple[str, int | None], int]) -> dict[str, int]:
    found: dict[str, int] = {}
    for (status, _agent), n in backlog.items():
        found[status] = found.get(status, 0) + n
    return found


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


async def _failures(session: AsyncSession, scope: Scope, texts: _Tally) -> list[Failure]:
    """Counted with the texts (hourly counters); each code's reason from its latest failed text."""
    # Spelled as ix_messages_failed's own condition, so the database reads only failed texts.
    failed = text("messages.status IN ('failed', 'undelivered')")
    found = []
    for code, count in texts.failed_by.items():
        if not count:
            continue
        same_code = Message.error_code == code if code else Message.error_code.is_(None)
        reason = await session.scalar(
            select(Message.error_text)
            .where(failed, Message.created_at >= scope.since, Message.created_at < scope.until, same_code)
            .order_by(Message.created_at.desc())
            .limit(1)
        )
        found.append(Failure(code, str(reason or "no reason given"), count))
    return sorted(found, key=lambda f: (-f.count, f.code))


def _timeline(scope: Scope, texts: _Tally, spreads: _CycleSpreads) -> tuple[list[DayRow], list[list[int]]]:
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
    speed = spreads.by_day
    days = []
    for index, current in enumerate(local_days(scope)):
        texts_in, texts_out = volume.get(current, [0, 0])
        days.append(DayRow(current, texts_in, texts_out, _spread(speed, index)))
    return days, heat


@dataclass
class _Now:
    """What the report says about the present, read apart from the period's texts and cycles."""

    backlog: dict[tuple[str, int | None], int]
    agents: list[tuple[int, str, str, str]]  # (id, platform, user id, name) of every teammate
    away: list[str]
    opt_outs: int
    sla_breaches: dict[str, int]


async def _now(session: AsyncSession, scope: Scope) -> _Now:
    agents = await session.execute(select(Agent.id, Agent.platform, Agent.user_id, Agent.name))
    away = await session.execute(select(Agent.name).where(Agent.away.is_(True)).order_by(Agent.name))
    return _Now(
        backlog=await _backlog(session, scope),
        agents=[(int(i), str(p), str(u), str(n)) for i, p, u, n in agents.all()],
        away=[str(name) for name in away.scalars()],
        opt_outs=await _opt_outs(session, scope),
        sla_breaches=await _sla_breaches(session, scope),
    )


async def _texts_and_failures(session: AsyncSession, scope: Scope, dialect: str) -> tuple[_Tally, list[Failure]]:
    texts = await _texts(session, scope, dialect)
    return texts, await _failures(session, scope, texts)


async def build(
    session: AsyncSession, scope: Scope, *, sessions: async_sessionmaker[AsyncSession] | None = None
) -> ReportData:
    """Every number of the report, from a dozen aggregate queries.

    With `sessions` (a caller whose `session` holds no uncommitted writes the report must
    see) on PostgreSQL, the three independent parts (the texts and failures, the cycles,
    the present: backlog, teammates, opt-outs, SLA breaches) run at once, each on its own
    connection; every statement reads committed data either way (READ COMMITTED).
    """
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    if sessions is not None and dialect == "postgresql":

        async def apart(part: Callable[[AsyncSession], Awaitable[_T]]) -> _T:
            async with sessions() as own:
                return await part(own)

        (texts, failures), spreads, now = await asyncio.gather(
            apart(lambda own: _texts_and_failures(own, scope, dialect)),
            apart(lambda own: _cycle_spreads(own, scope, dialect)),
            apart(lambda own: _now(own, scope)),
        )
    else:
        texts, failures = await _texts_and_failures(session, scope, dialect)
        spreads = await _cycle_spreads(session, scope, dialect)
        now = await _now(session, scope)
    texts_in, texts_out, replies, delivered = (sum(counts[i] for counts in texts.hours.values()) for i in range(4))
    new, team, reopened, unanswered = spreads.counts
    daily, heat = _timeline(scope, texts, spreads)
    return ReportData(
        scope=scope,
        texts_in=texts_in,
        texts_out=texts_out,
        replies=replies,
        delivered=delivered,
        new_conversations=new,
        team_started=team,
        reopened=reopened,
        first_response=_spread(spreads.by_origin, "customer"),
        team_first_response=_spread(spreads.by_origin, "team"),
        unanswered=unanswered,
        resolution=_spread(spreads.resolution, 0),
        agents=_agents(now.agents, texts, now.backlog, spreads),
        backlog=_by_status(now.backlog),
        opt_outs=now.opt_outs,
        failures=failures,
        daily=daily,
        heat=heat,
        away=now.away,
        sla_breaches=now.sla_breaches,
    )


async def inbox_names(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(Inbox.name, Inbox.id).order_by(Inbox.name))
    return {str(name): int(inbox_id) for name, inbox_id in rows.all()}


async def agent_choices(session: AsyncSession) -> list[tuple[int, str, str, str]]:
    """(id, platform, user id, name) of every teammate, by name."""
    rows = await session.execute(select(Agent.id, Agent.platform, Agent.user_id, Agent.name).order_by(Agent.name))
    return [(int(i), str(p), str(u), str(n)) for i, p, u, n in rows.all()]

