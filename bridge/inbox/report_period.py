"""Report periods: `today`, `7d`, `30d`, `24h`, `2w` or `FROM..TO` dates, in an inbox's time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

PERIOD_HELP = "today, 24h, 7d, 30d, 2w or FROM..TO dates (e.g. 2026-11-01..2026-12-01, TO not included)"
_SPAN = re.compile(r"^(\d{1,4})([hdw])$")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")
_UNIT_SECONDS = {"h": 3600, "d": 86400, "w": 7 * 86400}
MAX_DAYS = 366


class BadPeriod(ValueError):
    def __init__(self, text: str, why: str = "") -> None:
        super().__init__(f"unknown period {text!r}{f' ({why})' if why else ''}; use {PERIOD_HELP}")


@dataclass(frozen=True)
class Period:
    """[since, until) in UTC, with the words and zone it was asked in."""

    since: datetime
    until: datetime
    label: str
    zone: ZoneInfo


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(UTC)


def parse_period(text: str | None, zone: ZoneInfo, now: datetime) -> Period:
    """Raise BadPeriod naming what is valid."""
    raw = (text or "7d").strip().lower()
    if raw == "today":
        today = now.astimezone(zone).date()
        return Period(_local_midnight(today, zone), now, "today", zone)
    span = _SPAN.match(raw)
    if span:
        seconds = int(span[1]) * _UNIT_SECONDS[span[2]]
        if not 0 < seconds <= MAX_DAYS * 86400:
            raise BadPeriod(raw, f"at most {MAX_DAYS} days")
        return Period(now - timedelta(seconds=seconds), now, f"last {raw}", zone)
    dates = _RANGE.match(raw)
    if dates:
        try:
            first, last = date.fromisoformat(dates[1]), date.fromisoformat(dates[2])
        except ValueError:
            raise BadPeriod(raw, "not a calendar date") from None
        if not first < last:
            raise BadPeriod(raw, "FROM must be before TO")
        if (last - first).days > MAX_DAYS:
            raise BadPeriod(raw, f"at most {MAX_DAYS} days")
        return Period(_local_midnight(first, zone), _local_midnight(last, zone), f"{first}..{last}", zone)
    raise BadPeriod(raw)
