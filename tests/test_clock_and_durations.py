"""The injectable clock and the duration settings ("15m", "1h30m")."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bridge.inbox.clock import ManualClock, SystemClock
from bridge.inbox.durations import format_duration, parse_duration

T0 = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)


async def test_manual_clock_wakes_sleepers_only_when_moved_past_their_time() -> None:
    clock = ManualClock(T0)
    woke: list[str] = []

    async def sleeper(name: str, seconds: int) -> None:
        await clock.sleep_until(T0 + timedelta(seconds=seconds))
        woke.append(name)

    tasks = [asyncio.create_task(sleeper("ten", 10)), asyncio.create_task(sleeper("five", 5))]
    while clock.sleepers < 2:
        await asyncio.sleep(0)
    clock.advance(4)
    await asyncio.sleep(0)
    assert woke == []
    clock.advance(timedelta(seconds=1))
    await asyncio.wait_for(tasks[1], 5)
    assert woke == ["five"]
    clock.set(T0 + timedelta(hours=1))
    await asyncio.wait_for(tasks[0], 5)
    assert woke == ["five", "ten"]
    assert clock.now() == T0 + timedelta(hours=1)


async def test_manual_clock_refuses_naive_times_and_going_back_by_advance() -> None:
    clock = ManualClock(T0)
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.set(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
    await clock.sleep_until(T0 - timedelta(seconds=1))  # already past: returns at once


async def test_system_clock_is_utc_and_sleeps_until_the_time() -> None:
    clock = SystemClock()
    start = clock.now()
    assert start.tzinfo is not None and start.utcoffset() == timedelta(0)
    await clock.sleep_until(start + timedelta(milliseconds=20))
    assert clock.now() >= start + timedelta(milliseconds=20)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20s", timedelta(seconds=20)),
        ("15m", timedelta(minutes=15)),
        ("4h", timedelta(hours=4)),
        ("2d", timedelta(days=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        (" 1h 30m ", timedelta(hours=1, minutes=30)),
        ("2 days", timedelta(days=2)),
        ("90 min", timedelta(minutes=90)),
        ("1w2d", timedelta(days=9)),
        ("4H", timedelta(hours=4)),
    ],
)
def test_durations_people_write(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "a duration is required"),
        ("15", "has no unit; write e.g. \"15m\""),
        ("1.5h", "use whole numbers, e.g. \"1h30m\""),
        ("soon", "is not a duration"),
        ("30m1h", "put larger units first"),
        ("1h1h", "gives 'h' twice"),
        ("0m", "is zero"),
        ("5y", "unknown unit 'y'"),
        ("-5m", "is not a duration"),
    ],
)
def test_bad_durations_say_why_and_show_examples(text: str, message: str) -> None:
    with pytest.raises(ValueError) as error:
        parse_duration(text)
    assert message in str(error.value)
    assert '"15m"' in str(error.value) or '"1h30m"' in str(error.value)


def test_durations_format_back_compactly() -> None:
    assert [format_duration(parse_duration(t)) for t in ("90m", "2d", "45s", "1d1h1m1s")] == ["1h30m", "2d", "45s", "1d1h1m1s"]
    assert format_duration(-timedelta(minutes=5)) == "-5m"
    assert format_duration(timedelta(0)) == "0s"
