"""Scheduled messages (`!later`, `!scheduled`, Cancel) and quiet hours through the real
slack-bolt and discord.py, on both databases, with a ManualClock: confirmed privately in
the contact's and the team's time, refused with examples, sent at their time through the
outbox (the thread shows it leave), held by quiet hours and the Florida limit (the
thread says until when), never lost or doubled across a restart, across DST edges."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bridge.inbox.clock import ManualClock
from bridge.inbox.models import OutboxJob
from tests.harness import CHANNEL, CUSTOMER, DISCORD_ANA, Harness

TEAM_ZONE = "America/Chicago"
# CUSTOMER (+1 415) is read in America/Los_Angeles: two hours behind the team.
FLORIDA = "+13055550123"  # Miami: America/New_York, 08:00-20:00, three a day


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def whispers(h: Harness, user: str = "UANA") -> list[dict[str, Any]]:
    return [e for e in h.slack.ephemerals if e["user"] == user]


def buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {el["text"]["text"]: el for b in message.get("blocks", []) if b["type"] == "actions" for el in b["elements"]}


def bodies(h: Harness, to: str = CUSTOMER) -> list[str]:
    return [m["Body"] for m in h.sms_sent() if m["To"] == to]


def thread_texts(h: Harness, root: str) -> list[str]:
    return [str(m["text"]) for m in h.slack.thread(CHANNEL, root)]


async def at(h: Harness, clock: ManualClock, when: datetime) -> None:
    """Move time to `when`, let every due timer fire and its jobs run."""
    assert h.bridge is not None
    clock.set(when)
    await h.bridge.scheduler.settle()
    await h.drain()


async def ask(h: Harness, root: str, text: str) -> dict[str, Any]:
    before = len(whispers(h))
    await h.teammate(root, text)
    await h.drain()
    await h.slack.wait_for(lambda: len(whispers(h)) > before, message=f"the answer to {text}")
    return whispers(h)[-1]


@pytest.fixture
async def later(databases: Any) -> AsyncIterator[tuple[Harness, ManualClock]]:
    h = Harness(databases, smsbridge_timezone=TEAM_ZONE)
    await h.start()
    assert h.bridge is not None
    clock = ManualClock(utc(12, 1, 16))  # Tue Dec 1, 10:00 in Chicago, 08:00 in Los Angeles
    h.bridge.use_clock(clock)
    yield h, clock
    await h.stop()


async def _thread(h: Harness, sender: str = CUSTOMER) -> str:
    await h.text_in("Is my bike ready?", sender=sender)
    root = await h.first_thread()
    await h.drain()
    return root


async def test_later_is_confirmed_privately_listed_and_sent_at_its_time(later: tuple[Harness, ManualClock]) -> None:
    h, clock = later
    root = await _thread(h)
    confirmed = await ask(h, root, "!later tomorrow 9am Your bike is ready")
    assert confirmed["text"].splitlines()[:3] == [
        "🕒 Scheduled for Wed Dec 2, 9:00 AM for the customer (America/Los_Angeles) · "
        "Wed Dec 2, 11:00 AM team time (America/Chicago).",
        "Their time zone is America/Los_Angeles (from their number).",
        "> Your bike is ready",
    ]
    assert set(buttons(confirmed)) == {"Cancel"}
    listed = await ask(h, root, "!scheduled")
    assert "Scheduled texts (1):" in listed["text"] and "Your bike is ready" in listed["text"]
    assert set(buttons(listed)) == {"Cancel 1"}

    await at(h, clock, utc(12, 2, 16, 59))  # 08:59 in Los Angeles: not yet
    assert bodies(h) == []
    await at(h, clock, utc(12, 2, 17))
    assert bodies(h) == ["Your bike is ready"]
    await h.slack.wait_for(
        lambda: any("Scheduled SMS by Ana" in t and "Your bike is ready" in t and "Queued" in t for t in thread_texts(h, root)),
        message="the scheduled text's status line",
    )
    # The thread shows it left, and follows it to the phone.
    await h.status_callback(h.sms_sent()[0]["sid"], "delivered")
    await h.slack.wait_for(
        lambda: any("Scheduled SMS by Ana" in t and "Delivered" in t for t in thread_texts(h, root)), message="delivered"
    )
    [(kind,)] = await h.rows("SELECT kind FROM messages WHERE direction = 'out'")
    assert kind == "scheduled"
    assert (await ask(h, root, "!scheduled"))["text"] == "No texts are scheduled in this conversation."


async def test_later_without_a_time_or_text_or_in_the_past_gets_examples_and_schedules_nothing(
    later: tuple[Harness, ManualClock],
) -> None:
    h, _ = later
    root = await _thread(h)
    for typed, why in (
        ("!later", "say when, then the text"),
        ("!later whenever you like", "does not start with a time I can read"),
        ("!later tomorrow 9am", "Nothing to send after the time"),
        ("!later 2026-11-30 09:00 Too late", "which has passed"),
    ):
        answer = (await ask(h, root, typed))["text"]
        assert answer.startswith("Nothing scheduled:") and why in answer, answer
        assert "`!later tomorrow 9am Your order is ready`" in answer
    assert await h.rows("SELECT id FROM timers") == []
    assert h.sms_sent() == []


async def test_cancel_button_stops_a_scheduled_text(later: tuple[Harness, ManualClock]) -> None:
    h, clock = later
    root = await _thread(h)
    confirmed = await ask(h, root, "!later in 2 hours Call us back?")
    answer = await h.click(buttons(confirmed)["Cancel"], ephemeral=True)
    assert answer["text"] == "Canceled: it will not be sent."
    again = await h.click(buttons(confirmed)["Cancel"], ephemeral=True)
    assert again["text"].startswith("Too late")
    await h.drain()
    assert any("Ana canceled a scheduled text" in t for t in thread_texts(h, root))
    await at(h, clock, utc(12, 1, 19))
    assert h.sms_sent() == []


async def test_a_scheduled_text_survives_a_restart_and_leaves_once(later: tuple[Harness, ManualClock]) -> None:
    h, clock = later
    root = await _thread(h)
    await ask(h, root, "!later in 2 hours See you soon")
    await h.restart()
    assert h.bridge is not None
    h.bridge.use_clock(clock)
    await at(h, clock, utc(12, 1, 18, 1))
    await h.restart()  # a restart after it fired does not send it again
    assert h.bridge is not None
    h.bridge.use_clock(clock)
    await at(h, clock, utc(12, 1, 20))
    assert bodies(h) == ["See you soon"]
    assert [tuple(r) for r in await h.rows("SELECT state FROM timers")] == [("fired",)]


async def test_quiet_hours_hold_a_scheduled_text_and_the_thread_says_until_when(later: tuple[Harness, ManualClock]) -> None:
    h, clock = later
    root = await _thread(h)
    confirmed = await ask(h, root, "!later 2026-12-01 22:30 Late update")
    assert "quiet hours will hold it until Wed Dec 2, 8:00 AM" in confirmed["text"]
    await at(h, clock, utc(12, 2, 6, 30))  # 22:30 in Los Angeles
    assert h.sms_sent() == []
    await h.slack.wait_for(
        lambda: any("scheduled message is held" in t for t in thread_texts(h, root)), message="the hold notice"
    )
    [held] = [t for t in thread_texts(h, root) if "scheduled message is held" in t]
    assert "it is Tue Dec 1, 10:30 PM for the customer, outside 08:00–21:00 their time" in held
    assert "It leaves Wed Dec 2, 8:00 AM for the customer (America/Los_Angeles) · Wed Dec 2, 10:00 AM team time" in held
    assert "(held by quiet hours)" in (await ask(h, root, "!scheduled"))["text"]
    await at(h, clock, utc(12, 2, 15, 59))
    assert h.sms_sent() == []
    await at(h, clock, utc(12, 2, 16))
    assert bodies(h) == ["Late update"]


async def test_florida_gets_at_most_three_automated_texts_in_24_hours(later: tuple[Harness, ManualClock]) -> None:
    h, clock = later
    root = await _thread(h, sender=FLORIDA)
    for hour in (9, 10, 11, 12):
        await ask(h, root, f"!later tomorrow {hour}:00 Update {hour}")
    for hour in (9, 10, 11, 12):  # Eastern time: UTC-5
        await at(h, clock, utc(12, 2, hour + 5))
    assert bodies(h, FLORIDA) == ["Update 9", "Update 10", "Update 11"]
    held = [t for t in thread_texts(h, root) if "scheduled message is held" in t]
    assert len(held) == 1 and "Florida numbers get at most three automated texts in 24 hours (3 sent)" in held[0]
    assert "It leaves Thu Dec 3, 9:00 AM for the customer (America/New_York)" in held[0]
    await at(h, clock, utc(12, 3, 13, 59))
    assert len(bodies(h, FLORIDA)) == 3
    await at(h, clock, utc(12, 3, 14))
    assert bodies(h, FLORIDA)[3:] == ["Update 12"]


async def test_tz_overrides_the_number_and_tomorrow_9am_keeps_its_wall_clock_across_spring_forward(databases: Any) -> None:
    h = Harness(databases, smsbridge_timezone=TEAM_ZONE)
    await h.start()
    try:
        assert h.bridge is not None
        clock = ManualClock(utc(3, 8, 1))  # Sat Mar 7, 20:00 in New York; clocks go forward at 2:00
        h.bridge.use_clock(clock)
        root = await _thread(h)
        await ask(h, root, "!tz America/New_York")
        confirmed = await ask(h, root, "!later tomorrow 9am Good morning")
        assert confirmed["text"].splitlines()[:2] == [
            "🕒 Scheduled for Sun Mar 8, 9:00 AM for the customer (America/New_York) · "
            "Sun Mar 8, 8:00 AM team time (America/Chicago).",
            "Their time zone is America/New_York (set with !tz).",
        ]
        await at(h, clock, utc(3, 8, 12, 59))  # 08:59 EDT
        assert h.sms_sent() == []
        await at(h, clock, utc(3, 8, 13))  # 09:00 EDT, 13:00 UTC (not 14:00: the wall clock holds)
        assert bodies(h) == ["Good morning"]
    finally:
        await h.stop()


async def test_quiet_hours_window_follows_the_fall_back_change(databases: Any) -> None:
    h = Harness(databases, smsbridge_timezone=TEAM_ZONE)
    await h.start()
    try:
        assert h.bridge is not None
        clock = ManualClock(utc(10, 31, 20))  # Sat Oct 31, 13:00 in Los Angeles (PDT)
        h.bridge.use_clock(clock)
        root = await _thread(h)
        await ask(h, root, "!later 2026-11-01 07:30 Early bird")  # Sunday, after fall-back: PST
        await at(h, clock, utc(11, 1, 15, 30))  # 07:30 PST: held until 08:00 PST
        assert h.sms_sent() == []
        await at(h, clock, utc(11, 1, 15, 59))
        assert h.sms_sent() == []
        await at(h, clock, utc(11, 1, 16))  # 08:00 PST = 16:00 UTC (15:00 UTC was 08:00 PDT)
        assert bodies(h) == ["Early bird"]
    finally:
        await h.stop()


async def test_discord_later_scheduled_and_cancel(databases: Any) -> None:
    h = Harness(databases, discord=True, smsbridge_slack_channel=None, smsbridge_timezone=TEAM_ZONE)
    await h.start()
    try:
        assert h.bridge is not None and h.discord is not None
        clock = ManualClock(utc(12, 1, 16))
        h.bridge.use_clock(clock)
        await h.text_in("hello")
        post = await h.first_post()
        discord = h.discord

        def said(text: str) -> list[dict[str, Any]]:
            return [m for m in h.post_messages(post["id"]) if text in m["content"]]

        await discord.user_message(post["id"], DISCORD_ANA, "!later tomorrow 9am Ready for pickup")
        await discord.wait_for(lambda: bool(said("Scheduled for")), message="the confirmation")
        [confirmation] = said("Scheduled for")
        assert confirmation["content"].startswith(f"<@{DISCORD_ANA}>")
        assert "Wed Dec 2, 9:00 AM for the customer (America/Los\\_Angeles)" in confirmation["content"]  # escaped markdown
        await discord.user_message(post["id"], DISCORD_ANA, "!scheduled")
        await discord.wait_for(lambda: bool(said("Scheduled texts (1)")), message="the list")
        [listing] = said("Scheduled texts (1)")
        [cancel] = [c["custom_id"] for row in listing["components"] for c in row["components"]]
        assert cancel.startswith("smsbridge:cancel_later:")
        iid = await discord.click_button(int(listing["id"]), cancel, DISCORD_ANA)
        await discord.wait_for(lambda: bool(discord.followups(iid)), message="the answer")
        assert discord.followups(iid)[0]["content"] == "Canceled: it will not be sent."
        await discord.user_message(post["id"], DISCORD_ANA, "!later in 1 hour Still on?")
        await discord.wait_for(lambda: len(said("Scheduled for")) == 2, message="the second confirmation")
        await at(h, clock, utc(12, 2, 17, 30))
        assert bodies(h) == ["Still on?"]
        await discord.wait_for(lambda: bool(said("Scheduled SMS by ana")), message="the status line")
        await h.status_callback(h.sms_sent()[0]["sid"], "delivered")
        await discord.wait_for(
            lambda: any("Delivered" in m["content"] and "Still on?" in m["content"] for m in said("Scheduled SMS by ana")),
            message="the status line edited to Delivered",
        )
    finally:
        await h.stop()


async def test_a_live_reply_late_at_night_goes_at_once_with_a_warning(databases: Any) -> None:
    h = Harness(databases, smsbridge_timezone=TEAM_ZONE, smsbridge_hours="mon-fri 09:00-17:00",
                smsbridge_after_hours_reply="We're closed; back {next_open}.")
    await h.start()
    try:
        assert h.bridge is not None
        clock = ManualClock(utc(12, 2, 7, 30))  # Tue Dec 1, 23:30 in Los Angeles
        h.bridge.use_clock(clock)
        root = await _thread(h)
        # The answer to the customer's own text is not held by quiet hours.
        assert bodies(h) == ["We're closed; back Wednesday 9:00 AM."]
        await h.teammate(root, "!r Sorry, we'll call you in the morning")
        await h.drain()
        assert bodies(h)[1:] == ["Sorry, we'll call you in the morning"]
        await h.slack.wait_for(lambda: any("Sent at once" in t for t in thread_texts(h, root)), message="the warning")
        [warning] = [t for t in thread_texts(h, root) if "Sent at once" in t]
        assert "it is Tue Dec 1, 11:30 PM (America/Los_Angeles) for the customer, outside 08:00–21:00 their time" in warning
        clock.set(utc(12, 2, 18))  # 10:00 there: no warning
        await h.teammate(root, "!r Good morning!")
        await h.drain()
        assert len([t for t in thread_texts(h, root) if "Sent at once" in t]) == 1
        assert bodies(h)[2:] == ["Good morning!"]
    finally:
        await h.stop()


async def test_discord_live_reply_at_night_is_warned_in_the_post(databases: Any) -> None:
    h = Harness(databases, discord=True, smsbridge_slack_channel=None, smsbridge_timezone=TEAM_ZONE)
    await h.start()
    try:
        assert h.bridge is not None and h.discord is not None
        h.bridge.use_clock(ManualClock(utc(12, 2, 7, 30)))
        await h.text_in("hello")
        post = await h.first_post()
        await h.discord.user_message(post["id"], DISCORD_ANA, "!r Late answer, sorry")
        await h.discord.wait_for(
            lambda: any("Sent at once" in m["content"] for m in h.post_messages(post["id"])), message="the warning"
        )
        assert bodies(h) == ["Late answer, sorry"]
    finally:
        await h.stop()


async def test_two_processes_send_each_scheduled_text_once(later: tuple[Harness, ManualClock]) -> None:
    from bridge.app import SmsBridge

    h, clock = later
    assert h.settings is not None and h.bridge is not None
    root = await _thread(h)
    for minutes in range(1, 6):
        await ask(h, root, f"!later in {minutes * 10} minutes Note {minutes}")
    second = SmsBridge(h.settings, db=h.databases.reopen())
    second.use_clock(clock)
    await second.start("127.0.0.1", 0)
    try:
        clock.set(utc(12, 1, 17))
        await h.bridge.scheduler.settle()
        await second.scheduler.settle()
        await h.drain()
        await second.worker.drain(10.0)
        assert sorted(bodies(h)) == [f"Note {n}" for n in range(1, 6)]
        assert [tuple(r) for r in await h.rows("SELECT DISTINCT state FROM timers")] == [("fired",)]
    finally:
        await second.stop()


async def test_cancel_on_the_confirmation_also_stops_the_held_text(later: tuple[Harness, ManualClock]) -> None:
    h, clock = later
    root = await _thread(h)
    confirmed = await ask(h, root, "!later 2026-12-01 22:30 Late update")
    await at(h, clock, utc(12, 2, 6, 30))  # fired, and held until 08:00 there
    answer = await h.click(buttons(confirmed)["Cancel"], ephemeral=True)
    assert answer["text"] == "Canceled: it will not be sent."
    await at(h, clock, utc(12, 2, 17))
    assert h.sms_sent() == []


async def test_a_scheduled_text_whose_send_waited_out_an_outage_into_the_night_waits_for_the_morning(
    later: tuple[Harness, ManualClock],
) -> None:
    h, clock = later
    assert h.bridge is not None
    root = await _thread(h)
    await ask(h, root, "!later 2026-12-01 20:59 Before nine")
    h.twilio.refuse_sends(500)
    clock.set(utc(12, 2, 4, 59))  # 20:59 there: released, but the provider refuses it
    await h.bridge.scheduler.settle()
    await h.slack.wait_for(lambda: any("Retrying" in t for t in thread_texts(h, root)), message="a refused attempt")
    clock.set(utc(12, 2, 5, 30))  # 21:30 there, still refused: the next attempt must wait for the morning
    sends = h.bridge.service.delivery

    async def postponed() -> bool:
        [(message_id,)] = await h.rows("SELECT id FROM messages WHERE kind = 'scheduled'")
        wait = await sends.quiet_wait(message_id)
        async with h.bridge.db.sessions() as session:  # type: ignore[union-attr]
            due = await session.scalar(select(OutboxJob.run_after).where(OutboxJob.kind == "sms.send", OutboxJob.state == "pending"))
        # Until 08:00 there: 10 h 30 min, by the outbox's real clock too.
        far = due is not None and due - datetime.now(UTC) > timedelta(hours=10)
        return wait is not None and round(wait) == 10 * 3600 + 30 * 60 and far

    await h.slack.wait_for(postponed, message="the send postponed to the morning")
    h.twilio.refuse_sends(None)  # the outage ends: still nothing tonight
    await asyncio.sleep(0.5)  # longer than the outbox's retry backoff here (0.4 s)
    assert [m for m in h.sms_sent() if m["Body"] == "Before nine"] == []


async def test_discord_slash_later_confirms_ephemerally(databases: Any) -> None:
    from bridge.adapters.discord_bot.commands import sync_commands

    h = Harness(databases, discord=True, smsbridge_slack_channel=None, smsbridge_timezone=TEAM_ZONE)
    await h.start()
    try:
        assert h.bridge is not None and h.discord is not None
        await sync_commands(h.discord.token, h.discord.guild_id)
        clock = ManualClock(utc(12, 1, 16))
        h.bridge.use_clock(clock)
        await h.text_in("hello")
        post = await h.first_post()
        discord = h.discord
        iid = await discord.slash_command("later", {"when_and_text": "in 2 hours Your part arrived"},
                                          user_id=DISCORD_ANA, channel_id=post["id"])
        await discord.wait_for(lambda: bool(discord.followups(iid)), message="the answer to /later")
        answer = discord.followups(iid)[0]
        assert answer["flags"] & 64 and "Tue Dec 1, 10:00 AM for the customer" in answer["content"]
        bad = await discord.slash_command("later", {"when_and_text": "someday maybe"}, user_id=DISCORD_ANA, channel_id=post["id"])
        await discord.wait_for(lambda: bool(discord.followups(bad)), message="the refusal")
        assert discord.followups(bad)[0]["content"].startswith("Nothing scheduled:")
        await at(h, clock, utc(12, 1, 18))
        assert bodies(h) == ["Your part arrived"]
    finally:
        await h.stop()


async def test_a_scheduled_text_to_a_customer_who_stopped_meanwhile_is_not_sent(later: tuple[Harness, ManualClock]) -> None:
    """Opt-out is a send-time check: a STOP after `!later` wins, the thread says so."""
    h, clock = later
    root = await _thread(h)
    await ask(h, root, "!later in 2 hours Your bike is ready")
    await h.text_in("STOP")
    await h.drain()
    [confirmation] = bodies(h)
    assert "unsubscribed" in confirmation
    await at(h, clock, utc(12, 1, 18, 1))
    assert bodies(h) == [confirmation]
    await h.slack.wait_for(
        lambda: any("Scheduled SMS by Ana" in t and "Not sent" in t and "Your bike is ready" in t for t in thread_texts(h, root)),
        message="the blocked scheduled text in the thread",
    )
    assert [tuple(r) for r in await h.rows("SELECT status FROM messages WHERE kind = 'scheduled'")] == [("blocked",)]
