"""What a command handler is given, and the one place commands are checked and run."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from bridge.commands.grants import role_refusal
from bridge.commands.registry import Invocation, Misplaced, Registry, Where
from bridge.commands.replies import CommandReply, ThreadOutcome
from bridge.inbox.agents import AgentView
from bridge.inbox.clock import Clock, SystemClock
from bridge.inbox.errors import Refused
from bridge.inbox.markup import rich
from bridge.inbox.service import InboxService
from bridge.inbox.teamwork import TeamContext, Teamwork
from bridge.inbox.types import Author, OutgoingFile


@dataclass(frozen=True)
class CommandContext:
    """Who runs a command, where, and what it may touch (one database transaction)."""

    service: InboxService
    registry: Registry
    session: AsyncSession
    agent: AgentView
    author: Author
    platform: str
    channel: str  # the chat channel (Slack channel id, Discord forum or channel id)
    where: Where
    mentions: tuple[Author, ...] = ()
    origin_id: str | None = None  # the chat message that ran it, when it was typed
    custom_emoji: tuple[str, ...] = ()  # custom workspace emoji in the typed text
    attachments: tuple[OutgoingFile, ...] = ()  # files attached to the typed message
    unreadable: tuple[str, ...] = ()  # why an attached file could not be read
    team_context: TeamContext | None = None
    clock: Clock = field(default_factory=SystemClock)  # where "now" comes from; a ManualClock in tests
    # False when the answer would be a message others in the thread can read (a typed `!`
    # command on Discord, which has no ephemeral message outside an interaction).
    private_answer: bool = True

    @property
    def team(self) -> TeamContext:
        """The conversation a thread command acts on."""
        if self.team_context is None:
            raise Refused(rich("This works inside a conversation thread."))
        return self.team_context

    @property
    def teamwork(self) -> Teamwork:
        return Teamwork(self.service.fanout, self.service.sla, self.service.followups)

    @property
    def reply_prefix(self) -> str:
        return self.service.options.reply_prefix


async def dispatch(ctx: CommandContext, parsed: Invocation | Misplaced) -> CommandReply:
    """Check platform, place and role from the declaration, then run the handler."""
    command = parsed.command
    typed = command.typed(ctx.where, ctx.reply_prefix)
    if not command.works_on(ctx.platform):
        return CommandReply(
            rich("`{typed}` works on {platforms} only.", typed=typed, platforms=command.platform_label()),
            ok=False,
            outcome=ThreadOutcome.REFUSED,
        )
    if isinstance(parsed, Misplaced) or not (command.where & ctx.where):
        there = Where.THREAD if command.where & Where.THREAD else Where.CHANNEL
        place = "inside a conversation thread" if there is Where.THREAD else "in the channel"
        return CommandReply(
            rich("`{typed}` works {place}: `{usage}`.", typed=typed, place=place, usage=command.usage(there, ctx.reply_prefix)),
            ok=False,
            outcome=ThreadOutcome.REFUSED,
        )
    if not ctx.agent.can(command.role):
        doing = rich("{doing}", doing=command.doing) if command.doing else rich("`{typed}`", typed=typed)
        return CommandReply(
            await role_refusal(ctx.session, ctx.service.agents, ctx.agent, doing, command.role, command=command.name,
                               conversation_id=ctx.team_context.conversation.id if ctx.team_context else None),
            ok=False,
            outcome=ThreadOutcome.REFUSED,
        )
    reply = await command.handler(ctx, **parsed.values)
    if not isinstance(reply, CommandReply):
        raise TypeError(f"the handler of {command.name!r} returned {type(reply).__name__}, not a CommandReply")
    return reply
