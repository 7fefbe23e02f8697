"""Times people type, read in the contact's zone relative to a given now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bridge.inbox.timephrases import TimePhraseError, parse_when, split_when

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("tomorrow 9am", ny(2026, 12, 1, 9, 0)),
        ("in 2 hours", ny(2026, 11, 30, 12, 0)),
        ("next monday", ny(2026, 12, 7, 9, 0)),  # a day alone means 09:00
        ("2026-12-01 14:00", ny(2026, 12, 1, 14, 0)),
        ("11am", ny(2026, 11, 30, 11, 0)),
        ("9am", ny(2026, 12, 1, 9, 0)),  # passed today: its next occurrence
        ("10:00", ny(2026, 12, 1, 10, 0)),  # now exactly is not in the future
        ("tomorrow", ny(2026, 12, 1, 9, 0)),
        ("friday 3pm", ny(2026, 12, 4, 15, 0)),
        ("in 30 minutes", ny(2026, 11, 30, 10, 30)),
        ("dec 24 5pm", ny(2026, 12, 24, 17, 0)),
        ("tomorrow at 9:30", ny(2026, 12, 1, 9, 30)),
    ],
)
def test_phrases_in_the_contacts_zone(phrase: str, expected: datetime) -> None:
    when = parse_when(phrase, NOW, "America/New_York")
    assert when.at == expected and when.at.tzinfo == UTC
    assert when.local.tzinfo == NY and when.local == expected


def test_the_same_words_in_a_zone_far_from_the_team() -> None:
    tokyo = parse_when("tomorrow 9am", NOW, "Asia/Tokyo")  # it is already Tuesday 00:00 there
    assert tokyo.at == datetime(2026, 12, 2, 0, 0, tzinfo=UTC)  # Wednesday 09:00 JST
    kiritimati = parse_when("9am", NOW, "Pacific/Kiritimati")  # UTC+14: Tuesday 05:00 there
    assert kiritimati.at == datetime(2026, 11, 30, 19, 0, tzinfo=UTC)


def test_phrases_across_daylight_saving() -> None:
    saturday = datetime(2026, 3, 7, 17, 0, tzinfo=UTC)  # 12:00 EST, the day before spring forward
    assert parse_when("tomorrow 9am", saturday, NY).at == datetime(2026, 3, 8, 13, 0, tzinfo=UTC)  # EDT
    assert parse_when("in 24 hours", saturday, NY).at == saturday + timedelta(hours=24)
    # 02:30 does not exist that night: read as 03:30 EDT.
    assert parse_when("2026-03-08 02:30", saturday, NY).at == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)


def test_later_splits_the_time_from_the_text() -> None:
    when, text = split_when("tomorrow 9am Your order is ready", NOW, "America/New_York")
    assert (when.local, when.phrase, text) == (ny(2026, 12, 1, 9, 0), "tomorrow 9am", "Your order is ready")


@pytest.mark.parametrize(
    ("command", "expected", "text"),
    [
        ("in 2 hours 5 boxes shipped", ny(2026, 11, 30, 12, 0), "5 boxes shipped"),
        ("tomorrow 9am the parcel left", ny(2026, 12, 1, 9, 0), "the parcel left"),
        ("tomorrow 9am a parcel left", ny(2026, 12, 1, 9, 0), "a parcel left"),
        ("2026-12-01 14:00 Hi there", ny(2026, 12, 1, 14, 0), "Hi there"),
        ("next monday at 3pm See you", ny(2026, 12, 7, 15, 0), "See you"),
        ("friday 3pm: see you\nsecond line", ny(2026, 12, 4, 15, 0), "see you\nsecond line"),
        ("in 2h ping", ny(2026, 11, 30, 12, 0), "ping"),
    ],
)
def test_the_time_ends_where_time_words_end(command: str, expected: datetime, text: str) -> None:
    when, rest = split_when(command, NOW, NY)
    assert (when.at, rest) == (expected, text)


@pytest.mark.parametrize(
    ("phrase", "message"),
    [
        ("", "Say when, e.g."),
        ("yesterday", "which has passed"),
        ("today 9am", "Mon 30 Nov 2026 09:00 (America/New_York), which has passed"),
        ("2026-11-30 09:59", "which has passed"),
        ("whenever", "is not a time I can read"),
        ("5", "is not a time I can read"),
        ("in 2", "is not a time I can read"),
        ("2031-01-01 10:00", "more than a year ahead"),
    ],
)
def test_unusable_times_are_refused_with_examples(phrase: str, message: str) -> None:
    with pytest.raises(TimePhraseError) as error:
        parse_when(phrase, NOW, NY)
    assert message in str(error.value)
    assert '"tomorrow 9am", "in 2 hours", "next monday" or "2026-12-01 14:00"' in str(error.value)


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("", "Say when, then the text"),
        ("tomorrow 9am", "Nothing to send after the time"),
        ("Your order is ready", "does not start with a time I can read"),
        ("5 boxes left", "does not start with a time I can read"),
        ("yesterday Your order", "which has passed"),
    ],
)
def test_later_without_a_time_or_without_text_is_refused(command: str, message: str) -> None:
    with pytest.raises(TimePhraseError, match=message):
        split_when(command, NOW, NY)


def test_a_reminder_may_have_no_text() -> None:
    when, rest = split_when("in 2 hours", NOW, NY, text_required=False)
    assert (when.at, rest) == (ny(2026, 11, 30, 12, 0), "")


def test_unknown_zone_and_naive_now_are_errors() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        parse_when("tomorrow 9am", NOW, "Mars/Base")
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_when("tomorrow 9am", datetime(2026, 11, 30, 10, 0), NY)
