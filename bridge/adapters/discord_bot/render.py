"""Embeds, components and text for what smsbridge posts in a Discord forum."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import discord

from bridge.adapters.discord_bot.components import STYLES, ActionButton, AssignPicker, SnippetPicker
from bridge.adapters.discord_bot.markup import inert, to_markdown
from bridge.inbox import statuses
from bridge.inbox.chat import Button
from bridge.inbox.labels import ConversationStatus
from bridge.inbox.markup import rich
from bridge.inbox.views import ConversationView, MessageView

MAX_CONTENT = 2000  # Discord's message limit
# The forum tag of each status: its label.
STATUS_TAGS = {status.value: status.label for status in ConversationStatus}
STATUS_COLOURS = {
    ConversationStatus.NEW: 0x5865F2,
    ConversationStatus.OPEN: 0x57F287,
    ConversationStatus.PENDING: 0xFEE75C,
    ConversationStatus.ESCALATED: 0xED4245,
    ConversationStatus.CLOSED: 0x99AAB5,
}
CARD_FOOTER = "smsbridge · conversation {}"
NO_MENTIONS = discord.AllowedMentions.none()


def discord_time(moment: datetime, style: str = "R") -> str:
    """A timestamp each reader sees in their own locale, live ("5 minutes ago")."""
    return f"<t:{int(moment.timestamp())}:{style}>"


esc = inert  # customer or teammate text made inert: no markdown tricks, no mentions


def post_title(view: ConversationView) -> str:
    return view.title[:100] or "conversation"


def card_embed(view: ConversationView) -> discord.Embed:
    # An embed title reads markdown but pings nobody: escape the markdown only.
    name = discord.utils.escape_markdown(view.contact_name) if view.contact_name else None
    headline = f"📱 {name} · {view.phone_display}" if name else f"📱 {view.phone_display}"
    embed = discord.Embed(title=headline[:256], colour=STATUS_COLOURS.get(view.status, 0x99AAB5))
    embed.add_field(name="Status", value=view.status.badge)
    embed.add_field(name="Assignee", value=esc(view.assignee_text) if view.assignee_text else "nobody yet")
    embed.add_field(name="Priority", value=view.priority.badge)
    if view.sla_text:
        embed.add_field(name="SLA", value=view.sla_text)
    if view.last_inbound_at:
        embed.add_field(name="Customer wrote", value=discord_time(view.last_inbound_at))
    embed.add_field(name="Inbox", value=f"{esc(view.inbox_name)[:1000]} · {view.channel_label}")
    if view.tags:
        embed.add_field(name="Tags", value=" ".join(to_markdown(rich("`{t}`", t=t)) for t in view.tags)[:1024])
    lines: list[str] = []
    lines.append(consent_line(view))
    if not view.phone_valid:
        lines.append("⚠️ Not a phone number — replies cannot be sent")
    lines += [f"**{esc(k)}:** {esc(v)}" for k, v in sorted(view.properties.items())]
    if view.timezone:
        lines.append(f"**Time zone:** {esc(view.timezone)}")
    if view.notes:
        lines.append(f"**Notes:** {esc(view.notes)}")
    if lines:
        embed.description = truncate("\n".join(lines), 4000)
    embed.set_footer(text=CARD_FOOTER.format(view.id))
    return embed


def consent_line(view: ConversationView) -> str:
    """Rule 8 on the card: opted out (when, how), consent on record (when, source), or none."""
    c = view.consent
    when = f" {discord_time(c.at, 'd')}" if c.at else ""
    if c.opted_out:
        return f"{view.consent_icon} **{esc(view.consent_text)}**{when} — replies are blocked"
    return f"{view.consent_icon} {esc(view.consent_text)}{when}"


def _finished(view: discord.ui.View) -> discord.ui.View:
    # Clicks reach the DynamicItems by their custom_id (persistent across restarts and
    # processes); a stopped view is not kept in discord.py's per-message view store.
    view.stop()
    return view


def card_view(view: ConversationView, snippet_names: list[str]) -> discord.ui.View:
    ui = discord.ui.View(timeout=None)
    value = str(view.id)
    if view.assignee is None:
        ui.add_item(ActionButton("claim", value, label="Claim", style=discord.ButtonStyle.primary))
    if view.status == "closed":
        ui.add_item(ActionButton("reopen", value, label="Reopen"))
    else:
        ui.add_item(ActionButton("close", value, label="Close"))
    ui.add_item(AssignPicker(value))
    if snippet_names:
        ui.add_item(SnippetPicker(value, snippet_names))
    return _finished(ui)


def buttons_view(buttons: Sequence[Button]) -> discord.ui.View | None:
    if not buttons:
        return None
    ui = discord.ui.View(timeout=None)
    for b in buttons[:25]:
        style = STYLES.get(b.style or "", discord.ButtonStyle.secondary)
        ui.add_item(ActionButton(b.action, b.value, label=b.label, style=style))
    return _finished(ui)


def customer_chunks(view: MessageView, contact: str) -> list[str]:
    """A customer's text as posts of at most 2000 characters each, split, never cut."""
    header = f"💬 **{esc(contact)}**"
    if view.body:
        body = esc(view.body)
    else:
        count = len(view.media)
        body = f"*(sent {count} attachment{'s' if count != 1 else ''})*" if count else "*(empty message)*"
    first = f"{header}\n{body}"
    if len(first) <= MAX_CONTENT:
        return [first]
    return _split_with_header(header, body)


