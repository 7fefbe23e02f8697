"""Composition root: builds the store, the core, the platforms and the workers."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterable, Sequence

from aiohttp import web

from bridge.adapters.discord_bot.gateway import DiscordGateway
from bridge.adapters.discord_bot.platform import DiscordPlatform
from bridge.adapters.platform import Core, Platform
from bridge.adapters.slack.platform import SlackPlatform
from bridge.adapters.twilio.platform import TwilioPlatform
from bridge.adapters.web import WebContext, build_web_app
from bridge.commands.actions import Actions
from bridge.commands.channel import ChannelCommands
from bridge.commands.thread import ThreadCommands
from bridge.config import Settings, reveal
from bridge.inbox.agents import Agents
from bridge.inbox.assignment import unknown_agents
from bridge.inbox.chatstate import ChatState
from bridge.inbox.clock import Clock
from bridge.inbox.db import Database, create_database, migrate
from bridge.inbox.digest import DigestPlan, Digests, DigestSchedule
from bridge.inbox.inbound import FILE_JOB
from bridge.inbox.outbox import Outbox, OutboxWorker
from bridge.inbox.retention import Retention
from bridge.inbox.routing import InboxDirectory
from bridge.inbox.rules import from_config as rules_from_config
from bridge.inbox.rules import missing_snippets
from bridge.inbox.scheduler import Scheduler
from bridge.inbox.service import InboxService, ServiceOptions
from bridge.inbox.whatsapp import TemplateSpec

log = logging.getLogger(__name__)


class SmsBridge:
    """One smsbridge process. `start()` serves until `stop()`; tests start it on port 0."""

    def __init__(
        self,
        settings: Settings,
        db: Database | None = None,
        *,
        extra_platforms: Sequence[Platform] = (),
        extra_chats: Iterable[str] = (),
    ) -> None:
        """`extra_platforms` (the sandbox's built-in SMS provider and web chat) are wired
        like the others; `extra_chats` names the chat platforms among them."""
        self.settings = settings
        self.db = db or create_database(settings.database_url, pool_size=settings.database_pool_size)
        self.directory = InboxDirectory()
        self.outbox = Outbox(self.db, retry_base=settings.outbox_retry_base, retry_max=settings.outbox_retry_max)
        self.twilio = TwilioPlatform(settings)
        self.slack = SlackPlatform(settings)
        self.discord = DiscordPlatform(settings)
        self.platforms: tuple[Platform, ...] = (self.twilio, self.slack, self.discord, *extra_platforms)
        chats = {"slack"} if settings.slack_enabled else set()
        if settings.discord_token:
            chats.add("discord")
        # Timers (docs/scheduling.md): features register their kinds on it; tests set a
        # ManualClock with use_clock().
        self.scheduler = Scheduler(self.db)
        chats.update(extra_chats)
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
                templates=tuple(
                    TemplateSpec(t.name, t.content_sid, t.variables, t.text) for t in settings.whatsapp_template
                ),
            ),
            chat_platforms=chats,
            agents=Agents(settings.role_for, platform_admins=not settings.admins),
            scheduler=self.scheduler,
        )
        self.service.rules.rules = rules_from_config(settings.rule)
        self.outbox.register(FILE_JOB, self.service.inbound.file_from_job)
        self.state = ChatState(self.db, self.outbox, self.directory)
        self.core = Core(
            settings=settings,
            db=self.db,
            outbox=self.outbox,
            directory=self.directory,
            service=self.service,
            state=self.state,
            threads=ThreadCommands(self.service),
            channel_commands=ChannelCommands(self.service),
            actions=Actions(self.service),
            media=self.twilio.media,
        )
        self.worker = OutboxWorker(self.outbox, concurrency=settings.outbox_workers, pressure=self.service.intake.busy)
        # A process that died may have left timers due that only it knew of.
        self.worker.takeover.on_take_over.append(self.scheduler.wake)
        self.service.sla.register(self.scheduler)  # SLA clocks' warnings and breaches
        self.service.followups.register(self.scheduler, settings.smsbridge_pending_remind)
        self.state.now = lambda: self.scheduler.clock.now()  # cards show clocks in scheduler time
        self.digests = Digests(
            self.scheduler,
            self.service.fanout,
            self.directory,
            [DigestPlan(inbox.name, DigestSchedule.parse(inbox.digest)) for inbox in settings.inboxes() if inbox.digest],
            daily_minimum=settings.smsbridge_agent_daily_minimum,
            overdue_after=settings.smsbridge_sla_first_reply,
        )
        self.digests.register()
        consent_days = settings.smsbridge_consent_retention_days
        self.retention = Retention(  # `check` refuses a retention under a day or past the consent period
            self.scheduler,
            self.outbox,
            self.directory,
            {i.name: i.retention_days for i in settings.inboxes() if i.retention_days and 1 <= i.retention_days <= consent_days},
        )
        self.retention.register()
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    def use_clock(self, clock: Clock) -> None:
        """Where every time-of-day decision reads "now" (tests: a ManualClock; the
        scheduler's before start(), or settle() after the swap)."""
        self.service.use_clock(clock)  # the scheduler's too
        self.core.threads.clock = clock
        self.core.channel_commands.clock = clock

    @property
    def discord_gateway(self) -> DiscordGateway | None:
        return self.discord.gateway

    async def start(self, host: str | None = None, port: int | None = None, *, serve_http: bool = True) -> None:
        await migrate(self.db)
        await self.directory.sync(self.db, self.settings.inboxes())
        await self._warn_unknown_agents()
        await self._check_rules()
        await self._audit_settings()
        for platform in self.platforms:
            platform.wire(self.core)
        await self.worker.start()
        async with self.db.sessions.begin() as session:
            await self.digests.plan(session, self.scheduler.clock.now())
            await self.retention.plan(session, self.scheduler.clock.now())
        await self.scheduler.start()
        for platform in self.platforms:
            await platform.start()
        if serve_http:
            await self._serve(host or self.settings.host, self.settings.port if port is None else port)

    async def _check_rules(self) -> None:
        """A rule naming a snippet that does not exist: said, and no rule runs (never half)."""
        async with self.db.sessions() as session:
            problems = await missing_snippets(session, self.service.rules.rules)
        for problem in problems:
            log.error("[[rule]] %s; no rule runs until it is fixed (add the snippet or change the rule)", problem)
        if problems:
            self.service.rules.rules = ()

    async def _audit_settings(self) -> None:
        """Hours, rules, roles and the other answering settings: a change since the last
        start goes on the audit trail (rule 16)."""
        from bridge.inbox import settings_audit

        current = settings_audit.snapshot(
            self.directory.all(), [rule.describe() for rule in self.service.rules.rules],
            self.settings.admins, self.settings.viewers,
        )
        async with self.db.sessions.begin() as session:
            await settings_audit.record_changes(session, current)

    async def _warn_unknown_agents(self) -> None:
        async with self.db.sessions() as session:
            for inbox in self.directory.all():
                for entry in await unknown_agents(session, inbox.assignment):
                    log.warning(
                        "SMSBRIDGE_AGENTS (inbox %s): %s is not a teammate smsbridge knows; automatic assignment "
                        "skips them until they first use smsbridge", inbox.name, entry,
                    )

    async def _serve(self, host: str, port: int) -> None:
        ctx = WebContext(
            db=self.db,
            service=self.service,
            outbox=self.outbox,
            public_url=self.settings.public_url,
            webhook_key=self.settings.webhook_signing_key(),
            slack=self.slack.http_route(),
            metrics_token=reveal(self.settings.metrics_token),
        )
        app = build_web_app(ctx)
        for platform in self.platforms:
            install = getattr(platform, "install_routes", None)  # a platform with its own pages (the web chat)
            if install is not None:
                install(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port
        log.info("smsbridge listening on http://%s:%s", host, self.port)
        # What start-up built (modules, settings, clients) lives as long as the process:
        # keep it out of the collector's full passes, which otherwise walk all of it
        # again and again under load (a few ms each, in the webhooks' p99).
        gc.freeze()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        await self.scheduler.stop()  # before the worker: a firing timer enqueues jobs
        await self.worker.stop()  # before the platforms close the clients its jobs use
        for platform in reversed(self.platforms):
            await platform.stop()
        self.outbox.close()
        self.scheduler.close()
        await self.db.dispose()
