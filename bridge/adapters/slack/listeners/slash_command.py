"""`/sms …` in a channel: answered in the ack, only to the person who typed it."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bridge.adapters.slack.listeners.context import ListenerContext, SlackHandlers
from bridge.adapters.slack.markup import to_mrkdwn
from bridge.adapters.slack.render import command_reply_blocks
from bridge.adapters.slack.text import slack_to_plain
from bridge.commands.replies import CommandReply


def register(app: AsyncApp, ctx: ListenerContext) -> None:
    @app.command("/sms")
    async def on_sms_command(ack: Any, command: dict[str, Any]) -> None:
        text = command.get("text") or ""
        mentions = await ctx.mentioned(text)
        reply = await ctx.handlers.channel.handle(
            "slack",
            command["channel_id"],
            await ctx.author(command["user_id"]),
            slack_to_plain(text, {a.user_id: a.label for a in mentions}),
            mentions,
        )
        await ack(**await render_reply(ctx.handlers, command["channel_id"], reply))


async def render_reply(handlers: SlackHandlers, channel: str, reply: CommandReply) -> dict[str, Any]:
    links: list[tuple[str, str, str | None]] = []
    for link in reply.links:
        url = await handlers.poster.permalink(
            link.conversation_id, await handlers.state.chat_channel(link.conversation_id, "slack") or channel
        )
        links.append((link.title, link.detail if url else f"{link.detail}: its thread appears in a moment", url))
    text = to_mrkdwn(reply.text)
    return {"text": text, "blocks": command_reply_blocks(text, links), "response_type": "ephemeral"}
