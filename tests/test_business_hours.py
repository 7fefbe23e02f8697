"""Business hours as settings and `/sms hours`: bad settings stop `check` and `run` with
one line naming the setting and showing an example; the command answers through the
real slack-bolt and discord.py, in the inbox's time zone, from a controllable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bridge.config import Settings
from bridge.inbox.clock import ManualClock
from tests.harness import CHANNEL, DISCORD_ANA, FORUM, Harness
from tests.test_cli import _cli

HOURS = "mon-fri 09:00-17:00; sat 10:00-13:00"
HOLIDAYS = "2026-12-25,2027-01-01"
ZONE = "America/Chicago"  # UTC-6 in December
WEEKLY = "Hours: Mon–Fri 9:00 AM–5:00 PM; Sat 10:00 AM–1:00 PM; Sun closed"


def _chicago(day: int, hour: int, minute: int = 0, month: int = 12, year: int = 2026) -> datetime:
    """A December 2026 wall time in Chicago (CST, UTC-6), as aware UTC."""
    return datetime(year, month, day, tzinfo=UTC) + timedelta(hours=hour + 6, minutes=minute)


def _use_clock(h: Harness, clock: ManualClock) -> None:
    """Commands read "now" from this clock (the seam of ChannelCommands/ThreadCommands)."""
    assert h.bridge is not None
    h.bridge.core.channel_commands.clock = clock
    h.bridge.core.threads.clock = clock


# -- settings: check and run refuse bad input with one line ---------------------------


def test_bad_business_hours_settings_stop_check_and_run_with_one_line_each(tmp_path: Path) -> None:
    env = {"SMSBRIDGE_HOURS": "mon-fri 17:00-09:00", "SMSBRIDGE_TIMEZONE": "Mars/Olympus", "SMSBRIDGE_HOLIDAYS": "2026-12-25,christmas"}
    for command in ("check", "run"):
        result = _cli([command], tmp_path, env)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert result.stderr.strip().splitlines() == [
            ("smsbridge: configuration error: SMSBRIDGE_TIMEZONE: unknown time zone 'Mars/Olympus'; "
            'use an IANA name such as "America/New_York" or "Europe/Paris"'),
            ("smsbridge: configuration error: SMSBRIDGE_HOURS: '17:00-09:00' ends before it starts; overnight hours are two"
            ' ranges that meet at midnight, e.g. "fri 22:00-24:00; sat 00:00-02:00"; write hours like'
            ' "mon-fri 09:00-17:00; sat 10:00-13:00"'),
            ("smsbridge: configuration error: SMSBRIDGE_HOLIDAYS: 'christmas' is not a date (YYYY-MM-DD); "
            'write holidays like "2026-12-25,2027-01-01"'),
        ]


def test_bad_business_hours_in_an_inbox_table_name_the_table(tmp_path: Path) -> None:
    (tmp_path / "smsbridge.toml").write_text(
        '[[inbox]]\nname = "sales"\nnumber = "+14155550199"\nhours = "weekdays 9-5"\n\n'
        '[[inbox]]\nname = "support"\nnumber = "+14155550198"\ntimezone = "Chicago"\nholidays = ["2026-02-30"]\n'
    )
    result = _cli(["check"], tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        ("smsbridge: configuration error: inbox[0].hours: 'weekdays' is not a day (use mon, tue, wed, thu, fri, sat, sun);"
        ' write hours like "mon-fri 09:00-17:00; sat 10:00-13:00"'),
        ("smsbridge: configuration error: inbox[1].timezone: unknown time zone 'Chicago'; "
        'use an IANA name such as "America/New_York" or "Europe/Paris"'),
        ("smsbridge: configuration error: inbox[1].holidays: '2026-02-30' is not a date (YYYY-MM-DD); "
        'write holidays like "2026-12-25,2027-01-01"'),
    ]


def test_good_business_hours_in_smsbridge_toml_load(tmp_path: Path) -> None:
    (tmp_path / "smsbridge.toml").write_text(
        f'[[inbox]]\nname = "sales"\nnumber = "+14155550199"\ntimezone = "{ZONE}"\nhours = "{HOURS}"\n'
        "holidays = [2026-12-25, 2027-01-01]\n"  # TOML dates, not strings
    )
    result = _cli(["migrate"], tmp_path)
    assert result.returncode == 0, result.stderr


def test_inbox_tables_take_the_global_hours_unless_they_set_their_own() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        smsbridge_number="+14155550100",
        smsbridge_timezone=ZONE,
        smsbridge_hours=HOURS,
        smsbridge_holidays=HOLIDAYS,
        inbox=[
            {"name": "sales", "number": "+14155550199"},
            {"name": "night", "number": "+14155550198", "timezone": "Europe/Paris", "hours": "daily 20:00-24:00"},
            {"name": "support", "number": "+14155550197", "hours": ""},
        ],
    )
    default, sales, night, support = (inbox.business_hours() for inbox in settings.inboxes())
    tuesday_noon = _chicago(1, 12)
    assert default == sales and default.zone.key == ZONE and default.is_open(tuesday_noon)
    assert not default.is_open(_chicago(25, 12))  # a holiday
    assert night.zone.key == "Europe/Paris" and not night.is_open(tuesday_noon) and night.holidays == default.holidays
    assert support.always_open and support.zone.key == ZONE


# -- /sms hours through Slack ---------------------------------------------------------


@pytest.fixture
async def hours_harness(databases: Any) -> AsyncIterator[tuple[Harness, ManualClock]]:
    h = Harness(databases, smsbridge_timezone=ZONE, smsbridge_hours=HOURS, smsbridge_holidays=HOLIDAYS)
    await h.start()
    assert h.bridge is not None
    clock = ManualClock(_chicago(1, 10))
    _use_clock(h, clock)
    yield h, clock
    await h.stop()


async def test_slack_sms_hours_says_open_or_closed_and_when_that_changes(hours_harness: tuple[Harness, ManualClock]) -> None:
    h, clock = hours_harness
    holidays = "Closed on: Fri Dec 25, 2026; Fri Jan 1, 2027"
    said = (await h.sms_command("hours"))["text"]
    assert said.splitlines() == [f"Open now · closes today 5:00 PM ({ZONE})", WEEKLY, holidays]

    clock.set(_chicago(1, 17, 30))  # Tuesday evening
    assert (await h.sms_command("hours"))["text"].splitlines()[0] == f"Closed · opens tomorrow 9:00 AM ({ZONE})"
    clock.set(_chicago(2, 8, 59))
    assert (await h.sms_command("hours"))["text"].splitlines()[0] == f"Closed · opens today 9:00 AM ({ZONE})"
    clock.set(_chicago(5, 12))  # Saturday
    assert (await h.sms_command("hours"))["text"].splitlines()[0] == f"Open now · closes today 1:00 PM ({ZONE})"
    clock.set(_chicago(5, 13))  # Saturday, closing time
    assert (await h.sms_command("hours"))["text"].splitlines()[0] == f"Closed · opens Monday 9:00 AM ({ZONE})"
    clock.set(_chicago(24, 17, 30))  # Christmas Eve: Friday is a holiday, Saturday opens
    assert (await h.sms_command("hours"))["text"].splitlines()[0] == f"Closed · opens Saturday 10:00 AM ({ZONE})"
    clock.set(_chicago(31, 16))  # New Year's Eve: Christmas has passed
    assert (await h.sms_command("hours"))["text"].splitlines() == [
        f"Open now · closes today 5:00 PM ({ZONE})",
        WEEKLY,
        "Closed on: Fri Jan 1, 2027",
    ]
    clock.set(_chicago(1, 12, month=1, year=2027))  # the holiday itself, a Friday
    assert (await h.sms_command("hours"))["text"].splitlines() == [
        f"Closed · opens tomorrow 10:00 AM ({ZONE})",
        WEEKLY,
        "Closed on: Fri Jan 1, 2027",
    ]


async def test_slack_bang_hours_in_a_thread_answers_only_the_asker(hours_harness: tuple[Harness, ManualClock]) -> None:
    h, clock = hours_harness
    clock.set(_chicago(6, 9))  # Sunday morning
    await h.text_in("Are you open?")
    root = await h.first_thread()
    await h.drain()
    await h.teammate(root, "!hours")
    await h.drain()
    [whisper] = [e["text"] for e in h.slack.ephemerals if e["user"] == "UANA"]
    assert whisper.splitlines()[:2] == [f"Closed · opens tomorrow 9:00 AM ({ZONE})", WEEKLY]
    assert not h.sms_sent()  # nothing went to the customer


async def test_sms_hours_without_hours_is_always_open(harness: Harness) -> None:
    assert (await harness.sms_command("hours"))["text"] == "Always open."


async def test_sms_hours_in_an_unbound_channel_lists_every_inbox(databases: Any) -> None:
    h = Harness(
        databases,
        smsbridge_timezone=ZONE,
        smsbridge_hours=HOURS,
        inbox=[{"name": "night", "number": "+14155550198", "slack_channel": "C0NIGHT", "timezone": "Europe/Paris",
                "hours": "daily 20:00-24:00"}],
    )
    await h.start()
    try:
        assert h.bridge is not None
        _use_clock(h, ManualClock(_chicago(1, 10)))  # 17:00 in Paris
        h.slack.set_channel("C0NIGHT", "night")
        h.slack.set_channel("C0LOBBY", "lobby")
        assert (await h.sms_command("hours", channel="C0NIGHT"))["text"].splitlines() == [
            "Closed · opens today 8:00 PM (Europe/Paris)",
            "Hours: Mon–Sun 8:00 PM–midnight",
        ]
        assert (await h.sms_command("hours", channel=CHANNEL))["text"].splitlines()[0] == (
            f"Open now · closes today 5:00 PM ({ZONE})"
        )
        lobby = (await h.sms_command("hours", channel="C0LOBBY"))["text"].splitlines()
        assert lobby[0] == f"*default*: Open now · closes today 5:00 PM ({ZONE})"
        assert "*night*: Closed · opens today 8:00 PM (Europe/Paris)" in lobby
    finally:
        await h.stop()


# -- /sms hours and /hours through Discord ---------------------------------------------


@pytest.fixture
async def dh(databases: Any) -> AsyncIterator[tuple[Harness, ManualClock]]:
    h = Harness(databases, discord=True, smsbridge_slack_channel=None, smsbridge_timezone=ZONE,
                smsbridge_hours=HOURS, smsbridge_holidays=HOLIDAYS)
    await h.start()
    assert h.discord is not None and h.bridge is not None
    from bridge.adapters.discord_bot.commands import sync_commands

    await sync_commands(h.discord.token, h.discord.guild_id)
    clock = ManualClock(_chicago(4, 16, 15))  # Friday afternoon
    _use_clock(h, clock)
    yield h, clock
    await h.stop()


async def _slash(h: Harness, name: str, *, channel: int = FORUM, subcommand: str | None = None) -> str:
    assert h.discord is not None
    iid = await h.discord.slash_command(name, {}, user_id=DISCORD_ANA, channel_id=channel, subcommand=subcommand)
    await h.discord.wait_for(lambda: bool(h.discord.followups(iid)), message=f"the answer to /{name}")  # type: ignore[union-attr]
    followup = h.discord.followups(iid)[0]
    assert followup["flags"] & 64  # only the asker sees it
    return str(followup["content"])


async def test_discord_sms_hours_and_hours_in_a_post(dh: tuple[Harness, ManualClock]) -> None:
    h, clock = dh
    said = await _slash(h, "sms", subcommand="hours")
    assert said.splitlines() == [
        f"Open now · closes today 5:00 PM ({ZONE})",
        WEEKLY,
        "Closed on: Fri Dec 25, 2026; Fri Jan 1, 2027",
    ]
    clock.set(_chicago(4, 17, 1))
    await h.text_in("hello?")
    post = await h.first_post()
    in_post = await _slash(h, "hours", channel=post["id"])
    assert in_post.splitlines()[0] == f"Closed · opens tomorrow 10:00 AM ({ZONE})"


# -- SLA targets: checked at load, not used yet ---------------------------------------


def test_sla_durations_are_checked_by_check_and_run(tmp_path: Path) -> None:
    env = {"SMSBRIDGE_SLA_FIRST_REPLY": "15", "SMSBRIDGE_SLA_NEXT_REPLY": "1.5h", "SMSBRIDGE_SLA_RESOLUTION": "0d"}
    for command in ("check", "run"):
        result = _cli([command], tmp_path, env)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert result.stderr.strip().splitlines() == [
            ("smsbridge: configuration error: SMSBRIDGE_SLA_FIRST_REPLY: '15' has no unit; write e.g. \"15m\" for"
            ' minutes ("20s", "15m", "4h", "2d" or "1h30m")'),
            ("smsbridge: configuration error: SMSBRIDGE_SLA_NEXT_REPLY: '1.5h': use whole numbers, e.g. \"1h30m\""
            ' rather than "1.5h"'),
            ("smsbridge: configuration error: SMSBRIDGE_SLA_RESOLUTION: '0d' is zero; a duration must be longer, e.g."
            ' "20s", "15m", "4h", "2d" or "1h30m"'),
        ]
    (tmp_path / "smsbridge.toml").write_text('smsbridge_sla_first_reply = 15\n')  # a TOML number has no unit
    result = _cli(["check"], tmp_path)
    assert result.returncode == 2 and "SMSBRIDGE_SLA_FIRST_REPLY: '15' has no unit" in result.stderr


def test_good_sla_durations_load() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, smsbridge_sla_first_reply="15m", smsbridge_sla_next_reply="1h 30m", smsbridge_sla_resolution=""
    )
    assert settings.smsbridge_sla_first_reply == timedelta(minutes=15)
    assert settings.smsbridge_sla_next_reply == timedelta(hours=1, minutes=30)
    assert settings.smsbridge_sla_resolution is None


async def test_holidays_without_hours_close_only_those_days(databases: Any) -> None:
    """SMSBRIDGE_HOLIDAYS alone: open around the clock except on those days, and
    `/sms hours` says so (before, the holidays were silently ignored)."""
    h = Harness(databases, smsbridge_timezone=ZONE, smsbridge_holidays="2026-12-25")
    await h.start()
    try:
        clock = ManualClock(_chicago(25, 12))
        _use_clock(h, clock)
        said = (await h.sms_command("hours"))["text"].splitlines()
        assert said[0] == f"Closed · opens tonight at midnight ({ZONE})" and said[-1] == "Closed on: Fri Dec 25, 2026"
        clock.set(_chicago(24, 12))
        assert (await h.sms_command("hours"))["text"].splitlines()[0] == f"Open now · closes tonight at midnight ({ZONE})"
    finally:
        await h.stop()
