"""Delivery statuses of an outbound SMS, and the rule that they only move forward.

Provider status callbacks can arrive out of order: a late "sent" must never
overwrite "delivered".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

    from bridge.inbox.views import MessageView

# draft/held: waiting for a teammate's decision (approval, "Send anyway").
# pending: in our outbox (maybe in its undo window); submitting: handed to the provider.
# blocked/canceled: never left smsbridge (opted out, undone).
_RANK = {
    "draft": -1,
    "held": -1,
    "pending": 0,
    "submitting": 0,
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



def moves_forward(current: str, new: str) -> bool:
    """True when `new` is a later state than `current` (unknown states never win)."""
    if new not in _RANK or current in FINAL and current != "delivered":
        return False
    return _RANK[new] > _RANK.get(current, -1)


def label(status: str) -> str:
    return LABELS.get(status, status.capitalize())


def delivery_state(view: MessageView, now: datetime | None = None) -> tuple[str, str]:
    """(state, cost) of a reply in plain words, for every chat's status line:
    ("Sending in 4 s", "") · ("Not delivered: <reason>", "") · ("Queued", " · 2 segments (Unicode)")."""
    state = label(view.status)
    if view.status == "pending" and view.send_after is not None and now is not None and view.send_after > now:
        state = f"Sending in {max(1, round((view.send_after - now).total_seconds()))} s"
    if view.status in ("failed", "undelivered", "blocked", "canceled") and view.error_text:
        state = f"{state}: {view.error_text}"
    cost = ""
    if view.segments and view.status not in ("blocked", "canceled"):
        cost = f" · {view.segments} segment{'s' if view.segments != 1 else ''}"
        if view.encoding == "UCS-2":
            cost += " (Unicode)"
    return state, cost


def status_buttons(view: MessageView, now: datetime) -> list[dict[str, str]] | None:
    """Undo, while a reply waits in its undo window."""
    if view.status == "pending" and view.send_after is not None and view.send_after > now:
        return [{"label": "Undo", "action": "undo", "value": str(view.id), "style": "danger"}]
    return None


def draft_heading(view: MessageView, author: str, bold: str) -> str:
    """`bold` is the chat's bold marker ("*" in Slack, "**" in Discord)."""
    if view.status == "draft":
        return f"📝 {bold}Draft by {author}{bold} — waiting for approval"
    if view.status == "canceled":
        return f"🗑️ Draft by {author} discarded"
    return f"✅ Draft by {author} approved — {label(view.status)}"


def draft_buttons(view: MessageView) -> list[dict[str, str]] | None:
    if view.status != "draft":
        return None
    value = str(view.id)
    return [
        {"label": "Approve & send", "action": "approve", "value": value, "style": "primary"},
        {"label": "Edit", "action": "edit", "value": value},
        {"label": "Discard", "action": "discard", "value": value, "style": "danger"},
    ]
