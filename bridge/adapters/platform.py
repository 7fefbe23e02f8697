"""What the composition root gives each platform adapter, and what it asks of one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bridge.commands.actions import Actions
from bridge.commands.channel import ChannelCommands
from bridge.commands.thread import ThreadCommands
from bridge.config import Settings
from bridge.inbox.chatstate import ChatState
from bridge.inbox.db import Database
from bridge.inbox.outbox import Outbox
from bridge.inbox.routing import InboxDirectory
from bridge.inbox.service import InboxService
from bridge.inbox.types import MediaFetcher


@dataclass(frozen=True)
class Core:
    """The store, the inbox core and the command layer: everything an adapter calls."""

    settings: Settings
    db: Database
    outbox: Outbox
    directory: InboxDirectory
    service: InboxService
    state: ChatState
    threads: ThreadCommands
    channel_commands: ChannelCommands
    actions: Actions
    # The SMS provider's downloader of inbound attachments (MMS), when one is configured:
    # chat adapters upload what it fetches.
    media: MediaFetcher | None


class Platform(Protocol):
    """One platform (an SMS provider or a chat): wired once, then started and stopped.

    `wire` registers the platform's outbox jobs and builds its clients (inside the
    running event loop); `start` connects what must stay connected (sockets,
    gateways); `stop` closes everything `wire` and `start` opened.
    """

    name: str

    def wire(self, core: Core) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...
