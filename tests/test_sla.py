"""SLA clocks as the team sees them: the card's "reply due in 12 min" / "overdue by 5 min",
one warning at 80% and one at the breach (to the assignee, or the thread when nobody has
it), a reply stopping the clock, the next text starting the next-reply clock, business
hours, the overdue queue and breaches on record; warnings fire once across a restart.
Through slack-bolt and discord.py against the fakes, on both databases, with a hand-moved
clock."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bridge.inbox import report_queries
from bridge.inbox.clock import ManualClock
from bridge.inbox.models import utcnow
from bridge.inbox.report_render import chat_text
from tests.harness import CHANNEL, CUSTOMER, FORUM, Harness

SLA = {"smsbridge_sla_first_reply": "15m", "smsbridge_sla_next_reply": "10m"}


async def _move(h: Harness, clock: ManualClock, minutes: float) -> None:
    await h.advance(clock, timedelta(minutes=minutes))


def _card(h: Harness) -> str:
    card = h.slack.get(CHANNEL, str(h.roots()[0]["ts"]))
    assert card is not None
    return str(card["blocks"][1]["elements"][0]["text"])


def _bot_lines(h: Harness) -> list[str]:
    return [str(m.get("text")) for m in h.thread(str(h.roots()[0]["ts"])) if str(m.get("text", "")).startswith(("⏰", "🚨"))]


@pytest.fixture
async def timed(databases: Any) -> AsyncIterator[tuple[Harness, ManualClock]]:
    h = Harness(databases, **SLA)
    await h.start()
    clock = ManualClock(utcnow())
    await h.follow_clock(clock)
    yield h, clock
    await h.stop()


async def test_the_clock_warns_once_breaches_once_and_a_reply_stops_it(timed: tuple[Harness, ManualClock]) -> None:
    h, clock = timed
    await h.text_in("Is my bike ready?")
    thread = await h.first_thread()
    await h.drain()
    assert "⏱️ *SLA:* reply due in 15 min" in _card(h)

    await _move(h, clock, 12)  # 80% of 15 min
    assert _bot_lines(h) == ["⏰ Unassigned (`!claim` takes it): the first reply is due in 3 min (SLA 15 min)."]
    assert "reply due in 3 min" in _card(h)
    await _move(h, clock, 8)  # 5 min past the deadline
    assert _bot_lines(h)[1:] == ["🚨 Unassigned (`!claim` takes it): the first reply is overdue (SLA 15 min)."]
    assert "⏱️ *SLA:* overdue by 5 min" in _card(h)
    await _move(h, clock, 60)
    assert len(_bot_lines(h)) == 2  # once each, never repeated

    overdue = await h.sms_command("queue overdue")
    assert overdue["text"] == "*Overdue* (past their SLA) — 1, longest wait first:"
    assert "overdue by 1 h 5 min" in str(overdue["blocks"])
    [(clock_name, breached)] = await h.rows("SELECT clock, breached_at FROM sla_breaches")
    assert clock_name == "first_reply" and breached is not None
    audited = [row[0] for row in await h.rows("SELECT action FROM audit_events WHERE actor = 'smsbridge' ORDER BY id")]
    assert audited == ["sla_warned", "sla_breached"]
    assert h.bridge is not None
    async with h.bridge.db.sessions() as session:
        report = await report_queries.build(session, report_queries.Scope(clock.now() - timedelta(days=1), clock.now()))
    assert report.sla_breaches == {"first_reply": 1}
    assert "• SLA breaches: first reply 1" in chat_text(report, "today").plain().split("\n")

    # A reply stops the clock: no line on the card, the queue's overdue view is empty.
    await h.teammate(thread, "!r Yes, ready at 5.")
    await h.drain()
    assert "SLA" not in _card(h)
    assert (await h.sms_command("queue overdue"))["text"] == "Nothing overdue — nice."
    # The customer's next text starts the next-reply clock (10 min).
    await h.text_in("Great, can I pay by card?")
    await h.slack.wait_for(lambda: "reply due in 10 min" in _card(h), message="the next-reply clock on the card")
    await _move(h, clock, 8)
    assert _bot_lines(h)[2:] == ["⏰ Unassigned (`!claim` takes it): the next reply is due in 2 min (SLA 10 min)."]
    await h.teammate(thread, "!r Sure.")
    await h.drain()
    await _move(h, clock, 30)
    assert len(_bot_lines(h)) == 3  # the reply cancelled the breach


async def test_the_assignee_is_pinged_and_closing_stops_the_resolution_clock(databases: Any) -> None:
    h = Harness(databases, smsbridge_assign="round-robin", smsbridge_sla_resolution="1h", **SLA)
    await h.start()
    try:
        await h.sms_command("back", user="UANA")
        clock = ManualClock(utcnow())
        await h.follow_clock(clock)
        await h.text_in("hello")
        thread = await h.first_thread()
        await h.drain()
        await _move(h, clock, 12)
        assert _bot_lines(h) == ["⏰ <@UANA>: the first reply is due in 3 min (SLA 15 min)."]
        await h.teammate(thread, "!r Hi!")
        await h.drain()
        assert "resolution due in 48 min" in _card(h)
        await h.teammate(thread, "!close")
        await h.drain()
        await _move(h, clock, 120)
        assert len(_bot_lines(h)) == 1  # closed: no resolution warning, no breach
        assert await h.rows("SELECT id FROM sla_breaches") == []
    finally:
        await h.stop()


async def test_warnings_fire_once_across_a_restart(databases: Any) -> None:
    h = Harness(databases, **SLA)
    await h.start()
    try:
        start = utcnow()
        await h.follow_clock(ManualClock(start))
        await h.text_in("hello")
        await h.first_thread()
        await h.drain()
        await h.restart()  # a new process: the clocks live in the database
        clock = ManualClock(start + timedelta(minutes=13))
        await h.follow_clock(clock)
        await h.drain()
        assert len(_bot_lines(h)) == 1
        await h.restart()
        await h.follow_clock(clock)
        await _move(h, clock, 5)
        await h.restart()
        await h.follow_clock(clock)
        await _move(h, clock, 60)
        assert [line[0] for line in _bot_lines(h)] == ["⏰", "🚨"]
        assert len(await h.rows("SELECT id FROM sla_breaches")) == 1
    finally:
        await h.stop()


async def test_clocks_count_business_hours(databases: Any) -> None:
    h = Harness(databases, smsbridge_hours="mon-fri 09:00-17:00", smsbridge_timezone="UTC", **SLA)
    await h.start()
    try:
        friday = datetime(2026, 12, 4, 16, 55, tzinfo=UTC)
        await h.follow_clock(ManualClock(friday))
        await h.text_in("hello")
        await h.first_thread()
        await h.drain()
        due = await h.rows("SELECT due_at FROM timers WHERE key LIKE :k", k="sla:%breach")
        # 5 minutes on Friday, 10 on Monday morning.
        assert [str(row[0])[:16] for row in due] == ["2026-12-07 09:10"]
        assert "reply due in 2 d 16 h" in _card(h)
    finally:
        await h.stop()


async def test_discord_card_shows_the_clock(databases: Any) -> None:
    h = Harness(databases, discord=True, smsbridge_slack_channel=None, **SLA)
    await h.start()
    try:
        await h.follow_clock(ManualClock(utcnow()))
        await h.text_in("hello")
        post = await h.first_post()
        assert h.discord is not None
        fields = {f["name"]: f["value"] for f in h.post_messages(post["id"])[0]["embeds"][0]["fields"]}
        assert fields["SLA"] == "reply due in 15 min"
        assert FORUM
    finally:
        await h.stop()


def test_sla_targets_are_checked_per_inbox() -> None:
    from pydantic import ValidationError

    from bridge.config import InboxConfig

    with pytest.raises(ValidationError) as caught:
        InboxConfig(name="sales", sla_first_reply="1.5h")
    assert "sla_first_reply" in str(caught.value)
    assert InboxConfig(name="sales", sla_next_reply="1h30m").sla_next_reply == timedelta(minutes=90)
    assert CUSTOMER


PRIORITY_SLA = {**SLA, "smsbridge_sla_priority": "urgent: first_reply=5m next_reply=5m; low: first_reply=1h"}


def _queue_rows(answer: dict[str, Any]) -> list[str]:
    return [str(b["text"]["text"]) for b in answer.get("blocks", []) if b.get("type") == "section" and b["text"]["text"].startswith("•")]


async def test_a_rule_sets_the_priority_and_its_own_target_runs_the_clock(databases: Any) -> None:
    rules = [{"name": "Urgent", "keyword": "urgent", "priority": "urgent"}]
    h = Harness(databases, rule=rules, **PRIORITY_SLA)
    await h.start()
    try:
        clock = ManualClock(utcnow())
        await h.follow_clock(clock)
        await h.text_in("URGENT: the bike is stuck in the shop")
        await h.first_thread()
        await h.drain()
        assert "⏱️ *SLA:* reply due in 5 min (urgent SLA 5 min)" in _card(h)
        row = _queue_rows(await h.sms_command("queue"))[0]
        assert "🔴 Urgent · unassigned" in row and row.endswith("reply due in 5 min")
        await _move(h, clock, 4)  # 80% of 5 min
        assert _bot_lines(h) == ["⏰ Unassigned (`!claim` takes it): the first reply is due in 1 min (SLA 5 min)."]
        await _move(h, clock, 2)
        assert _bot_lines(h)[1:] == ["🚨 Unassigned (`!claim` takes it): the first reply is overdue (SLA 5 min)."]
        overdue = _queue_rows(await h.sms_command("queue overdue"))
        assert len(overdue) == 1 and "overdue by 1 min" in overdue[0]
        # The Slack Home tab shows the same overdue view to whoever opens it.
        home = await h.open_home("UBEN")
        texts = [b["text"]["text"] for b in home["blocks"] if b["type"] == "section"]
        assert "*Overdue* (past their SLA) — 1, longest wait first:" in texts
        assert "*Unassigned* — 1, longest wait first:" in texts and "Nothing assigned to you." in texts
        assert sum("🔴 Urgent · unassigned" in t and "overdue by 1 min" in t for t in texts) == 2  # in both views
    finally:
        await h.stop()


async def test_priority_set_by_command_re_times_the_running_clock_from_its_start(databases: Any) -> None:
    h = Harness(databases, **PRIORITY_SLA)
    await h.start()
    try:
        clock = ManualClock(utcnow())
        await h.follow_clock(clock)
        await h.text_in("Is my bike ready?")
        thread = await h.first_thread()
        await h.drain()
        assert "⏱️ *SLA:* reply due in 15 min" in _card(h) and "urgent SLA" not in _card(h)
        await _move(h, clock, 2)
        await h.teammate(thread, "!priority urgent")
        await h.drain()
        assert "reply due in 3 min (urgent SLA 5 min)" in _card(h)  # 5 min from the text, not from the command
        [(detail,)] = await h.rows("SELECT detail FROM audit_events WHERE action = 'sla_retimed'")
        detail = json.loads(detail) if isinstance(detail, str) else detail
        assert (detail["clock"], detail["priority"], detail["target"]) == ("first_reply", "urgent", 300)
        await _move(h, clock, 2)  # 4 min after the text: 80% of 5 min
        assert _bot_lines(h) == ["⏰ Unassigned (`!claim` takes it): the first reply is due in 1 min (SLA 5 min)."]
        await _move(h, clock, 1.5)
        assert _bot_lines(h)[1:] == ["🚨 Unassigned (`!claim` takes it): the first reply is overdue (SLA 5 min)."]
        await _move(h, clock, 15)  # the 15-minute clock it replaced never fires
        assert len(_bot_lines(h)) == 2
    finally:
        await h.stop()


def test_sla_targets_per_priority_are_checked_and_merged_per_inbox() -> None:
    from pydantic import ValidationError

    from bridge.config import Settings

    base = {"_env_file": None, "smsbridge_number": "+14155550100"}
    for value, named in [
        ("huge: first_reply=5m", "'huge' is not a priority"),
        ("urgent: first=5m", "'first' (priority urgent) is not an SLA clock"),
        ("urgent: first_reply=5", "smsbridge_sla_priority"),
        ("urgent first_reply=5m", "is not `priority: clock=duration …`"),
    ]:
        with pytest.raises(ValidationError) as caught:
            Settings(**base, smsbridge_sla_priority=value)  # type: ignore[arg-type]
        assert named in str(caught.value) and "smsbridge_sla_priority" in str(caught.value)
    settings = Settings(
        **base,  # type: ignore[arg-type]
        smsbridge_sla_priority="urgent: first_reply=5m resolution=4h",
        inbox=[{"name": "vip", "number": "+14155550199", "sla_priority": {"urgent": {"first_reply": "2m"}, "high": {"next_reply": "20m"}}}],
    )
    default, vip = settings.inboxes()
    assert default.sla_priority == {"urgent": {"first_reply": timedelta(minutes=5), "resolution": timedelta(hours=4)}}
    assert vip.sla_priority == {
        "urgent": {"first_reply": timedelta(minutes=2), "resolution": timedelta(hours=4)},
        "high": {"next_reply": timedelta(minutes=20)},
    }


async def test_a_rule_that_closes_the_conversation_stops_its_clocks(databases: Any) -> None:
    h = Harness(databases, rule=[{"name": "Thanks", "regex": "(?i)^thanks", "status": "closed"}], smsbridge_assign="round-robin", **SLA)
    await h.start()
    try:
        await h.sms_command("back", user="UANA")
        clock = ManualClock(utcnow())
        await h.follow_clock(clock)
        await h.text_in("Is my bike ready?")
        await h.first_thread()
        await h.drain()
        assert "reply due in 15 min" in _card(h)
        await _move(h, clock, 5)
        await h.text_in("thanks, found it!")
        await h.drain()
        await h.slack.wait_for(lambda: "⏱️ *SLA:*" not in _card(h), message="the card without a clock")
        assert "Closed" in _card(h)
        await _move(h, clock, 30)
        assert _bot_lines(h) == []  # neither warned nor breached
        assert (await h.sms_command("queue overdue"))["text"] == "Nothing overdue — nice."
    finally:
        await h.stop()
