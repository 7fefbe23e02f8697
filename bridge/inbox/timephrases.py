"""Times people type ("tomorrow 9am", "in 2 hours", "next monday", "2026-12-01 14:00").

A clock time alone ("9am") is its next occurrence: tomorrow when it has passed today.

Read with dateparser, relative to a given now, in a given IANA zone (the contact's for
`!later`, the teammate's or the inbox's for reminders), and returned as aware UTC. Past
times and text that is not a time are refused with examples.

`split_when("tomorrow 9am Your order is ready")` finds the longest leading phrase that
is a time. dateparser skips words it does not know ("tomorrow 9am the" reads as
"tomorrow 9am"), so a phrase must also *end* like a time (a clock time, a day, a unit,
a date): "the", "a" or a bare number never close the time part.

A calendar day without a clock time ("tomorrow", "next monday", "2026-12-01") means
09:00 that day, not midnight.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bridge.inbox.clock import require_aware
from bridge.inbox.hours import load_zone

EXAMPLES = '"tomorrow 9am", "in 2 hours", "next monday" or "2026-12-01 14:00"'
DEFAULT_TIME = time(9, 0)
MAX_AHEAD = timedelta(days=366)
MAX_PHRASE_WORDS = 6

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
           "january", "february", "march", "april", "june", "july", "august", "september", "october",
           "november", "december")  # fmt: skip
_DAYS = ("mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun", "monday", "tuesday",
         "wednesday", "thursday", "friday", "saturday", "sunday")  # fmt: skip
_UNITS = ("second", "seconds", "sec", "secs", "minute", "minutes", "min", "mins", "hour", "hours", "hr", "hrs",
          "day", "days", "week", "weeks", "month", "months", "year", "years")  # fmt: skip
_TIME_WORDS = ("noon", "midnight", "morning", "afternoon", "evening", "tonight")
_DAY_WORDS = ("today", "tomorrow", "yesterday", "weekend", "ago")
_ENDINGS = frozenset((*_MONTHS, *_DAYS, *_UNITS, *_TIME_WORDS, *_DAY_WORDS))

_CLOCK_TOKEN = re.compile(r"\d{1,2}(:\d{2})?\s*(am|pm|a\.m\.|p\.m\.)|\d{1,2}:\d{2}")
_DATE_TOKEN = re.compile(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}(/\d{2,4})?|\d{1,2}(st|nd|rd|th)")
_SHORT_SPAN = re.compile(r"\d+(s|m|h|d|w|min|mins|hr|hrs)")
_TRAILING_PUNCTUATION = ".,;:!?"


class TimePhraseError(ValueError):
    """The user's time cannot be used; the message says why and shows examples."""


@dataclass(frozen=True)
class When:
    at: datetime  # aware UTC
    local: datetime  # the same instant in the zone it was read in
    phrase: str  # the words that named it


def _token(word: str) -> str:
    return word.lower().rstrip(_TRAILING_PUNCTUATION)


def _ends_like_a_time(words: list[str]) -> bool:
    last = _token(words[-1])
    if last in _ENDINGS or _CLOCK_TOKEN.fullmatch(last) or _DATE_TOKEN.fullmatch(last) or _SHORT_SPAN.fullmatch(last):
        return True
    # A bare number is a day only right after a month ("dec 24"); "in 2" or "5" are not times.
    return last.isdigit() and len(words) > 1 and _token(words[-2]) in _MONTHS


def _has_clock_time(words: list[str]) -> bool:
    """Whether the phrase names a time of day or an offset ("in 2 hours"), not just a day."""
    tokens = [_token(w) for w in words]
    if tokens and tokens[0] == "in":
        return True
    return any(
        t in _TIME_WORDS or _CLOCK_TOKEN.fullmatch(t) or _SHORT_SPAN.fullmatch(t) or t in ("now", "ago")
        for t in tokens
    )


def _names_a_day(words: list[str]) -> bool:
    day_words = (*_MONTHS, *_DAYS, *_DAY_WORDS, "week", "month", "year")
    return any(_token(w) in day_words or _DATE_TOKEN.fullmatch(_token(w)) for w in words)


def _is_offset(words: list[str]) -> bool:
    """ "in 2 hours", "3 days ago": an amount of real time from now, not a wall-clock time."""
    tokens = [_token(w) for w in words]
    return bool(tokens) and (tokens[0] == "in" or tokens[-1] == "ago")


