"""After-hours and first-contact auto-replies through the real webhook, slack-bolt and
discord.py: once per window, variables filled in the inbox's zone, shown in the thread
as sent by smsbridge, never to opted-out numbers, never to STOP/HELP, never twice on a
retried webhook. "Now" is a ManualClock (SmsBridge.use_clock)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bridge.inbox.autotext import next_open_text, render
from bridge.inbox.clock import ManualClock
from tests.harness import CHANNEL, CUSTOMER, OTHER_CUSTOMER, Harness
from tests.test_cli import _cli

ZONE = "America/Chicago"  # CST (UTC-6) in December
AFTER = "Hi {first_name}, {business} is closed. We open {next_open}."
FIRST = "Thanks for texting {business}! Reply STOP to opt out."


def chicago(day: int, hour: int, minute: int = 0, month: int = 12) -> datetime:
    return datetime(2026, month, day, tzinfo=UTC) + timedelta(hours=hour + 6, minutes=minute)


def bodies(h: Harness, to: str = CUSTOMER) -> list[str]:
    return [m["Body"] for m in h.sms_sent() if m["To"] == to]


def thread_texts(h: Harness, root: str) -> list[str]:
    return [str(m["text"]) for m in h.slack.thread(CHANNEL, root)]


@pytest.fixture
async def auto(databases: Any) -> AsyncIterator[tuple[Harness, ManualClock]]:
    h = Harness(
        databases,
        smsbridge_timezone=ZONE,
        smsbridge_hours="mon-fri 09:00-17:00",
        smsbridge_after_hours_reply=AFTER,
        smsbridge_first_contact_reply=FIRST,
    )
    await h.start()
    assert h.bridge is not None
    clock = ManualClock(chicago(1, 18))  # Tuesday evening, closed
    h.bridge.use_clock(clock)
    yield h, clock
    await h.stop()


async def test_a_first_text_after_hours_gets_one_answer_the_after_hours_one(auto: tuple[Harness, ManualClock]) -> None:
    """Both answers are due (a new number, the inbox closed): only the after-hours one
    goes, with {next_open}; it counts as the first-contact answer, never sent later."""
    h, clock = auto
    await h.text_in("Is my bike ready?")
    root = await h.first_thread()
    await h.drain()
    assert bodies(h) == ["Hi, Acme Bikes is closed. We open Wednesday 9:00 AM."]  # no name known yet: tidied away
    texts = thread_texts(h, root)
    [automatic] = [t for t in texts if "Automatic reply by smsbridge" in t]
    assert "We open Wednesday 9:00 AM" in automatic and any(s in automatic for s in ("Sent", "Delivered", "Queued"))
    rows = await h.rows("SELECT kind, author_name FROM messages WHERE direction = 'out' ORDER BY id")
    assert [tuple(r) for r in rows] == [("automated", "smsbridge")]

    clock.set(chicago(1, 23))  # the same closed period: nothing more
    await h.text_in("Hello??")
    await h.drain()
    assert len(bodies(h)) == 1

    clock.set(chicago(2, 10))  # open: no after-hours answer, and the first contact was answered already
    await h.text_in("Morning!")
    await h.drain()
    assert len(bodies(h)) == 1

    await h.teammate(root, "!contact name Dana Smith")
    await h.drain()
    clock.set(chicago(4, 19))  # Friday evening: a new closed period, over the weekend
    await h.text_in("One more thing")
    await h.drain()
    assert bodies(h)[1:] == ["Hi Dana, Acme Bikes is closed. We open Monday 9:00 AM."]


async def test_a_first_text_in_open_hours_gets_the_first_contact_answer_once(auto: tuple[Harness, ManualClock]) -> None:
    h, clock = auto
    clock.set(chicago(2, 10))  # Wednesday morning, open
    await h.text_in("Hi, do you fix e-bikes?")
    root = await h.first_thread()
    await h.drain()
    assert bodies(h) == ["Thanks for texting Acme Bikes! Reply STOP to opt out."]
    assert any("Automatic reply by smsbridge" in t for t in thread_texts(h, root))
    await h.text_in("And tyres?")
    await h.drain()
    clock.set(chicago(2, 18))  # closed that evening: the after-hours answer, once; no second greeting
    await h.text_in("Still there?")
    await h.text_in("Hello?")
    await h.drain()
    assert bodies(h) == ["Thanks for texting Acme Bikes! Reply STOP to opt out.", "Hi, Acme Bikes is closed. We open Thursday 9:00 AM."]


async def test_a_retried_webhook_gets_no_second_auto_reply(auto: tuple[Harness, ManualClock]) -> None:
    h, _ = auto
    params = h.inbound_params("hello", sid="SMretried0001")
    for _ in range(3):
        status, _text = await h.twilio_post("/twilio/sms", params)
        assert status == 200
    await h.first_thread()
    await h.drain()
    assert len(bodies(h)) == 1
    assert len(await h.rows("SELECT id FROM messages WHERE direction = 'in'")) == 1


async def test_no_auto_reply_to_stop_help_or_an_opted_out_contact(auto: tuple[Harness, ManualClock]) -> None:
    h, _ = auto
    await h.text_in("STOP")
    await h.first_thread()
    await h.drain()
    [confirmation] = bodies(h)
    assert "unsubscribed" in confirmation
    await h.text_in("why did you text me")  # opted out: silence
    await h.drain()
    assert len(bodies(h)) == 1

    await h.text_in("HELP", sender=OTHER_CUSTOMER)
    await h.drain()
    [help_answer] = bodies(h, OTHER_CUSTOMER)
    assert help_answer.startswith("Acme Bikes: Reply STOP")
    await h.text_in("please stop texting me", sender=OTHER_CUSTOMER)  # reads like an opt-out
    await h.drain()
    assert len(bodies(h, OTHER_CUSTOMER)) == 1


async def test_auto_replies_are_off_unless_configured(databases: Any) -> None:
    h = Harness(databases, smsbridge_timezone=ZONE, smsbridge_hours="mon-fri 09:00-17:00")
    await h.start()
    try:
        assert h.bridge is not None
        h.bridge.use_clock(ManualClock(chicago(1, 18)))
        await h.text_in("hello")
        await h.first_thread()
        await h.drain()
        assert h.sms_sent() == []
    finally:
        await h.stop()


async def test_per_inbox_templates_and_a_first_contact_only_once_per_number(databases: Any) -> None:
    h = Harness(
        databases,
        smsbridge_first_contact_reply=FIRST,
        inbox=[{"name": "night", "number": "+14155550198", "slack_channel": "C0NIGHT", "timezone": "Europe/Paris",
                "hours": "daily 20:00-24:00", "first_contact_reply": "", "after_hours_reply": "Back at {next_open} Paris time."}],
    )
    await h.start()
    try:
        assert h.bridge is not None
        h.slack.set_channel("C0NIGHT", "night")
        h.bridge.use_clock(ManualClock(chicago(1, 10)))  # 17:00 in Paris: night is closed
        await h.text_in("hi", to="+14155550198")
        await h.text_in("hi")  # the default inbox: always open, first contact only
        await h.text_in("hi again")
        await h.drain()
        assert sorted(bodies(h)) == ["Back at Tuesday 8:00 PM Paris time.", "Thanks for texting Acme Bikes! Reply STOP to opt out."]
    finally:
        await h.stop()


async def test_discord_post_shows_the_auto_reply_sent_by_smsbridge(databases: Any) -> None:
    h = Harness(databases, discord=True, smsbridge_slack_channel=None, smsbridge_timezone=ZONE,
                smsbridge_hours="mon-fri 09:00-17:00", smsbridge_after_hours_reply=AFTER, smsbridge_first_contact_reply=FIRST)
    await h.start()
    try:
        assert h.bridge is not None and h.discord is not None
        h.bridge.use_clock(ManualClock(chicago(5, 12)))  # Saturday
        await h.text_in("open today?")
        post = await h.first_post()
        await h.drain()
        assert bodies(h) == ["Hi, Acme Bikes is closed. We open Monday 9:00 AM."]  # one answer: after hours wins
        contents = [str(m["content"]) for m in h.post_messages(post["id"])]
        assert [c for c in contents if "Automatic reply by smsbridge" in c] == [
            next(c for c in contents if "We open Monday 9:00 AM" in c)
        ]
    finally:
        await h.stop()


def test_next_open_reads_as_a_day_and_a_time_and_blanks_are_tidied() -> None:
    now = datetime(2026, 3, 6, 18, 0)  # a Friday
    assert next_open_text(datetime(2026, 3, 9, 9, 0), now) == "Monday 9:00 AM"
    assert next_open_text(datetime(2026, 3, 6, 19, 30), now) == "Friday 7:30 PM"
    assert next_open_text(datetime(2026, 3, 16, 9, 0), now) == "Mon Mar 16 9:00 AM"
    assert render("Hi {first_name}, see you {next_open}!", {"next_open": "Monday 9:00 AM"}) == "Hi, see you Monday 9:00 AM!"


async def test_dst_spring_forward_next_open_is_local_wall_time(databases: Any) -> None:
    h = Harness(databases, smsbridge_timezone="America/New_York", smsbridge_hours="daily 02:30-05:00; daily 09:00-17:00",
                smsbridge_after_hours_reply="We open {next_open}.")
    await h.start()
    try:
        assert h.bridge is not None
        # Sunday 8 March 2026, 01:00 EST: the 02:30 opening falls in the skipped hour.
        h.bridge.use_clock(ManualClock(datetime(2026, 3, 8, 6, 0, tzinfo=UTC)))
        await h.text_in("hello")
        await h.first_thread()
        await h.drain()
        assert bodies(h) == ["We open Sunday 3:30 AM."]
    finally:
        await h.stop()


def test_a_bad_template_stops_check_naming_the_setting(tmp_path: Path) -> None:
    result = _cli(["check"], tmp_path, {"SMSBRIDGE_AFTER_HOURS_REPLY": "Closed until {next_open"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "SMSBRIDGE_AFTER_HOURS_REPLY: a '{' is not part of a {variable}" in result.stderr
