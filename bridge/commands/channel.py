"""`/sms …` in an inbox channel: new conversations, search, snippets, away, roles."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bridge.commands import parse as grammar
from bridge.commands.replies import CommandReply, ConversationLink
from bridge.inbox import audit, reports, snippets
from bridge.inbox.agents import AgentView, Forbidden
from bridge.inbox.audit import actor_of
from bridge.inbox.phone import format_phone, parse_phone
from bridge.inbox.routing import InboxRoute
from bridge.inbox.service import InboxService, ReplyRequest, SendOutcome
from bridge.inbox.errors import Refused
from bridge.inbox.types import Author

SNIPPET_LIST_LIMIT = 50


class ChannelCommands:
    def __init__(self, service: InboxService) -> None:
        self.service = service

    async def handle(
        self, platform: str, channel: str, author: Author, text: str, mentions: tuple[Author, ...] = ()
    ) -> CommandReply:
        command = grammar.parse_channel(text)
        async with self.service.db.sessions.begin() as session:
            agent = await self.service.agents.ensure(session, author)
            try:
                return await self._run(session, command, platform, channel, agent, author, mentions)
            except Forbidden as exc:
                return CommandReply(f"{exc.action} needs the {exc.needed} role; you are {agent.role}.", ok=False)
            except Refused as exc:
                return CommandReply(str(exc), ok=False)

    async def _run(
        self,
        session: AsyncSession,
        command: grammar.ChannelCommand,
        platform: str,
        channel: str,
        agent: AgentView,
        author: Author,
        mentions: tuple[Author, ...],
    ) -> CommandReply:
        actor = actor_of(agent.platform, agent.user_id)
        match command:
            case grammar.ChannelHelp():
                return CommandReply(grammar.channel_help_text())
            case grammar.Usage(message=message):
                return CommandReply(message, ok=False)
            case grammar.NewConversation(number=number, text=text):
                return await self._new(session, platform, channel, agent, author, number, text)
            case grammar.Search(query=query):
                return await self._search(session, query)
            case grammar.ListSnippets():
                rows = await snippets.all_snippets(session)
                if not rows:
                    return CommandReply("No snippets yet. An admin adds one with `/sms snippet add NAME text`.")
                lines = [f"• `{s.name}` — {s.body[:120]}" for s in rows[:SNIPPET_LIST_LIMIT]]
                return CommandReply("Snippets (send with `!s NAME` in a thread):\n" + "\n".join(lines))
            case grammar.SnippetAdd(name=name, text=body, replace=replace):
                agent.require("admin", "Managing snippets")
                existing = await snippets.get(session, name)
                if replace and existing is None:
                    raise Refused(f"No snippet `{name}` to edit; `/sms snippet add {name} …` creates it.")
                if not replace and existing is not None:
                    raise Refused(f"Snippet `{name}` exists; `/sms snippet edit {name} …` changes it.")
                before = await snippets.save(session, name, body, actor)
                audit.record(session, actor, "snippet_saved", before=before, after=body, name=name)
                return CommandReply(f"Snippet `{name}` saved.")
            case grammar.SnippetDelete(name=name):
                agent.require("admin", "Managing snippets")
                before = await snippets.remove(session, name)
                if before is None:
                    raise Refused(f"No snippet `{name}`.")
                audit.record(session, actor, "snippet_deleted", before=before, after=None, name=name)
                return CommandReply(f"Snippet `{name}` deleted.")
            case grammar.ShowReport(period=period):
                span = reports.parse_period(period)
                if span is None:
                    raise Refused("`/sms report` takes a period such as 24h, 7d or 30d.")
                return CommandReply(reports.render_text(await reports.build(session, span), period))
            case grammar.Away(away=away):
                await self.service.agents.set_away(session, agent.id, away)
                audit.record(session, actor, "away" if away else "back")
                return CommandReply("You are away: new conversations are not routed to you." if away else "Welcome back.")
            case grammar.SetRole(target=target, role=role):
                agent.require("admin", "Changing roles")
                if mentions:
                    who = await self.service.agents.ensure(session, mentions[0])
                else:
                    found = await self.service.agents.find(session, platform, target)
                    if len(found) != 1:
                        raise Refused(f"Mention exactly one teammate: `/sms role @name {role}`.")
                    who = found[0]
                before = who.role
                await self.service.agents.set_role(session, who.id, role)
                audit.record(session, actor, "role_changed", before=before, after=role, agent=who.name)
                return CommandReply(f"{who.name} is now {role} (was {before}).")
        raise AssertionError(f"unhandled command {command!r}")

    def _inbox_for(self, platform: str, channel: str) -> InboxRoute:
        bound = self.service.directory.by_channel(platform, channel)
        if bound:
            return bound[0]
        every = self.service.directory.all()
        if len(every) == 1:
            return every[0]
        raise Refused("This channel is not an inbox channel; use `/sms new` in the inbox's channel.")

    async def _new(
        self, session: AsyncSession, platform: str, channel: str, agent: AgentView, author: Author, number: str, text: str
    ) -> CommandReply:
        agent.require("agent", "Texting a customer")
        phone = parse_phone(number)
        if not phone.valid:
            raise Refused(f"`{number}` is not a valid phone number. Try the full number, e.g. +14155550123.")
        inbox = self._inbox_for(platform, channel)
        conv, created = await self.service.open_conversation(session, inbox, phone)
        result = await self.service.submit_reply(
            session, ReplyRequest(inbox=inbox, conv=conv, agent=agent, author=author, text=text, force=True)
        )
        title = format_phone(phone.key)
        link = ConversationLink(conv.id, title, "new conversation" if created else "existing conversation")
        if result.outcome in (SendOutcome.QUEUED, SendOutcome.DRAFTED):
            verb = "Draft posted for review" if result.outcome is SendOutcome.DRAFTED else "Texting"
            return CommandReply(f"{verb}: {title}. Follow it in the thread.", links=(link,))
        return CommandReply(result.message or f"Not sent ({result.outcome}); see the thread.", links=(link,), ok=False)

    async def _search(self, session: AsyncSession, query: str) -> CommandReply:
        from bridge.inbox.search import search  # the search index comes with migration 0003

        hits = await search(session, query, limit=10)
        if not hits:
            return CommandReply(f"Nothing found for “{query}”.")
        links = tuple(
            ConversationLink(h.conversation_id, h.contact_name or format_phone(h.phone), h.snippet, h.at) for h in hits
        )
        return CommandReply(f"{len(hits)} conversation(s) for “{query}”, newest first:", links=links)
