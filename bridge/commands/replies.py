"""Platform-neutral replies that each chat adapter renders (Block Kit, embeds/views).

Text is neutral rich text (bridge.inbox.markup): smsbridge's wording with every
teammate- or customer-supplied value kept apart, so each adapter escapes it its own way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bridge.inbox.chat import Button
from bridge.inbox.markup import Rich, Text, as_rich

__all__ = ["Button", "CommandReply", "ConversationLink", "ThreadOutcome", "refusal"]


class ThreadOutcome(StrEnum):
    DUPLICATE = "duplicate"
    NOT_A_CONVERSATION = "not_a_conversation"
    NOTE = "note"
    HELP = "help"
    UNKNOWN_COMMAND = "unknown_command"
    USAGE = "usage"
    DONE = "done"
    REFUSED = "refused"


@dataclass(frozen=True)
class ConversationLink:
    conversation_id: int
    title: str
    detail: str
    at: datetime | None = None


@dataclass(frozen=True)
class CommandReply:
    text: Rich
    buttons: tuple[Button, ...] = ()
    links: tuple[ConversationLink, ...] = ()
    ok: bool = True
    outcome: str = ThreadOutcome.DONE  # a ThreadOutcome or SendOutcome: what the command did


def refusal(text: Text) -> CommandReply:
    """A one-line answer to a request that cannot be done (core texts may still be str)."""
    return CommandReply(as_rich(text), ok=False, outcome=ThreadOutcome.REFUSED)