def _dateparse(words: list[str], now: datetime, zone: ZoneInfo) -> datetime | None:
    """Read in wall-clock terms and attach the zone ourselves: dateparser applies the
    offset of *now* to the result, an hour off when a DST change lies in between."""
    import dateparser  # loaded late: its language data is slow

    offset = _is_offset(words)
    time_only = not offset and not _names_a_day(words)
    base = now.astimezone(UTC if offset else zone).replace(tzinfo=None)
    # dateparser's "future" preference misreads a bare past time ("9am" at 10:00 became
    # the 1st of the month): read it as today, then roll it to tomorrow ourselves.
    settings = {
        "RELATIVE_BASE": base,
        "PREFER_DATES_FROM": "current_period" if time_only else "future",
        "RETURN_AS_TIMEZONE_AWARE": False,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # dateparser's own, not ours
        parsed: datetime | None = dateparser.parse(" ".join(words), languages=["en"], settings=settings)
    if parsed is None:
        return None
    if time_only and parsed.tzinfo is None and parsed <= base:
        parsed += timedelta(days=1)  # a wall-clock day: the zone is attached below
    if parsed.tzinfo is not None:  # the phrase named its own zone ("9am UTC")
        return parsed.astimezone(UTC)
    return parsed.replace(tzinfo=UTC if offset else zone).astimezone(UTC)


def _read(words: list[str], now: datetime, zone: ZoneInfo) -> datetime | None:
    if not words or not _ends_like_a_time(words):
        return None
    at = _dateparse(words, now, zone)
    if at is None:
        return None
    local = at.astimezone(zone)
    if not _has_clock_time(words):
        # dateparser puts a bare day at midnight or at now's clock time; neither is meant.
        at = datetime.combine(local.date(), DEFAULT_TIME, tzinfo=zone).astimezone(UTC)
    return at


def describe_local(at: datetime, zone: ZoneInfo) -> str:
    """E.g. "Tue 1 Dec 2026 09:00 (America/New_York)"."""
    local = at.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b %Y %H:%M} ({zone.key})"


def _check(at: datetime, now: datetime, zone: ZoneInfo, phrase: str) -> When:
    if at <= now:
        raise TimePhraseError(f'"{phrase}" is {describe_local(at, zone)}, which has passed; try {EXAMPLES}.')
    if at - now > MAX_AHEAD:
        raise TimePhraseError(f'"{phrase}" is {describe_local(at, zone)}, more than a year ahead; try {EXAMPLES}.')
    return When(at=at, local=at.astimezone(zone), phrase=phrase)


def parse_when(text: str, now: datetime, zone: str | ZoneInfo) -> When:
    """The future instant `text` names, read in `zone` relative to `now`."""
    require_aware(now)
    tz = zone if isinstance(zone, ZoneInfo) else load_zone(zone)
    words = text.split()
    if not words:
        raise TimePhraseError(f"Say when, e.g. {EXAMPLES}.")
    at = _read(words, now, tz)
    if at is None:
        raise TimePhraseError(f'"{text.strip()}" is not a time I can read; try {EXAMPLES}.')
    return _check(at, now, tz, " ".join(words))


def split_when(text: str, now: datetime, zone: str | ZoneInfo, *, text_required: bool = True) -> tuple[When, str]:
    """("WHEN", "TEXT") from "WHEN TEXT": the longest leading phrase that is a time.

    For `!later tomorrow 9am Your order is ready` that is tomorrow 09:00 and
    "Your order is ready". The text keeps its own spacing and lines.
    """
    require_aware(now)
    tz = zone if isinstance(zone, ZoneInfo) else load_zone(zone)
    stripped = text.strip()
    if not stripped:
        raise TimePhraseError(f"Say when, then the text, e.g. \"tomorrow 9am Your order is ready\" ({EXAMPLES}).")
    # Word boundaries in the original text, so the message body is returned untouched.
    spans = [m.span() for m in re.finditer(r"\S+", stripped)]
    words = [stripped[a:b] for a, b in spans]
    for count in range(min(len(words), MAX_PHRASE_WORDS), 0, -1):
        at = _read(words[:count], now, tz)
        if at is None:
            continue
        rest = stripped[spans[count - 1][1] :].strip()
        if text_required and not rest:
            raise TimePhraseError('Nothing to send after the time; write e.g. "tomorrow 9am Your order is ready".')
        return _check(at, now, tz, " ".join(words[:count])), rest
    raise TimePhraseError(f'"{stripped}" does not start with a time I can read; start with {EXAMPLES}.')
