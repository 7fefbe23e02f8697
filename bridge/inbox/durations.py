"""Short durations as people write them in settings: "20s", "15m", "4h", "2d", "1h30m"."""

from __future__ import annotations

import re
from datetime import timedelta

EXAMPLES = '"20s", "15m", "4h", "2d" or "1h30m"'
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
_ORDER = "wdhms"
_PART = re.compile(r"(\d+)\s*([a-z]+)")
_WHOLE = re.compile(r"(?:\d+\s*[a-z]+\s*)+")
_ALIASES = {
    "w": "w", "wk": "w", "week": "w", "weeks": "w",
    "d": "d", "day": "d", "days": "d",
    "h": "h", "hr": "h", "hrs": "h", "hour": "h", "hours": "h",
    "m": "m", "min": "m", "mins": "m", "minute": "m", "minutes": "m",
    "s": "s", "sec": "s", "secs": "s", "second": "s", "seconds": "s",
}  # fmt: skip


def parse_duration(text: str) -> timedelta:
    """The duration `text` names; ValueError with a correct example when it names none."""
    cleaned = text.strip().lower() if isinstance(text, str) else ""
    if not cleaned:
        raise ValueError(f"a duration is required, e.g. {EXAMPLES}")
    if re.fullmatch(r"\d+", cleaned):
        raise ValueError(f"{text.strip()!r} has no unit; write e.g. \"{cleaned}m\" for minutes ({EXAMPLES})")
    if re.search(r"\d[.,]\d", cleaned):
        raise ValueError(f"{text.strip()!r}: use whole numbers, e.g. \"1h30m\" rather than \"1.5h\"")
    if not _WHOLE.fullmatch(cleaned):
        raise ValueError(f"{text.strip()!r} is not a duration; write e.g. {EXAMPLES}")
    seen: list[str] = []
    total = timedelta(0)
    for amount, unit in _PART.findall(cleaned):
        canonical = _ALIASES.get(unit)
        if canonical is None:
            raise ValueError(f"{text.strip()!r}: unknown unit {unit!r}; use s, m, h, d or w ({EXAMPLES})")
        if canonical in seen:
            raise ValueError(f"{text.strip()!r} gives {unit!r} twice; write e.g. {EXAMPLES}")
        if seen and _ORDER.index(canonical) < _ORDER.index(seen[-1]):
            raise ValueError(f"{text.strip()!r}: put larger units first, e.g. \"1h30m\"")
        seen.append(canonical)
        total += timedelta(**{_UNITS[canonical]: int(amount)})
    if total <= timedelta(0):
        raise ValueError(f"{text.strip()!r} is zero; a duration must be longer, e.g. {EXAMPLES}")
    return total


def format_duration(delta: timedelta) -> str:
    """Compact and exact: 5400 s -> "1h30m", 2 days -> "2d", 45 s -> "45s"."""
    seconds = int(abs(delta).total_seconds())
    if seconds == 0:
        return "0s"
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return ("-" if delta < timedelta(0) else "") + "".join(parts)


def spoken(seconds: int) -> str:
    """Rounded for people, two units at most: "45 s", "12 min", "3 h 5 min", "2 d 4 h"."""
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"
