"""`!snooze WHEN`, `!remind WHEN [text]` and the pending reminder, as the thread shows them,
through slack-bolt and discord.py against the fakes, on both databases, with a hand-moved
clock; and `!snooze yesterday` refused with examples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bridge.inbox.clock import ManualClock
from tests.harness import CHANNEL, FORUM, Harness

MONDAY = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def _texts(h: Harness, thread: str) -> list[str]:
    return [str(m.get("text")) for m in h.thread(thread)]


def _card(h: Harness, thread: str) -> str:
    card = h.slack.get(CHANNEL, thread)
    assert card is not None
    return str(card["blocks"][1]["elements"][0]["text"])


async def _started(databases: Any, **settings: Any) -> tuple[Harness, ManualClock, str]:
    h = Harness(databases, **settings)
    await h.start()
    clock = ManualClock(MONDAY)
    await h.follow_clock(clock)
    await h.text_in("Is my bike ready?")
    thread = await h.first_thread()
    await h.drain()
    return h, clock, thread


async def test_snooze_sets_pending_and_reopens_with_a_note(databases: Any) -> None:
    h, clock, thread = await _started(databases)
    try:
        await h.teammate(thread, "!snooze tomorrow 9am")
        await h.drain()
        assert "💤 Snoozed until Tue 8 Dec 2026 09:00 (UTC) by Ana: pending until then." in _texts(h, thread)
        assert "Pending" in _card(h, thread)
        await h.advance(clock, timedelta(hours=22))
        assert not any(t.startswith("⏰ Snooze over") for t in _texts(h, thread))
        await h.advance(clock, timedelta(hours=1))
        assert "⏰ Snooze over: open again (snoozed by Ana)." in _texts(h, thread)
        assert "Open" in _card(h, thread)
        actions = [row[0] for row in await h.rows("SELECT action FROM audit_events WHERE action LIKE 'snooze%' ORDER BY id")]
        assert actions == ["snoozed", "snooze_ended"]
    finally:
        await h.stop()


async def test_snooze_yesterday_is_refused_with_examples_and_changes_nothing(databases: Any) -> None:
    h, _clock, thread = await _started(databases)
    try:
        await h.teammate(thread, "!snooze yesterday")
        await h.drain()
        await h.slack.wait_for(lambda: bool(h.slack.ephemerals), message="the refusal")
        refusal = next(str(e["text"]) for e in h.slack.ephemerals if e["user"] == "UANA")
        assert "yesterday" in refusal and "passed" in refusal, refusal
        assert "tomorrow 9am" in refusal and "in 2 hours" in refusal
        assert await h.rows("SELECT id FROM timers WHERE kind = 'snooze.wake'") == []
        assert "Pending" not in _card(h, thread)
    finally:
        await h.stop()


async def test_remind_pings_the_asker_once(databases: Any) -> None:
    h, clock, thread = await _started(databases)
    try:
        await h.teammate(thread, "!remind in 2 hours call the shop", user="UBEN")
        await h.drain()
        await h.advance(clock, timedelta(minutes=119))
        assert not any(t.startswith("🔔") for t in _texts(h, thread))
        await h.advance(clock, timedelta(minutes=2))
        await h.advance(clock, timedelta(hours=5))
        assert [t for t in _texts(h, thread) if t.startswith("🔔")] == ["🔔 Reminder for <@UBEN>: call the shop"]
    finally:
        await h.stop()


async def test_a_conversation_pending_too_long_reminds_its_assignee(databases: Any) -> None:
    h, clock, thread = await _started(databases, smsbridge_pending_remind="2d")
    try:
        await h.teammate(thread, "!claim")
        await h.teammate(thread, "!status pending")
        await h.drain()
        await h.advance(clock, timedelta(days=2, minutes=1))
        assert "🔔 <@UANA>: this conversation has been pending for 2 d." in _texts(h, thread)
    finally:
        await h.stop()


async def test_discord_snooze_in_a_post(databases: Any) -> None:
    h = Harness(databases, discord=True, smsbridge_slack_channel=None)
    await h.start()
    try:
        assert h.discord is not None
        clock = ManualClock(MONDAY)
        await h.follow_clock(clock)
        await h.text_in("hello")
        post = await h.first_post()
        from tests.harness import DISCORD_ANA

        await h.discord.user_message(post["id"], DISCORD_ANA, "!snooze in 2 hours")
        await h.discord.wait_for(
            lambda: any("💤 Snoozed until" in m["content"] for m in h.post_messages(post["id"])), message="the snooze note"
        )
        await h.drain()
        await h.advance(clock, timedelta(hours=2))
        await h.discord.wait_for(
            lambda: any(m["content"].startswith("⏰ Snooze over") for m in h.post_messages(post["id"])), message="the wake-up note"
        )
        assert FORUM
    finally:
        await h.stop()
