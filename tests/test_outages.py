"""Outages and crashes delay delivery but never drop or duplicate a message."""

from __future__ import annotations

from datetime import datetime

from tests.harness import OTHER_CUSTOMER, Harness


def _send_attempts(h: Harness) -> int:
    """POSTs to Twilio's Messages endpoint, accepted or not."""
    return sum(1 for method, path in h.twilio.requests if method == "POST" and path.endswith("/Messages.json"))


def _status_lines(h: Harness, root: str) -> list[str]:
    return [str(m["text"]) for m in h.thread(root) if "SMS by" in m["text"]]


async def _thread_with_customer(h: Harness) -> str:
    await h.text_in("hello")
    return await h.first_thread()


async def test_provider_5xx_and_429_are_retried_once_each(harness: Harness) -> None:
    root = await _thread_with_customer(harness)
    harness.twilio.fail_next(count=2, status=503)
    harness.twilio.fail_next(count=1, status=429, code=20429)
    await harness.teammate(root, "!r after a bumpy ride")
    await harness.drain()
    assert [m["Body"] for m in harness.sms_sent()] == ["after a bumpy ride"]
    assert [tuple(r) for r in await harness.rows("SELECT status FROM messages WHERE direction='out'")] == [("queued",)]


async def test_provider_outage_queues_replies_and_drains_them_in_order(harness: Harness) -> None:
    root = await _thread_with_customer(harness)
    before = len(harness.twilio.requests)
    harness.twilio.outage = True
    for text in ("one", "two", "three"):
        await harness.teammate(root, f"!r {text}")
    # The first reply is tried, refused and retried (a retry first looks for an earlier
    # send); the others wait behind it.
    await harness.twilio.wait_for(lambda: len(harness.twilio.requests) >= before + 2, message="a retried send")
    # The first says the provider is refusing it; the others wait their turn behind it.
    await harness.slack.wait_for(
        lambda: len(lines := _status_lines(harness, root)) == 3 and "Retrying (Twilio 503), attempt" in lines[0],
        message="three status lines, the first retrying",
    )
    assert harness.sms_sent() == []
    assert all("— Queued" in line for line in _status_lines(harness, root)[1:])
    harness.twilio.outage = False
    await harness.drain()
    assert [m["Body"] for m in harness.sms_sent()] == ["one", "two", "three"]


async def test_rejected_send_fails_with_reason_and_is_not_retried(harness: Harness) -> None:
    root = await _thread_with_customer(harness)
    harness.twilio.fail_next(count=1, status=400, code=21614)
    await harness.teammate(root, "!r to a landline")
    await harness.drain()
    assert harness.sms_sent() == []
    [line] = _status_lines(harness, root)
    assert "Failed" in line and "not a mobile number" in line
    assert _send_attempts(harness) == 1


async def test_answer_lost_after_twilio_accepted_is_not_sent_twice(harness: Harness) -> None:
    root = await _thread_with_customer(harness)
    harness.twilio.lose_answer_next()
    await harness.teammate(root, "!r exactly once")
    await harness.drain()
    assert [m["Body"] for m in harness.sms_sent()] == ["exactly once"]
    sid = harness.sms_sent()[0]["sid"]
    assert [tuple(r) for r in await harness.rows("SELECT provider_sid FROM messages WHERE direction='out'")] == [(sid,)]


async def test_slack_outage_keeps_texts_and_posts_them_in_order(harness: Harness) -> None:
    harness.slack.outage = True
    before = len(harness.slack.calls)
    for text in ("a", "b", "c"):
        await harness.text_in(text)
    await harness.text_in("other", sender=OTHER_CUSTOMER)
    # Both conversations' cards are tried, then retried (a retry first looks for an
    # earlier post), while Slack is down.
    await harness.slack.wait_for(
        lambda: len(harness.slack.calls_to("chat.postMessage")) >= 2 and len(harness.slack.calls) >= before + 4, message="retried posts"
    )
    assert harness.slack.posts == []
    harness.slack.outage = False
    await harness.drain()
    roots = harness.roots()
    assert len(roots) == 2
    assert [m["text"] for m in harness.thread(roots[0]["ts"])] in (["a", "b", "c"], ["other"])
    threads = sorted([[m["text"] for m in harness.thread(r["ts"])] for r in roots])
    assert threads == [["a", "b", "c"], ["other"]]


