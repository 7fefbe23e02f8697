"""`/sms hours` (and `!hours` in a thread): is the inbox open now, until when, and its
weekly hours and coming holidays, in the inbox's time zone."""

from __future__ import annotations

from bridge.commands.context import CommandContext
from bridge.commands.registry import Where, command
from bridge.commands.replies import CommandReply
from bridge.inbox.hours_status import hours_status
from bridge.inbox.markup import Rich, join, rich
from bridge.inbox.routing import InboxRoute


@command("hours", where=Where.BOTH, help="whether the inbox is open now, when that changes, its hours and holidays")
async def show_hours(ctx: CommandContext) -> CommandReply:
    inboxes = _inboxes(ctx)
    if not inboxes:
        return CommandReply(rich("No inbox is configured."), ok=False)
    now = ctx.clock.now()
    lines: list[Rich] = []
    for inbox in inboxes:
        status = hours_status(inbox.hours, now)
        head = rich("**{name}**: ", name=inbox.name) if len(inboxes) > 1 else rich("")
        if inbox.hours.always_open:
            lines.append(head + rich("Always open."))
            continue
        lines.append(head + rich("{state} ({zone})", state=status.state, zone=status.zone))
        lines.append(rich("Hours: {weekly}", weekly="; ".join(status.weekly)))
        if status.holidays:
            lines.append(rich("Closed on: {days}", days="; ".join(status.holidays)))
    return CommandReply(join(lines))


def _inboxes(ctx: CommandContext) -> list[InboxRoute]:
    """The conversation's inbox in a thread; the channel's inboxes, or every inbox, in a channel."""
    if ctx.team_context is not None:
        return [ctx.team_context.inbox]
    directory = ctx.service.directory
    return directory.by_channel(ctx.platform, ctx.channel) or directory.all()
