"""`/sms …` in an inbox channel: new conversations, search, snippets, away, roles, help."""

from __future__ import annotations

from bridge.commands.catalog import COMMANDS, Registry
from bridge.commands.context import CommandContext, dispatch
from bridge.commands.grants import role_refusal
from bridge.commands.registry import (
    Invocation,
    Misplaced,
    Parsed,
    Unknown,
    Usage,
    Where,
    as_role,
)
from bridge.commands.replies import CommandReply, ThreadOutcome
from bridge.inbox.agents import Forbidden
from bridge.inbox.clock import Clock, SystemClock
from bridge.inbox.errors import Refused
from bridge.inbox.markup import rich
from bridge.inbox.service import InboxService
from bridge.inbox.types import Author


class ChannelCommands:
    def __init__(self, service: InboxService, registry: Registry = COMMANDS, clock: Clock | None = None) -> None:
        self.service = service
        self.registry = registry
        self.clock: Clock = clock or SystemClock()  # tests replace it with a ManualClock

    async def handle(
        self,
        platform: str,
        channel: str,
        author: Author,
        text: str,
        mentions: tuple[Author, ...] = (),
        parsed: Parsed | None = None,
    ) -> CommandReply:
        """`text` is what follows `/sms`; `parsed` a command that arrived already parsed."""
        if parsed is None:
            parsed = self.registry.parse_channel(text)
        async with self.service.db.sessions.begin() as session:
            agent = await self.service.agents.ensure(session, author)
            if isinstance(parsed, Usage):
                return CommandReply(parsed.message, ok=False, outcome=ThreadOutcome.USAGE)
            if isinstance(parsed, Unknown):
                listing = self.registry.help(Where.CHANNEL, platform, as_role(agent.role))
                return CommandReply(
                    rich("`/sms {word}` is not a command. ", word=parsed.word) + listing,
                    ok=False,
                    outcome=ThreadOutcome.UNKNOWN_COMMAND,
                )
            if not isinstance(parsed, (Invocation, Misplaced)):  # a note or an empty reply: not here
                return CommandReply(rich("`/sms help` lists the commands."), ok=False, outcome=ThreadOutcome.USAGE)
            ctx = CommandContext(
                service=self.service,
                registry=self.registry,
                session=session,
                agent=agent,
                author=author,
                platform=platform,
                channel=channel,
                where=Where.CHANNEL,
                mentions=mentions,
                clock=self.clock,
            )
            try:
                return await dispatch(ctx, parsed)
            except Forbidden as exc:
                return CommandReply(
                    await role_refusal(session, self.service.agents, agent, exc.action, exc.needed, command=parsed.command.name),
                    ok=False,
                    outcome=ThreadOutcome.REFUSED,
                )
            except Refused as exc:
                return CommandReply(exc.text, ok=False, outcome=ThreadOutcome.REFUSED)
