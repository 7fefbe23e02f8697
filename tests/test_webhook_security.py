"""Bad input at the door: forged, unsigned, stale, malformed and oversized webhooks get a
4xx with a one-line reason, change nothing, and leave the service healthy."""

from __future__ import annotations

import json
import time

from tests.fakes.signing import twilio_signature
from tests.harness import PUBLIC_URL, Harness


async def nothing_stored(h: Harness) -> None:
    await h.drain()
    assert await h.rows("SELECT id FROM messages") == []
    assert h.slack.posts == []
    assert h.sms_sent() == []


async def healthy(h: Harness) -> None:
    assert h.http is not None
    async with h.http.get(h.url("/healthz")) as response:
        assert response.status == 200


async def test_forged_twilio_signature_is_refused(harness: Harness) -> None:
    params = harness.inbound_params("hello")
    status, reason = await harness.twilio_post("/twilio/sms", params, signature="bm90IGEgcmVhbCBzaWduYXR1cmU=")
    assert (status, reason.strip()) == (403, "invalid Twilio signature")
    status, _ = await harness.twilio_post("/twilio/sms", params, sign=False)
    assert status == 403
    await nothing_stored(harness)
    await healthy(harness)


async def test_signature_over_another_url_or_other_params_is_refused(harness: Harness) -> None:
    params = harness.inbound_params("hello")
    wrong_url = twilio_signature(harness.twilio.auth_token, "https://evil.example.com/twilio/sms", params)
    assert (await harness.twilio_post("/twilio/sms", params, signature=wrong_url))[0] == 403
    signed = twilio_signature(harness.twilio.auth_token, PUBLIC_URL + "/twilio/sms", params)
    tampered = [(k, "STOP" if k == "Body" else v) for k, v in params]
    assert (await harness.twilio_post("/twilio/sms", tampered, signature=signed))[0] == 403
    await nothing_stored(harness)


async def test_signed_webhook_with_several_media_urls_is_accepted(harness: Harness) -> None:
    # Repeated keys must be signed the way Twilio does (sorted values per key).
    a = harness.twilio.add_media(b"a" * 10, "image/png")
    b = harness.twilio.add_media(b"b" * 10, "image/png")
    await harness.text_in("two pictures", media=[(a, "image/png"), (b, "image/png")])
    await harness.drain()
    assert len(harness.slack.files) == 2


async def test_malformed_twilio_webhooks_get_400(harness: Harness) -> None:
    cases = {
        "missing MessageSid": [(k, v) for k, v in harness.inbound_params("x") if k != "MessageSid"],
        "missing From": [(k, v) for k, v in harness.inbound_params("x") if k != "From"],
        "NumMedia is not a number": [(k, "lots" if k == "NumMedia" else v) for k, v in harness.inbound_params("x")],
        "missing MediaUrl0": [(k, "1" if k == "NumMedia" else v) for k, v in harness.inbound_params("x")],
    }
    for expected, params in cases.items():
        status, reason = await harness.twilio_post("/twilio/sms", params)
        assert status == 400, expected
        assert expected in reason
    status, reason = await harness.twilio_post("/twilio/sms", [], body=b"\xff\xfe\x00garbage", signature="x")
    assert status == 400 and "form" in reason
    await nothing_stored(harness)
    await healthy(harness)


async def test_oversized_webhook_gets_413_and_is_not_read(harness: Harness) -> None:
    params = harness.inbound_params("x" * 200_000)
    status, reason = await harness.twilio_post("/twilio/sms", params)
    assert status == 413 and "too large" in reason
    await nothing_stored(harness)
    await healthy(harness)


async def test_retried_twilio_webhook_is_stored_once(harness: Harness) -> None:
    params = harness.inbound_params("only once", sid="SM" + "1" * 32)
    for _ in range(3):
        assert (await harness.twilio_post("/twilio/sms", params))[0] == 200
    await harness.drain()
    assert len(await harness.rows("SELECT id FROM messages")) == 1
    root = harness.roots()[0]["ts"]
    assert [m["text"] for m in harness.thread(root)] == ["only once"]


async def test_unknown_number_gets_404(harness: Harness) -> None:
    status, reason = await harness.twilio_post("/twilio/sms", harness.inbound_params("hi", to="+14155550177"))
    assert status == 404 and "no inbox" in reason
    await nothing_stored(harness)


async def test_messaging_service_pool_matches_the_inbox(databases) -> None:  # type: ignore[no-untyped-def]
    # A pool number is not configured anywhere: the MessagingServiceSid must route it.
    h = Harness(databases, smsbridge_messaging_service_sid="MG" + "a" * 32)
    await h.start()
    try:
        await h.text_in("via the pool", to="+14155550188", MessagingServiceSid="MG" + "a" * 32)
        root = await h.first_thread()
        await h.teammate(root, "!r pool reply")
        await h.drain()
        [sent] = h.sms_sent()
        assert sent["MessagingServiceSid"] == "MG" + "a" * 32 and "From" not in sent
    finally:
        await h.stop()


