"""A teammate's message in a conversation thread: a note, a reply, or a `!` command.

One transaction per message: deduplication, the note or the command's effect, the
jobs it causes and the answer to its author are committed together.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.commands import parse as grammar
from bridge.commands.replies import Button, CommandReply
from bridge.inbox import snippets
from bridge.inbox.agents import AgentView, Forbidden
from bridge.inbox.db import insert_ignore
from bridge.inbox.models import Conversation, Note, ProcessedEvent, ThreadLink, utcnow
from bridge.inbox.routing import InboxRoute
from bridge.inbox.chat import MirroredNote
from bridge.inbox.markup import Rich, Text, own_words
from bridge.inbox.service import InboxService, ReplyRequest, ReplyResult, SendOutcome
from bridge.inbox.errors import Refused
from bridge.inbox.teamwork import Teamwork
from bridge.inbox.types import ThreadMessage


class ThreadOutcome(StrEnum):
    DUPLICATE = "duplicate"
    NOT_A_CONVERSATION = "not_a_conversation"
    NOTE = "note"
    HELP = "help"
    UNKNOWN_COMMAND = "unknown_command"
    USAGE = "usage"
    DONE = "done"
    REFUSED = "refused"


@dataclass(frozen=True)
class Answer:
    """What a command did, and what to tell its author (with buttons, when any)."""

    outcome: ThreadOutcome | SendOutcome
    text: Text | None
    buttons: tuple[Button, ...] = ()


def _reply_answer(result: ReplyResult) -> Answer:
    if result.outcome is SendOutcome.HELD and result.message_id is not None:
        held = str(result.message_id)
        buttons = (Button("Send anyway", "send_anyway", held, "primary"), Button("Discard", "discard", held, "danger"))
        return Answer(result.outcome, result.message, buttons)
    return Answer(result.outcome, result.message)


@dataclass(frozen=True)
class ThreadResult:
    outcome: ThreadOutcome | SendOutcome
    reply: CommandReply | None = None


class ThreadCommands:
    def __init__(self, service: InboxService) -> None:
        self.service = service
        self.team = Teamwork(service.fanout)

    async def handle(self, tm: ThreadMessage) -> ThreadOutcome | SendOutcome:
        """A message typed in the thread; the answer goes to its author through the outbox."""
        return (await self.run(tm, inline=False)).outcome

    async def run(self, tm: ThreadMessage, *, inline: bool) -> ThreadResult:
        """With `inline`, the answer is returned (an interaction's ephemeral response)
        instead of being queued as a whisper in the thread."""
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
                return ThreadResult(ThreadOutcome.NOT_A_CONVERSATION, CommandReply("This is not a conversation thread.", ok=False))
            conv = await session.get_one(Conversation, link.conversation_id)
            inbox = self.service.directory.get(conv.inbox_id)
            agent = await self.service.agents.ensure(session, tm.author)
            command = grammar.parse(tm.text, self.service.options.reply_prefixes)
            if isinstance(command, grammar.Note):
                await self._note(session, inbox, conv, tm)
                return ThreadResult(ThreadOutcome.NOTE)
            try:
                answer = await self._run(session, command, inbox, conv, agent, tm)
            except Forbidden as exc:
                answer = Answer(ThreadOutcome.REFUSED, f"{exc.action} needs the {exc.needed} role; you are {agent.role}.")
            except Refused as exc:
                answer = Answer(ThreadOutcome.REFUSED, str(exc))
            if answer.text and not inline:
                text = answer.text if isinstance(answer.text, Rich) else own_words(answer.text)
                await self.service.fanout.whisper(session, inbox, conv.id, tm.platform, tm.author.user_id, text, answer.buttons)
            reply = None
            if answer.text:
                failed = answer.outcome in (ThreadOutcome.REFUSED, ThreadOutcome.USAGE, ThreadOutcome.UNKNOWN_COMMAND)
                reply = CommandReply(answer.text, buttons=answer.buttons, ok=not failed)
            return ThreadResult(answer.outcome, reply)

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
            Note,
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

    async def _run(
        self, session: AsyncSession, command: grammar.ThreadCommand, inbox: InboxRoute, conv: Conversation, agent: AgentView, tm: ThreadMessage
    ) -> Answer:
        prefix = self.service.options.reply_prefix
        match command:
            case grammar.Reply(text=text):
                return _reply_answer(await self._submit(session, inbox, conv, agent, tm, text))
            case grammar.Draft(text=text):
                return _reply_answer(await self._submit(session, inbox, conv, agent, tm, text, draft=True))
            case grammar.SendSnippet(name=name):
                text = await snippets.render(session, name, inbox, conv, agent)
                return _reply_answer(await self._submit(session, inbox, conv, agent, tm, text, snippet=name))
            case grammar.EmptyReply(prefix=typed):
                return Answer(SendOutcome.EMPTY, f"Nothing to send: write the text after `{typed}`, e.g. `{typed} Thanks, we're on it!`")
            case grammar.Help():
                return Answer(ThreadOutcome.HELP, grammar.help_text(prefix))
            case grammar.Unknown(word=word):
                return Answer(
                    ThreadOutcome.UNKNOWN_COMMAND,
                    f"`!{word}` is not a command, so nothing was sent. "
                    f"To text the customer write `{prefix} your message`; `!help` lists commands.",
                )
            case grammar.Usage(message=message):
                return Answer(ThreadOutcome.USAGE, message)
            case grammar.Claim():
                return Answer(ThreadOutcome.DONE, await self.team.claim(session, inbox, conv, agent))
            case grammar.Assign(target=target):
                who = await self._resolve(session, tm, target)
                return Answer(ThreadOutcome.DONE, await self.team.assign(session, inbox, conv, agent, who))
            case grammar.Unassign():
                return Answer(ThreadOutcome.DONE, await self.team.unassign(session, inbox, conv, agent))
            case grammar.SetStatus(status=status):
                return Answer(ThreadOutcome.DONE, await self.team.set_status(session, inbox, conv, agent, status))
            case grammar.SetPriority(level=level):
                return Answer(ThreadOutcome.DONE, await self.team.set_priority(session, inbox, conv, agent, level))
            case grammar.Tag(add=add, remove=remove):
                return Answer(ThreadOutcome.DONE, await self.team.tag(session, inbox, conv, agent, add, remove))
            case grammar.ContactName(name=name):
                return Answer(ThreadOutcome.DONE, await self.team.contact_name(session, inbox, conv, agent, name))
            case grammar.ContactNote(text=text):
                return Answer(ThreadOutcome.DONE, await self.team.contact_note(session, inbox, conv, agent, text))
            case grammar.SetProperty(key=key, value=value):
                return Answer(ThreadOutcome.DONE, await self.team.set_property(session, inbox, conv, agent, key, value))
            case grammar.SetTimezone(zone=zone):
                return Answer(ThreadOutcome.DONE, await self.team.set_timezone(session, inbox, conv, agent, zone))
        raise AssertionError(f"unhandled command {command!r}")

    async def _submit(
        self,
        session: AsyncSession,
        inbox: InboxRoute,
        conv: Conversation,
        agent: AgentView,
        tm: ThreadMessage,
        text: str,
        *,
        draft: bool = False,
        snippet: str | None = None,
    ) -> ReplyResult:
        return await self.service.submit_reply(
            session,
            ReplyRequest(
                inbox=inbox,
                conv=conv,
                agent=agent,
                author=tm.author,
                text=text,
                origin_id=tm.message_id,
                draft=draft,
                audit={"snippet": snippet} if snippet else {},
            ),
        )

    async def _resolve(self, session: AsyncSession, tm: ThreadMessage, target: str) -> AgentView:
        """`@mention` (resolved by the adapter) or a teammate's name."""
        if tm.mentions:
            return await self.service.agents.ensure(session, tm.mentions[0])
        found = await self.service.agents.find(session, tm.platform, target)
        if not found:
            raise Refused(f"No teammate called `{target}`. Mention them: `!assign @name`.")
        if len(found) > 1:
            names = ", ".join(a.name for a in found[:5])
            raise Refused(f"`{target}` could be {names}: mention the one you mean.")
        return found[0]


