"""Composition root: builds the store, the core, the adapters and the workers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
import logging
from typing import Any

import aiohttp
from aiohttp import web
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bridge.adapters.slack.events import BotIdentity, SlackHandlers, build_bolt_app
from bridge.adapters.slack.pacing import ChannelPacer
from bridge.adapters.slack.poster import SlackPoster
from bridge.adapters.slack.receiver import answer_listener_errors, handle_slack_request, only_our_installation
from bridge.adapters.twilio.media import TwilioMediaFetcher
from bridge.adapters.twilio.sender import TwilioSender, make_client
from bridge.adapters.web import SlackHandler, WebContext, build_web_app
from bridge.commands.actions import Actions
from bridge.commands.channel import ChannelCommands
from bridge.commands.thread import ThreadCommands
from bridge.config import Settings, reveal
from bridge.inbox.agents import Agents
from bridge.inbox.chatstate import ChatState
from bridge.inbox.db import Database, create_database, migrate
from bridge.inbox.delivery import SmsDelivery
from bridge.inbox.outbox import Outbox, OutboxWorker
from bridge.inbox.routing import InboxDirectory
from bridge.inbox.service import InboxService, ServiceOptions

log = logging.getLogger(__name__)


class SmsBridge:
    """One smsbridge process. `start()` serves until `stop()`; tests start it on port 0."""

    def __init__(self, settings: Settings, db: Database | None = None) -> None:
        self.settings = settings
        self.db = db or create_database(settings.database_url)
        self.directory = InboxDirectory()
        self.outbox = Outbox(self.db, retry_base=settings.outbox_retry_base, retry_max=settings.outbox_retry_max)
        platforms = frozenset({"slack"} if settings.slack_enabled else set())
        if settings.discord_token:  # Discord adapter (issue 4)
            platforms = platforms | {"discord"}
        self.service = InboxService(
            self.db,
            self.outbox,
            self.directory,
            ServiceOptions(
                reply_prefixes=settings.reply_prefixes(),
                reply_prefix=settings.reply_prefix,
                compliance_replies=settings.compliance_replies,
                undo_seconds=settings.undo_seconds,
                collision_seconds=settings.collision_seconds,
            ),
            chat_platforms=platforms,
            agents=Agents(settings.role_for),
        )
        self.outbox.register("sms.inbound", self.service.process_inbound)
        self.threads = ThreadCommands(self.service)
        self.channel_commands = ChannelCommands(self.service)
        self.actions = Actions(self.service)
        self.state = ChatState(self.db, self.outbox, self.directory)
        self.worker = OutboxWorker(self.outbox, concurrency=settings.outbox_workers, pressure=self.service.intake.busy)
        self.slack_client: AsyncWebClient | None = None
        self._slack_session: aiohttp.ClientSession | None = None
        self.twilio_client: Any = None
        self._media: TwilioMediaFetcher | None = None
        self._socket: Any = None
        self._socket_task: asyncio.Task[None] | None = None
        self.slack_identity: BotIdentity | None = None
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        # Discord adapter (issue 4): REST for the outbox in every process; the gateway
        # only in the process holding the lease.
        self.discord_rest: Any = None
        self.discord_gateway: Any = None

    async def start(self, host: str | None = None, port: int | None = None, *, serve_http: bool = True) -> None:
        await migrate(self.db)
        await self.directory.sync(self.db, self.settings.inboxes())
        self._wire_twilio()
        bolt = self._wire_slack()
        self._wire_discord()
        await self.worker.start()
        if self.discord_gateway is not None:
            await self.discord_gateway.start()
        if bolt is not None and self.settings.slack_app_token:
            from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

            self._socket = AsyncSocketModeHandler(bolt, self.settings.slack_app_token.get_secret_value())
            self._socket_task = asyncio.create_task(self._connect_socket_mode(), name="slack-socket-mode")
        if serve_http:
            await self._serve(bolt, host or self.settings.host, self.settings.port if port is None else port)

    def _wire_twilio(self) -> None:
        s = self.settings
        if not (s.twilio_account_sid and s.twilio_auth_token):
            log.warning("Twilio is not configured: replies wait in the outbox until it is")
            return
        auth_token = s.twilio_auth_token.get_secret_value()
        self.twilio_client = make_client(s.twilio_account_sid, auth_token, s.twilio_api_url)
        SmsDelivery(self.service, TwilioSender(self.twilio_client, s.public_url)).register(self.outbox)
        self._media = TwilioMediaFetcher(s.twilio_account_sid, auth_token, s.twilio_api_url)

    def _wire_slack(self) -> Any:
        s = self.settings
        if not s.slack_enabled or not s.slack_bot_token:
            log.warning("Slack is not configured: conversations are stored and posted once it is")
            return None
        # One HTTP session for every Slack call: without it slack_sdk opens a new
        # connection (and TLS handshake) per API call.
        self._slack_session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=s.slack_timeout))
        self.slack_client = AsyncWebClient(
            token=s.slack_bot_token.get_secret_value(),
            base_url=s.slack_api_url,
            timeout=int(max(1, s.slack_timeout)),
            session=self._slack_session,
            retry_handlers=[AsyncConnectionErrorRetryHandler(max_retry_count=1)],
        )
        pacer = ChannelPacer(interval=s.slack_post_interval, burst=max(1, s.slack_post_burst))
        poster = SlackPoster(self.slack_client, self.state, self._media, pacer)
        poster.register(self.outbox)
        self.slack_identity = BotIdentity(self.slack_client)
        handlers = SlackHandlers(self.threads, self.channel_commands, self.actions, poster, self.state, self.directory)
        bolt = build_bolt_app(self.slack_client, handlers, reveal(s.slack_signing_secret), self.slack_identity)
        answer_listener_errors(bolt)
        only_our_installation(bolt, self.slack_identity)
        return bolt

    def _wire_discord(self) -> None:
        """Discord adapter (issue 4): forum posts through the outbox, gateway under a lease."""
        s = self.settings
        if not s.discord_token:
            return
        from bridge.adapters.discord_bot.events import DiscordHandlers
        from bridge.adapters.discord_bot.gateway import DiscordGateway, point_at
        from bridge.adapters.discord_bot.poster import DiscordPoster, DiscordRest

        point_at(s.discord_api_url, s.discord_gateway_url)
        token = s.discord_token.get_secret_value()
        self.discord_rest = DiscordRest(token)
        poster = DiscordPoster(self.discord_rest, self.state, self._media)
        poster.register(self.outbox)
        handlers = DiscordHandlers(
            self.threads, self.channel_commands, self.actions, poster, self.state, self.directory, reply_prefix=s.reply_prefix
        )
        self.discord_gateway = DiscordGateway(
            self.db, handlers, token, lease_seconds=s.discord_lease_seconds, ready_timeout=s.discord_ready_timeout
        )

    async def _connect_socket_mode(self) -> None:
        """Connect once the bot identity is known, so no event is answered blind."""
        assert self.slack_identity is not None
        delay = 1.0
        while not await self.slack_identity.ensure():
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60.0)
        await self._socket.connect_async()
        log.info("Slack connected over Socket Mode")

    async def _serve(self, bolt: Any, host: str, port: int) -> None:
        secret = reveal(self.settings.slack_signing_secret)
        identity = self.slack_identity
        slack = _slack_route(bolt, secret, identity) if bolt is not None and secret and identity is not None else None

        ctx = WebContext(
            db=self.db,
            service=self.service,
            outbox=self.outbox,
            public_url=self.settings.public_url,
            twilio_auth_token=reveal(self.settings.twilio_auth_token),
            slack=slack,
        )
        self._runner = web.AppRunner(build_web_app(ctx), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port
        log.info("smsbridge listening on http://%s:%s", host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._socket_task is not None:
            self._socket_task.cancel()
            with contextlib.suppress(BaseException):
                await self._socket_task
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close_async()
        if self.discord_gateway is not None:  # Discord adapter (issue 4)
            await self.discord_gateway.stop()
        await self.worker.stop()
        if self.discord_rest is not None:
            await self.discord_rest.close()
        self.outbox.close()
        if self._media is not None:
            await self._media.close()
        if self.twilio_client is not None:
            with contextlib.suppress(Exception):
                await self.twilio_client.http_client.close()
        if self._slack_session is not None:
            await self._slack_session.close()
        await self.db.dispose()


def _slack_route(bolt: Any, secret: str, identity: BotIdentity) -> SlackHandler:
    """POST /slack/events: the guarded receiver in front of bolt."""

    def route(request: web.Request) -> Awaitable[web.StreamResponse]:
        return handle_slack_request(request, bolt, secret, identity)

    return route
