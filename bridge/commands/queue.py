"""`/sms queue [unassigned|mine|overdue|all]` and the same views for a chat's home page
(Slack's App Home): each conversation with its status, assignee, how long the customer
has waited, a link to its thread and a Claim button while nobody has it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bridge.commands.arguments import Choice
from bridge.commands.context import CommandContext
from bridge.commands.registry import Where, command
from bridge.commands.replies import Button, CommandReply, ConversationLink
from bridge.inbox.labels import Priority
from bridge.inbox.markup import Rich, rich
from bridge.inbox.queue import (
    QUEUE_LIMIT,
    QueueItem,
    QueueView,
    open_queue,
    waited_text,
)
from bridge.inbox.service import InboxService
from bridge.inbox.types import Author

HOME_VIEWS = (QueueView.MINE, QueueView.UNASSIGNED, QueueView.OVERDUE)

_HEADINGS = {
    QueueView.UNASSIGNED: "**Unassigned** — {n}, longest wait first:",
    QueueView.MINE: "**Yours** — {n}, longest wait first:",
    QueueView.OVERDUE: "**Overdue** (past their SLA) — {n}, longest wait first:",
    QueueView.ALL: "**Open conversations** — {n}, longest wait first:",
}
_EMPTY = {
    QueueView.UNASSIGNED: "Nothing unassigned — nice.",
    QueueView.MINE: "Nothing assigned to you.",
    QueueView.OVERDUE: "Nothing overdue — nice.",
    QueueView.ALL: "No open conversations — nice.",
}
NO_SLA = rich(
    "No SLA is configured (SMSBRIDGE_SLA_FIRST_REPLY, …), so nothing counts as overdue. "
    "`/sms queue all` lists every open conversation, longest wait first."
)


@dataclass(frozen=True)
class QueueSection:
    """One view of the queue, ready to show: a heading, its conversations and what is left."""

    view: QueueView
    heading: Rich  # the count, or why there is nothing to show
    links: tuple[ConversationLink, ...] = ()
    footer: Rich | None = None

    def reply(self) -> CommandReply:
        return CommandReply(self.heading, links=self.links, footer=self.footer)


async def queue_section(
    session: AsyncSession, view: QueueView, *, agent_id: int, now: datetime, limit: int = QUEUE_LIMIT, sla: bool = False
) -> QueueSection:
    """`sla`: some inbox has an SLA target (else `overdue` says none is configured)."""
    if view is QueueView.OVERDUE and not sla:
        return QueueSection(view, NO_SLA)
    page = await open_queue(session, view, now=now, agent_id=agent_id, limit=limit)
    if not page.items:
        return QueueSection(view, rich(_EMPTY[view]))
    heading = rich(_HEADINGS[view], n=page.total)
    footer = rich("…and {n} more.", n=page.more) if page.more else None
    return QueueSection(view, heading, tuple(_link(item, now) for item in page.items), footer)


def _link(item: QueueItem, now: datetime) -> ConversationLink:
    waited = item.waited(now)
    parts = [item.status.badge]
    if item.priority is not Priority.NORMAL:
        parts.append(item.priority.badge)
    parts += [item.assignee or "unassigned", f"waiting {waited_text(waited)}" if waited is not None else "answered"]
    clock = item.sla_text(now)
    if clock:
        parts.append(clock)
    claim = Button("Claim", "claim", str(item.conversation_id), "primary") if item.assignee is None else None
    return ConversationLink(item.conversation_id, item.title, " · ".join(parts), item.waiting_since, claim)


async def home_sections(service: InboxService, author: Author, limit: int = QUEUE_LIMIT) -> tuple[QueueSection, ...]:
    """What a person's home page shows: their conversations, the unassigned, the overdue."""
    async with service.db.sessions.begin() as session:
        agent = await service.agents.ensure(session, author)
        now = service.sla.now()
        sla = any(inbox.sla.any for inbox in service.directory.all())
        return tuple([await queue_section(session, view, agent_id=agent.id, now=now, limit=limit, sla=sla) for view in HOME_VIEWS])


VIEW = Choice("view", "Which conversations", values=tuple(QueueView), optional=True, default=QueueView.UNASSIGNED.value)


@command("queue", args=(VIEW,), where=Where.CHANNEL,
         help="open conversations, longest wait first, with links and Claim buttons (default unassigned)")
async def queue(ctx: CommandContext, view: QueueView) -> CommandReply:
    sla = any(inbox.sla.any for inbox in ctx.service.directory.all())
    return (await queue_section(ctx.session, view, agent_id=ctx.agent.id, now=ctx.clock.now(), sla=sla)).reply()
