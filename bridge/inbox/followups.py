"""Follow-ups on durable timers: `!snooze WHEN` (pending until then, reopened with a note),
`!remind WHEN [text]` (pings the teammate who asked) and the reminder to the assignee of a
conversation left pending longer than SMSBRIDGE_PENDING_REMIND.

Each is scheduled in the command's transaction and fires once (docs/scheduling.md); the
handlers work through the session they are given and tell the thread.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox import audit, cycles
from bridge.inbox.agents import AgentView
from bridge.inbox.assignment import SYSTEM_ACTOR
from bridge.inbox.audit import actor_of
from bridge.inbox.durations import spoken
from bridge.inbox.fanout import ChatFanout
from bridge.inbox.labels import ConversationStatus
from bridge.inbox.markup import Mention, Rich, rich
from bridge.inbox.models import Agent, Conversation, utcnow
from bridge.inbox.routing import InboxDirectory, InboxRoute
from bridge.inbox.scheduler import Scheduler, TimerInfo
from bridge.inbox.timephrases import When, describe_local

SNOOZE_TIMER = "snooze.wake"
REMIND_TIMER = "remind.ping"
PENDING_TIMER = "pending.remind"


class Followups:
    def __init__(self, fanout: ChatFanout, directory: InboxDirectory, scheduler: Scheduler | None = None) -> None:
        self.fanout = fanout
        self.directory = directory
        self.scheduler = scheduler
        self.pending_after: timedelta | None = None  # SMSBRIDGE_PENDING_REMIND

    def register(self, scheduler: Scheduler, pending_after: timedelta | None) -> None:
        self.scheduler = scheduler
        self.pending_after = pending_after
        scheduler.register(SNOOZE_TIMER, self._wake)
        scheduler.register(REMIND_TIMER, self._remind)
        scheduler.register(PENDING_TIMER, self._pending)

    def now(self) -> datetime:
        return self.scheduler.clock.now() if self.scheduler is not None else utcnow()

    def _require(self) -> Scheduler:
        if self.scheduler is None:
            raise RuntimeError("follow-ups need the scheduler (smsbridge run registers it)")
        return self.scheduler

    # -- the commands -----------------------------------------------------------------

    async def snooze(self, session: AsyncSession, inbox: InboxRoute, conv: Conversation, actor: AgentView, when: When, key: str) -> Rich:
        scheduler = self._require()
        before = conv.status
        await scheduler.cancel_all(session, conversation_id=conv.id, kind=SNOOZE_TIMER)
        await scheduler.cancel_all(session, conversation_id=conv.id, kind=PENDING_TIMER)  # snoozed on purpose
        conv.status = ConversationStatus.PENDING.value
        conv.updated_at = utcnow()
        await cycles.status_changed(session, conv.id, conv.status, conv.updated_at)
        await scheduler.schedule(session, SNOOZE_TIMER, when.at, {"by": actor.name, "from": before}, key=f"snooze:{conv.id}:{key}", conversation_id=conv.id)
        until = describe_local(when.at, inbox.hours.zone)
        audit.record(session, actor_of(actor.platform, actor.user_id), "snoozed", conv.id, before=before, after="pending", until=when.at.isoformat())
        await self.fanout.card(session, inbox, conv.id)
        await self.fanout.notice(session, inbox, conv.id, rich("💤 Snoozed until {until} by {name}: pending until then.", until=until, name=actor.name))
        return rich("Snoozed until {until}.", until=until)

    async def remind(
        self, session: AsyncSession, inbox: InboxRoute, conv: Conversation, actor: AgentView, when: When, text: str, key: str
    ) -> Rich:
        scheduler = self._require()
        payload = {"platform": actor.platform, "user_id": actor.user_id, "name": actor.name, "text": text}
        await scheduler.schedule(session, REMIND_TIMER, when.at, payload, key=f"remind:{conv.id}:{key}", conversation_id=conv.id)
        audit.record(session, actor_of(actor.platform, actor.user_id), "reminder_set", conv.id, at=when.at.isoformat(), text=text)
        return rich("I'll remind you {at}.", at=describe_local(when.at, inbox.hours.zone))

    async def went_pending(self, session: AsyncSession, conv: Conversation) -> None:
        """A teammate set it pending: remind its assignee if it stays so too long."""
        if self.scheduler is None or self.pending_after is None:
            return
        await self.scheduler.cancel_all(session, conversation_id=conv.id, kind=PENDING_TIMER)
        at = self.now() + self.pending_after
        await self.scheduler.schedule(
            session, PENDING_TIMER, at, {"since": self.now().isoformat()}, key=f"pending:{conv.id}:{at.isoformat()}", conversation_id=conv.id
        )

    # -- firing -----------------------------------------------------------------------

    async def _context(self, session: AsyncSession, timer: TimerInfo) -> tuple[Conversation, InboxRoute] | None:
        conv = await session.get(Conversation, timer.conversation_id) if timer.conversation_id else None
        if conv is None:
            return None
        try:
            return conv, self.directory.get(conv.inbox_id)
        except KeyError:
            return None

    async def _wake(self, session: AsyncSession, timer: TimerInfo) -> None:
        found = await self._context(session, timer)
        if found is None:
            return
        conv, inbox = found
        if conv.status != ConversationStatus.PENDING.value:
            return  # the customer wrote or a teammate moved it meanwhile
        conv.status = ConversationStatus.OPEN.value
        conv.updated_at = utcnow()
        await cycles.status_changed(session, conv.id, conv.status, conv.updated_at)
        audit.record(session, SYSTEM_ACTOR, "snooze_ended", conv.id, before="pending", after="open")
        await self.fanout.card(session, inbox, conv.id)
        await self.fanout.notice(session, inbox, conv.id, rich("⏰ Snooze over: open again (snoozed by {name}).", name=str(timer.payload.get("by", "a teammate"))))

    async def _remind(self, session: AsyncSession, timer: TimerInfo) -> None:
        found = await self._context(session, timer)
        if found is None:
            return
        conv, inbox = found
        p = timer.payload
        who = Mention(str(p["platform"]), str(p["user_id"]), str(p["name"]))
        text = str(p.get("text") or "")
        audit.record(session, SYSTEM_ACTOR, "reminded", conv.id, user=str(p["name"]))
        message = rich("🔔 Reminder for {who}: {text}", who=who, text=text) if text else rich("🔔 Reminder for {who}.", who=who)
        await self.fanout.notice(session, inbox, conv.id, message)

    async def _pending(self, session: AsyncSession, timer: TimerInfo) -> None:
        found = await self._context(session, timer)
        if found is None:
            return
        conv, inbox = found
        if conv.status != ConversationStatus.PENDING.value:
            return
        owner = await session.get(Agent, conv.assignee_id) if conv.assignee_id else None
        since = datetime.fromisoformat(str(timer.payload["since"]))
        waited = spoken(int((self.now() - since).total_seconds()))
        audit.record(session, SYSTEM_ACTOR, "pending_reminded", conv.id, assignee=owner.name if owner else None)
        who = rich("{m}", m=Mention(owner.platform, owner.user_id, owner.name)) if owner else rich("Nobody has it")
        await self.fanout.notice(session, inbox, conv.id, rich("🔔 {who}: this conversation has been pending for {waited}.", who=who, waited=waited))
