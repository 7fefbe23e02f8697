"""A teammate's message in a conversation thread: a note, a reply, or a `!` command.

One transaction per message: deduplication, the note or the command's effect, the
jobs it causes and the answer to its author are committed together.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.commands.catalog import COMMANDS, Registry
from bridge.commands.context import CommandContext, dispatch
from bridge.commands.edits import ThreadEdits
from bridge.commands.grants import role_refusal
from bridge.commands.registry import (
    EmptyReply,
    Invocation,
    Misplaced,
    Note,
    Parsed,
    Unknown,
    Usage,
    Where,
)
from bridge.commands.replies import CommandReply, ThreadOutcome
from bridge.inbox.agents import AgentView, Forbidden
from bridge.inbox.chat import PRIVATE_WHISPERS, MirroredNote
from bridge.inbox.clock import Clock, SystemClock
from bridge.inbox.db import insert_ignore
from bridge.inbox.errors import Refused
from bridge.inbox.markup import rich
from bridge.inbox.models import Conversation, ProcessedEvent, ThreadLink, utcnow
from bridge.inbox.models import Note as NoteRow
from bridge.inbox.routing import InboxRoute
from bridge.inbox.service import InboxService, SendOutcome
from bridge.inbox.teamwork import TeamContext
from bridge.inbox.types import ThreadMessage

__all__ = ["ThreadCommands", "ThreadOutcome", "ThreadResult"]

_FAILED = (ThreadOutcome.REFUSED, ThreadOutcome.USAGE, ThreadOutcome.UNKNOWN_COMMAND)


@dataclass(frozen=True)
class ThreadResult:
    outcome: str  # a ThreadOutcome or SendOutcome
    reply: CommandReply | None = None


class ThreadCommands:
    def __init__(self, service: InboxService, registry: Registry = COMMANDS, clock: Clock | None = None) -> None:
        self.service = service
        self.registry = registry
        self.clock: Clock = clock or SystemClock()  # tests replace it with a ManualClock
        self.edits = ThreadEdits(service, registry)

    async def edited(self, tm: ThreadMessage) -> str:
        """A teammate edited a thread message; `tm` carries its new text."""
        return await self.edits.edited(tm)

    async def deleted(self, platform: str, where: str, message_id: str) -> str:
        """A teammate deleted a thread message (a note leaves storage and search)."""
        return await self.edits.deleted(platform, where, message_id)

    async def handle(self, tm: ThreadMessage) -> str:
        """A message typed in the thread; the answer goes to its author through the outbox."""
        return (await self.run(tm, inline=False)).outcome

    async def run(self, tm: ThreadMessage, *, inline: bool, parsed: Parsed | None = None) -> ThreadResult:
        """With `inline`, the answer is returned (an interaction's ephemeral response)
        instead of being queued as a whisper in the thread. `parsed` is a command that
        arrived already parsed (a Discord app command); else `tm.text` is parsed."""
        async with self.service.db.sessions.begin() as session:
            if await insert_ignore(session, ProcessedEvent, {"key": tm.event_key, "created_at": utcnow()}, ["key"]) is None:
                return ThreadResult(ThreadOutcome.DUPLICATE)
            link = (
                await session.execute(
                    select(ThreadLink).where(
                        ThreadLink.platform == tm.platform,
                        ThreadLink.channel == tm.channel,
                        ThreadLink.thread_id == tm.thread_id,
                    )
                )
            ).scalar_one_or_none()
            if link is None:
                return ThreadResult(
                    ThreadOutcome.NOT_A_CONVERSATION,
                    CommandReply(rich("This is not a conversation thread."), ok=False, outcome=ThreadOutcome.NOT_A_CONVERSATION),
                )
            conv = await session.get_one(Conversation, link.conversation_id)
            inbox = self.service.directory.get(conv.inbox_id)
            agent = await self.service.agents.ensure(session, tm.author)
            if parsed is None:
                parsed = self.registry.parse_thread(tm.text, self.service.options.reply_prefixes)
            if isinstance(parsed, Note):
                await self._note(session, inbox, conv, tm)
                return ThreadResult(ThreadOutcome.NOTE)
            ctx = CommandContext(
                service=self.service,
                registry=self.registry,
                session=session,
                agent=agent,
                author=tm.author,
                platform=tm.platform,
                channel=tm.channel,
                where=Where.THREAD,
                mentions=tm.mentions,
                origin_id=tm.message_id,
                custom_emoji=tm.custom_emoji,
                attachments=tm.attachments,
                unreadable=tm.unreadable,
                clock=self.clock,
                team_context=TeamContext(session, inbox, conv, agent),
                private_answer=inline or tm.platform in PRIVATE_WHISPERS,
            )
            reply = await self._answer(ctx, parsed, agent)
            if reply.text and not inline:
                await self.service.fanout.whisper(session, inbox, conv.id, tm.platform, tm.author.user_id, reply.text, reply.buttons)
            if not reply.text:
                return ThreadResult(reply.outcome)
            return ThreadResult(reply.outcome, reply)

    async def _answer(self, ctx: CommandContext, parsed: Parsed, agent: AgentView) -> CommandReply:
        prefix = ctx.reply_prefix
        match parsed:
            case Invocation() | Misplaced():
                try:
                    reply = await dispatch(ctx, parsed)
                except Forbidden as exc:
                    reply = CommandReply(
                        await role_refusal(ctx.session, ctx.service.agents, agent, exc.action, exc.needed,
                                           command=parsed.command.name, conversation_id=ctx.team.conversation.id),
                        ok=False,
                        outcome=ThreadOutcome.REFUSED,
                    )
                except Refused as exc:
                    reply = CommandReply(exc.text, ok=False, outcome=ThreadOutcome.REFUSED)
                return reply
            case EmptyReply(prefix=typed):
                return CommandReply(
                    rich("Nothing to send: write the text after `{typed}`, e.g. `{typed} Thanks, we're on it!`", typed=typed),
                    outcome=SendOutcome.EMPTY,
                )
            case Unknown(word=word):
                return CommandReply(
                    rich(
                        "`!{word}` is not a command, so nothing was sent. "
                        "To text the customer write `{prefix} your message`; `!help` lists commands.",
                        word=word,
                        prefix=prefix,
                    ),
                    ok=False,
                    outcome=ThreadOutcome.UNKNOWN_COMMAND,
                )
            case Usage(message=message):
                return CommandReply(message, ok=False, outcome=ThreadOutcome.USAGE)
            case Note():
                raise AssertionError("a note is not a command")

    async def _mirror(self, session: AsyncSession, inbox: InboxRoute, conv: Conversation, tm: ThreadMessage, *, kind: str) -> None:
        """Show a teammate's note in the conversation's threads on the other platforms.

        Replies need no mirror: their status line, posted everywhere, quotes them.
        """
        others = {p for p in inbox.chats if p != tm.platform}
        if others:
            await self.service.fanout.post(
                session, inbox, conv.id, MirroredNote(tm.author.label, tm.platform, tm.text, kind), platforms=others
            )

    async def _note(self, session: AsyncSession, inbox: InboxRoute, conv: Conversation, tm: ThreadMessage) -> None:
        await self._mirror(session, inbox, conv, tm, kind="note")
        await insert_ignore(
            session,
            NoteRow,
            {
                "conversation_id": conv.id,
                "platform": tm.platform,
                "platform_message_id": tm.message_id,
                "author_id": tm.author.user_id,
                "author_name": tm.author.name,
                "body": tm.text,
                "created_at": utcnow(),
            },
            ["platform", "platform_message_id"],
        )
