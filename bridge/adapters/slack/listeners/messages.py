"""A teammate's message in a conversation thread: a note, a reply or a `!` command."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp

from bridge.adapters.slack.emoji import unicode_emoji
from bridge.adapters.slack.listeners.context import ListenerContext
from bridge.adapters.slack.text import slack_to_plain
from bridge.inbox.types import ThreadMessage

log = logging.getLogger(__name__)

# Subtypes that are a person writing; edits, joins, deletions and bot posts are not.
TEAMMATE_SUBTYPES = {None, "file_share", "thread_broadcast"}


def thread_message_from_event(event: dict[str, Any], event_id: str, bot_user_id: str | None) -> dict[str, Any] | None:
    """The fields of a teammate's thread reply, or None for anything else."""
    if event.get("subtype") not in TEAMMATE_SUBTYPES or event.get("bot_id"):
        return None
    user = event.get("user")
    thread_ts = event.get("thread_ts")
    if not user or user == bot_user_id or not thread_ts or thread_ts == event.get("ts"):
        return None
    return {
        "channel": event["channel"],
        "thread_ts": thread_ts,
        "ts": event["ts"],
        "user": user,
        "text": event.get("text") or "",
        "blocks": event.get("blocks"),
        "event_key": f"slack:{event_id}" if event_id else f"slack:{event['channel']}:{event['ts']}",
    }


def register(app: AsyncApp, ctx: ListenerContext) -> None:
    @app.event("message")
    async def on_message(event: dict[str, Any], body: dict[str, Any], context: Any) -> None:
        fields = thread_message_from_event(event, str(body.get("event_id") or ""), context.get("bot_user_id"))
        if fields is None:
            return
        mentions = await ctx.mentioned(fields["text"])
        plain = unicode_emoji(slack_to_plain(fields["text"], {a.user_id: a.label for a in mentions}), fields["blocks"])
        outcome = await ctx.handlers.threads.handle(
            ThreadMessage(
                platform="slack",
                channel=fields["channel"],
                thread_id=fields["thread_ts"],
                message_id=fields["ts"],
                author=await ctx.author(fields["user"]),
                text=plain.text,
                event_key=fields["event_key"],
                mentions=mentions,
                custom_emoji=plain.custom,
            )
        )
        log.debug("slack message %s in %s: %s", fields["ts"], fields["channel"], outcome)
