"""Platform-neutral replies that each chat adapter renders (Block Kit, embeds/views)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Button:
    label: str
    action: str  # e.g. "claim", "undo", "approve"
    value: str
    style: str | None = None  # "primary" | "danger"


@dataclass(frozen=True)
class ConversationLink:
    conversation_id: int
    title: str
    detail: str
    at: datetime | None = None


@dataclass(frozen=True)
class CommandReply:
    text: str
    buttons: tuple[Button, ...] = ()
    links: tuple[ConversationLink, ...] = ()
    ok: bool = True
