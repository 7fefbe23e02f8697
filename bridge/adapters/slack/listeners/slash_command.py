"""`/sms …` in a channel: answered in the ack, only to the person who typed it."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bridge.adapters.slack.emoji import unicode_emoji
from bridge.adapters.slack.listeners.context import ListenerContext, SlackHandlers
from bridge.adapters.slack.markup import to_mrkdwn
from bridge.adapters.slack.render import LinkRow, buttons_block, command_reply_blocks
from bridge.adapters.slack.text import slack_to_plain
from bridge.commands.replies import CommandReply, ConversationLink


def register(app: AsyncApp, ctx: ListenerContext) -> None:
    @app.command("/sms")
    async def on_sms_command(ack: Any, command: dict[str, Any]) -> None:
        text = command.get("text") or ""
        mentions = await ctx.mentioned(text)
        reply = await ctx.handlers.channel.handle(
            "slack",
            command["channel_id"],
            await ctx.author(command["user_id"]),
            unicode_emoji(slack_to_plain(text, {a.user_id: a.label for a in mentions})).text,
            mentions,
        )
        await ack(**await render_reply(ctx.handlers, command["channel_id"], reply))


async def render_reply(handlers: SlackHandlers, channel: str, reply: CommandReply) -> dict[str, Any]:
    links = await link_rows(handlers, reply.links, channel)
    text = to_mrkdwn(reply.text)
    footer = to_mrkdwn(reply.footer) if reply.footer else None
    blocks = command_reply_blocks(text, links, footer)
    if reply.buttons:  # e.g. /sms new's consent prompt, `/sms erase`'s Erase / Cancel
        blocks.append(buttons_block(reply.buttons))
    return {"text": text, "blocks": blocks, "response_type": "ephemeral"}


async def link_rows(handlers: SlackHandlers, links: tuple[ConversationLink, ...], channel: str | None = None) -> list[LinkRow]:
    """Each conversation with the permalink of its thread (when it has one yet) and its button."""
    rows: list[LinkRow] = []
    for link in links:
        where = await handlers.state.chat_channel(link.conversation_id, "slack") or channel
        url = await handlers.poster.permalink(link.conversation_id, where) if where else None
        detail = link.detail if url or channel is None else f"{link.detail}: its thread appears in a moment"
        button = link.button
        rows.append(
            (link.title, detail, url, {"label": button.label, "action": button.action, "value": button.value, "style": button.style or ""} if button else None)
        )
    return rows
