"""Retention (SMSBRIDGE_RETENTION_DAYS, docs/compliance.md "Retention"): old message
bodies and media leave the database and the chats; consent, suppressions and notes stay.
Driven by a controllable clock (Harness.follow_clock / advance)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update

from bridge.checks import startup_warnings
from bridge.config import InboxConfig, Settings
from bridge.inbox.clock import ManualClock
from bridge.inbox.models import Message, utcnow
from tests.harness import CHANNEL, CUSTOMER, DISCORD_ANA, Harness
from tests.test_mms_out import file_share

OLD = "old words about my account"
NEW = "new words about pickup"
NOTE = "team note stays"


async def age(h: Harness, body: str, days: int) -> None:
    """Make the stored text `days` old (as if it had arrived then)."""
    assert h.bridge is not None
    async with h.bridge.db.sessions.begin() as session:
        await session.execute(update(Message).where(Message.body == body).values(created_at=utcnow() - timedelta(days=days)))


async def test_retention_removes_old_bodies_and_their_posts_and_keeps_consent(databases: Any) -> None:
    h = Harness(databases, smsbridge_retention_days=30)
    await h.start()
    try:
        clock = ManualClock(utcnow())
        await h.follow_clock(clock)
        await h.text_in(OLD)
        root = await h.first_thread()
        await h.drain()
        await h.teammate(root, NOTE)
        await h.text_in("STOP")
        await h.text_in("START")
        await h.text_in(NEW)
        await h.drain()
        await age(h, OLD, 40)
        await age(h, "STOP", 40)
        old_post = next(m for m in h.thread(root) if m["text"] == OLD)

        await h.advance(clock, timedelta(days=1))  # past the next 03:00 UTC: the sweep runs

        bodies = [r[0] for r in await h.rows("SELECT body FROM messages WHERE direction = 'in' ORDER BY id")]
        assert bodies == ["", "", "START", NEW]
        assert h.slack.get(CHANNEL, old_post["ts"])["text"] == "🗑️ Text removed after 30 days (retention)."  # type: ignore[index]
        assert any(m["text"] == NEW for m in h.thread(root))
        assert [r[0] for r in await h.rows("SELECT action FROM consent_events ORDER BY id")] == ["opt_out", "opt_in"]
        assert [r[0] for r in await h.rows("SELECT body FROM notes")] == [NOTE]
        assert (await h.sms_command("search account"))["text"].startswith("Nothing found")
        assert (await h.sms_command("search pickup"))["text"].startswith("1 conversation")
        swept = await h.rows("SELECT actor FROM audit_events WHERE action = 'retention_swept'")
        assert [r[0] for r in swept] == ["smsbridge"]

        # The next day's sweep finds nothing more to remove.
        await h.advance(clock, timedelta(days=1))
        assert len(await h.rows("SELECT id FROM audit_events WHERE action = 'retention_swept'")) == 1
        assert [r[0] for r in await h.rows("SELECT body FROM messages WHERE body = :b", b=NEW)] == [NEW]
    finally:
        await h.stop()


async def _old_mms(h: Harness, fill: bytes) -> ManualClock:
    """Time on a clock the test drives, then a customer's text with a picture (aged later)."""
    clock = ManualClock(utcnow())
    await h.follow_clock(clock)
    picture = h.twilio.add_media(b"\x89PNG" + fill * 64, "image/png")
    await h.text_in(OLD, media=[(picture, "image/png")])
    return clock


async def test_retention_deletes_the_slack_picture_of_an_old_mms(databases: Any) -> None:
    h = Harness(databases, smsbridge_retention_days=30)
    await h.start()
    try:
        clock = await _old_mms(h, b"1")
        root = await h.first_thread()
        await h.drain()
        await h.slack.wait_for(lambda: len(h.slack.files) == 1, message="the picture in the thread")
        [shared] = h.slack.files
        await h.text_in(NEW)
        await h.drain()
        await age(h, OLD, 40)

        await h.advance(clock, timedelta(days=1))

        assert h.slack.deleted_files == [shared["id"]] and h.slack.files == []
        assert not any(m.get("files") for m in h.thread(root))  # no picture left in the thread
        [first, _second] = [r[0] for r in await h.rows("SELECT media FROM messages WHERE direction = 'in' ORDER BY id")]
        assert first in ([], "[]")
    finally:
        await h.stop()


async def test_retention_edits_the_discord_post_of_an_old_text_and_removes_its_picture(databases: Any) -> None:
    h = Harness(databases, discord=True, smsbridge_slack_channel=None, smsbridge_retention_days=7,
                admins=[f"discord:{DISCORD_ANA}"])
    await h.start()
    try:
        clock = await _old_mms(h, b"2")
        post = await h.first_post()
        await h.drain()
        assert h.discord is not None
        await h.discord.wait_for(lambda: any(m["attachments"] for m in h.post_messages(post["id"])), message="the picture")
        await age(h, OLD, 8)
        await h.advance(clock, timedelta(days=1))
        shown = h.post_messages(post["id"])
        contents = [m["content"] for m in shown]
        assert contents.count("🗑️ Text removed after 7 days (retention).") == 2  # the text and its picture
        assert not any(OLD in c for c in contents)
        assert not any(m["attachments"] for m in shown)  # the picture is gone from the post
    finally:
        await h.stop()


