"""Business hours: parsing, open/closed, next change, and time counted in open hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.inbox.hours import BusinessHours

NY = ZoneInfo("America/New_York")

WEEK = "mon-fri 09:00-17:00; sat 10:00-13:00"


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)  # type: ignore[misc]


def hours(spec: str | None = WEEK, zone: str = "America/New_York", holidays: str | None = None) -> BusinessHours:
    return BusinessHours.parse(spec, timezone=zone, holidays=holidays)


def test_open_and_closed_through_a_week() -> None:
    h = hours()
    assert h.is_open(ny(2026, 11, 30, 9, 0))  # Monday opening minute
    assert not h.is_open(ny(2026, 11, 30, 8, 59))
    assert not h.is_open(ny(2026, 11, 30, 17, 0))  # closing time is closed
    assert h.is_open(ny(2026, 12, 5, 12, 59))  # Saturday
    assert not h.is_open(ny(2026, 12, 6, 12, 0))  # Sunday
    assert h.next_change(ny(2026, 11, 30, 12, 0)) == ny(2026, 11, 30, 17, 0)
    assert h.next_change(ny(2026, 12, 4, 17, 0)) == ny(2026, 12, 5, 10, 0)  # Friday evening -> Saturday
    assert h.next_change(ny(2026, 12, 5, 13, 0)) == ny(2026, 12, 7, 9, 0)  # Saturday -> Monday
    assert h.next_open(ny(2026, 12, 6, 3, 0)) == ny(2026, 12, 7, 9, 0)
    assert h.next_open(ny(2026, 12, 7, 10, 0)) == ny(2026, 12, 7, 10, 0)  # open: now


def test_answers_are_utc_whatever_zone_the_question_uses() -> None:
    h = hours()
    asked = datetime(2026, 12, 4, 23, 0, tzinfo=ZoneInfo("Asia/Tokyo"))  # Fri 09:00 in New York
    assert h.is_open(asked)
    change = h.next_change(asked)
    assert change == datetime(2026, 12, 4, 22, 0, tzinfo=UTC) and change.utcoffset() == timedelta(0)


def test_unset_hours_mean_always_open() -> None:
    for spec in (None, "", "   "):
        h = hours(spec)
        at = ny(2026, 12, 25, 3, 0)
        assert h.always_open and h.is_open(at) and h.next_change(at) is None and h.next_open(at) == at
        assert h.business_duration(at, at + timedelta(days=2)) == timedelta(days=2)
        assert h.add_business_time(at, timedelta(hours=5)) == at + timedelta(hours=5)
    # Always open across the fall-back night: 24 real hours, not 24 wall-clock hours.
    saturday = ny(2026, 10, 31, 12, 0)
    assert hours(None).add_business_time(saturday, timedelta(hours=24)) == ny(2026, 11, 1, 11, 0)


def test_holidays_close_the_whole_local_day() -> None:
    h = hours(holidays="2026-12-25,2027-01-01")
    assert not h.is_open(ny(2026, 12, 25, 12, 0))  # a Friday
    assert h.next_open(ny(2026, 12, 24, 18, 0)) == ny(2026, 12, 26, 10, 0)
    assert h.business_duration(ny(2026, 12, 24, 9, 0), ny(2026, 12, 28, 9, 0)) == timedelta(hours=8 + 3)


def test_spring_forward_in_new_york() -> None:
    # 2026-03-08: 02:00 EST jumps to 03:00 EDT; a Sunday, so use every-day hours.
    h = hours("daily 01:00-04:00")
    assert h.business_duration(ny(2026, 3, 8, 0, 0), ny(2026, 3, 9, 0, 0)) == timedelta(hours=2)  # 1h vanished
    assert h.next_change(ny(2026, 3, 8, 1, 30)) == datetime(2026, 3, 8, 8, 0, tzinfo=UTC)  # 04:00 EDT
    # An opening inside the skipped hour lands one hour later on the new clock.
    assert hours("daily 02:30-05:00").next_open(ny(2026, 3, 8, 0, 0)) == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    nine_to_five = hours("mon-fri 09:00-17:00")
    assert nine_to_five.next_open(ny(2026, 3, 6, 18, 0)) == datetime(2026, 3, 9, 13, 0, tzinfo=UTC)  # 09:00 EDT


def test_fall_back_in_new_york() -> None:
    # 2026-11-01: 02:00 EDT falls back to 01:00 EST; the day has 25 hours.
    h = hours("daily 00:00-24:00")
    assert h.business_duration(ny(2026, 11, 1, 0, 0), ny(2026, 11, 2, 0, 0)) == timedelta(hours=25)
    night = hours("daily 00:30-03:00")
    assert night.business_duration(ny(2026, 11, 1, 0, 0), ny(2026, 11, 1, 12, 0)) == timedelta(hours=3, minutes=30)
    monday = hours("mon-fri 09:00-17:00")
    assert monday.next_open(ny(2026, 10, 30, 18, 0)) == datetime(2026, 11, 2, 14, 0, tzinfo=UTC)  # 09:00 EST
    # A 4 h SLA from Friday 15:00 EDT: 2 h Friday, 2 h Monday (EST) -> Monday 11:00 EST.
    assert monday.add_business_time(ny(2026, 10, 30, 15, 0), timedelta(hours=4)) == datetime(2026, 11, 2, 16, 0, tzinfo=UTC)


def test_midnight_and_ranges_that_meet_there() -> None:
    h = hours("fri 22:00-24:00; sat 00:00-02:00", zone="Europe/Paris")
    paris = ZoneInfo("Europe/Paris")
    friday_late = datetime(2026, 12, 4, 23, 59, tzinfo=paris)
    assert h.is_open(friday_late)
    assert h.next_change(friday_late) == datetime(2026, 12, 5, 2, 0, tzinfo=paris)  # one period, not two
    assert h.next_change(datetime(2026, 12, 5, 2, 0, tzinfo=paris)) == datetime(2026, 12, 11, 22, 0, tzinfo=paris)
    assert h.business_duration(datetime(2026, 12, 4, tzinfo=paris), datetime(2026, 12, 6, tzinfo=paris)) == timedelta(hours=4)
    assert hours("daily 00:00-24:00").next_change(ny(2026, 12, 4, 12, 0)) is None  # open for ever


def test_zones_far_from_utc() -> None:
    kiritimati = hours("mon-fri 09:00-17:00", zone="Pacific/Kiritimati")  # UTC+14
    # Monday 09:00 there is Sunday 19:00 UTC.
    assert kiritimati.next_open(datetime(2026, 12, 6, 12, 0, tzinfo=UTC)) == datetime(2026, 12, 6, 19, 0, tzinfo=UTC)
    assert kiritimati.is_open(datetime(2026, 12, 6, 19, 0, tzinfo=UTC))
    pago = hours("mon-fri 09:00-17:00", zone="Pacific/Pago_Pago")  # UTC-11
    assert pago.is_open(datetime(2026, 12, 8, 3, 0, tzinfo=UTC))  # Monday 16:00 there, Tuesday in UTC
    assert pago.next_change(datetime(2026, 12, 8, 3, 0, tzinfo=UTC)) == datetime(2026, 12, 8, 4, 0, tzinfo=UTC)
    kolkata = hours("mon-sat 10:00-18:30", zone="Asia/Kolkata")  # UTC+5:30
    assert kolkata.next_open(datetime(2026, 12, 5, 13, 0, tzinfo=UTC)) == datetime(2026, 12, 7, 4, 30, tzinfo=UTC)


def test_add_business_time_stops_at_closing_time_when_it_runs_out_there() -> None:
    h = hours()
    friday = ny(2026, 12, 4, 16, 0)
    assert h.add_business_time(friday, timedelta(hours=1)) == ny(2026, 12, 4, 17, 0)
    assert h.add_business_time(friday, timedelta(hours=1, minutes=1)) == ny(2026, 12, 5, 10, 1)
    assert h.add_business_time(ny(2026, 12, 6, 8, 0), timedelta(minutes=15)) == ny(2026, 12, 7, 9, 15)  # from Sunday
    assert h.add_business_time(friday, timedelta(0)) == friday


@settings(max_examples=60, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)),
    minutes=st.integers(min_value=0, max_value=60 * 24 * 10),
)
def test_adding_then_measuring_business_time_round_trips(start: datetime, minutes: int) -> None:
    h = hours(holidays="2026-03-09,2026-11-02,2026-12-25")
    begin = start.replace(tzinfo=UTC)
    delta = timedelta(minutes=minutes)
    deadline = h.add_business_time(begin, delta)
    assert h.business_duration(begin, deadline) == delta
    assert deadline == begin or h.is_open(deadline - timedelta(microseconds=1))


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("mon-fri 9-5", "'9' is not a time of day"),
        ("funday 09:00-17:00", "'funday' is not a day"),
        ("mon-fri 17:00-09:00", "ends before it starts; overnight hours are two ranges"),
        ("mon 09:00-25:00", "'25:00' is not a time of day"),
        ("mon-fri", "needs days then times"),
        ("mon-fri 09:00", "is not a range of times"),
        (";", "names no open hours"),
        ("mon--fri 09:00-17:00", "is not a day or a day range"),
    ],
)
def test_hours_that_do_not_parse_say_why_and_show_an_example(spec: str, problem: str) -> None:
    with pytest.raises(ValueError) as error:
        hours(spec)
    assert problem in str(error.value)
    assert 'write hours like "mon-fri 09:00-17:00; sat 10:00-13:00"' in str(error.value)


def test_bad_zones_and_holidays_say_why_and_show_an_example() -> None:
    with pytest.raises(ValueError, match=r"unknown time zone 'America/NewYork'; use an IANA name such as \"America/New_York\""):
        hours(zone="America/NewYork")
    with pytest.raises(ValueError, match=r"'2026-13-01' is not a date .*\"2026-12-25,2027-01-01\""):
        hours(holidays="2026-12-25,2026-13-01")


def test_more_ways_to_write_days_and_ranges() -> None:
    h = hours("mon, wed 09:00-12:00, 13:00-17:00; fri-mon 10:00-11:00")
    assert h.is_open(ny(2026, 12, 2, 9, 0)) and not h.is_open(ny(2026, 12, 2, 12, 30))  # Wednesday lunch
    assert h.is_open(ny(2026, 12, 6, 10, 30))  # Sunday, inside fri-mon
    assert not h.is_open(ny(2026, 12, 1, 10, 30))  # Tuesday
    assert hours("Monday-Friday 09:00-17:00").is_open(ny(2026, 12, 4, 9, 0))


def test_every_day_a_holiday_never_opens() -> None:
    h = hours("mon 09:00-10:00", holidays="2026-12-07")
    assert h.next_open(ny(2026, 12, 6, 0, 0)) == ny(2026, 12, 14, 9, 0)
    assert hours("mon 09:00-10:00").week is not None


def test_holidays_without_hours_close_only_those_days() -> None:
    h = hours(None, holidays="2026-12-25")
    assert not h.always_open
    assert h.is_open(ny(2026, 12, 24, 23, 0)) and not h.is_open(ny(2026, 12, 25, 12, 0))
    assert h.next_change(ny(2026, 12, 24, 12, 0)) == ny(2026, 12, 25, 0, 0)
    assert h.next_open(ny(2026, 12, 25, 12, 0)) == ny(2026, 12, 26, 0, 0)
    assert h.business_duration(ny(2026, 12, 24, 12, 0), ny(2026, 12, 26, 12, 0)) == timedelta(hours=24)
