"""Slack events into the core: a teammate's message in a conversation thread.

Bolt runs with process_before_response, so the note or reply (and its outbox jobs)
is committed before Slack gets its 200: a crash before that makes Slack retry, and
the event_id makes the retry a no-op.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.web.async_client import AsyncWebClient

from bridge.adapters.slack.markup import to_mrkdwn
from bridge.adapters.slack.poster import SlackPoster
from bridge.adapters.slack.render import ACTION_PREFIX, command_reply_blocks, edit_modal
from bridge.adapters.slack.text import slack_to_plain
from bridge.commands.actions import Actions
from bridge.commands.channel import ChannelCommands
from bridge.commands.replies import CommandReply
from bridge.commands.thread import ThreadCommands
from bridge.inbox.chatstate import ChatState
from bridge.inbox.markup import Rich, own_words
from bridge.inbox.routing import InboxDirectory
from bridge.inbox.types import Author, ThreadMessage

log = logging.getLogger(__name__)

# Subtypes that are a person writing; edits, joins, deletions and bot posts are not.
TEAMMATE_SUBTYPES = {None, "file_share", "thread_broadcast"}
MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
NAME_TTL = 3600.0


class _HideTokenIgnoredWarning(logging.Filter):
    """Bolt warns that the client's token is ignored once `authorize` is given. It is
    not: the client keeps it for every API call. Hide that one misleading line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "will be ignored" not in record.getMessage()


logging.getLogger("slack_bolt.AsyncApp").addFilter(_HideTokenIgnoredWarning())


