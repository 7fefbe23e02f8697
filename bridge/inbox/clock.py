"""Time as a dependency: the system clock in production, a hand-driven clock in tests.

Everything that decides by the time of day (the scheduler, business hours, quiet hours)
takes a `Clock`, so tests move time forward instead of sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import UTC, datetime, timedelta
from typing import Protocol

# A long sleep is cut into slices, so a wall-clock jump (NTP, a suspended laptop) is
# noticed within this many seconds instead of after the whole original delay.
MAX_SLEEP_SLICE = 60.0


def require_aware(at: datetime, what: str = "time") -> datetime:
    """`at` itself; a naive datetime is a bug here (it has no defined instant)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {at.isoformat()}")
    return at


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...

    async def sleep_until(self, when: datetime) -> None:
        """Return once `now() >= when` (at once when it already is)."""
        ...


class SystemClock:
    """The real time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime) -> None:
        require_aware(when, "wake-up time")
        while True:
            remaining = (when - self.now()).total_seconds()
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, MAX_SLEEP_SLICE))


class ManualClock:
    """A clock that moves only when told (`advance`, `set`), waking its sleepers then."""

    def __init__(self, start: datetime | None = None) -> None:
        initial = start if start is not None else datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
        self._now = require_aware(initial, "start").astimezone(UTC)
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> datetime:
        return self._now

    async def sleep_until(self, when: datetime) -> None:
        require_aware(when, "wake-up time")
        if when <= self._now:
            await asyncio.sleep(0)  # still a suspension point, as a real sleep would be
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (when, next(self._order), future))
        await future

    def advance(self, delta: timedelta | float) -> datetime:
        """Move forward by `delta` (seconds when a number); returns the new time."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        if step < timedelta(0):
            raise ValueError("a clock only moves forward; use set() to go back")
        return self.set(self._now + step)

    def set(self, when: datetime) -> datetime:
        """Jump to `when` (backwards too, as a wall clock can); wakes every due sleeper."""
        self._now = require_aware(when, "time").astimezone(UTC)
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)
        return self._now

    @property
    def sleepers(self) -> int:
        """How many sleepers wait (tests use it to know a loop went to sleep)."""
        return sum(1 for _, _, future in self._sleepers if not future.done())
