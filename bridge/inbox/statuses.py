"""Delivery statuses of an outbound SMS, and the rule that they only move forward.

Provider status callbacks can arrive out of order: a late "sent" must never
overwrite "delivered".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridge.inbox.chat import Button
from bridge.inbox.markup import Rich, rich

if TYPE_CHECKING:
    from datetime import datetime

    from bridge.inbox.views import MessageView

# draft/held: waiting for a teammate's decision (approval, "Send anyway").
# pending: in our outbox (maybe in its undo window); submitting: handed to the provider;
# retrying: the provider refused it for now and the outbox tries again.
# blocked/canceled: never left smsbridge (opted out, undone).
_RANK = {
    "draft": -1,
    "held": -1,
    "pending": 0,
    "submitting": 0,
    "retrying": 0,
    "accepted": 1,
    "queued": 1,
    "scheduled": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "read": 5,
    "blocked": 9,
    "canceled": 9,
}

FINAL = frozenset({"delivered", "undelivered", "failed", "read", "blocked", "canceled"})

LABELS = {
    "draft": "Draft",
    "held": "Held",
    "pending": "Queued",
    "submitting": "Queued",
    "retrying": "Retrying",
    "accepted": "Queued",
    "queued": "Queued",
    "scheduled": "Scheduled",
    "sending": "Sending",
    "sent": "Sent",
    "delivered": "Delivered",
    "undelivered": "Not delivered",
    "failed": "Failed",
    "read": "Read",
    "blocked": "Not sent",
    "canceled": "Canceled",
}
# The icon in front of a reply's status line, the same on every chat.
ICONS = {
    "pending": "⏳",
    "submitting": "⏳",
    "retrying": "🔁",
    "accepted": "⏳",
    "queued": "⏳",
    "sending": "📤",
    "sent": "📤",
    "delivered": "✅",
    "read": "👀",
    "undelivered": "❌",
    "failed": "❌",
    "blocked": "🚫",
    "canceled": "↩️",
}


def moves_forward(current: str, new: str) -> bool:
    """True when `new` is a later state than `current` (unknown states never win)."""
    if new not in _RANK or (current in FINAL and current != "delivered"):
        return False
    return _RANK[new] > _RANK.get(current, -1)


def sent_as(view: MessageView) -> str:
    """What a status line calls the message: "SMS", "WhatsApp", "Scheduled SMS"…"""
    medium = "WhatsApp" if view.channel == "whatsapp" else "SMS"
    return f"Scheduled {medium}" if view.kind == "scheduled" else medium


def label(status: str) -> str:
    return LABELS.get(status, status.capitalize())


def icon(status: str) -> str:
    return ICONS.get(status, "•")


def delivery_state(view: MessageView, now: datetime | None = None) -> tuple[str, str]:
    """(state, cost) of a reply in plain words, for every chat's status line:
    ("Sending in 4 s", "") · ("Retrying (Twilio 500), attempt 3", "") · ("Not delivered: <reason>", "")
    · ("Queued", " · 2 segments (Unicode)")."""
    state = label(view.status)
    if view.status == "pending" and view.send_after is not None and now is not None and view.send_after > now:
        state = f"Sending in {max(1, round((view.send_after - now).total_seconds()))} s"
    if view.status == "retrying":
        why = f" ({view.error_text})" if view.error_text else ""
        state = f"{state}{why}, attempt {view.send_attempts or 1}"
    if view.status in ("failed", "undelivered", "blocked", "canceled") and view.error_text:
        state = f"{state}: {view.error_text}"
    cost = ""
    if view.segments and view.status not in ("blocked", "canceled"):
        cost = f" · {view.segments} segment{'s' if view.segments != 1 else ''}"
        if view.encoding == "UCS-2":
            cost += " (Unicode)"
    files = len(view.media or [])
    if view.direction == "out" and files:
        cost += f" · {files} attachment{'s' if files != 1 else ''}" + ("" if view.channel == "whatsapp" else " (MMS)")
    return state, cost


def status_buttons(view: MessageView, now: datetime) -> tuple[Button, ...]:
    """Undo, while a reply waits in its undo window."""
    if view.status == "pending" and view.send_after is not None and view.send_after > now:
        return (Button("Undo", "undo", str(view.id), "danger"),)
    return ()


def draft_heading(view: MessageView) -> Rich:
    author = view.author_name or "a teammate"
    if view.status == "draft":
        return rich("📝 **Draft by {author}** — waiting for approval", author=author)
    if view.status == "canceled":
        return rich("🗑️ Draft by {author} discarded", author=author)
    return rich("✅ Draft by {author} approved — {state}", author=author, state=label(view.status))


def draft_buttons(view: MessageView) -> tuple[Button, ...]:
    if view.status != "draft":
        return ()
    value = str(view.id)
    return (
        Button("Approve & send", "approve", value, "primary"),
        Button("Edit", "edit", value),
        Button("Discard", "discard", value, "danger"),
    )
