"""Business hours in words, for people: "Open now · closes today 5:00 PM", the weekly
hours and the coming holidays, all in the inbox's time zone (12-hour clock, as
`{next_open}` in auto-replies will read)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from bridge.inbox.hours import DAY_NAMES, BusinessHours, Range

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
UPCOMING_HOLIDAYS = 5


@dataclass(frozen=True)
class HoursStatus:
    open: bool
    state: str  # "Always open", "Open now · closes today 5:00 PM", "Closed · opens Monday 9:00 AM"
    zone: str  # the IANA name, e.g. "America/Chicago"
    weekly: tuple[str, ...]  # "Mon–Fri 9:00 AM–5:00 PM", "Sun closed"; empty when always open
    holidays: tuple[str, ...]  # the next few, "Fri Dec 25, 2026"


def clock_text(at: time | None) -> str:
    """`9:00 AM`, `5:30 PM`; None (24:00, the end of the day) is midnight."""
    if at is None:
        return "midnight"
    suffix = "AM" if at.hour < 12 else "PM"
    return f"{at.hour % 12 or 12}:{at.minute:02d} {suffix}"


def day_and_time(at: datetime, now: datetime) -> str:
    """`at` (already local) said from `now`: "today 5:00 PM", "tonight at midnight",
    "tomorrow 9:00 AM", "Monday 9:00 AM" within the week, "Mon Jan 4 9:00 AM" beyond."""
    days = (at.date() - now.date()).days
    if days == 1 and at.time() == time(0, 0):
        return "tonight at midnight"  # the end of today, not "tomorrow 12:00 AM"
    if days == 0:
        day = "today"
    elif days == 1:
        day = "tomorrow"
    elif 1 < days < 7:
        day = _WEEKDAYS[at.weekday()]
    else:
        day = date_text(at.date(), year=at.year != now.year)
    return f"{day} {clock_text(at.time())}"


def weekday_name(day: date) -> str:
    return _WEEKDAYS[day.weekday()]


def date_text(day: date, *, year: bool) -> str:
    text = f"{_WEEKDAYS[day.weekday()][:3]} {_MONTHS[day.month - 1]} {day.day}"
    return f"{text}, {day.year}" if year else text


def _range_text(ranges: tuple[Range, ...]) -> str:
    return ", ".join(f"{clock_text(start)}–{clock_text(end)}" for start, end in ranges)


def weekly_lines(hours: BusinessHours) -> tuple[str, ...]:
    """Consecutive days with the same hours grouped: "Mon–Fri 9:00 AM–5:00 PM", "Sun closed"."""
    if hours.week is None:
        return ()
    lines: list[str] = []
    day = 0
    while day < 7:
        ranges = hours.week.get(day, ())
        last = day
        while last + 1 < 7 and hours.week.get(last + 1, ()) == ranges:
            last += 1
        names = DAY_NAMES[day].capitalize() + (f"–{DAY_NAMES[last].capitalize()}" if last > day else "")
        lines.append(f"{names} {_range_text(ranges) if ranges else 'closed'}")
        day = last + 1
    return tuple(lines)


def upcoming_holidays(hours: BusinessHours, now: datetime, limit: int = UPCOMING_HOLIDAYS) -> tuple[str, ...]:
    today = hours.local(now).date()
    coming = sorted(day for day in hours.holidays if day >= today)[:limit]
    return tuple(date_text(day, year=True) for day in coming)


def hours_status(hours: BusinessHours, now: datetime) -> HoursStatus:
    """Whether the inbox is open at `now` and when that changes, in its zone."""
    zone = str(hours.zone.key)
    holidays = upcoming_holidays(hours, now)
    if hours.always_open:
        return HoursStatus(True, "Always open", zone, (), holidays)
    local_now = hours.local(now)
    is_open = hours.is_open(now)
    change = hours.next_change(now)
    if is_open:
        state = "Open now · " + (
            f"closes {day_and_time(hours.local(change), local_now)}" if change else "open around the clock"
        )
    else:
        state = "Closed · " + (
            f"opens {day_and_time(hours.local(change), local_now)}" if change else "not open in the coming year"
        )
    return HoursStatus(is_open, state, zone, weekly_lines(hours), holidays)
