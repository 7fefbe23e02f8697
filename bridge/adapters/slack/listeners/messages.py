"""A teammate's message in a conversation thread: a note, a reply or a `!` command."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp

from bridge.adapters.slack.emoji import unicode_emoji
from bridge.adapters.slack.files import download
from bridge.adapters.slack.listeners.context import ListenerContext
from bridge.adapters.slack.text import slack_to_plain
from bridge.inbox.types import OutgoingFile, ThreadMessage

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
        "files": [f for f in event.get("files") or [] if isinstance(f, dict)],
        "event_key": f"slack:{event_id}" if event_id else f"slack:{event['channel']}:{event['ts']}",
    }


def _is_reply(text: str, prefixes: tuple[str, ...]) -> bool:
    """Only a reply's files are downloaded (a note's stay in Slack)."""
    head = text.lstrip().lower()
    return any(head.startswith(p) and (len(head) == len(p) or head[len(p)].isspace()) for p in prefixes)


def edited_message_from_event(event: dict[str, Any], event_id: str, bot_user_id: str | None) -> dict[str, Any] | None:
    """A `message_changed` event of a teammate's thread reply: the fields of its new
    version, keyed by the edited message's own ts."""
    inner = event.get("message")
    if event.get("subtype") != "message_changed" or not isinstance(inner, dict):
        return None
    fields = thread_message_from_event({**inner, "channel": event.get("channel"), "subtype": None}, event_id, bot_user_id)
    if fields is not None:
        fields["event_key"] = f"slack:{event_id}" if event_id else f"slack:edit:{event.get('channel')}:{event.get('ts')}"
    return fields


def register(app: AsyncApp, ctx: ListenerContext) -> None:
    @app.event("message")
    async def on_message(event: dict[str, Any], body: dict[str, Any], context: Any) -> None:
        event_id = str(body.get("event_id") or "")
        if event.get("subtype") == "message_deleted":
            deleted = event.get("deleted_ts")
            if isinstance(deleted, str) and isinstance(event.get("channel"), str):
                outcome = await ctx.handlers.threads.deleted("slack", event["channel"], deleted)
                log.debug("slack message %s deleted in %s: %s", deleted, event["channel"], outcome)
            return
        edited = edited_message_from_event(event, event_id, context.get("bot_user_id"))
        if edited is not None:
            await on_thread_message(edited, edit=True)
            return
        fields = thread_message_from_event(event, event_id, context.get("bot_user_id"))
        if fields is not None:
            await on_thread_message(fields, edit=False)

    async def on_thread_message(fields: dict[str, Any], *, edit: bool) -> None:
        mentions = await ctx.mentioned(fields["text"])
        plain = unicode_emoji(slack_to_plain(fields["text"], {a.user_id: a.label for a in mentions}), fields["blocks"])
        attachments: list[OutgoingFile] = []
        unreadable: list[str] = []
        if fields["files"] and not edit and _is_reply(plain.text, ctx.handlers.threads.service.options.reply_prefixes):
            for file in fields["files"]:
                got = await download(ctx.names.client, file)
                if isinstance(got, OutgoingFile):
                    attachments.append(got)
                else:
                    unreadable.append(got)
        tm = ThreadMessage(
            platform="slack",
            channel=fields["channel"],
            thread_id=fields["thread_ts"],
            message_id=fields["ts"],
            author=await ctx.author(fields["user"]),
            text=plain.text,
            event_key=fields["event_key"],
            mentions=mentions,
            custom_emoji=plain.custom,
            attachments=tuple(attachments),
            unreadable=tuple(unreadable),
        )
        outcome = await (ctx.handlers.threads.edited(tm) if edit else ctx.handlers.threads.handle(tm))
        log.debug("slack message %s in %s: %s", fields["ts"], fields["channel"], outcome)
