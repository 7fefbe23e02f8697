"""SLA clocks: first reply, next reply and resolution, per conversation.

A customer's text starts a reply clock (the first reply when the conversation starts or
was never answered, the next reply otherwise) unless one already runs, so a burst counts
from its first text; a conversation that starts also starts its resolution clock. Each
clock is two durable timers (docs/scheduling.md): a warning at 80% of the target and the
breach, both counted in the inbox's business hours (24/7 when it has none). A reply stops
the reply clock, closing stops both: their timers are cancelled in the same transaction,
so a warning can never follow the reply that made it moot. A warning pings the assignee
(the thread, when nobody has it) once; a breach is recorded in `sla_breaches` for reports.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox import audit
from bridge.inbox.assignment import SYSTEM_ACTOR
from bridge.inbox.durations import spoken
from bridge.inbox.fanout import ChatFanout
from bridge.inbox.labels import Priority
from bridge.inbox.markup import Mention, Rich, rich
from bridge.inbox.models import Agent, Conversation, SlaBreach, utcnow
from bridge.inbox.routing import InboxDirectory, InboxRoute
from bridge.inbox.scheduler import Scheduler, TimerInfo
from bridge.inbox.sla_policy import SlaClock

REPLY_TIMER = "sla.reply"
RESOLUTION_TIMER = "sla.resolution"
WARN_AT = 0.8  # share of the target after which the owner is warned


def _aware(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=at.tzinfo or UTC) if at is not None else None


class SlaClocks:
    """Starts and stops the clocks in the caller's transaction; fires their timers."""

    def __init__(self, fanout: ChatFanout, directory: InboxDirectory, scheduler: Scheduler | None = None) -> None:
        self.fanout = fanout
        self.directory = directory
        self.scheduler = scheduler  # set by the composition root; without it no clock runs

    def now(self) -> datetime:
        return self.scheduler.clock.now() if self.scheduler is not None else utcnow()

    def register(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        scheduler.register(REPLY_TIMER, self.fire)
        scheduler.register(RESOLUTION_TIMER, self.fire)

    # -- starting and stopping ---------------------------------------------------------

    async def customer_wrote(
        self, session: AsyncSession, inbox: InboxRoute, conv: Conversation, message_id: int, *, starts: bool
    ) -> None:
        """A customer's text: start the reply clock (and, when the conversation starts,
        the resolution clock)."""
        if self.scheduler is None or not inbox.sla.any:
            return
        now = self.now()
        if starts:
            await self._stop(session, conv, REPLY_TIMER)
            await self._stop(session, conv, RESOLUTION_TIMER)
            await self._start(session, inbox, conv, SlaClock.RESOLUTION, now, message_id)
        if conv.reply_due_at is None:
            first = starts or conv.last_outbound_at is None
            await self._start(session, inbox, conv, SlaClock.FIRST_REPLY if first else SlaClock.NEXT_REPLY, now, message_id)
            await self.fanout.card(session, inbox, conv.id)  # the card shows the new clock

    async def replied(self, session: AsyncSession, inbox: InboxRoute, conv: Conversation) -> None:
        """A teammate's reply stops the reply clock."""
        if conv.reply_due_at is not None:
            await self._stop(session, conv, REPLY_TIMER)
            await self.fanout.card(session, inbox, conv.id)

    async def closed(self, session: AsyncSession, conv: Conversation) -> None:
        """Closing stops every clock."""
        if conv.reply_due_at is not None:
            await self._stop(session, conv, REPLY_TIMER)
        if conv.resolve_due_at is not None:
            await self._stop(session, conv, RESOLUTION_TIMER)

    async def priority_changed(self, session: AsyncSession, inbox: InboxRoute, conv: Conversation) -> None:
        """A new priority with targets of its own re-times the running clocks from when
        they started (a clock already past its new target breaches at once)."""
        if self.scheduler is None or not inbox.sla.any:
            return
        priority = Priority.of(conv.priority)
        changed = False
        for kind in (REPLY_TIMER, RESOLUTION_TIMER):
            timers = await self.scheduler.pending(session, conversation_id=conv.id, kind=kind)
            running = [t for t in timers if t.payload.get("stage") == "breach" and "started" in t.payload]
            if not running:
                continue
            payload = running[0].payload
            clock = SlaClock(str(payload["clock"]))
            target = inbox.sla.target(clock, priority)
            if target is None or int(target.total_seconds()) == int(payload["target"]):
                continue
            await self._stop(session, conv, kind)
            started = datetime.fromisoformat(str(payload["started"]))
            await self._start(session, inbox, conv, clock, started, int(payload["message"]), again=self.now())
            due = conv.resolve_due_at if clock is SlaClock.RESOLUTION else conv.reply_due_at
            audit.record(
                session, SYSTEM_ACTOR, "sla_retimed", conv.id, clock=clock.value, priority=priority.name.lower(),
                target=int(target.total_seconds()), due=due.isoformat() if due else None,
            )
            changed = True
        if changed:
            await self.fanout.card(session, inbox, conv.id)

    async def _start(
        self, session: AsyncSession, inbox: InboxRoute, conv: Conversation, clock: SlaClock, now: datetime, message_id: int,
        *, again: datetime | None = None,
    ) -> None:
        """`again`: when a running clock is re-timed (its `now` is when it started)."""
        target = inbox.sla.target(clock, Priority.of(conv.priority))
        if target is None or self.scheduler is None:
            return
        due = inbox.hours.add_business_time(now, target)
        warn = inbox.hours.add_business_time(now, target * WARN_AT)
        kind = RESOLUTION_TIMER if clock is SlaClock.RESOLUTION else REPLY_TIMER
        if clock is SlaClock.RESOLUTION:
            conv.resolve_due_at = due
        else:
            conv.reply_clock, conv.reply_due_at = clock.value, due
        payload = {
            "clock": clock.value, "due": due.isoformat(), "target": int(target.total_seconds()),
            "started": now.isoformat(), "message": message_id,
        }
        # Keyed by the text that started the clock: a retried filing never doubles them
        # (a re-timed clock adds when it was re-timed: keys are never reused).
        suffix = f":{conv.priority}@{again.isoformat()}" if again is not None else ""
        for stage, at in (("warn", warn), ("breach", due)):
            if stage == "warn" and again is not None and due <= again:
                continue  # already overdue: the breach says so, not a late "due in"
            await self.scheduler.schedule(
                session, kind, at, {**payload, "stage": stage}, key=f"sla:{conv.id}:{clock.value}:{message_id}{suffix}:{stage}",
                conversation_id=conv.id,
            )

    async def _stop(self, session: AsyncSession, conv: Conversation, kind: str) -> None:
        if self.scheduler is not None:
            await self.scheduler.cancel_all(session, conversation_id=conv.id, kind=kind)
        if kind == RESOLUTION_TIMER:
            conv.resolve_due_at = None
        else:
            conv.reply_clock, conv.reply_due_at = None, None

    # -- firing ------------------------------------------------------------------------

    async def fire(self, session: AsyncSession, timer: TimerInfo) -> None:
        """A warning or a breach: told once (the timer fires once), only while its clock runs."""
        if timer.conversation_id is None:
            return
        conv = await session.get(Conversation, timer.conversation_id)
        if conv is None:
            return
        clock = SlaClock(str(timer.payload["clock"]))
        due = datetime.fromisoformat(str(timer.payload["due"]))
        running = _aware(conv.resolve_due_at) if clock is SlaClock.RESOLUTION else _aware(conv.reply_due_at)
        if running != due:
            return  # that clock was stopped (or restarted) meanwhile
        try:
            inbox = self.directory.get(conv.inbox_id)
        except KeyError:
            return
        now = self.now()
        owner = await session.get(Agent, conv.assignee_id) if conv.assignee_id else None
        target = spoken(int(timer.payload["target"]))
        if timer.payload.get("stage") == "breach":
            session.add(
                SlaBreach(conversation_id=conv.id, inbox_id=conv.inbox_id, clock=clock.value, assignee_id=conv.assignee_id, due_at=due, breached_at=now)
            )
            audit.record(session, SYSTEM_ACTOR, "sla_breached", conv.id, clock=clock.value, due=due.isoformat(), assignee=owner.name if owner else None)
            text = rich("🚨 {who}: the {clock} is overdue (SLA {target}).", who=_who(owner), clock=clock.label, target=target)
        else:
            left = inbox.hours.business_duration(now, due)
            audit.record(session, SYSTEM_ACTOR, "sla_warned", conv.id, clock=clock.value, due=due.isoformat(), assignee=owner.name if owner else None)
            text = rich(
                "⏰ {who}: the {clock} is due in {left} (SLA {target}).",
                who=_who(owner), clock=clock.label, left=spoken(max(int(left.total_seconds()), 60)), target=target,
            )
        await self.fanout.card(session, inbox, conv.id)
        await self.fanout.notice(session, inbox, conv.id, text)


def _who(owner: Agent | None) -> Rich:
    if owner is None:
        return rich("Unassigned (`!claim` takes it)")
    return rich("{m}", m=Mention(owner.platform, owner.user_id, owner.name))