class UserNames:
    """Display names for attribution, cached: users.info is rate limited (Tier 4)."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._cache: dict[str, tuple[float, str]] = {}

    async def name(self, user_id: str) -> str:
        cached = self._cache.get(user_id)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        try:
            response = await self.client.users_info(user=user_id)
            user = response.get("user") or {}
            profile = user.get("profile") or {}
            name = profile.get("display_name") or profile.get("real_name") or user.get("real_name") or user.get("name") or user_id
        except Exception:  # noqa: BLE001 - attribution must not block a reply
            log.warning("users.info failed for %s; using the id", user_id)
            return user_id
        self._cache[user_id] = (time.monotonic() + NAME_TTL, name)
        return name


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
        "event_key": f"slack:{event_id}" if event_id else f"slack:{event['channel']}:{event['ts']}",
    }


class BotIdentity:
    """The bot's own identity (auth.test), fetched once and shared with bolt.

    Bolt's own lookup answers 200 with an apology when the Web API is down, which
    would make Slack drop the event; callers check `ensure()` first and answer 503
    instead, so Slack delivers the event again later.
    """

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._result: dict[str, Any] | None = None

    async def ensure(self) -> bool:
        if self._result is None:
            try:
                response = await self.client.auth_test()
                self._result = dict(response.data) if isinstance(response.data, dict) else None
            except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
                log.warning("Slack auth.test failed: %s", exc)
        return self._result is not None

    async def result(self) -> AuthorizeResult:
        if not await self.ensure():
            raise RuntimeError("Slack Web API unreachable: bot identity unknown")
        assert self._result is not None
        return AuthorizeResult.from_auth_test_response(
            auth_test_response=self._result,  # type: ignore[arg-type]
            bot_token=self.client.token,
        )


@dataclass
class SlackHandlers:
    """The command layer the Slack adapter hands events to."""

    threads: ThreadCommands
    channel: ChannelCommands
    actions: Actions
    poster: SlackPoster
    state: ChatState
    directory: InboxDirectory


def build_bolt_app(
    client: AsyncWebClient, handlers: SlackHandlers, signing_secret: str | None, identity: BotIdentity
) -> AsyncApp:
    async def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        return await identity.result()  # a single workspace: always our own bot

    app = AsyncApp(
        client=client,
        authorize=authorize,
        signing_secret=signing_secret or "socket-mode",
        request_verification_enabled=bool(signing_secret),
        process_before_response=True,
    )
    names = UserNames(client)

    async def authors(text: str) -> tuple[Author, ...]:
        return tuple([Author("slack", uid, await names.name(uid)) for uid in dict.fromkeys(MENTION.findall(text))])

    @app.event("message")
    async def on_message(event: dict[str, Any], body: dict[str, Any], context: Any) -> None:
        fields = thread_message_from_event(event, str(body.get("event_id") or ""), context.get("bot_user_id"))
        if fields is None:
            return
        mentions = await authors(fields["text"])
        outcome = await handlers.threads.handle(
            ThreadMessage(
                platform="slack",
                channel=fields["channel"],
                thread_id=fields["thread_ts"],
                message_id=fields["ts"],
                author=Author(platform="slack", user_id=fields["user"], name=await names.name(fields["user"])),
                text=slack_to_plain(fields["text"], {a.user_id: a.label for a in mentions}),
                event_key=fields["event_key"],
                mentions=mentions,
            )
        )
        log.debug("slack message %s in %s: %s", fields["ts"], fields["channel"], outcome)

    @app.command("/sms")
    async def on_sms_command(ack: Any, command: dict[str, Any]) -> None:
        text = command.get("text") or ""
        mentions = await authors(text)
        reply = await handlers.channel.handle(
            "slack",
            command["channel_id"],
            Author("slack", command["user_id"], await names.name(command["user_id"])),
            slack_to_plain(text, {a.user_id: a.label for a in mentions}),
            mentions,
        )
        await ack(**await _render_reply(handlers, command["channel_id"], reply))

    @app.action(re.compile(r"^smsbridge\.(?!edit$).+"))
    async def on_action(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        await ack()
        user = body["user"]["id"]
        name = action["action_id"].removeprefix(ACTION_PREFIX)
        value, target, choice = action.get("value", ""), None, None
        if name == "assign":
            value = _card_id(body)
            target = Author("slack", action["selected_user"], await names.name(action["selected_user"]))
        elif name == "snippet":
            value, _, choice = action["selected_option"]["value"].partition(":")
        reply = await handlers.actions.handle(Author("slack", user, await names.name(user)), name, value, target=target, choice=choice)
        ephemeral = bool((body.get("container") or {}).get("is_ephemeral"))
        await respond(text=_mrkdwn(reply), response_type="ephemeral", replace_original=ephemeral)

    @app.action("smsbridge.edit")
    async def on_edit(ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        view = await handlers.state.message(int(action["value"]))
        await client.views_open(trigger_id=body["trigger_id"], view=edit_modal(view))

    @app.view("smsbridge.edit_draft")
    async def on_edit_submit(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        text = view["state"]["values"]["draft"]["text"]["value"] or ""
        user = body["user"]["id"]
        reply = await handlers.actions.edit_draft(Author("slack", user, await names.name(user)), int(view["private_metadata"]), text)
        if reply.ok:
            await ack()
        else:
            await ack(response_action="errors", errors={"draft": str(reply.text)})

    return app


def _card_id(body: dict[str, Any]) -> str:
    """The conversation id of a card, from the actions block id (`card:<id>`)."""
    for item in body.get("actions") or []:
        block = str(item.get("block_id", ""))
        if block.startswith("card:"):
            return block.removeprefix("card:")
    return ""


def _mrkdwn(reply: CommandReply) -> str:
    """A command's own words as written; rich text (with values in it) rendered and escaped."""
    return to_mrkdwn(reply.text if isinstance(reply.text, Rich) else own_words(reply.text))


async def _render_reply(handlers: SlackHandlers, channel: str, reply: CommandReply) -> dict[str, Any]:
    links: list[tuple[str, str, str | None]] = []
    for link in reply.links:
        url = await handlers.poster.permalink(
            link.conversation_id, await handlers.state.chat_channel(link.conversation_id, "slack") or channel
        )
        links.append((link.title, link.detail if url else f"{link.detail}: its thread appears in a moment", url))
    text = _mrkdwn(reply)
    return {"text": text, "blocks": command_reply_blocks(text, links), "response_type": "ephemeral"}
