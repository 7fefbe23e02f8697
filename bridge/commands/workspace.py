"""Commands about the team and its tools: help, search, snippets, reports, away, roles."""

from __future__ import annotations

from enum import StrEnum

from bridge.commands.arguments import Choice, SnippetName, Teammate, Text, Word
from bridge.commands.context import CommandContext
from bridge.commands.registry import Where, as_role, command
from bridge.commands.replies import CommandReply, ConversationLink, ThreadOutcome
from bridge.commands.report_args import report_request
from bridge.inbox import audit, report_queries, snippets
from bridge.inbox.audit import actor_of
from bridge.inbox.chat import ChartUpload
from bridge.inbox.errors import Refused
from bridge.inbox.markup import join, rich
from bridge.inbox.phone import format_phone
from bridge.inbox.report_render import chat_text
from bridge.inbox.search import SearchHit

SNIPPET_LIST_LIMIT = 50
SNIPPET = SnippetName("name", "The snippet's name", what="snippet name")


class TeamRole(StrEnum):
    ADMIN = "admin"
    AGENT = "agent"
    VIEWER = "viewer"

    @property
    def label(self) -> str:
        return self.value.capitalize()


@command("help", where=Where.BOTH, help="lists the commands you can use here, only to you")
async def show_help(ctx: CommandContext) -> CommandReply:
    text = ctx.registry.help(ctx.where, ctx.platform, as_role(ctx.agent.role), ctx.reply_prefix)
    return CommandReply(text, outcome=ThreadOutcome.HELP)


@command("search", args=(Text("query", "Words, a name, a number or a tag"),), where=Where.CHANNEL,
         help="conversations by message, note, contact name, number or tag, newest first, with links")
async def search(ctx: CommandContext, query: str) -> CommandReply:
    from bridge.inbox.search import (
        search as find,  # the search index comes with migration 0003
    )

    hits = await find(ctx.session, query, limit=10)
    if not hits:
        return CommandReply(rich("Nothing found for “{query}”.", query=query))
    links = tuple(
        ConversationLink(h.conversation_id, h.contact_name or format_phone(h.phone), _shown_snippet(ctx, h), h.at) for h in hits
    )
    return CommandReply(rich("{n} conversation(s) for “{query}”, newest first:", n=len(hits), query=query), links=links)


def _shown_snippet(ctx: CommandContext, hit: SearchHit) -> str:
    """The matching words, unless they are a customer's text in a no-bodies inbox (rule 14):
    the conversation is still found, its thread's `!show` reads the text."""
    if hit.kind != "message":
        return hit.snippet
    try:
        hides = ctx.service.directory.get(hit.inbox_id).no_bodies
    except KeyError:
        hides = False
    return "a text matches (hidden: no-bodies mode; !show in its thread reads it)" if hides else hit.snippet


@command("snippets", where=Where.BOTH, help="lists the saved snippets")
async def list_snippets(ctx: CommandContext) -> CommandReply:
    rows = await snippets.all_snippets(ctx.session)
    if not rows:
        return CommandReply(rich("No snippets yet. An admin adds one with `/sms snippet add NAME text`."))
    lines = [rich("• `{name}` — {body}", name=s.name, body=s.body[:120]) for s in rows[:SNIPPET_LIST_LIMIT]]
    return CommandReply(join([rich("Snippets (send with `!s NAME` in a thread):"), *lines]))


@command("snippet add", args=(SNIPPET, Text("text", "What the customer receives; {first_name} and other variables")),
         role="admin", where=Where.CHANNEL, doing="Managing snippets", help="saves a new snippet")
async def snippet_add(ctx: CommandContext, name: str, text: str) -> CommandReply:
    if await snippets.get(ctx.session, name) is not None:
        raise Refused(rich("Snippet `{name}` exists; `/sms snippet edit {name} …` changes it.", name=name))
    return await _save_snippet(ctx, name, text)


@command("snippet edit", args=(SNIPPET, Text("text", "The snippet's new text")),
         role="admin", where=Where.CHANNEL, doing="Managing snippets", help="changes a snippet's text")
async def snippet_edit(ctx: CommandContext, name: str, text: str) -> CommandReply:
    if await snippets.get(ctx.session, name) is None:
        raise Refused(rich("No snippet `{name}` to edit; `/sms snippet add {name} …` creates it.", name=name))
    return await _save_snippet(ctx, name, text)


