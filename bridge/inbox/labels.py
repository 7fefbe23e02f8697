"""Conversation status and priority: one table of values, labels and icons for every chat.

Delivery states of a reply (queued, sent, delivered...) live in `statuses.py`.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class ConversationStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    ESCALATED = "escalated"
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return self.value.capitalize()

    @property
    def icon(self) -> str:
        return _STATUS_ICONS[self]

    @property
    def badge(self) -> str:
        """Icon and label, as the card shows it: "🟢 Open"."""
        return f"{self.icon} {self.label}"

    @classmethod
    def settable(cls) -> tuple[ConversationStatus, ...]:
        """What a teammate may set (a conversation is `new` only until someone acts)."""
        return tuple(s for s in cls if s is not cls.NEW)


_STATUS_ICONS = {
    ConversationStatus.NEW: "🆕",
    ConversationStatus.OPEN: "🟢",
    ConversationStatus.PENDING: "⏳",
    ConversationStatus.ESCALATED: "🔺",
    ConversationStatus.CLOSED: "✅",
}


class Priority(IntEnum):
    LOW = -1
    NORMAL = 0
    HIGH = 1
    URGENT = 2

    @property
    def label(self) -> str:
        return self.name.capitalize()

    @property
    def icon(self) -> str:
        return _PRIORITY_ICONS[self]

    @property
    def badge(self) -> str:
        return f"{self.icon} {self.label}" if self.icon else self.label

    @classmethod
    def named(cls, name: str) -> Priority:
        """`low|normal|high|urgent`, any case; KeyError otherwise."""
        return cls[name.strip().upper()]

    @classmethod
    def of(cls, value: int) -> Priority:
        """A stored value, clamped into the known range."""
        return cls(max(min(value, cls.URGENT), cls.LOW))


_PRIORITY_ICONS = {Priority.LOW: "", Priority.NORMAL: "", Priority.HIGH: "🔸", Priority.URGENT: "🔴"}


def status_of(value: str) -> ConversationStatus | None:
    try:
        return ConversationStatus(value.strip().lower())
    except ValueError:
        return None
