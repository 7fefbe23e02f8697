"""The digest (SMSBRIDGE_DIGEST): the report of the day that ended, posted to the inbox's
channel by itself through the durable scheduler, with the conversations at risk and the
teammates below the daily minimum; once per period, across a restart too. Time is a
ManualClock; Slack and Discord are the loopback fakes driven by slack-bolt and discord.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bridge.inbox.clock import ManualClock
from bridge.inbox.digest import DigestSchedule
from tests.harness import CHANNEL, DISCORD_ANA, FORUM, Harness

TODAY = datetime.now(UTC).date()  # the texts below are stored at the real time
NEXT_MORNING = datetime.combine(TODAY + timedelta(days=1), datetime.min.time(), UTC) + timedelta(hours=7)


def _digests(h: Harness) -> list[str]:
    return [m["text"] for m in h.slack.messages(CHANNEL) if "Digest" in m["text"]]


async def _settle(h: Harness) -> None:
    assert h.bridge is not None
    await h.bridge.scheduler.settle()
    await h.drain()


def test_digest_times_read_and_refused() -> None:
    zone = ZoneInfo("America/New_York")
    daily = DigestSchedule.parse("daily 08:30")
    monday = DigestSchedule.parse("Monday 8:30")
    assert monday == DigestSchedule.parse("mon 08:30") and monday.weekday == 0
    sunday_night = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)  # Sun 23:00 in New York
    assert daily.next_due(sunday_night, zone) == datetime(2026, 11, 30, 13, 30, tzinfo=UTC)
    assert monday.next_due(datetime(2026, 11, 30, 13, 30, tzinfo=UTC), zone) == datetime(2026, 12, 7, 13, 30, tzinfo=UTC)
    since, until, _label = monday.period(datetime(2026, 11, 30, 13, 30, tzinfo=UTC), zone)
    assert (since, until) == (datetime(2026, 11, 23, 5, tzinfo=UTC), datetime(2026, 11, 30, 5, tzinfo=UTC))
    for bad in ("daily", "8:30", "someday 08:30", "daily 25:00", "mon 8.30"):
        with pytest.raises(ValueError, match='"daily 08:30" or "mon 08:30"'):
            DigestSchedule.parse(bad)


async def test_slack_daily_digest_posts_once_with_risks_and_missed_minimums(databases: Any) -> None:
    clock = ManualClock(NEXT_MORNING)
    h = Harness(databases, clock=clock, smsbridge_digest="daily 08:30", smsbridge_agent_daily_minimum=3)
    await h.start()
    try:
        await h.text_in("Hi, is my bike ready?")
        root = await h.first_thread()
        await h.drain()
        await h.teammate(root, "!claim")
        await h.teammate(root, "!r Yes, come by at 5")
        await h.text_in("Do you sell helmets?", sender="+14155550111")
        await h.drain()
        await _settle(h)
        assert _digests(h) == []  # not due before 08:30

        clock.advance(timedelta(hours=1, minutes=31))
        await _settle(h)
        [digest] = _digests(h)
        assert f"Report, {TODAY:%a %d %b %Y}" in digest and "inbox default" in digest
        assert "Texts in: 2 · out: 1 (replies 1)" in digest
        assert "*Unassigned* (1)\n• (415) 555-0111 · new · unassigned · waiting" in digest
        assert "*Waiting longest* (1)\n• (415) 555-0111" in digest
        assert "Below the daily minimum" in digest and f"Ana: 1 on {TODAY:%a %d %b}" in digest
        assert [f["title"] for f in h.slack.files] == ["Busiest times", "Daily volume and first response"]

        await h.restart()  # the same morning: the digest is not posted again
        await _settle(h)
        assert len(_digests(h)) == 1

        clock.advance(timedelta(days=1))
        await _settle(h)
        digests = _digests(h)
        assert len(digests) == 2 and "No traffic in this period" in digests[1]
        assert len(h.slack.files) == 2  # a quiet day has no charts
    finally:
        await h.stop()


async def test_discord_digest_opens_a_post_in_the_forum(databases: Any) -> None:
    clock = ManualClock(NEXT_MORNING)
    h = Harness(databases, discord=True, clock=clock, smsbridge_slack_channel=None, smsbridge_digest="daily 08:30",
                admins=[f"discord:{DISCORD_ANA}"])
    await h.start()
    try:
        assert h.discord is not None
        await h.text_in("hello")
        await h.first_post()
        clock.advance(timedelta(hours=2))
        await _settle(h)
        digests = [p for p in h.posts() if p["name"].startswith("Digest")]
        assert len(digests) == 1 and digests[0]["parent_id"] == FORUM
        first = digests[0]["messages"][0]["content"]
        assert "Report, " in first and "Texts in: 1" in first and "Waiting longest" in first
    finally:
        await h.stop()
