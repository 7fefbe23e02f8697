"""Thread commands about the conversation and its contact: ownership, status, details."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from bridge.commands.arguments import Assignment, Choice, TagChanges, Teammate, Text
from bridge.commands.context import CommandContext
from bridge.commands.registry import command
from bridge.commands.replies import CommandReply
from bridge.inbox.agents import AgentView
from bridge.inbox.errors import Refused
from bridge.inbox.labels import ConversationStatus, Priority
from bridge.inbox.markup import rich
from bridge.inbox.timephrases import TimePhraseError, When, parse_when, split_when


@command("claim", role="agent", doing="Claiming", help="takes this conversation")
async def claim(ctx: CommandContext) -> CommandReply:
    return CommandReply(await ctx.teamwork.claim(ctx.team))


@command("assign", args=(Teammate("user", "Who answers it from now on"),), role="agent", doing="Assigning",
         help="gives it to a teammate, who is mentioned (notified) in the thread")
async def assign(ctx: CommandContext, user: str) -> CommandReply:
    who = await _teammate(ctx, user)
    return CommandReply(await ctx.teamwork.assign(ctx.team, who))


@command("unassign", role="agent", doing="Unassigning", help="nobody has it any more")
async def unassign(ctx: CommandContext) -> CommandReply:
    return CommandReply(await ctx.teamwork.unassign(ctx.team))


STATUS = Choice("status", "The new status", values=ConversationStatus.settable())


@command("status", args=(STATUS,), role="agent", doing="Changing the status", help="sets the conversation's status")
async def status(ctx: CommandContext, status: ConversationStatus) -> CommandReply:
    return CommandReply(await ctx.teamwork.set_status(ctx.team, status))


@command("close", role="agent", doing="Changing the status", help="closes the conversation")
async def close(ctx: CommandContext) -> CommandReply:
    return CommandReply(await ctx.teamwork.set_status(ctx.team, ConversationStatus.CLOSED))


@command("reopen", role="agent", doing="Changing the status", help="opens it again")
async def reopen(ctx: CommandContext) -> CommandReply:
    return CommandReply(await ctx.teamwork.set_status(ctx.team, ConversationStatus.OPEN))


@command("priority", args=(Choice("level", "The new priority", values=tuple(Priority)),), role="agent",
         doing="Changing the priority", help="sets the priority shown on the card")
async def priority(ctx: CommandContext, level: Priority) -> CommandReply:
    return CommandReply(await ctx.teamwork.set_priority(ctx.team, level))


@command("tag", args=(TagChanges("tags", "Tags to add (+vip) and remove (-lead)"),), role="agent", doing="Tagging",
         help="adds and removes the contact's tags")
async def tag(ctx: CommandContext, tags: tuple[tuple[str, ...], tuple[str, ...]]) -> CommandReply:
    add, remove = tags
    return CommandReply(await ctx.teamwork.tag(ctx.team, add, remove))


@command("contact name", args=(Text("name", "The contact's name", max_length=200, shown="Jane Doe"),), role="agent",
         doing="Renaming a contact", help="sets the contact's name")
async def contact_name(ctx: CommandContext, name: str) -> CommandReply:
    return CommandReply(await ctx.teamwork.contact_name(ctx.team, name))


@command("contact note", args=(Text("text", "The note"),), role="agent", doing="Editing contact notes",
         help="adds to the contact's notes")
async def contact_note(ctx: CommandContext, text: str) -> CommandReply:
    return CommandReply(await ctx.teamwork.contact_note(ctx.team, text))


@command("prop", args=(Assignment("property", "key=value (key= removes it)", shown="stage=trial"),), role="agent",
         doing="Editing contact properties", help="sets a contact property (`key=` removes it)")
async def prop(ctx: CommandContext, property: tuple[str, str]) -> CommandReply:
    key, value = property
    return CommandReply(await ctx.teamwork.set_property(ctx.team, key, value))


@command("tz", args=(Text("zone", "An IANA time zone, e.g. America/Chicago", shown="America/Chicago"),), role="agent",
         doing="Setting a time zone", help="sets the contact's time zone")
async def tz(ctx: CommandContext, zone: str) -> CommandReply:
    return CommandReply(await ctx.teamwork.set_timezone(ctx.team, zone))


async def _teammate(ctx: CommandContext, target: str) -> AgentView:
    """An @mention (resolved by the adapter) or a teammate's name."""
    if ctx.mentions:
        return await ctx.service.agents.ensure(ctx.session, ctx.mentions[0])
    found = await ctx.service.agents.find(ctx.session, ctx.platform, target)
    if not found:
        raise Refused(rich("No teammate called `{target}`. Mention them: `!assign @name`.", target=target))
    if len(found) > 1:
        names = ", ".join(a.name for a in found[:5])
        raise Refused(rich("`{target}` could be {names}: mention the one you mean.", target=target, names=names))
    return found[0]


def _when_key(ctx: CommandContext) -> str:
    """What makes a follow-up unique: the chat message that asked (a retry is no twin)."""
    return f"{ctx.platform}:{ctx.origin_id}" if ctx.origin_id else ctx.clock.now().isoformat()


@command("snooze", args=(Text("when", "When it comes back, e.g. tomorrow 9am"),), role="agent", doing="Snoozing",
         help="sets it pending until WHEN (tomorrow 9am, in 2 hours, next monday), then reopens it with a note")
async def snooze(ctx: CommandContext, when: str) -> CommandReply:
    team = ctx.team
    moment = _read_when(when, ctx, team.inbox.hours.zone, text_required=True)
    return CommandReply(await ctx.service.followups.snooze(ctx.session, team.inbox, team.conversation, ctx.agent, moment, _when_key(ctx)))


@command("remind", args=(Text("when", "When, then what to remind you of (tomorrow 9am call back)"),), role="agent", doing="Setting a reminder",
         help="pings you in this thread at WHEN (tomorrow 9am, in 2 hours), with the text if given")
async def remind(ctx: CommandContext, when: str) -> CommandReply:
    team = ctx.team
    moment, text = _split_when(when, ctx, team.inbox.hours.zone)
    return CommandReply(
        await ctx.service.followups.remind(ctx.session, team.inbox, team.conversation, ctx.agent, moment, text, _when_key(ctx))
    )


def _read_when(text: str, ctx: CommandContext, zone: ZoneInfo, *, text_required: bool) -> When:
    try:
        return parse_when(text, ctx.clock.now(), zone)
    except TimePhraseError as exc:
        raise Refused(rich("{reason}", reason=str(exc))) from exc


def _split_when(text: str, ctx: CommandContext, zone: ZoneInfo) -> tuple[When, str]:
    try:
        return split_when(text, ctx.clock.now(), zone, text_required=False)
    except TimePhraseError as exc:
        raise Refused(rich("{reason}", reason=str(exc))) from exc
