"""Buttons and pickers on cards and replies (claim, assign, close, snippet, undo, …)."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bridge.adapters.slack.listeners.context import ListenerContext
from bridge.adapters.slack.listeners.home import publish_home
from bridge.adapters.slack.markup import to_mrkdwn
from bridge.adapters.slack.render import ACTION_PREFIX, edit_modal


def _card_id(body: dict[str, Any]) -> str:
    """The conversation id of a card, from the actions block id (`card:<id>`)."""
    for item in body.get("actions") or []:
        block = str(item.get("block_id", ""))
        if block.startswith("card:"):
            return block.removeprefix("card:")
    return ""


def register(app: AsyncApp, ctx: ListenerContext) -> None:
    @app.action(re.compile(r"^smsbridge\.(?!edit$).+"))
    async def on_action(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any, client: AsyncWebClient) -> None:
        await ack()
        name = action["action_id"].removeprefix(ACTION_PREFIX)
        value, target, choice = action.get("value", ""), None, None
        if name == "assign":
            value = _card_id(body)
            target = await ctx.author(action["selected_user"])
        elif name == "snippet":
            value, _, choice = action["selected_option"]["value"].partition(":")
        reply = await ctx.handlers.actions.handle(await ctx.author(body["user"]["id"]), name, value, target=target, choice=choice)
        if (body.get("view") or {}).get("type") == "home":  # no response_url there: the tab shows it
            await publish_home(ctx, client, body["user"]["id"], notice=to_mrkdwn(reply.text))
            return
        # An ephemeral answer with a button (Undo) is replaced by its outcome; a queue
        # listing stays, so its other Claim buttons can still be pressed.
        ephemeral = bool((body.get("container") or {}).get("is_ephemeral"))
        from_queue = str(action.get("block_id", "")).startswith("queue:")
        await respond(text=to_mrkdwn(reply.text), response_type="ephemeral", replace_original=ephemeral and not from_queue)

    @app.action("smsbridge.edit")
    async def on_edit(ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        view = await ctx.handlers.state.draft_for_editor(int(action["value"]))
        await client.views_open(trigger_id=body["trigger_id"], view=edit_modal(view))
