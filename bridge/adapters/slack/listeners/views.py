"""Modal submissions: the draft editor."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bridge.adapters.slack.listeners.context import ListenerContext


def register(app: AsyncApp, ctx: ListenerContext) -> None:
    @app.view("smsbridge.edit_draft")
    async def on_edit_submit(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        text = view["state"]["values"]["draft"]["text"]["value"] or ""
        author = await ctx.author(body["user"]["id"])
        reply = await ctx.handlers.actions.edit_draft(author, int(view["private_metadata"]), text)
        if reply.ok:
            await ack()
        else:
            await ack(response_action="errors", errors={"draft": reply.text.plain()})