async def test_slack_lost_answer_does_not_duplicate_card_or_text(harness: Harness) -> None:
    harness.slack.lose_answer_next("chat.postMessage", count=2)  # the card, then the text
    await harness.text_in("no duplicates please")
    await harness.drain()
    assert len(harness.roots()) == 1
    assert [m["text"] for m in harness.thread(harness.roots()[0]["ts"])] == ["no duplicates please"]


async def test_slack_rate_limit_pauses_and_keeps_order(harness: Harness) -> None:
    harness.slack.rate_limit("chat.postMessage", per_channel_interval=0.2, retry_after=1)
    for i in range(4):
        await harness.text_in(f"burst {i}")
    await harness.drain(timeout=20)
    root = harness.roots()[0]["ts"]
    assert [m["text"] for m in harness.thread(root)] == [f"burst {i}" for i in range(4)]
    limited = [c for c in harness.slack.calls if c[0] == "chat.postMessage"]
    assert len(limited) > len(harness.slack.posts)  # some were refused with 429 and retried


async def test_restart_with_pending_jobs_loses_and_duplicates_nothing(harness: Harness) -> None:
    root = await _thread_with_customer(harness)
    await harness.drain()
    harness.twilio.outage = True
    await harness.teammate(root, "!r sent after the restart")
    harness.slack.outage = True
    slack_calls = len(harness.slack.calls)
    await harness.text_in("arrived during the outage")
    # Both outages have refused an attempt before the process dies.
    await harness.twilio.wait_for(lambda: _send_attempts(harness) >= 1, message="a send attempt")
    await harness.slack.wait_for(lambda: len(harness.slack.calls) > slack_calls, message="a Slack attempt")
    await harness.restart()  # the process dies with jobs in its outbox
    harness.twilio.outage = False
    harness.slack.outage = False
    await harness.drain()
    assert [m["Body"] for m in harness.sms_sent()] == ["sent after the restart"]
    texts = [m["text"] for m in harness.thread(root)]
    assert texts.count("arrived during the outage") == 1
    assert sum("SMS by" in t for t in texts) == 1


async def test_crash_mid_job_is_taken_over_after_the_lease(harness: Harness) -> None:
    """A job claimed by a process that died runs again once its lease runs out."""
    root = await _thread_with_customer(harness)
    await harness.drain()
    assert harness.bridge is not None
    await harness.bridge.worker.stop()  # this "process" stops working but keeps its claim
    await harness.teammate(root, "!r survives a crash")
    claimed = await harness.bridge.outbox.claim(10)
    assert "sms.send" in [j.kind for j in claimed]
    async with harness.bridge.db.engine.begin() as conn:
        from sqlalchemy import text

        await conn.execute(text("UPDATE outbox_jobs SET locked_until = :t WHERE state = 'running'"), {"t": datetime(2000, 1, 1)})
    await harness.restart()
    await harness.drain()
    assert [m["Body"] for m in harness.sms_sent()] == ["survives a crash"]
    assert sum("SMS by" in m["text"] for m in harness.thread(root)) == 1


async def test_event_during_slack_web_api_outage_is_refused_for_a_later_retry(databases) -> None:  # type: ignore[no-untyped-def]
    h = Harness(databases)
    await h.start()
    try:
        await h.text_in("hello")
        root = await h.first_thread()
        await h.drain()
        h.slack.outage = True  # a fresh process that never reached auth.test
        await h.restart()
        event = h.teammate_event(root, "!r delivered on Slack's retry")
        envelope = h.slack.make_event_callback(event, event_id="EvRetry1")
        import json

        status, reason = await h.slack_post(json.dumps(envelope))
        assert status == 503 and "retry" in reason
        h.slack.outage = False
        await h.slack_event(event, event_id="EvRetry1", retry_num=1)
        await h.drain()
        assert [m["Body"] for m in h.sms_sent()] == ["delivered on Slack's retry"]
    finally:
        await h.stop()