async def test_status_callback_must_be_signed(harness: Harness) -> None:
    await harness.text_in("hello")
    root = await harness.first_thread()
    await harness.teammate(root, "!r hi")
    await harness.drain()
    [sent] = harness.sms_sent()
    params = [("MessageSid", sent["sid"]), ("MessageStatus", "failed"), ("ErrorCode", "30007")]
    assert (await harness.twilio_post("/twilio/status", params, signature="forged"))[0] == 403
    assert [tuple(r) for r in await harness.rows("SELECT status FROM messages WHERE direction='out'")] == [("queued",)]


async def test_slack_forged_stale_and_garbage_requests(harness: Harness) -> None:
    await harness.text_in("hello")
    root = await harness.first_thread()
    event = harness.slack.make_event_callback(harness.teammate_event(root, "!r should never go"))
    body = json.dumps(event)

    status, reason = await harness.slack_post(body, sign=False)
    assert status == 401 and "missing" in reason
    status, reason = await harness.slack_post(body, headers={"X-Slack-Signature": "v0=" + "0" * 64})
    assert (status, reason.strip()) == (401, "invalid Slack signature")
    status, reason = await harness.slack_post(body, timestamp=int(time.time()) - 600)
    assert (status, reason.strip()) == (401, "stale Slack request timestamp")
    status, reason = await harness.slack_post(b"\xff\xfe not utf-8")
    assert status == 400
    status, reason = await harness.slack_post("{not json")
    assert status == 400
    status, reason = await harness.slack_post("payload=%7Bbroken", "application/x-www-form-urlencoded")
    assert status == 400
    status, reason = await harness.slack_post("x" * (1024 * 1024 + 10))
    assert status == 413

    await harness.drain()
    assert harness.sms_sent() == []
    assert await harness.rows("SELECT id FROM notes") == []
    await healthy(harness)


async def test_slack_url_verification(harness: Harness) -> None:
    status, text = await harness.slack_post(json.dumps({"type": "url_verification", "challenge": "abc123", "token": "x"}))
    assert status == 200 and "abc123" in text


async def test_slack_retry_of_the_same_event_sends_once(harness: Harness) -> None:
    await harness.text_in("hello")
    root = await harness.first_thread()
    event = harness.teammate_event(root, "!r just once")
    await harness.slack_event(event, event_id="Ev0001")
    await harness.slack_event(event, event_id="Ev0001", retry_num=1)
    await harness.slack_event(event, event_id="Ev0001", retry_num=2)
    await harness.drain()
    assert [m["Body"] for m in harness.sms_sent()] == ["just once"]


async def test_bot_messages_never_loop(harness: Harness) -> None:
    await harness.text_in("hello")
    root = await harness.first_thread()
    own = harness.teammate_event(root, "!r I am the bot", user=harness.slack.bot_user_id)
    other_bot = {**harness.teammate_event(root, "!r another app"), "bot_id": "B0OTHER", "subtype": "bot_message"}
    edited = {**harness.teammate_event(root, "!r edit"), "subtype": "message_changed"}
    for event in (own, other_bot, edited):
        await harness.slack_event(event)
    await harness.drain()
    assert harness.sms_sent() == []
    assert await harness.rows("SELECT id FROM notes") == []


async def test_messages_outside_conversation_threads_are_ignored(harness: Harness) -> None:
    await harness.text_in("hello")
    await harness.first_thread()
    top_level = {**harness.teammate_event("0", "!r hi"), "thread_ts": None}
    top_level.pop("thread_ts")
    await harness.slack_event(top_level)
    await harness.slack_event(harness.teammate_event("1234.5678", "!r unrelated thread"))
    await harness.drain()
    assert harness.sms_sent() == []


async def _metrics(h: Harness) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """GET /metrics as {(sample name, sorted labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    assert h.http is not None
    async with h.http.get(h.url("/metrics")) as response:
        assert response.status == 200
        body = await response.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


async def test_metrics_count_webhooks_by_outcome_and_health_answers(harness: Harness) -> None:
    # The registry lives as long as the test process: compare before and after.
    accepted = ("smsbridge_webhooks_total", (("outcome", "200"), ("route", "twilio_sms")))
    forged = ("smsbridge_webhooks_total", (("outcome", "403"), ("route", "twilio_sms")))
    before = await _metrics(harness)
    await harness.text_in("hello")
    await harness.twilio_post("/twilio/sms", harness.inbound_params("forged"), signature="forged")
    await harness.drain()
    after = await _metrics(harness)
    assert after[accepted] - before.get(accepted, 0.0) == 1
    assert after[forged] - before.get(forged, 0.0) == 1
    assert after[("smsbridge_inbound_messages_total", ())] - before.get(("smsbridge_inbound_messages_total", ()), 0.0) == 1
    await healthy(harness)


async def test_metrics_show_jobs_waiting_out_an_outage(harness: Harness) -> None:
    def open_jobs(scrape: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> float:
        return sum(scrape[("smsbridge_outbox_jobs", (("state", s),))] for s in ("pending", "running"))

    harness.slack.outage = True
    await harness.text_in("hello")
    await harness.slack.wait_for(lambda: harness.slack.calls_to("chat.postMessage"), message="a post attempt")
    assert open_jobs(await _metrics(harness)) >= 1
    harness.slack.outage = False
    await harness.drain()
    after = await _metrics(harness)
    assert open_jobs(after) == 0 and after[("smsbridge_outbox_jobs", (("state", "dead"),))] == 0
