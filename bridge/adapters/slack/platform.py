"""Slack: conversations in a channel's threads, events over HTTP or Socket Mode."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
from aiohttp import web
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bridge.adapters.platform import Core
from bridge.adapters.slack.cleanup import SlackCleaner
from bridge.adapters.slack.events import BotIdentity, SlackHandlers, build_bolt_app
from bridge.adapters.slack.pacing import ChannelPacer
from bridge.adapters.slack.poster import SlackPoster
from bridge.adapters.slack.receiver import (
    answer_listener_errors,
    handle_slack_request,
    only_our_installation,
)
from bridge.adapters.web import SlackHandler
from bridge.config import Settings, reveal
from bridge.inbox.chat import register_chat_poster
from bridge.inbox.chat_cleanup import register_chat_cleaner

log = logging.getLogger(__name__)


class SlackPlatform:
    name = "slack"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client: AsyncWebClient | None = None
        self.identity: BotIdentity | None = None
        self.bolt: AsyncApp | None = None
        self._session: aiohttp.ClientSession | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._socket_task: asyncio.Task[None] | None = None

    def wire(self, core: Core) -> None:
        s = self.settings
        if not s.slack_enabled or not s.slack_bot_token:
            log.warning("Slack is not configured: conversations are stored and posted once it is")
            return
        # One HTTP session for every Slack call: without it slack_sdk opens a new
        # connection (and TLS handshake) per API call.
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=s.slack_timeout))
        self.client = AsyncWebClient(
            token=s.slack_bot_token.get_secret_value(),
            base_url=s.slack_api_url,
            timeout=int(max(1, s.slack_timeout)),
            session=self._session,
            retry_handlers=[AsyncConnectionErrorRetryHandler(max_retry_count=1)],
        )
        pacer = ChannelPacer(interval=s.slack_post_interval, burst=max(1, s.slack_post_burst))
        poster = SlackPoster(self.client, core.state, core.media, pacer)
        register_chat_poster(core.outbox, poster)
        register_chat_cleaner(core.outbox, SlackCleaner(self.client, poster))
        self.identity = BotIdentity(self.client)
        handlers = SlackHandlers(core.threads, core.channel_commands, core.actions, poster, core.state, core.directory)
        self.bolt = build_bolt_app(self.client, handlers, reveal(s.slack_signing_secret), self.identity)
        answer_listener_errors(self.bolt)
        only_our_installation(self.bolt, self.identity)

    def http_route(self) -> SlackHandler | None:
        """POST /slack/events: the guarded receiver in front of bolt (None without a signing secret)."""
        bolt, identity, secret = self.bolt, self.identity, reveal(self.settings.slack_signing_secret)
        if bolt is None or identity is None or not secret:
            return None

        async def route(request: web.Request) -> web.StreamResponse:
            return await handle_slack_request(request, bolt, secret, identity)

        return route

    async def start(self) -> None:
        if self.bolt is not None and self.settings.slack_app_token:
            self._socket = AsyncSocketModeHandler(self.bolt, self.settings.slack_app_token.get_secret_value())
            self._socket_task = asyncio.create_task(self._connect_socket_mode(), name="slack-socket-mode")

    async def _connect_socket_mode(self) -> None:
        """Connect once the bot identity is known, so no event is answered blind."""
        assert self.identity is not None and self._socket is not None
        delay = 1.0
        while not await self.identity.ensure():
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60.0)
        await self._socket.connect_async()
        log.info("Slack connected over Socket Mode")

    async def stop(self) -> None:
        if self._socket_task is not None:
            self._socket_task.cancel()
            with contextlib.suppress(BaseException):
                await self._socket_task
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close_async()
        if self._session is not None:
            await self._session.close()
