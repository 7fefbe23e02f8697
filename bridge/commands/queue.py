"""`/sms queue [unassigned|mine|overdue|all]` and the same views for a chat's home page
(Slack's App Home): each conversation with its status, assignee, how long the customer
has waited, a link to its thread and a Claim button while nobody has it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bridge.commands.arguments import Choice
from bridge.commands.context import CommandContext
from bridge.commands.registry import Where, command
from bridge.commands.replies import Button, CommandReply, ConversationLink
from bridge.inbox.markup import Rich, rich
from bridge.inbox.models import utcnow
from bridge.inbox.queue import (
    QUEUE_LIMIT,
    QueueItem,
    QueueView,
    open_queue,
    waited_text,
)
from bridge.inbox.service import InboxService
from bridge.inbox.types import Author

# How long a customer may wait before their conversation is overdue. No SLA setting
# exists yet: until one does, `overdue` says so instead of guessing a threshold.
OVERDUE_AFTER: timedelta | None = None

HOME_VIEWS = (QueueView.MINE, QueueView.UNASSIGNED, QueueView.OVERDUE)

_HEADINGS = {
    QueueView.UNASSIGNED: "**Unassigned** — {n}, longest wait first:",
    QueueView.MINE: "**Yours** — {n}, longest wait first:",
    QueueView.OVERDUE: "**Overdue** (waiting over {limit}) — {n}, longest wait first:",
    QueueView.ALL: "**Open conversations** — {n}, longest wait first:",
}
_EMPTY = {
    QueueView.UNASSIGNED: "Nothing unassigned — nice.",
    QueueView.MINE: "Nothing assigned to you.",
    QueueView.OVERDUE: "Nothing overdue — nice.",
    QueueView.ALL: "No open conversations — nice.",
}
NO_SLA = rich(
    "No SLA is configured, so nothing counts as overdue yet. "
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
    session: AsyncSession, view: QueueView, *, agent_id: int, now: datetime, limit: int = QUEUE_LIMIT
) -> QueueSection:
    if view is QueueView.OVERDUE and OVERDUE_AFTER is None:
        return QueueSection(view, NO_SLA)
    page = await open_queue(session, view, now=now, agent_id=agent_id, overdue_after=OVERDUE_AFTER, limit=limit)
    if not page.items:
        return QueueSection(view, rich(_EMPTY[view]))
    limit_text = waited_text(OVERDUE_AFTER) if OVERDUE_AFTER else ""
    heading = rich(_HEADINGS[view], n=page.total, limit=limit_text)
    footer = rich("…and {n} more.", n=page.more) if page.more else None
    return QueueSection(view, heading, tuple(_link(item, now) for item in page.items), footer)


def _link(item: QueueItem, now: datetime) -> ConversationLink:
    waited = item.waited(now)
    parts = [item.status.badge, item.assignee or "unassigned", f"waiting {waited_text(waited)}" if waited is not None else "answered"]
    claim = Button("Claim", "claim", str(item.conversation_id), "primary") if item.assignee is None else None
    return ConversationLink(item.conversation_id, item.title, " · ".join(parts), item.waiting_since, claim)


async def home_sections(service: InboxService, author: Author, limit: int = QUEUE_LIMIT) -> tuple[QueueSection, ...]:
    """What a person's home page shows: their conversations, the unassigned, the overdue."""
    async with service.db.sessions.begin() as session:
        agent = await service.agents.ensure(session, author)
        now = utcnow()
        return tuple([await queue_section(session, view, agent_id=agent.id, now=now, limit=limit) for view in HOME_VIEWS])


VIEW = Choice("view", "Which conversations", values=tuple(QueueView), optional=True, default=QueueView.UNASSIGNED.value)


@command("queue", args=(VIEW,), where=Where.CHANNEL,
         help="open conversations, longest wait first, with links and Claim buttons (default unassigned)")
async def queue(ctx: CommandContext, view: QueueView) -> CommandReply:
    return (await queue_section(ctx.session, view, agent_id=ctx.agent.id, now=utcnow())).reply()
