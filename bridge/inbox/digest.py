"""The digest: each inbox's report for the last period, posted to its channels by itself.

`SMSBRIDGE_DIGEST="daily 08:30"` (or `"mon 08:30"`, weekly; `digest` in an `[[inbox]]`)
posts, at that local time in the inbox's zone, the report of the day (or week) that just
ended, the conversations at risk (overdue, unassigned, waiting longest) and the teammates
who handled fewer conversations than `SMSBRIDGE_AGENT_DAILY_MINIMUM` on a day.

Each firing is a durable timer (bridge/inbox/scheduler.py) whose key names the inbox and
the instant it is due: the key is unique forever, so every process may plan the next
digest at start-up and after each firing, and it still fires once, on one process, also
after a restart (a digest due while every process was down fires when one comes back).
The handler only writes: it queues one chat job per channel (the report's text, then its
charts) in the firing's transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox import report_queries
from bridge.inbox.chat import ChartUpload
from bridge.inbox.fanout import ChatFanout
from bridge.inbox.markup import Rich, join, rich
from bridge.inbox.models import Agent, ConversationCycle
from bridge.inbox.queue import QueueItem, QueueView, open_queue, waited_text
from bridge.inbox.report_queries import Scope
from bridge.inbox.report_render import chat_text
from bridge.inbox.routing import InboxDirectory, InboxRoute
from bridge.inbox.scheduler import Scheduler, TimerInfo

DIGEST_KIND = "report.digest"
EXAMPLE = '"daily 08:30" or "mon 08:30"'
AT_RISK = 5  # conversations each at-risk list names
_FULL = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WORDS: dict[str, int | None] = {"daily": None, **{d: i for i, d in enumerate(_FULL)}, **{d[:3]: i for i, d in enumerate(_FULL)}}
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")


@dataclass(frozen=True)
class DigestSchedule:
    """When a digest is due: every day, or one weekday, at a local wall-clock time."""

    weekday: int | None  # 0 = Monday; None = every day
    at: time

    @classmethod
    def parse(cls, text: str) -> DigestSchedule:
        """`daily 08:30`, `mon 08:30` (`monday 8:30` too); ValueError showing an example."""
        word, _, clock = text.strip().lower().partition(" ")
        match = _CLOCK.match(clock.strip())
        if word not in _WORDS or match is None:
            raise ValueError(f"{text!r} is not a digest time; write {EXAMPLE}")
        hour, minute = int(match[1]), int(match[2])
        if hour > 23 or minute > 59:
            raise ValueError(f"{text!r} is not a time of day; write {EXAMPLE}")
        return cls(_WORDS[word], time(hour, minute))

    @property
    def days(self) -> int:
        """How many days one digest covers."""
        return 1 if self.weekday is None else 7

    def next_due(self, after: datetime, zone: ZoneInfo) -> datetime:
        """The first due instant strictly after `after` (aware UTC)."""
        day = after.astimezone(zone).date()
        while True:
            if self.weekday is None or day.weekday() == self.weekday:
                due = datetime.combine(day, self.at, zone).astimezone(UTC)
                if due > after:
                    return due
            day += timedelta(days=1)

    def period(self, due: datetime, zone: ZoneInfo) -> tuple[datetime, datetime, str]:
        """[since, until) the digest due at `due` reports: the local day(s) that just ended."""
        last = due.astimezone(zone).date()
        first = last - timedelta(days=self.days)
        label = f"{first:%a %d %b %Y}" if self.days == 1 else f"{first} .. {last - timedelta(days=1)}"
        return _midnight(first, zone), _midnight(last, zone), label


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(UTC)


@dataclass(frozen=True)
class DigestPlan:
    """One inbox's digest: its name (as configured) and when."""

    inbox: str
    schedule: DigestSchedule


@dataclass(frozen=True)
class MissedMinimum:
    name: str
    day: date
    handled: int