async def _save_snippet(ctx: CommandContext, name: str, text: str) -> CommandReply:
    actor = actor_of(ctx.agent.platform, ctx.agent.user_id)
    before = await snippets.save(ctx.session, name, text, actor)
    audit.record(ctx.session, actor, "snippet_saved", before=before, after=text, name=name)
    return CommandReply(rich("Snippet `{name}` saved.", name=name))


@command("snippet delete", args=(SNIPPET,), role="admin", where=Where.CHANNEL, doing="Managing snippets",
         help="deletes a snippet")
async def snippet_delete(ctx: CommandContext, name: str) -> CommandReply:
    before = await snippets.remove(ctx.session, name)
    if before is None:
        raise Refused(rich("No snippet `{name}`.", name=name))
    audit.record(ctx.session, actor_of(ctx.agent.platform, ctx.agent.user_id), "snippet_deleted", before=before, after=None, name=name)
    return CommandReply(rich("Snippet `{name}` deleted.", name=name))


PERIOD = Word("period", "today, 24h, 7d, 30d or FROM..TO dates", optional=True, pattern=r"\S{1,60}", what="period",
              shown="today|7d|30d|FROM..TO")
INBOX = Word("inbox", "Only this inbox (its name)", optional=True, pattern=r"\S{1,60}", lower=False, what="inbox")
AGENT = Teammate("agent", "Only this teammate's conversations", optional=True)


@command("report", args=(PERIOD, INBOX, AGENT), where=Where.BOTH,
         help="response times and volumes for a period (default 7d), an inbox and a teammate")
async def report(ctx: CommandContext, period: str | None, inbox: str | None, agent: str | None) -> CommandReply:
    ask = await report_request(ctx, period, inbox, agent)
    data = await report_queries.build(ctx.session, ask.scope, sessions=ctx.service.db.sessions)
    if data.has_traffic:
        # Drawn and uploaded by the outbox: a chat outage delays the charts, never loses them.
        upload = ChartUpload(
            ask.scope.since.isoformat(), ask.scope.until.isoformat(), ask.scope.zone.key, ctx.agent.user_id,
            inbox_id=ask.scope.inbox_id, agent_id=ask.scope.agent_id,
        )
        await ctx.service.fanout.to_channel(ctx.session, ctx.platform, ctx.channel, upload)
    return CommandReply(chat_text(data, ask.label, ask.where))


@command("away", where=Where.BOTH, help="stops routing new conversations to you (shown when someone assigns you)")
async def away(ctx: CommandContext) -> CommandReply:
    await ctx.service.agents.set_away(ctx.session, ctx.agent.id, True)
    audit.record(ctx.session, actor_of(ctx.agent.platform, ctx.agent.user_id), "away")
    return CommandReply(rich("You are away: new conversations are not routed to you."))


@command("back", where=Where.BOTH, help="routes new conversations to you again")
async def back(ctx: CommandContext) -> CommandReply:
    await ctx.service.agents.set_away(ctx.session, ctx.agent.id, False)
    audit.record(ctx.session, actor_of(ctx.agent.platform, ctx.agent.user_id), "back")
    return CommandReply(rich("Welcome back."))


@command("role", args=(Teammate("user", "The teammate"), Choice("role", "Their new role", values=tuple(TeamRole))),
         role="admin", where=Where.CHANNEL, doing="Changing roles", help="sets a teammate's role")
async def role(ctx: CommandContext, user: str, role: TeamRole) -> CommandReply:
    if ctx.mentions:
        who = await ctx.service.agents.ensure(ctx.session, ctx.mentions[0])
    else:
        found = await ctx.service.agents.find(ctx.session, ctx.platform, user)
        if len(found) != 1:
            raise Refused(rich("Mention exactly one teammate: `/sms role @name {role}`.", role=role.value))
        who = found[0]
    before = who.role
    await ctx.service.agents.set_role(ctx.session, who.id, role.value)
    audit.record(ctx.session, actor_of(ctx.agent.platform, ctx.agent.user_id), "role_changed", before=before, after=role.value, agent=who.name)
    return CommandReply(rich("{name} is now {role} (was {before}).", name=who.name, role=role.value, before=before))


@command("rules", where=Where.CHANNEL, help="lists the rules of smsbridge.toml in the order they run")
async def rules(ctx: CommandContext) -> CommandReply:
    listed = ctx.service.rules.rules
    if not listed:
        return CommandReply(rich("No rules: add `[[rule]]` tables to smsbridge.toml (see docs/rules.md)."))
    lines = [rich("**Rules**, in the order they run (the first matching rule that stops wins):")]
    lines += [rich("{n}. {line}", n=n, line=rule.describe()) for n, rule in enumerate(listed, 1)]
    return CommandReply(join(lines))