async def test_without_retention_nothing_is_removed(databases: Any) -> None:
    h = Harness(databases)
    await h.start()
    try:
        clock = ManualClock(utcnow())
        await h.follow_clock(clock)
        await h.text_in(OLD, sender=CUSTOMER)
        await h.first_thread()
        await h.drain()
        await age(h, OLD, 4000)
        await h.advance(clock, timedelta(days=2))
        assert [r[0] for r in await h.rows("SELECT body FROM messages")] == [OLD]
    finally:
        await h.stop()


async def test_retention_redacts_old_texts_at_twilio_and_deletes_their_pictures_after_an_outage(databases: Any) -> None:
    h = Harness(databases, smsbridge_retention_days=30)
    await h.start()
    try:
        assert h.bridge is not None
        clock = ManualClock(utcnow())
        await h.follow_clock(clock)
        old = await h.text_in_kept(OLD, picture=b"\x89PNG" + b"4" * 64)
        root = await h.first_thread()
        await h.drain()
        photo = h.slack.user_file("bike.png", b"\x89PNG" + b"6" * 64, "image/png")
        await h.slack_event(file_share(h, root, "!r an old answer", photo))
        await h.drain()
        [reply] = [m["sid"] for m in h.sms_sent()]
        [reply_picture] = h.twilio.media_of(reply)  # Twilio's copy of the teammate's picture
        new = await h.text_in_kept(NEW, picture=b"\x89PNG" + b"5" * 64)
        await h.drain()
        await age(h, OLD, 40)
        await age(h, "an old answer", 40)
        [old_picture] = h.twilio.media_of(old)

        h.twilio.refuse_cleanup(500)  # Twilio is down at 03:00: the sweep still runs
        clock.advance(timedelta(days=1))
        await h.bridge.scheduler.settle()
        await h.twilio.wait_for(lambda: len(h.twilio.refused_cleanups) >= 2, message="a refused redaction, retried")
        assert [r[0] for r in await h.rows("SELECT body FROM messages WHERE direction = 'in' ORDER BY id")] == ["", NEW]
        assert h.twilio.get_message(old)["body"] == OLD  # delayed, not lost
        h.twilio.refuse_cleanup(None)
        await h.drain()

        assert h.twilio.get_message(old)["body"] == "" and h.twilio.media_of(old) == []
        assert h.twilio.get_message(reply)["body"] == "" and h.twilio.media_of(reply) == []
        assert sorted(h.twilio.deleted_media) == sorted([old_picture, reply_picture])
        assert sorted(h.twilio.redacted_messages) == sorted([old, reply])
        # Redacted, not deleted: the record of each text stays (rule 16); the new one is untouched.
        assert h.twilio.deleted_messages == []
        assert h.twilio.get_message(new)["body"] == NEW and len(h.twilio.media_of(new)) == 1
        assert await h.rows("SELECT kind FROM outbox_jobs") == []
    finally:
        await h.stop()


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, smsbridge_number="+14155550100", smsbridge_slack_channel="C0SUPPORT", **values)  # type: ignore[call-arg]


def test_check_refuses_a_retention_under_a_day_or_past_the_consent_period() -> None:
    assert not [w for w in startup_warnings(_settings(smsbridge_retention_days=90)) if "RETENTION" in w]
    [short] = [w for w in startup_warnings(_settings(smsbridge_retention_days=0)) if "RETENTION" in w]
    assert short.startswith("SMSBRIDGE_RETENTION_DAYS=0 is shorter than a day")
    assert "SMSBRIDGE_RETENTION_DAYS=90" in short
    [long] = [w for w in startup_warnings(_settings(smsbridge_retention_days=2000)) if "RETENTION" in w]
    assert long.startswith("SMSBRIDGE_RETENTION_DAYS=2000 is longer than the consent period (1461 days)")
    assert "e.g. SMSBRIDGE_RETENTION_DAYS=365" in long
    [consent] = [w for w in startup_warnings(_settings(smsbridge_consent_retention_days=365)) if "CONSENT" in w]
    assert consent.startswith("SMSBRIDGE_CONSENT_RETENTION_DAYS=365 is shorter than 4 years")
    assert "SMSBRIDGE_CONSENT_RETENTION_DAYS=1461" in consent
    sales = InboxConfig(name="sales", number="+14155550199", slack_channel="C0SALES", retention_days=0)
    [inbox] = [w for w in startup_warnings(_settings(inbox=[sales])) if "retention" in w]
    assert inbox.startswith("retention_days of [[inbox]] sales=0 is shorter than a day")
