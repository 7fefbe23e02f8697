"""Hostile and broken input: each webhook's fate is its own, malformed requests get a 4xx
(never a traceback), a database that is away gets 503 + Retry-After, media come only from
the provider's API origin, and Slack requests only count for our own app and workspace."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from bridge.adapters.slack.receiver import FOREIGN_WORKSPACE
from bridge.adapters.twilio.media import (
    InternalAddress,
    PublicOnlyResolver,
    is_internal,
)
from bridge.inbox.db import Database
from bridge.inbox.intake import Intake, RejectedText
from tests.fakes.recorder import Recorder
from tests.harness import CHANNEL, Harness


async def nothing_happened(h: Harness) -> None:
    await h.drain()
    assert await h.rows("SELECT id FROM messages") == []
    assert await h.rows("SELECT id FROM notes") == []
    assert h.slack.posts == [] and h.slack.ephemerals == [] and h.slack.responses == []
    assert h.sms_sent() == []


def no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    gc.collect()  # an unretrieved task exception is reported when the task is collected
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []
    assert "never retrieved" not in caplog.text


# -- each webhook's fate is its own ---------------------------------------------


async def test_one_bad_text_in_a_burst_fails_alone(harness: Harness) -> None:
    good = [harness.inbound_params(f"text {i}", f"+1415555{1000 + i}") for i in range(30)]
    bad = harness.inbound_params("bad", sid="SM" + "f" * 70)  # longer than the column
    answers = await asyncio.gather(*(harness.twilio_post("/twilio/sms", p) for p in [*good[:15], bad, *good[15:]]))
    statuses = [status for status, _ in answers]
    assert statuses[15] == 400 and "MessageSid" in answers[15][1]
    assert statuses[:15] + statuses[16:] == [200] * 30
    await harness.drain()
    assert len(await harness.rows("SELECT id FROM messages")) == 30
    assert sorted(m["text"] for m in harness.slack.posts if m.get("thread_ts")) == sorted(f"text {i}" for i in range(30))


async def test_intake_stores_the_good_rows_of_a_batch_the_database_refuses(db: Database) -> None:
    intake = Intake(db, lambda new_jobs: None)
    good = [intake.submit(f"q{i}", {"body": f"text {i}"}, f"in:SM{i}") for i in range(30)]
    # A value the database cannot take (not JSON), in the same group commit as the others.
    bad = intake.submit("q-bad", {"body": b"not json"}, "in:SMbad")  # type: ignore[dict-item]
    results = await asyncio.gather(*good[:10], bad, *good[10:], return_exceptions=True)
    assert isinstance(results[10], RejectedText)
    assert results[:10] + results[11:] == [True] * 30
    async with db.engine.connect() as conn:
        from sqlalchemy import text

        keys = {row[0] for row in (await conn.execute(text("SELECT dedupe_key FROM outbox_jobs"))).all()}
    assert keys == {f"in:SM{i}" for i in range(30)}


async def test_a_burst_has_the_cpu_for_a_while_then_delivery_runs_beside_it(db: Database) -> None:
    """While webhooks come faster than 100 a second the workers trickle (busy), but a
    load that lasts must not starve delivery: past `burst_priority` busy() says no."""
    intake = Intake(db, lambda new_jobs: None, burst_priority=0.6)
    loop = asyncio.get_running_loop()
    sent = 0

    async def webhooks(seconds: float) -> None:  # about 150 a second, one after another
        nonlocal sent
        end = loop.time() + seconds
        while loop.time() < end:
            await intake.submit(f"q{sent}", {"body": "hi"}, f"in:SMburst{sent}")
            sent += 1
            await asyncio.sleep(0.005)

    assert not intake.busy()
    load = asyncio.create_task(webhooks(1.2))
    await asyncio.sleep(0.3)
    assert intake.busy()  # a burst: webhooks first
    await asyncio.sleep(0.6)
    assert not intake.busy()  # still pressing, but for longer than its priority
    await load
    await asyncio.sleep(0.2)  # a pause ends the burst; the next one has priority again
    again = asyncio.create_task(webhooks(0.4))
    await asyncio.sleep(0.2)
    assert intake.busy()
    await again
    assert sent > 150


# -- malformed requests ------------------------------------------------------------


async def test_malformed_twilio_requests_get_4xx(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    base = harness.inbound_params("x")

    def replaced(name: str, value: str) -> list[tuple[str, str]]:
        return [(k, value if k == name else v) for k, v in base]

    inbound_cases = [
        replaced("MessageSid", "SM" + "a" * 100),
        replaced("MessageSid", "SM bad sid"),
        replaced("From", "+1" * 50),
        replaced("To", "x" * 100),
        replaced("Body", "nul \x00 inside"),
        replaced("NumMedia", "²"),
        [*replaced("NumMedia", "1"), ("MediaUrl0", "file:///etc/passwd")],
        [*replaced("NumMedia", "1"), ("MediaUrl0", "https://x/" + "a" * 3000)],
        replaced("From", ""),
    ]
    for params in inbound_cases:
        status, reason = await harness.twilio_post("/twilio/sms", params)
        assert 400 <= status < 500, (params, status, reason)
    status_cases = [
        ("/twilio/status?m=3000000000", [("MessageSid", "SM" + "1" * 32), ("MessageStatus", "delivered")]),
        ("/twilio/status?m=-1", [("MessageSid", "SM" + "1" * 32), ("MessageStatus", "delivered")]),
        ("/twilio/status?m=1", [("MessageSid", "SM" + "1" * 100), ("MessageStatus", "delivered")]),
        ("/twilio/status?m=1", [("MessageSid", "SM1"), ("MessageStatus", "x" * 50)]),
        ("/twilio/status?m=1", [("MessageSid", "SM1"), ("MessageStatus", "failed"), ("ErrorCode", "²")]),
        ("/twilio/status?m=1", [("MessageSid", "SM1"), ("MessageStatus", "sent"), ("NumSegments", "99999999999999999999")]),
    ]
    for path, params in status_cases:
        status, reason = await harness.twilio_post(path, params)
        assert 400 <= status < 500, (path, params, status, reason)
    await nothing_happened(harness)
    no_traceback(caplog)


async def test_malformed_slack_requests_get_4xx(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    slack = harness.slack
    event = harness.teammate_event("1700000000.000100", "!r hello")

    def envelope(**changes: Any) -> str:
        return json.dumps({**slack.make_event_callback(event), **changes})

    def with_event(**changes: Any) -> str:
        return json.dumps(slack.make_event_callback({**event, **changes}))

    command = slack.slash_command("/sms", "list", "UANA", CHANNEL)
    action = slack.block_action({"action_id": "smsbridge.claim", "value": "1"}, "UANA", CHANNEL)
    json_cases = [
        json.dumps({"type": "event_callback", "event": []}),
        envelope(event="text"),
        with_event(text=["a", "list"]),
        with_event(text={"a": "dict"}),
        with_event(user={"id": "UANA"}),
        with_event(user=True),
        with_event(user="U" * 200),
        with_event(channel=5),
        with_event(thread_ts=["1"]),
        envelope(team_id=["T0001"]),
        envelope(authorizations="everyone"),
        envelope(authorizations=[1, 2]),
    ]
    form_cases = [
        urlencode({**command, "user_id": "U" * 200}),
        urlencode({k: v for k, v in command.items() if k != "channel_id"}),
        urlencode({"payload": json.dumps({**action, "user": "UANA"})}),
        urlencode({"payload": json.dumps({**action, "user": {"id": ["UANA"]}})}),
        urlencode({"payload": json.dumps({**action, "actions": {"action_id": "smsbridge.claim"}})}),
        urlencode({"payload": json.dumps({**action, "actions": [{"action_id": "smsbridge.claim", "value": "9" * 30}]})}),
        urlencode({"payload": json.dumps({**action, "actions": [{"action_id": "smsbridge.claim", "value": True}]})}),
        urlencode({"payload": json.dumps({**action, "actions": [{"action_id": "smsbridge.snippet", "selected_option": "x"}]})}),
        urlencode({"payload": json.dumps({**action, "team": "T0001"})}),
        urlencode({"payload": json.dumps({**action, "channel": ["C"]})}),
        urlencode({"payload": json.dumps(slack.view_submission({"callback_id": "smsbridge.edit_draft", "private_metadata": "x"}, {}, "UANA"))}),
        urlencode({"payload": json.dumps(slack.view_submission({"callback_id": "smsbridge.edit_draft", "private_metadata": "1"}, {"draft": {"text": {"value": 5}}}, "UANA"))}),
        urlencode({"payload": "[]"}),
    ]
    for body in json_cases:
        status, reason = await harness.slack_post(body)
        assert 400 <= status < 500, (body, status, reason)
    for body in form_cases:
        status, reason = await harness.slack_post(body, "application/x-www-form-urlencoded")
        assert 400 <= status < 500, (body, status, reason)
    await nothing_happened(harness)
    no_traceback(caplog)


# -- the database away -------------------------------------------------------------


async def test_database_away_answers_503_with_retry_after(harness: Harness, caplog: pytest.LogCaptureFixture, tmp_path: Any) -> None:
    assert harness.bridge is not None and harness.http is not None
    await harness.text_in("before")
    root = await harness.first_thread()
    await harness.drain()
    db = harness.bridge.db
    engine, sessions = db.engine, db.sessions
    if db.is_postgres:
        away = create_async_engine("postgresql+asyncpg://postgres@127.0.0.1:1/gone")  # nothing listens on port 1
    else:
        away = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'no-such-dir' / 'gone.db'}")
    db.engine, db.sessions = away, async_sessionmaker(away, expire_on_commit=False)
    try:
        text_params = harness.inbound_params("while away")
        for path, params in [
            ("/twilio/sms", text_params),
            ("/twilio/sms", harness.inbound_params("STOP")),
            ("/twilio/status?m=1", [("MessageSid", "SM" + "1" * 32), ("MessageStatus", "delivered")]),
        ]:
            async with harness.http.post(
                harness.url(path), data=urlencode(params), headers=_twilio_headers(harness, path, params)
            ) as response:
                assert response.status == 503, (path, await response.text())
                assert response.headers["Retry-After"].isdigit()
        status, reason = await harness.slack_post(json.dumps(harness.slack.make_event_callback(harness.teammate_event(root, "a note"))))
        assert status == 503, reason
        async with harness.http.get(harness.url("/healthz")) as response:
            assert response.status == 503
    finally:
        db.engine, db.sessions = engine, sessions
        await away.dispose()
    # Twilio retries: the text is stored once the database is back, and nothing was lost.
    assert (await harness.twilio_post("/twilio/sms", text_params))[0] == 200
    await harness.drain()
    assert [m["text"] for m in harness.thread(root)] == ["before", "while away"]
    gc.collect()
    assert "never retrieved" not in caplog.text
    assert not [r for r in caplog.records if r.name.startswith("aiohttp")]


def _twilio_headers(h: Harness, path: str, params: list[tuple[str, str]]) -> dict[str, str]:
    from tests.fakes.signing import twilio_signature
    from tests.harness import PUBLIC_URL

    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signature(h.twilio.auth_token, PUBLIC_URL + path, params),
    }


# -- media only from the provider's API origin --------------------------------------


async def test_media_url_elsewhere_is_never_fetched_nor_given_credentials(harness: Harness) -> None:
    async with Recorder() as internal:
        await harness.text_in("look", media=[(f"http://127.0.0.1:{internal.port}/metrics", "image/png")])
        await harness.drain()
        assert internal.requests == []
    thread = harness.thread(await harness.first_thread())
    assert thread[0]["text"] == "look"
    assert harness.slack.files == []
    assert any("not on the provider's API host" in m["text"] for m in thread)


async def test_media_redirect_to_the_cdn_is_followed_without_credentials(harness: Harness) -> None:
    async with Recorder(b"\x89PNG picture", "image/png") as cdn:
        url = harness.twilio.add_media(b"", "image/png", redirect_to=f"http://127.0.0.1:{cdn.port}/bucket/ME1.png")
        await harness.text_in("a picture", media=[(url, "image/png")])
        await harness.drain()
        [fetched] = cdn.requests
        assert fetched["path"] == "/bucket/ME1.png"
        assert "Authorization" not in fetched["headers"]
    [uploaded] = harness.slack.files
    assert uploaded["bytes"] == b"\x89PNG picture"


# -- Slack: only our app and workspace ----------------------------------------------


async def test_slack_requests_for_another_team_or_app_do_nothing(harness: Harness) -> None:
    await harness.text_in("hello")
    root = await harness.first_thread()
    await harness.drain()
    posts_before = len(harness.slack.posts)
    slack = harness.slack
    event = slack.make_event_callback(harness.teammate_event(root, "!r should never go"))
    for i, changes in enumerate(({"team_id": "T0THEIRS"}, {"api_app_id": "A0THEIRS"}, {"team_id": None})):
        status, reason = await harness.slack_post(json.dumps({**event, **changes, "event_id": f"EvFOREIGN{i}"}))
        assert status == 200, reason
    command = {**slack.slash_command("/sms", "list", "UANA", CHANNEL), "team_id": "T0THEIRS"}
    status, body = await harness.slack_post(urlencode(command), "application/x-www-form-urlencoded")
    assert status == 200 and json.loads(body)["text"] == FOREIGN_WORKSPACE
    action = slack.block_action(harness.card_action("claim"), "UANA", CHANNEL)
    for changes in ({"team": {"id": "T0THEIRS"}}, {"api_app_id": "A0THEIRS"}):
        status, _ = await harness.slack_post(urlencode({"payload": json.dumps({**action, **changes})}), "application/x-www-form-urlencoded")
        assert status == 200
    await harness.drain()
    assert harness.sms_sent() == []
    assert await harness.rows("SELECT id FROM notes") == []
    assert await harness.rows("SELECT id FROM conversations WHERE assignee_id IS NOT NULL") == []
    assert len(harness.slack.posts) == posts_before and harness.slack.responses == []
    # The same requests for our own team and app do act.
    await harness.teammate(root, "!r now it goes")
    await harness.drain()
    assert [m["Body"] for m in harness.sms_sent()] == ["now it goes"]


async def test_intake_refuses_a_value_too_long_for_its_column_before_the_batch(db: Database) -> None:
    intake = Intake(db, lambda new_jobs: None)
    with pytest.raises(RejectedText):
        await intake.submit("q" * 121, {"body": "x"}, "in:SM1")
    with pytest.raises(RejectedText):
        await intake.submit("q", {"body": "x"}, "in:" + "S" * 300)
    assert await intake.submit("q", {"body": "x"}, "in:SM1") is True


async def test_names_that_resolve_to_internal_addresses_are_refused() -> None:
    # With a public API origin, a redirect to a name that resolves to 127.0.0.1 is
    # refused on the addresses the connection would use, so DNS cannot smuggle one in.
    resolver = PublicOnlyResolver()
    try:
        with pytest.raises(InternalAddress):
            await resolver.resolve("localhost", 80)
    finally:
        await resolver.close()
    assert is_internal("127.0.0.1") and is_internal("10.1.2.3") and is_internal("169.254.169.254") and is_internal("::1")
    assert is_internal("::ffff:192.168.0.1") and not is_internal("8.8.8.8")
