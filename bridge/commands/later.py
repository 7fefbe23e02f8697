"""Scheduled messages in a thread: `!later WHEN TEXT`, `!scheduled` (with Cancel
buttons). Times are read in the contact's zone: `!tz` (conversation.py) sets it."""

from __future__ import annotations

import uuid

from bridge.commands.arguments import Text
from bridge.commands.context import CommandContext
from bridge.commands.registry import command
from bridge.commands.replies import Button, CommandReply, refusal
from bridge.inbox import consent, privacy, whatsapp
from bridge.inbox.later import both_times, contact_zone, local_text, zone_override
from bridge.inbox.markup import Rich, join, quote, rich
from bridge.inbox.models import Contact, utcnow
from bridge.inbox.quiet_hours import window_for
from bridge.inbox.timephrases import TimePhraseError, split_when

LATER_EXAMPLES = (
    "`!later tomorrow 9am Your order is ready`, `!later in 2 hours Call us back?` "
    "or `!later 2026-12-01 14:00 See you then`"
)


def _refused(problem: str) -> CommandReply:
    return refusal(rich("Nothing scheduled: {problem}\nExamples: ", problem=problem) + rich(LATER_EXAMPLES))


@command(
    "later",
    args=(Text("when_and_text", "When (in the customer's time zone), then the text", optional=True, shown="WHEN TEXT"),),
    role="agent",
    doing="Scheduling a text",
    help="texts the customer at a time in their time zone (`tomorrow 9am`, `in 2 hours`, `2026-12-01 14:00`)",
)
async def later(ctx: CommandContext, when_and_text: str | None) -> CommandReply:
    team = ctx.team
    contact = await ctx.session.get_one(Contact, team.conversation.contact_id)
    if not contact.phone_valid:
        return refusal(rich("Nothing scheduled: `{phone}` is not a number smsbridge can text.", phone=contact.phone))
    if not when_and_text:
        return _refused("say when, then the text.")
    zone = contact_zone(contact, team.inbox)
    now = ctx.clock.now()
    try:
        when, text = split_when(when_and_text, now, zone.zone)
    except TimePhraseError as exc:
        return _refused(str(exc))
    if await consent.is_suppressed(ctx.session, contact.phone, team.inbox.id):
        return refusal(rich("Nothing scheduled: the customer opted out of texts from this number."))
    # The chat message that asked makes the key: a redelivered event schedules nothing more.
    key = f"later:{ctx.platform}:{ctx.origin_id}" if ctx.origin_id else f"later:{ctx.platform}:{uuid.uuid4().hex}"
    timer = await ctx.service.later.schedule(ctx.session, team.inbox, team.conversation, ctx.author, text, when, key)
    if timer is None:
        return refusal(rich("That was scheduled already."))
    lines = [
        rich("🕒 Scheduled for ") + both_times(when.at, zone.zone, team.inbox.hours.zone) + rich("."),
        rich("Their time zone is {zone} ({source}).", zone=zone.zone.key, source=zone.source),
    ]
    window = window_for(contact.phone, zone_override(contact), team.inbox.hours.zone.key)
    if not window.allowed_at(when.at):
        leaves = window.next_allowed(when.at)
        lines.append(
            rich("⚠️ That is outside {start}–{end} their time: quiet hours will hold it until {at}.",
                 start=f"{window.start:%H:%M}", end=f"{window.end:%H:%M}", at=local_text(leaves, window.zones[0]))
        )
    last = team.conversation.last_inbound_at  # stored in real time: the window left is measured in it
    left = whatsapp.WINDOW - (utcnow() - last) if last is not None else None
    if (await whatsapp.channel_of(ctx.session, team.conversation.id)).is_whatsapp and (left is None or when.at - now > left):
        lines.append(
            rich("⚠️ On WhatsApp free text can only go within 24 hours of the customer's last message: "
                 "unless they write again before then, it will not be sent (an approved `!template` can go instead).")
        )
    lines.append(quote(text))
    return CommandReply(join(lines), buttons=(Button("Cancel", "cancel_later", str(timer), "danger"),))


@command("scheduled", help="lists this conversation's scheduled texts, each with a Cancel button")
async def scheduled(ctx: CommandContext) -> CommandReply:
    team = ctx.team
    timers = await ctx.service.later.pending(ctx.session, team.conversation.id)
    if not timers:
        return CommandReply(rich("No texts are scheduled in this conversation."))
    contact = await ctx.session.get_one(Contact, team.conversation.contact_id)
    zone = contact_zone(contact, team.inbox).zone
    lines: list[Rich] = [rich("Scheduled texts ({count}):", count=len(timers))]
    buttons: list[Button] = []
    for number, timer in enumerate(timers, start=1):
        who = (timer.payload.get("author") or {}).get("name") or "a teammate"
        held = " (held by quiet hours)" if timer.payload.get("base") else ""
        lines.append(
            rich("{n}. ", n=number) + both_times(timer.due_at, zone, team.inbox.hours.zone)
            + rich(", by {who}{held}:", who=who, held=held)
        )
        lines.append(privacy.quoted(str(timer.payload.get("text", "")), team.inbox.no_bodies))
        buttons.append(Button(f"Cancel {number}", "cancel_later", str(timer.id), "danger"))
    return CommandReply(join(lines), buttons=tuple(buttons[:25]))
