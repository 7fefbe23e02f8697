"""What every Slack listener needs: the command layer and teammates' names."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

from slack_sdk.web.async_client import AsyncWebClient

from bridge.adapters.slack.poster import SlackPoster
from bridge.commands.actions import Actions
from bridge.commands.channel import ChannelCommands
from bridge.commands.thread import ThreadCommands
from bridge.inbox.chatstate import ChatState
from bridge.inbox.routing import InboxDirectory
from bridge.inbox.types import Author

log = logging.getLogger(__name__)

MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
NAME_TTL = 3600.0


@dataclass
class SlackHandlers:
    """The command layer the Slack adapter hands events to."""

    threads: ThreadCommands
    channel: ChannelCommands
    actions: Actions
    poster: SlackPoster
    state: ChatState
    directory: InboxDirectory


class UserNames:
    """Display names (and whether the workspace makes them an admin), cached: users.info
    is rate limited (Tier 4)."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._cache: dict[str, tuple[float, str, bool]] = {}

    async def name(self, user_id: str) -> str:
        return (await self.person(user_id))[0]

    async def person(self, user_id: str) -> tuple[str, bool]:
        """The display name and whether the user is a workspace owner or admin."""
        cached = self._cache.get(user_id)
        if cached and cached[0] > time.monotonic():
            return cached[1], cached[2]
        try:
            response = await self.client.users_info(user=user_id)
            user = response.get("user") or {}
            profile = user.get("profile") or {}
            name = profile.get("display_name") or profile.get("real_name") or user.get("real_name") or user.get("name") or user_id
            admin = bool(user.get("is_owner") or user.get("is_admin") or user.get("is_primary_owner"))
        except Exception:  # noqa: BLE001 - attribution must not block a reply
            log.warning("users.info failed for %s; using the id", user_id)
            return user_id, False
        self._cache[user_id] = (time.monotonic() + NAME_TTL, name, admin)
        return name, admin


@dataclass
class ListenerContext:
    handlers: SlackHandlers
    names: UserNames

    async def author(self, user_id: str) -> Author:
        name, admin = await self.names.person(user_id)
        return Author("slack", user_id, name, platform_admin=admin)

    async def mentioned(self, text: str) -> tuple[Author, ...]:
        """The teammates a text mentions (`<@U…>`), with their names."""
        return tuple([await self.author(uid) for uid in dict.fromkeys(MENTION.findall(text))])