def _split_with_header(header: str, body: str) -> list[str]:
    parts = split_text(body, MAX_CONTENT - len(header) - 12)
    total = len(parts)
    return [f"{header} ({i}/{total})\n{part}" for i, part in enumerate(parts, 1)]


def split_text(text: str, limit: int) -> list[str]:
    """Pieces of at most `limit` characters, broken at a newline or space when possible.

    The pieces joined back give the text exactly (a break keeps its whitespace at the
    end of the earlier piece), so nothing is ever cut.
    """
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = window.rfind("\n") + 1 or window.rfind(" ") + 1
        if cut < limit // 2:
            cut = limit
        pieces.append(rest[:cut])
        rest = rest[cut:]
    pieces.append(rest)
    return pieces


def status_text(view: MessageView, contact: str, now: datetime | None = None) -> str:
    """A reply's delivery line; the body is always quoted (a /reply or a reply sent
    from Slack is not otherwise visible in the post)."""
    state, cost = statuses.delivery_state(view, now)
    icon = statuses.icon(view.status)
    if view.kind in ("compliance", "automated"):
        line = rich("{icon} Automatic reply by smsbridge to {contact} — {state}{cost}", icon=icon, contact=contact, state=state, cost=cost)
    else:
        who = rich(" by {name}", name=view.author_name) if view.author_name else ""
        where = f" (from {view.author_platform.capitalize()})" if view.author_platform not in (None, "discord") else ""
        what = statuses.sent_as(view)
        line = rich(
            "{icon} {what}{who}{where} to {contact} — {state}{cost}",
            icon=icon, what=what, who=who, where=where, contact=contact, state=state, cost=cost,
        )
    return truncate(to_markdown(line) + "\n" + quote(view.body), MAX_CONTENT)


def draft_text(view: MessageView) -> str:
    return truncate(to_markdown(statuses.draft_heading(view)) + "\n" + quote(view.body), MAX_CONTENT)


def mirror_text(author: str, origin: str, text: str) -> list[str]:
    header = to_markdown(rich("💬 **{author}** ({origin}):", author=author, origin=origin.capitalize()))
    body = esc(text)
    if len(header) + 1 + len(body) <= MAX_CONTENT:
        return [f"{header} {body}"]
    return _split_with_header(header, body)


def quote(text: str) -> str:
    return "> " + esc(text).replace("\n", "\n> ")


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
