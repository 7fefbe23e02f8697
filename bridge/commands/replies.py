"""Platform-neutral replies that each chat adapter renders (Block Kit, embeds/views)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bridge.inbox.chat import Button
from bridge.inbox.markup import Text

__all__ = ["Button", "CommandReply", "ConversationLink"]


@dataclass(frozen=True)
class ConversationLink:
    conversation_id: int
    title: str
    detail: str
    at: datetime | None = None


@dataclass(frozen=True)
class CommandReply:
    text: Text  # a bare str is shown as it is written
    buttons: tuple[Button, ...] = ()
    links: tuple[ConversationLink, ...] = ()
    ok: bool = True
