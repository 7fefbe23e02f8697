"""The Discord gateway inside `smsbridge run`: connected only while this process holds
the `discord-gateway` lease, so several smsbridge processes never receive (and act on)
every event twice.

A missing privileged intent (close code 4014) never stops smsbridge: the log says
exactly what to enable, and the bot reconnects without MESSAGE_CONTENT, so buttons
and app commands keep working while `!` commands and notes cannot be read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import discord
from discord import app_commands

from bridge import metrics
from bridge.adapters.discord_bot.commands import add_commands
from bridge.adapters.discord_bot.components import DYNAMIC_ITEMS
from bridge.adapters.discord_bot.events import DiscordHandlers
from bridge.inbox.db import Database
from bridge.inbox.lease import LeaseKeeper

log = logging.getLogger(__name__)

LEASE_NAME = "discord-gateway"
INTENT_HELP = (
    "Discord refused the MESSAGE_CONTENT intent (close code 4014): enable it in the Developer Portal → "
    "your application → Bot → Privileged Gateway Intents → Message Content Intent. Until then notes and "
    "`!` commands in posts cannot be read; buttons and app commands (/reply, /claim, …) still work."
)

# What the bot needs in each inbox forum, and why (names as discord.Permissions spells them).
REQUIRED_PERMISSIONS: dict[str, str] = {
    "view_channel": "see the forum",
    "send_messages": "open forum posts",
    "send_messages_in_threads": "post in conversations",
    "create_public_threads": "open forum posts",
    "manage_threads": "set status tags and reopen archived posts",
    "embed_links": "show the conversation card",
    "attach_files": "show MMS pictures",
    "read_message_history": "find its own posts after a restart",
    "add_reactions": "mark delivery state",
}
OPTIONAL_PERMISSIONS: dict[str, str] = {
    "manage_channels": "create the status tags New/Open/Pending/Escalated/Closed (or create them by hand)",
}


def bot_permissions() -> discord.Permissions:
    """The permissions integer of the invite URL."""
    return discord.Permissions(**{name: True for name in (*REQUIRED_PERMISSIONS, *OPTIONAL_PERMISSIONS)})


def intents(message_content: bool = True) -> discord.Intents:
    value = discord.Intents.none()
    value.guilds = True
    value.guild_messages = True
    value.message_content = message_content
    return value


def missing_permissions(forum: discord.ForumChannel, me: discord.Member) -> tuple[list[str], list[str]]:
    granted = forum.permissions_for(me)
    required = [name for name in REQUIRED_PERMISSIONS if not getattr(granted, name)]
    optional = [name for name in OPTIONAL_PERMISSIONS if not getattr(granted, name)]
    return required, optional


def permission_label(name: str) -> str:
    return name.replace("_", " ").title().replace("In Threads", "in Threads")


class GatewayClient(discord.Client):
    def __init__(self, handlers: DiscordHandlers, *, message_content: bool, ready_timeout: float) -> None:
        super().__init__(intents=intents(message_content), guild_ready_timeout=ready_timeout)
        self.handlers = handlers
        self.tree: app_commands.CommandTree[Any] = app_commands.CommandTree(self)
        add_commands(self.tree, handlers)

    async def setup_hook(self) -> None:
        # Buttons and pickers on any post, matched by their custom_id template.
        self.add_dynamic_items(*DYNAMIC_ITEMS)

    async def on_ready(self) -> None:
        metrics.set_discord_state("ready")
        log.info("Discord connected as %s", self.user)
        for forum_id in self.handlers.forums():
            channel = self.get_channel(int(forum_id))
            if channel is None:
                log.error("Discord: channel %s is not visible to the bot (wrong id, or no View Channel permission)", forum_id)
                continue
            if not isinstance(channel, discord.ForumChannel):
                log.error("Discord: channel %s (#%s) is not a forum channel; conversations need a forum", forum_id, channel)
                continue
            me = channel.guild.me
            if me is None:
                continue
            required, optional = missing_permissions(channel, me)
            if required:
                log.error(
                    "Discord: the bot lacks %s in #%s; grant them (see README → Discord bot)",
                    ", ".join(permission_label(p) for p in required), channel.name,
                )
            for name in optional:
                log.warning("Discord: without %s in #%s smsbridge cannot %s", permission_label(name), channel.name, OPTIONAL_PERMISSIONS[name])

    async def on_resumed(self) -> None:
        metrics.set_discord_state("ready")

    async def on_disconnect(self) -> None:
        metrics.set_discord_state("disconnected")  # discord.py reconnects by itself

    async def on_message(self, message: discord.Message) -> None:
        try:
            await self.handlers.on_message(message, self)
        except Exception:
            log.exception("handling Discord message %s failed", message.id)

    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        try:
            await self.handlers.on_edit(payload.message, self)
        except Exception:
            log.exception("handling the edit of Discord message %s failed", payload.message_id)

    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        try:
            await self.handlers.on_delete(payload.channel_id, payload.message_id)
        except Exception:
            log.exception("handling the deletion of Discord message %s failed", payload.message_id)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        try:
            await self.handlers.on_interaction(interaction)
        except Exception:
            log.exception("handling Discord interaction %s failed", interaction.id)


class DiscordGateway:
    """Keeps the gateway connected exactly while this process holds the lease."""

    def __init__(
        self, db: Database, handlers: DiscordHandlers, token: str, *, lease_seconds: float = 30.0, ready_timeout: float = 1.0
    ) -> None:
        self.handlers = handlers
        self.token = token
        self.ready_timeout = ready_timeout
        self.lease = LeaseKeeper(db, LEASE_NAME, ttl=lease_seconds, on_acquired=self._connect, on_lost=self._disconnect)
        self.client: GatewayClient | None = None
        self._task: asyncio.Task[None] | None = None
        self.message_content = True

    async def start(self) -> None:
        metrics.set_discord_state("standby")  # until this process holds the lease
        await self.lease.start()

    async def stop(self, *, release: bool = True) -> None:
        """Disconnect and hand the lease over (`release=False`: as if this process died)."""
        await self.lease.stop(release=release)
        await self._disconnect()

    async def _connect(self) -> None:
        if self._task is None or self._task.done():
            metrics.set_discord_state("connecting")
            self._task = asyncio.create_task(self._run(), name="discord-gateway")

    async def _disconnect(self) -> None:
        task, self._task = self._task, None
        client, self.client = self.client, None
        metrics.set_discord_state("standby")
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task

    async def _run(self) -> None:
        delay = 5.0
        while True:
            client = GatewayClient(self.handlers, message_content=self.message_content, ready_timeout=self.ready_timeout)
            self.client = client
            self.handlers.content_intent = self.message_content
            try:
                await client.start(self.token)
                return  # closed on purpose
            except discord.PrivilegedIntentsRequired:
                log.error(INTENT_HELP)
                self.message_content = False
                delay = 0.0
            except discord.LoginFailure:
                log.error("Discord refused DISCORD_TOKEN: copy the bot token from the Developer Portal → Bot → Reset Token")
                delay = 300.0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Discord down: Slack and SMS keep working
                log.warning("Discord gateway failed (%s); reconnecting in %.0f s", exc, delay)
            finally:
                with contextlib.suppress(Exception):
                    await client.close()
            metrics.set_discord_state("disconnected")
            await asyncio.sleep(delay)
            delay = min(max(delay * 2, 5.0), 300.0)


def point_at(api_url: str | None, gateway_url: str | None) -> None:
    """DISCORD_API_URL / DISCORD_GATEWAY_URL (process-wide in discord.py)."""
    if api_url:
        from discord.http import Route

        Route.BASE = api_url.rstrip("/")
    if gateway_url:
        import yarl
        from discord.gateway import DiscordWebSocket

        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
