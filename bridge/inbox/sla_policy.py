"""An inbox's SLA targets, as routing carries them (sla.py runs the clocks)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum


class SlaClock(StrEnum):
    FIRST_REPLY = "first_reply"
    NEXT_REPLY = "next_reply"
    RESOLUTION = "resolution"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


@dataclass(frozen=True)
class SlaPolicy:
    """SMSBRIDGE_SLA_FIRST_REPLY, _NEXT_REPLY, _RESOLUTION (or `sla_*` in `[[inbox]]`)."""

    first_reply: timedelta | None = None
    next_reply: timedelta | None = None
    resolution: timedelta | None = None

    def target(self, clock: SlaClock) -> timedelta | None:
        return {SlaClock.FIRST_REPLY: self.first_reply, SlaClock.NEXT_REPLY: self.next_reply, SlaClock.RESOLUTION: self.resolution}[clock]

    @property
    def any(self) -> bool:
        return bool(self.first_reply or self.next_reply or self.resolution)
