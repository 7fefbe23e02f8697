"""Business hours of an inbox: when it is open, when that changes, and time counted in it.

Hours are wall-clock ranges per weekday in the inbox's IANA time zone
(`"mon-fri 09:00-17:00; sat 10:00-13:00"`), minus whole-day holidays. No hours means
always open (24/7). Every answer is an aware UTC datetime; the local calendar is only
used to lay the ranges out, so DST changes shift them with the wall clock.

A range must end after it starts on the same day ("24:00" ends at midnight). An
overnight shift is written as two ranges that touch at midnight
(`"fri 22:00-24:00; sat 00:00-02:00"`); touching ranges count as one open period.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bridge.inbox.clock import require_aware

HOURS_EXAMPLE = '"mon-fri 09:00-17:00; sat 10:00-13:00"'
HOLIDAYS_EXAMPLE = '"2026-12-25,2027-01-01"'
ZONE_EXAMPLE = '"America/New_York" or "Europe/Paris"'

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_ALIASES: dict[str, int] = {
    **{name: i for i, name in enumerate(DAY_NAMES)},
    **{name: i for i, name in enumerate(_FULL_NAMES)},
    "tues": 1, "wednes": 2, "thur": 3, "thurs": 3,
}  # fmt: skip
_EVERY_DAY = ("daily", "everyday", "every day")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")

_LONGEST_PERIOD = timedelta(days=31)  # see _periods
_LOOKAHEAD = timedelta(days=366)  # next_change gives up after this: "no change"

Range = tuple[time, time | None]  # end None means 24:00 (midnight at the end of the day)


def load_zone(name: str) -> ZoneInfo:
    """The IANA zone `name`; ValueError naming it and showing a valid one otherwise."""
    cleaned = (name or "").strip()
    if not cleaned:
        raise ValueError(f"a time zone is required, e.g. {ZONE_EXAMPLE}")
    try:
        return ZoneInfo(cleaned)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {cleaned!r}; use an IANA name such as {ZONE_EXAMPLE}") from None


def _utc(at: datetime) -> datetime:
    # Aware datetimes sharing a tzinfo subtract as wall clocks (a 25-hour day would
    # count 24): all arithmetic here is on UTC.
    return require_aware(at).astimezone(UTC)


def _bad(problem: str) -> ValueError:
    return ValueError(f"{problem}; write hours like {HOURS_EXAMPLE}")


def _parse_clock(text: str, *, is_end: bool) -> time | None:
    match = _CLOCK.fullmatch(text.strip())
    if not match:
        raise _bad(f"{text.strip()!r} is not a time of day (use 24-hour HH:MM)")
    hour, minute = int(match.group(1)), int(match.group(2))
    if is_end and hour == 24 and minute == 0:
        return None
    if hour > 23 or minute > 59:
        raise _bad(f"{text.strip()!r} is not a time of day (00:00 to 23:59, or 24:00 as an end)")
    return time(hour, minute)


def _parse_days(text: str) -> list[int]:
    cleaned = text.strip().lower()
    if cleaned in _EVERY_DAY:
        return list(range(7))
    days: list[int] = []
    for part in cleaned.split(","):
        bounds = [b.strip() for b in part.split("-")]
        if len(bounds) > 2 or not all(bounds):
            raise _bad(f"{part.strip()!r} is not a day or a day range such as mon-fri")
        for bound in bounds:
            if bound not in _DAY_ALIASES:
                raise _bad(f"{bound!r} is not a day (use mon, tue, wed, thu, fri, sat, sun)")
        first, last = _DAY_ALIASES[bounds[0]], _DAY_ALIASES[bounds[-1]]
        span = (last - first) % 7  # "fri-mon" wraps over the weekend
        days.extend((first + i) % 7 for i in range(span + 1))
    return days


def _parse_range(text: str) -> Range:
    pieces = text.split("-")
    if len(pieces) != 2:
        raise _bad(f"{text.strip()!r} is not a range of times such as 09:00-17:00")
    start = _parse_clock(pieces[0], is_end=False)
    end = _parse_clock(pieces[1], is_end=True)
    assert start is not None  # only an end may be 24:00
    if end is not None and end <= start:
        raise _bad(
            f"{text.strip()!r} ends before it starts; overnight hours are two ranges that meet at"
            ' midnight, e.g. "fri 22:00-24:00; sat 00:00-02:00"'
        )
    return (start, end)


def parse_hours(text: str | None) -> dict[int, tuple[Range, ...]] | None:
    """Weekday (0 = Monday) -> its open ranges; None for unset/blank (always open)."""
    if text is None or not text.strip():
        return None
    week: dict[int, list[Range]] = {}
    for clause in text.split(";"):
        clause = clause.strip()
        if not clause:
            continue
        match = re.fullmatch(r"(.+?)\s+(\d.*)", clause)
        if not match:
            raise _bad(f"{clause!r} needs days then times")
        days, ranges = _parse_days(match.group(1)), [_parse_range(r) for r in match.group(2).split(",")]
        for day in days:
            week.setdefault(day, []).extend(ranges)
    if not week:
        raise _bad(f"{text.strip()!r} names no open hours (leave it unset for always open)")
    return {day: tuple(sorted(ranges, key=lambda r: r[0])) for day, ranges in week.items()}


def parse_holidays(text: str | None) -> frozenset[date]:
    """Comma-separated ISO dates; blank means none."""
    if text is None or not text.strip():
        return frozenset()
    found: set[date] = set()
    for item in re.split(r"[,\s]+", text.strip()):
        if not item:
            continue
        try:
            found.add(date.fromisoformat(item))
        except ValueError:
            raise ValueError(f"{item!r} is not a date (YYYY-MM-DD); write holidays like {HOLIDAYS_EXAMPLE}") from None
    return frozenset(found)


def _local_instant(day: date, at: time | None, zone: ZoneInfo) -> datetime:
    """The UTC instant of wall time `at` on `day` in `zone` (None = the next midnight).

    A wall time skipped by a DST change (02:30 on spring-forward day) is read with the
    offset from before the change, so it lands one hour later on the new clock (03:30).
    """
    if at is None:
        day, at = day + timedelta(days=1), time(0, 0)
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True)
class BusinessHours:
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    week: dict[int, tuple[Range, ...]] | None = None  # None: always open
    holidays: frozenset[date] = frozenset()

    @classmethod
    def parse(cls, hours: str | None, *, timezone: str | None = None, holidays: str | None = None) -> BusinessHours:
        """From the settings' text; ValueError names the problem and shows an example."""
        zone = load_zone(timezone) if timezone is not None and timezone.strip() else ZoneInfo("UTC")
        days_off = parse_holidays(holidays)
        week = parse_hours(hours)
        if hours is None and days_off:
            # Holidays without hours: open around the clock, except on those days
            # (`hours = ""` says always open, holidays or not).
            week = parse_hours("daily 00:00-24:00")
        return cls(zone=zone, week=week, holidays=days_off)

    @property
    def always_open(self) -> bool:
        return self.week is None

    def local(self, at: datetime) -> datetime:
        return require_aware(at).astimezone(self.zone)

    # -- the open periods, laid out in UTC ------------------------------------------

    def _day_periods(self, day: date) -> list[tuple[datetime, datetime]]:
        if self.week is None or day in self.holidays:
            return []
        return [
            (_local_instant(day, start, self.zone), _local_instant(day, end, self.zone))
            for start, end in self.week.get(day.weekday(), ())
        ]

    def _periods(self, since: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open periods that end after `since`, in order, touching ones merged.

        Ends when a horizon is passed with nothing open (every day a holiday), so a
        caller never loops forever.
        """
        day = self.local(since).date() - timedelta(days=1)  # a range may spill past midnight in UTC
        horizon = 7 * (len(self.holidays) + 2)
        idle_days = 0
        current: tuple[datetime, datetime] | None = None
        while idle_days <= horizon:
            periods = self._day_periods(day)
            idle_days = 0 if periods else idle_days + 1
            for start, end in periods:
                if end <= start:
                    continue  # a range swallowed by a DST change
                if current is not None and start <= current[1]:
                    current = (current[0], max(current[1], end))
                    continue
                if current is not None and current[1] > since:
                    yield current
                current = (start, end)
            day += timedelta(days=1)
            if current is not None and current[1] - current[0] > _LONGEST_PERIOD:
                # Open around the clock for weeks: hand out what we have so callers
                # get an answer; the next piece starts exactly where this one ends.
                if current[1] > since:
                    yield current
                current = None
                continue
            # The merged period can still grow only with ranges starting on the next day.
            if current is not None and current[1] < _local_instant(day, time(0, 0), self.zone):
                if current[1] > since:
                    yield current
                current = None
        if current is not None and current[1] > since:
            yield current

    # -- questions --------------------------------------------------------------------

    def is_open(self, at: datetime) -> bool:
        at = _utc(at)
        if self.week is None:
            return True
        for start, end in self._periods(at):
            return start <= at < end
        return False

    def next_change(self, at: datetime) -> datetime | None:
        """When it next opens (if closed at `at`) or closes (if open); None if it never does."""
        at = _utc(at)
        if self.week is None:
            return None
        closing: datetime | None = None
        for start, end in self._periods(at):
            if closing is None:
                if start > at:
                    return start
                closing = end
            elif start > closing:
                return closing
            else:
                closing = end  # a piece of one long period (see _periods)
            if closing - at > _LOOKAHEAD:
                return None
        return closing

    def next_open(self, at: datetime) -> datetime | None:
        """`at` when open then, else when it next opens; None if it never opens again."""
        at = _utc(at)
        if self.week is None:
            return at
        for start, _ in self._periods(at):
            return max(start, at)
        return None

    def business_duration(self, start: datetime, end: datetime) -> timedelta:
        """Open time between `start` and `end` (zero when `end` is not after `start`)."""
        start, end = _utc(start), _utc(end)
        if end <= start:
            return timedelta(0)
        if self.week is None:
            return end - start
        total = timedelta(0)
        for open_at, close_at in self._periods(start):
            if open_at >= end:
                break
            total += min(close_at, end) - max(open_at, start)
        return total

    def add_business_time(self, start: datetime, delta: timedelta) -> datetime:
        """The instant when `delta` of open time has passed since `start`.

        A deadline that runs out exactly at closing time is that closing time, not the
        next opening. ValueError when the hours never open again (all holidays).
        """
        start = _utc(start)
        if delta < timedelta(0):
            raise ValueError("business time can only be added forward")
        if self.week is None or not delta:
            # A zero budget is no time at all, open or not.
            return start + delta
        remaining = delta
        for open_at, close_at in self._periods(start):
            begin = max(open_at, start)
            if remaining <= close_at - begin:
                return begin + remaining
            remaining -= close_at - begin
        raise ValueError("these business hours never open again (every coming day is a holiday)")
