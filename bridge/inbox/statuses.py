"""Delivery statuses of an outbound SMS, and the rule that they only move forward.

Provider callbacks arrive out of order (PLATFORMS.md): a late "sent" must never
overwrite "delivered".
"""

from __future__ import annotations

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
FAILED = frozenset({"undelivered", "failed", "blocked"})

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


def is_known(status: str) -> bool:
    return status in _RANK


def moves_forward(current: str, new: str) -> bool:
    """True when `new` is a later state than `current` (unknown states never win)."""
    if new not in _RANK or current in FINAL and current != "delivered":
        return False
    return _RANK[new] > _RANK.get(current, -1)


def label(status: str) -> str:
    return LABELS.get(status, status.capitalize())
