"""An SLA deadline in words, as cards and the queue show it."""

from __future__ import annotations

from datetime import datetime

from bridge.inbox.durations import spoken


def due_text(due_at: datetime, now: datetime) -> str:
    """What a card or the queue shows: "reply due in 12 min" or "overdue by 5 min"."""
    left = int((due_at - now).total_seconds())
    if left > 0:
        return f"due in {spoken(max(left, 60))}" if left >= 60 else "due in under a minute"
    late = -left
    return f"overdue by {spoken(late)}" if late >= 60 else "overdue by under a minute"