class Digests:
    """Plans and posts the digests; `register()` it on the scheduler, `plan()` at start-up."""

    def __init__(
        self,
        scheduler: Scheduler,
        fanout: ChatFanout,
        directory: InboxDirectory,
        plans: list[DigestPlan],
        *,
        daily_minimum: int | None = None,
        overdue_after: timedelta | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.fanout = fanout
        self.directory = directory
        self.plans = {plan.inbox: plan.schedule for plan in plans}
        self.daily_minimum = daily_minimum
        self.overdue_after = overdue_after

    def register(self) -> None:
        self.scheduler.register(DIGEST_KIND, self.fire)

    def _route(self, name: str) -> InboxRoute | None:
        return next((route for route in self.directory.all() if route.name == name), None)

    async def plan(self, session: AsyncSession, now: datetime) -> int:
        """Schedule each inbox's next digest (a no-op when another process already did)."""
        added = 0
        for name, schedule in self.plans.items():
            route = self._route(name)
            if route is not None and await self._schedule_next(session, route, schedule, now) is not None:
                added += 1
        return added

    async def _schedule_next(self, session: AsyncSession, route: InboxRoute, schedule: DigestSchedule, after: datetime) -> int | None:
        due = schedule.next_due(after, route.hours.zone)
        # Unique forever: the inbox and the due instant (and the schedule, so a changed
        # setting plans its own timers instead of colliding with the old ones).
        key = f"digest:{route.id}:{schedule.weekday if schedule.weekday is not None else 'daily'}:{due.isoformat()}"
        return await self.scheduler.schedule(session, DIGEST_KIND, due, {"inbox": route.name}, key=key)

    async def fire(self, session: AsyncSession, timer: TimerInfo) -> None:
        name = str(timer.payload.get("inbox", ""))
        route, schedule = self._route(name), self.plans.get(name)
        if route is None or schedule is None:
            return  # the inbox or its digest was removed from the settings since
        zone = route.hours.zone
        since, until, label = schedule.period(timer.due_at, zone)
        text = await self.compose(session, route, since, until, label, now=timer.due_at)
        title = f"Digest · {route.name} · {label}"
        for platform, channel in sorted(route.chats.items()):
            post = ChartUpload(
                since.isoformat(), until.isoformat(), zone.key, "digest", inbox_id=route.id, summary=text, title=title
            )
            await self.fanout.to_channel(session, platform, channel, post)
        await self._schedule_next(session, route, schedule, timer.due_at)

    async def compose(
        self, session: AsyncSession, route: InboxRoute, since: datetime, until: datetime, label: str, *, now: datetime
    ) -> Rich:
        """The digest's text: the report, the conversations at risk, missed minimums."""
        zone = route.hours.zone
        data = await report_queries.build(session, Scope(since, until, zone, inbox_id=route.id))
        parts = [rich("**Digest** · {name}", name=route.name), chat_text(data, label, f"inbox {route.name}")]
        parts.extend(await self._at_risk(session, route, now))
        missed = await self.missed_minimums(session, route, since, until)
        if missed:
            parts.append(rich("**Below the daily minimum** ({n} conversations a day)", n=self.daily_minimum or 0))
            parts.extend(
                rich("• {name}: {handled} on {day}", name=m.name, handled=m.handled, day=f"{m.day:%a %d %b}") for m in missed
            )
        return join(parts)

    async def _at_risk(self, session: AsyncSession, route: InboxRoute, now: datetime) -> list[Rich]:
        lines: list[Rich] = []
        views: list[tuple[str, QueueView]] = []
        if self.overdue_after is not None:
            views.append(("Overdue", QueueView.OVERDUE))
        views += [("Unassigned", QueueView.UNASSIGNED), ("Waiting longest", QueueView.ALL)]
        for title, view in views:
            page = await open_queue(
                session, view, now=now, overdue_after=self.overdue_after, limit=AT_RISK, inbox_id=route.id
            )
            waiting = [item for item in page.items if item.waiting_since is not None] if view is QueueView.ALL else list(page.items)
            if not waiting:
                continue
            lines.append(rich("**{title}** ({n})", title=title, n=len(waiting) if view is QueueView.ALL else page.total))
            lines.extend(_item_line(item, now) for item in waiting)
        if not lines:
            lines.append(rich("Nobody is waiting for an answer."))
        return lines

    async def missed_minimums(self, session: AsyncSession, route: InboxRoute, since: datetime, until: datetime) -> list[MissedMinimum]:
        """Teammates who answered first fewer cycles than the minimum on a day of the period.

        Counted per local day from the cycles each teammate answered first, as the
        report's "conversations handled"; teammates who are away now are not flagged."""
        if not self.daily_minimum:
            return []
        zone = route.hours.zone
        agents = (
            await session.execute(
                select(Agent.platform, Agent.user_id, Agent.name).where(Agent.role != "viewer", Agent.away.is_(False))
            )
        ).all()
        if not agents:
            return []
        period = Scope(since, until, zone)
        day = report_queries.day_index(ConversationCycle.first_response_at, period).label("day")
        rows = await session.execute(
            select(ConversationCycle.responder_platform, ConversationCycle.responder_id, day, func.count())
            .where(
                ConversationCycle.inbox_id == route.id,
                ConversationCycle.first_response_at >= since,
                ConversationCycle.first_response_at < until,
            )
            .group_by(ConversationCycle.responder_platform, ConversationCycle.responder_id, day)
        )
        days = report_queries.local_days(period)
        handled = {(str(p), str(u), days[int(d)]): int(n) for p, u, d, n in rows.all()}
        missed = [
            MissedMinimum(str(name), on, handled.get((str(platform), str(user), on), 0))
            for platform, user, name in agents
            for on in days
            if handled.get((str(platform), str(user), on), 0) < self.daily_minimum
        ]
        return sorted(missed, key=lambda m: (m.day, m.name.lower()))


def _item_line(item: QueueItem, now: datetime) -> Rich:
    waited = item.waited(now)
    return rich(
        "• {title} · {status} · {who} · waiting {waited}",
        title=item.title,
        status=item.status.value,
        who=item.assignee or "unassigned",
        waited=waited_text(waited) if waited is not None else "—",
    )
