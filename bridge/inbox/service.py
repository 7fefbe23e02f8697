"""The inbox core, assembled: one object that holds each part and what they share.

Each part has one job and lives in its own module:
- `inbound`       customers' texts, webhook to conversation (inbound.py)
- `replies`       teammates' replies: policy, collision hold, drafts, undo (replying.py)
- `delivery`      each send's fate: submitting, accepted, failed, callbacks (delivery.py)
- `opt_outs`      consent keywords, opt-outs and confirmations (opt_outs.py)
- `conversations` contacts and conversations, created once (conversations.py)

Every public method of a part is one transaction that records the fact and the outbox
jobs it causes (chat posts, SMS sends). Nothing here talks to a platform. The few
methods below only keep the command layer's call sites short.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox.agents import Agents, AgentView
from bridge.inbox.assignment import Assigner
from bridge.inbox.autoreplies import AutoReplies
from bridge.inbox.clock import Clock
from bridge.inbox.conversations import Conversations
from bridge.inbox.db import Database
from bridge.inbox.delivery import DeliveryTracker
from bridge.inbox.erasure import Eraser
from bridge.inbox.fanout import ChatFanout
from bridge.inbox.followups import Followups
from bridge.inbox.inbound import InboundTexts, Received
from bridge.inbox.intake import Intake
from bridge.inbox.later import ScheduledMessages
from bridge.inbox.models import Conversation
from bridge.inbox.opt_outs import OptOuts
from bridge.inbox.outbox import Outbox
from bridge.inbox.outgoing import OutgoingSms
from bridge.inbox.phone import PhoneNumber
from bridge.inbox.replying import (
    MAX_SMS_BODY,
    Replies,
    ReplyRequest,
    ReplyResult,
    SendOutcome,
)
from bridge.inbox.routing import InboxDirectory, InboxRoute
from bridge.inbox.rules import Rules
from bridge.inbox.scheduler import Scheduler
from bridge.inbox.sla import SlaClocks
from bridge.inbox.whatsapp import TemplateSpec

__all__ = [
    "MAX_SMS_BODY",
    "InboxService",
    "Received",
    "ReplyRequest",
    "ReplyResult",
    "SendOutcome",
    "ServiceOptions",
]


@dataclass(frozen=True)
class ServiceOptions:
    reply_prefixes: tuple[str, ...] = ("!reply", "!r")
    reply_prefix: str = "!r"
    # auto | smsbridge | provider: who sends STOP/START/HELP answers.
    compliance_replies: str = "auto"
    undo_seconds: float = 0.0
    collision_seconds: float = 120.0
    templates: tuple[TemplateSpec, ...] = ()  # approved WhatsApp templates


class InboxService:
    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        directory: InboxDirectory,
        options: ServiceOptions | None = None,
        chat_platforms: Iterable[str] = (),
        agents: Agents | None = None,
        scheduler: Scheduler | None = None,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.directory = directory
        self.options = options = options or ServiceOptions()
        self.agents = agents or Agents()
        self.fanout = ChatFanout(outbox, chat_platforms)
        self.intake = Intake(db, outbox.committed)
        self.sla = SlaClocks(self.fanout, directory)  # the app registers it on the scheduler
        self.followups = Followups(self.fanout, directory)  # !snooze, !remind, pending reminders
        outgoing = OutgoingSms(outbox, self.fanout, directory, self.sla)
        self.conversations = Conversations(self.fanout, directory)
        self.opt_outs = OptOuts(self.fanout, outgoing, self.conversations, directory, options.compliance_replies)
        self.auto_replies = AutoReplies(outgoing)
        self.assigner = Assigner(self.fanout)
        self.rules = Rules(self.fanout, self.assigner, outgoing)  # the app gives it the [[rule]] tables
        self.inbound = InboundTexts(
            db, directory, self.intake, self.fanout, self.conversations, self.opt_outs, self.auto_replies,
            self.assigner, self.sla, self.rules,
        )
        self.replies = Replies(
            outgoing, self.fanout, directory, undo_seconds=options.undo_seconds, collision_seconds=options.collision_seconds
        )
        self.delivery = DeliveryTracker(db, directory, outgoing, self.opt_outs)
        # Scheduled messages: their timers live on the process's scheduler.
        self.scheduler = scheduler or Scheduler(db)
        self.later = ScheduledMessages(self.scheduler, outgoing, self.fanout, directory)
        self.rules.later = self.later  # a rule's snippet held by quiet hours waits as a scheduled text
        self.rules.followups = self.followups
        self.erasure = Eraser(db, outbox)  # rule 9: `/sms erase`, `smsbridge contacts erase`

    def use_clock(self, clock: Clock) -> None:
        """The parts that decide by the time of day read it here (tests: a ManualClock)."""
        self.auto_replies.clock = clock
        self.delivery.clock = clock
        self.replies.clock = clock
        self.scheduler.clock = clock

    # -- what the command layer calls ------------------------------------------

    async def submit_reply(self, session: AsyncSession, request: ReplyRequest) -> ReplyResult:
        return await self.replies.submit(session, request)

    async def cancel(self, session: AsyncSession, message_id: int, actor: AgentView, *, statuses_: tuple[str, ...]) -> bool:
        return await self.replies.cancel(session, message_id, actor, statuses_=statuses_)

    async def send_held(self, session: AsyncSession, message_id: int, actor: AgentView) -> str | None:
        return await self.replies.send_held(session, message_id, actor)

    async def approve_draft(self, session: AsyncSession, message_id: int, actor: AgentView) -> str | None:
        return await self.replies.approve_draft(session, message_id, actor)

    async def edit_draft(self, session: AsyncSession, message_id: int, text: str, actor: AgentView) -> bool:
        return await self.replies.edit_draft(session, message_id, text, actor)

    async def record_opt_out(self, session: AsyncSession, conv: Conversation, actor: AgentView) -> str:
        return await self.opt_outs.record_by_teammate(session, conv, actor)

    async def open_conversation(self, session: AsyncSession, inbox: InboxRoute, phone: PhoneNumber) -> tuple[Conversation, bool]:
        return await self.conversations.open(session, inbox, phone)
