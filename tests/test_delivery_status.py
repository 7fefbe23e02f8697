"""A reply the provider refuses says so on its status line, in every chat: the attempt
and the provider's answer while the outbox retries it, and the reason when it gives up.
The real twilio client talks to the Twilio fake."""

from __future__ import annotations

import re
from typing import Any

from tests.harness import Harness

RETRYING = re.compile(r"🔁 SMS by Ana to \(415\) 555-0101 — Retrying \(Twilio 500\), attempt (\d+)")


def _status_line(h: Harness, root: str) -> str:
    lines = [m["text"] for m in h.thread(root) if "SMS by" in m["text"]]
    assert len(lines) <= 1, lines  # one line, edited in place
    return lines[0] if lines else ""


def _attempt(h: Harness, root: str) -> int:
    found = RETRYING.match(_status_line(h, root))
    return int(found.group(1)) if found else 0


async def test_refused_reply_shows_attempt_and_reason_then_goes_out_once(harness: Harness) -> None:
    await harness.text_in("hello")
    root = await harness.first_thread()
    harness.twilio.refuse_sends(500)
    await harness.teammate(root, "!r on its way")
    await harness.slack.wait_for(lambda: _attempt(harness, root) >= 3, message="the status line at attempt 3")
    assert harness.sms_sent() == []
    assert [tuple(r) for r in await harness.rows("SELECT status FROM messages WHERE direction='out'")] == [("retrying",)]

    harness.twilio.refuse_sends(None)
    await harness.slack.wait_for(lambda: "Queued" in _status_line(harness, root), message="the status line once it left")
    await harness.drain()
    assert [m["Body"] for m in harness.sms_sent()] == ["on its way"]
    line = _status_line(harness, root)
    assert line.startswith("⏳ SMS by Ana to (415) 555-0101 — Queued") and "Retrying" not in line and "Twilio" not in line


async def test_reply_the_provider_never_takes_fails_with_the_reason(databases: Any) -> None:
    h = Harness(databases, sms_give_up_seconds=1.0, discord=True)
    await h.start()
    try:
        assert h.discord is not None
        await h.text_in("hello")
        root = await h.first_thread()
        post = await h.first_post()
        h.twilio.refuse_sends(500)
        await h.teammate(root, "!r this will not leave")
        await h.slack.wait_for(lambda: _attempt(h, root) >= 1, message="retrying")
        await h.slack.wait_for(lambda: "Failed" in _status_line(h, root), timeout=15, message="failed once it gave up")
        await h.drain()
        line = _status_line(h, root)
        assert line.startswith("❌ SMS by Ana to (415) 555-0101 — Failed: Not sent: gave up after ")
        assert "Twilio 500" in line
        assert h.sms_sent() == []
        [discord_line] = [m["content"] for m in h.post_messages(post["id"]) if "SMS by" in m["content"]]
        assert discord_line.startswith("❌ SMS by Ana (from Slack) to (415) 555-0101 — Failed: Not sent: gave up after ")
        rows = await h.rows("SELECT status, send_attempts FROM messages WHERE direction='out'")
        assert [(status, attempts >= 1) for status, attempts in rows] == [("failed", True)]
    finally:
        await h.stop()
