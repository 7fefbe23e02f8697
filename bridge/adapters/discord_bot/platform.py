"""Discord: conversations as forum posts. Every process posts over REST; the gateway
(events, buttons, app commands) runs only in the process holding its lease."""

from __future__ import annotations

from bridge.adapters.discord_bot.cleanup import DiscordCleaner
from bridge.adapters.discord_bot.events import DiscordHandlers
from bridge.adapters.discord_bot.gateway import DiscordGateway, point_at
from bridge.adapters.discord_bot.poster import DiscordPoster, DiscordRest
from bridge.adapters.platform import Core
from bridge.config import Settings
from bridge.inbox.chat import register_chat_poster
from bridge.inbox.chat_cleanup import register_chat_cleaner


class DiscordPlatform:
    name = "discord"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.rest: DiscordRest | None = None
        self.gateway: DiscordGateway | None = None

    def wire(self, core: Core) -> None:
        s = self.settings
        if not s.discord_token:
            return
        point_at(s.discord_api_url, s.discord_gateway_url)
        token = s.discord_token.get_secret_value()
        self.rest = DiscordRest(token)
        poster = DiscordPoster(self.rest, core.state, core.media)
        register_chat_poster(core.outbox, poster)
        register_chat_cleaner(core.outbox, DiscordCleaner(poster))
        handlers = DiscordHandlers(
            core.threads, core.channel_commands, core.actions, poster, core.state, core.directory, reply_prefix=s.reply_prefix
        )
        self.gateway = DiscordGateway(
            core.db, handlers, token, lease_seconds=s.discord_lease_seconds, ready_timeout=s.discord_ready_timeout
        )

    async def start(self) -> None:
        if self.gateway is not None:
            await self.gateway.start()

    async def stop(self) -> None:
        if self.gateway is not None:
            await self.gateway.stop()
        if self.rest is not None:
            await self.rest.close()
