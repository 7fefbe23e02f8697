"""The words of `/sms hours`, straight from the core: DST nights, midnight, weeks with
no opening, hours open around the clock, and dates beyond the coming week."""

from __future__ import annotations

from datetime import UTC, datetime

from bridge.inbox.hours import BusinessHours
from bridge.inbox.hours_status import hours_status


def test_spring_forward_night_reads_in_the_new_wall_clock() -> None:
    hours = BusinessHours.parse("daily 02:30-04:00", timezone="America/New_York")
    # Sunday 2026-03-08, 01:30 EST: 02:30 does not exist that night, the range opens at 03:30 EDT.
    status = hours_status(hours, datetime(2026, 3, 8, 6, 30, tzinfo=UTC))
    assert status.state == "Closed · opens today 3:30 AM"
    assert status.weekly == ("Mon–Sun 2:30 AM–4:00 AM",)


def test_fall_back_day_closes_at_the_wall_clock_time() -> None:
    hours = BusinessHours.parse("sun 00:00-24:00", timezone="America/New_York")
    # Sunday 2026-11-01 (25 hours long), 23:00 EST: closes at midnight, Monday.
    status = hours_status(hours, datetime(2026, 11, 2, 4, 0, tzinfo=UTC))
    assert status.open and status.state == "Open now · closes tonight at midnight"
    assert status.weekly == ("Mon–Sat closed", "Sun 12:00 AM–midnight")


def test_hours_far_from_utc_use_the_inbox_day() -> None:
    hours = BusinessHours.parse("mon-fri 09:00-17:00", timezone="Pacific/Kiritimati")  # UTC+14
    # Sunday 2026-11-29 20:00 UTC is Monday 10:00 on Kiritimati.
    status = hours_status(hours, datetime(2026, 11, 29, 20, 0, tzinfo=UTC))
    assert status.state == "Open now · closes today 5:00 PM" and status.zone == "Pacific/Kiritimati"


def test_around_the_clock_never_open_and_next_weeks() -> None:
    always = hours_status(BusinessHours.parse("daily 00:00-24:00", timezone="UTC"), datetime(2026, 12, 1, tzinfo=UTC))
    assert always.state == "Open now · open around the clock" and always.weekly == ("Mon–Sun 12:00 AM–midnight",)

    closed_for_good = BusinessHours.parse("mon 09:00-10:00", holidays="2026-12-07,2026-12-14,2026-12-21")
    later = hours_status(closed_for_good, datetime(2026, 12, 1, tzinfo=UTC))  # a Tuesday
    assert later.state == "Closed · opens Mon Dec 28 9:00 AM"
    assert later.holidays == ("Mon Dec 7, 2026", "Mon Dec 14, 2026", "Mon Dec 21, 2026")
    next_year = hours_status(BusinessHours.parse("mon 09:00-10:00", holidays="2026-12-28"), datetime(2026, 12, 22, tzinfo=UTC))
    assert next_year.state == "Closed · opens Mon Jan 4, 2027 9:00 AM"


def test_no_hours_is_always_open() -> None:
    status = hours_status(BusinessHours.parse(None, timezone="Europe/Paris"), datetime(2026, 12, 1, tzinfo=UTC))
    assert status.open and status.state == "Always open" and status.weekly == ()
