"""The App Home tab: the opener's queue (theirs, unassigned, overdue), published with
views.publish each time they open it and after they press one of its buttons."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bridge.adapters.slack.listeners.context import ListenerContext
from bridge.adapters.slack.listeners.slash_command import link_rows
from bridge.adapters.slack.markup import to_mrkdwn
from bridge.adapters.slack.render import home_view
from bridge.commands.queue import home_sections

log = logging.getLogger(__name__)


def register(app: AsyncApp, ctx: ListenerContext) -> None:
    @app.event("app_home_opened")
    async def on_home_opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab") == "home" and event.get("user"):
            await publish_home(ctx, client, str(event["user"]))


async def publish_home(ctx: ListenerContext, client: AsyncWebClient, user: str, notice: str | None = None) -> None:
    """Publish `user`'s Home tab; `notice` is the outcome of what they just pressed."""
    sections = await home_sections(ctx.handlers.channel.service, await ctx.author(user))
    rendered = [
        (to_mrkdwn(s.heading), await link_rows(ctx.handlers, s.links), to_mrkdwn(s.footer) if s.footer else None)
        for s in sections
    ]
    try:
        await client.views_publish(user_id=user, view=home_view(rendered, notice))
    except Exception as exc:  # noqa: BLE001 - the next opening publishes it again
        log.warning("Slack views.publish failed for %s: %s", user, exc)
