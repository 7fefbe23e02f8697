"""An inbox's SLA targets, as routing carries them (sla.py runs the clocks)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from bridge.inbox.labels import Priority


class SlaClock(StrEnum):
    FIRST_REPLY = "first_reply"
    NEXT_REPLY = "next_reply"
    RESOLUTION = "resolution"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


@dataclass(frozen=True)
class SlaPolicy:
    """SMSBRIDGE_SLA_FIRST_REPLY, _NEXT_REPLY, _RESOLUTION (or `sla_*` in `[[inbox]]`), and
    per priority the targets that differ (SMSBRIDGE_SLA_PRIORITY, `sla_priority`)."""

    first_reply: timedelta | None = None
    next_reply: timedelta | None = None
    resolution: timedelta | None = None
    by_priority: Mapping[Priority, Mapping[SlaClock, timedelta]] = field(default_factory=dict)

    @classmethod
    def of(
        cls, first_reply: timedelta | None, next_reply: timedelta | None, resolution: timedelta | None,
        by_priority: Mapping[str, Mapping[str, timedelta]] | None,
    ) -> SlaPolicy:
        """From the checked settings (priority and clock names as strings)."""
        levels = {Priority.named(level): {SlaClock(c): d for c, d in targets.items()} for level, targets in (by_priority or {}).items()}
        return cls(first_reply, next_reply, resolution, levels)

    def target(self, clock: SlaClock, priority: Priority = Priority.NORMAL) -> timedelta | None:
        """The priority's own target when it has one, else the inbox's."""
        own = self.by_priority.get(priority, {}).get(clock)
        if own is not None:
            return own
        return {SlaClock.FIRST_REPLY: self.first_reply, SlaClock.NEXT_REPLY: self.next_reply, SlaClock.RESOLUTION: self.resolution}[clock]

    def own_target(self, clock: SlaClock, priority: Priority) -> timedelta | None:
        """The target only when the priority sets its own (what the card names)."""
        return self.by_priority.get(priority, {}).get(clock)

    @property
    def any(self) -> bool:
        return bool(self.first_reply or self.next_reply or self.resolution or any(self.by_priority.values()))
