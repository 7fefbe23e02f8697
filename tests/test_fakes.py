"""The real slack_sdk / slack_bolt / twilio libraries work against the loopback fakes."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.fakes.signing import slack_headers, twilio_signature
from tests.fakes.slack_api import FakeSlack
from tests.fakes.twilio_api import FakeTwilio, count_segments, make_twilio_client

CUSTOMER = "+14155550101"
INBOX = "+14155550100"


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
def web(slack: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)


@pytest.fixture
async def twilio_fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeTwilio]:
    # Edge/region env vars would make the client rewrite hostnames away from the fake.
    monkeypatch.delenv("TWILIO_EDGE", raising=False)
    monkeypatch.delenv("TWILIO_REGION", raising=False)
    async with FakeTwilio() as fake:
        yield fake


@pytest.fixture
async def twilio(twilio_fake: FakeTwilio) -> AsyncIterator[Client]:
    client = make_twilio_client(twilio_fake)
    yield client
    await client.http_client.close()  # type: ignore[attr-defined]


# ---------------------------------------------------------------- Slack Web API


async def test_auth_test(web: AsyncWebClient) -> None:
    resp = await web.auth_test()
    assert resp["user_id"] == "UBOT" and resp["bot_id"] == "BBOT" and resp["team_id"] == "T0001"
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"


async def test_wrong_token_is_invalid_auth(slack: FakeSlack) -> None:
    client = AsyncWebClient(token="xoxb-wrong", base_url=slack.api_url)
    with pytest.raises(SlackApiError) as exc:
        await client.auth_test()
    assert exc.value.response["error"] == "invalid_auth"


async def test_thread_with_metadata_and_replies(slack: FakeSlack, web: AsyncWebClient) -> None:
    parent = await web.chat_postMessage(channel="C1", text="New conversation", blocks=[{"type": "divider"}])
    meta = {"event_type": "sms_message", "event_payload": {"message_sid": "SM1"}}
    reply = await web.chat_postMessage(
        channel="C1", thread_ts=parent["ts"], text="hello", metadata=meta, username="+1 415", icon_emoji=":phone:"
    )
    assert float(reply["ts"]) > float(parent["ts"])
    assert reply["message"]["thread_ts"] == parent["ts"]

    assert [m["ts"] for m in slack.messages("C1")] == [parent["ts"]]
    assert [m["text"] for m in slack.thread("C1", parent["ts"])] == ["hello"]
    assert slack.posts[0]["blocks"] == [{"type": "divider"}]
    assert slack.posts[1]["metadata"] == meta
    assert slack.get("C1", reply["ts"])["username"] == "+1 415"  # type: ignore[index]

    with_meta = await web.conversations_replies(channel="C1", ts=parent["ts"], include_all_metadata=True)
    assert [m["ts"] for m in with_meta["messages"]] == [parent["ts"], reply["ts"]]
    assert with_meta["messages"][0]["reply_count"] == 1
    assert with_meta["messages"][1]["metadata"] == meta

    without = await web.conversations_replies(channel="C1", ts=parent["ts"])
    assert "metadata" not in without["messages"][1]

    later = await web.conversations_replies(channel="C1", ts=parent["ts"], oldest=reply["ts"])
    assert [m["ts"] for m in later["messages"]] == [parent["ts"]]  # parent always first


async def test_history_newest_first(web: AsyncWebClient) -> None:
    a = await web.chat_postMessage(channel="C1", text="a")
    await web.chat_postMessage(channel="C1", text="a-reply", thread_ts=a["ts"])
    b = await web.chat_postMessage(channel="C1", text="b")
    hist = await web.conversations_history(channel="C1")
    assert [m["ts"] for m in hist["messages"]] == [b["ts"], a["ts"]]


async def test_chat_update_and_errors(slack: FakeSlack, web: AsyncWebClient) -> None:
    msg = await web.chat_postMessage(channel="C1", text="card v1")
    await web.chat_update(channel="C1", ts=msg["ts"], text="card v2", blocks=[{"type": "divider"}])
    stored = slack.get("C1", msg["ts"])
    assert stored is not None and stored["text"] == "card v2" and stored["edit_count"] == 1
    with pytest.raises(SlackApiError) as exc:
        await web.chat_update(channel="C1", ts="1.000000", text="x")
    assert exc.value.response["error"] == "message_not_found"


async def test_ephemeral_reactions_delete_info(slack: FakeSlack, web: AsyncWebClient) -> None:
    slack.set_channel("C1", "sms-inbox")
    slack.add_user("U1", "alice", real_name="Alice Smith", display_name="alice")
    msg = await web.chat_postMessage(channel="C1", text="x")
    eph = await web.chat_postEphemeral(channel="C1", user="U1", text="only you", thread_ts=msg["ts"])
    assert slack.ephemerals[0]["message_ts"] == eph["message_ts"]
    await web.reactions_add(channel="C1", timestamp=msg["ts"], name="white_check_mark")
    assert slack.get("C1", msg["ts"])["reactions"][0]["name"] == "white_check_mark"  # type: ignore[index]
    await web.reactions_remove(channel="C1", timestamp=msg["ts"], name="white_check_mark")
    info = await web.conversations_info(channel="C1")
    assert info["channel"]["name"] == "sms-inbox" and info["channel"]["is_member"]
    user = await web.users_info(user="U1")
    assert user["user"]["profile"]["real_name"] == "Alice Smith"
    with pytest.raises(SlackApiError):
        await web.conversations_info(channel="C404")
    await web.chat_delete(channel="C1", ts=msg["ts"])
    assert slack.messages("C1") == []


async def test_files_upload_v2_into_thread(slack: FakeSlack, web: AsyncWebClient) -> None:
    parent = await web.chat_postMessage(channel="C1", text="thread")
    resp = await web.files_upload_v2(
        channel="C1", thread_ts=parent["ts"], file=b"\x89PNG data", filename="photo.png", initial_comment="MMS"
    )
    assert resp["file"]["name"] == "photo.png"
    assert slack.files[0]["bytes"] == b"\x89PNG data"
    assert slack.files[0]["thread_ts"] == parent["ts"] and slack.files[0]["channel"] == "C1"
    share = slack.thread("C1", parent["ts"])
    assert share[0]["files"][0]["id"] == slack.files[0]["id"] and share[0]["text"] == "MMS"


async def test_rate_limit_429(slack: FakeSlack, web: AsyncWebClient) -> None:
    slack.rate_limit("chat.postMessage", per_channel_interval=1.0, retry_after=7)
    await web.chat_postMessage(channel="C1", text="first")
    await web.chat_postMessage(channel="C2", text="other channel is fine")
    with pytest.raises(SlackApiError) as exc:
        await web.chat_postMessage(channel="C1", text="too soon")
    assert exc.value.response.status_code == 429
    assert exc.value.response.headers["Retry-After"] == "7"
    assert exc.value.response["error"] == "ratelimited"
    assert [p["text"] for p in slack.posts] == ["first", "other channel is fine"]


async def test_rate_limit_token_bucket_allows_a_burst_then_refills(slack: FakeSlack, web: AsyncWebClient) -> None:
    slack.rate_limit("chat.postMessage", per_channel_interval=0.2, burst=3)
    for i in range(3):
        await web.chat_postMessage(channel="C1", text=f"burst {i}")
    with pytest.raises(SlackApiError) as exc:
        await web.chat_postMessage(channel="C1", text="refused")
    assert exc.value.response.status_code == 429
    assert exc.value.response.headers["Retry-After"] == "1"  # whole seconds, as Slack sends
    assert [(m, c) for m, c, _ in slack.throttled] == [("chat.postMessage", "C1")]

    async def refilled() -> bool:
        try:
            await web.chat_postMessage(channel="C1", text="after a refill")
        except SlackApiError as error:
            assert error.response.status_code == 429
            return False
        return True

    await slack.wait_for(refilled, message="a token refilled")
    assert [p["text"] for p in slack.posts] == ["burst 0", "burst 1", "burst 2", "after a refill"]
    slack.rate_limit("chat.postMessage", per_channel_interval=0)
    await web.chat_postMessage(channel="C1", text="unlimited")


async def test_429_storm_answers_retry_after(slack: FakeSlack, web: AsyncWebClient) -> None:
    slack.outage, slack.outage_status, slack.outage_retry_after = True, 429, 2
    with pytest.raises(SlackApiError) as exc:
        await web.chat_postMessage(channel="C1", text="x")
    assert exc.value.response.status_code == 429 and exc.value.response.headers["Retry-After"] == "2"
    slack.fail_next("chat.update", status=429)
    slack.outage = False
    with pytest.raises(SlackApiError) as exc:
        await web.chat_update(channel="C1", ts="1.0", text="x")
    assert exc.value.response.status_code == 429 and exc.value.response.headers["Retry-After"] == "1"
    assert slack.posts == []


async def test_fail_next_and_outage(slack: FakeSlack, web: AsyncWebClient) -> None:
    slack.fail_next("chat.postMessage", status=503)
    with pytest.raises(SlackApiError) as exc:
        await web.chat_postMessage(channel="C1", text="x")
    assert exc.value.response.status_code == 503
    await web.chat_postMessage(channel="C1", text="retried")
    slack.outage = True
    with pytest.raises(SlackApiError):
        await web.auth_test()
    slack.outage = False
    assert [p["text"] for p in slack.posts] == ["retried"]
    assert [m for m, _ in slack.calls] == ["chat.postMessage", "chat.postMessage", "auth.test"]


async def test_wait_for_times_out_helpfully(slack: FakeSlack) -> None:
    with pytest.raises(AssertionError, match="wait_for timed out"):
        await slack.wait_for(lambda: bool(slack.posts), timeout=0.05)


# ---------------------------------------------------------------- Slack Socket Mode + Bolt


async def test_bolt_socket_mode_event_is_acked_and_handled(slack: FakeSlack) -> None:
    app = AsyncApp(
        client=AsyncWebClient(token=slack.bot_token, base_url=slack.api_url),
        signing_secret=slack.signing_secret,
        process_before_response=True,
    )
    seen: list[dict[str, Any]] = []

    @app.event("message")
    async def on_message(event: dict[str, Any], say: Any) -> None:
        seen.append(event)
        await say(text="got it", thread_ts=event["ts"])

    # The handler's socket client defaults to app.client for apps.connections.open
    # (it passes the app token per call), so the fake's base_url is picked up.
    handler = AsyncSocketModeHandler(app, slack.app_token)
    await handler.connect_async()
    try:
        await slack.wait_socket_connected()
        event = {"type": "message", "channel": "C1", "user": "U1", "text": "!reply hi", "ts": "1699999999.000100"}
        ack = await slack.socket_send_event(event)
        assert set(ack) == {"envelope_id"}
        assert seen and seen[0]["text"] == "!reply hi"
        # process_before_response=True: the listener finished before the ack went out.
        assert slack.posts[-1]["text"] == "got it" and slack.posts[-1]["thread_ts"] == event["ts"]
        assert [m for m, _ in slack.calls][:2] == ["apps.connections.open", "auth.test"]
    finally:
        await handler.close_async()


async def test_bolt_socket_mode_slash_command_ack_payload(slack: FakeSlack) -> None:
    app = AsyncApp(
        client=AsyncWebClient(token=slack.bot_token, base_url=slack.api_url),
        signing_secret=slack.signing_secret,
        process_before_response=True,
    )

    @app.command("/sms")
    async def sms(ack: Any) -> None:
        await ack(text="queued")

    handler = AsyncSocketModeHandler(app, slack.app_token)
    await handler.connect_async()
    try:
        await slack.wait_socket_connected()
        payload = {
            "command": "/sms",
            "text": "+14155550101 hi",
            "user_id": "U1",
            "channel_id": "C1",
            "team_id": slack.team_id,
            "api_app_id": slack.app_id,
            "response_url": f"{slack.base_url}/response",
            "trigger_id": "1.2.3",
        }
        ack = await slack.socket_send("slash_commands", payload)
        assert ack["payload"]["text"] == "queued"
    finally:
        await handler.close_async()


async def test_socket_mode_reconnects_on_disconnect(slack: FakeSlack) -> None:
    app = AsyncApp(client=AsyncWebClient(token=slack.bot_token, base_url=slack.api_url))
    handler = AsyncSocketModeHandler(app, slack.app_token)
    await handler.connect_async()
    try:
        await slack.wait_socket_connected()
        await slack.socket_disconnect()
        await slack.wait_for(lambda: slack.socket_connections == 2, timeout=2, message="a reconnect")
        assert len(slack.calls_to("apps.connections.open")) == 2
    finally:
        await handler.close_async()


# ---------------------------------------------------------------- Twilio


async def test_twilio_create_fetch_list(twilio_fake: FakeTwilio, twilio: Client) -> None:
    msg = await twilio.messages.create_async(to=CUSTOMER, from_=INBOX, body="Hello there")
    assert msg.sid.startswith("SM") and len(msg.sid) == 34
    assert msg.status == "queued" and msg.num_segments == "1" and msg.direction == "outbound-api"
    assert isinstance(msg.date_created, datetime)  # the client parsed our RFC 2822 date
    assert twilio_fake.messages[0]["Body"] == "Hello there" and twilio_fake.messages[0]["sid"] == msg.sid

    twilio_fake.add_inbound(CUSTOMER, INBOX, "reply from customer")
    await twilio.api.v2010.account.messages.create_async(to="+14155550102", from_=INBOX, body="someone else")
    fetched = await twilio.api.v2010.account.messages(msg.sid).fetch_async()
    assert fetched.body == "Hello there"

    listed = await twilio.api.v2010.account.messages.list_async(to=CUSTOMER, from_=INBOX, limit=20)
    assert [m.sid for m in listed] == [msg.sid]
    inbound = await twilio.api.v2010.account.messages.list_async(
        from_=CUSTOMER, date_sent_after=datetime.now(UTC) - timedelta(minutes=1)
    )
    assert [m.body for m in inbound] == ["reply from customer"]
    assert len(await twilio.messages.list_async(limit=20, page_size=2)) == 3  # follows next_page_uri

    twilio_fake.set_status(msg.sid, "delivered")
    assert (await twilio.messages(msg.sid).fetch_async()).status == "delivered"


async def test_twilio_media_and_service(twilio_fake: FakeTwilio, twilio: Client) -> None:
    media = ["https://example.com/a.jpg", "https://example.com/b.jpg"]
    msg = await twilio.messages.create_async(to=CUSTOMER, messaging_service_sid="MG" + "0" * 32, media_url=media)
    assert msg.status == "accepted" and msg.num_media == "2"
    assert twilio_fake.messages[0]["MediaUrl"] == media

    url = twilio_fake.add_media(b"GIF89a", "image/gif")
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as resp:
            assert resp.status == 401
        # Built by hand: aiohttp.BasicAuth is deprecated in 3.14, encode_basic_auth is new there.
        creds = base64.b64encode(f"{twilio_fake.account_sid}:{twilio_fake.auth_token}".encode()).decode()
        async with session.get(url, headers={"Authorization": f"Basic {creds}"}) as resp:
            assert resp.content_type == "image/gif" and await resp.read() == b"GIF89a"


async def test_twilio_opt_out_21610(twilio_fake: FakeTwilio, twilio: Client) -> None:
    twilio_fake.opted_out.add(CUSTOMER)
    with pytest.raises(TwilioRestException) as exc:
        await twilio.messages.create_async(to=CUSTOMER, from_=INBOX, body="hi")
    assert exc.value.code == 21610 and exc.value.status == 400
    assert twilio_fake.messages == []


async def test_twilio_injected_failures(twilio_fake: FakeTwilio, twilio: Client) -> None:
    twilio_fake.fail_next(status=500)
    with pytest.raises(TwilioRestException) as exc:
        await twilio.messages.create_async(to=CUSTOMER, from_=INBOX, body="hi")
    assert exc.value.status == 500
    twilio_fake.fail_next(status=429, code=20429)
    with pytest.raises(TwilioRestException) as exc:
        await twilio.messages.create_async(to=CUSTOMER, from_=INBOX, body="hi")
    assert exc.value.status == 429 and exc.value.code == 20429
    await twilio.messages.create_async(to=CUSTOMER, from_=INBOX, body="finally")
    twilio_fake.outage = True
    with pytest.raises(TwilioRestException) as exc:
        await twilio.api.v2010.account.fetch_async()
    assert exc.value.status == 503
    twilio_fake.outage = False
    assert [m["Body"] for m in twilio_fake.messages] == ["finally"]


async def test_twilio_auth_account_numbers(twilio_fake: FakeTwilio, twilio: Client) -> None:
    account = await twilio.api.v2010.account.fetch_async()
    assert account.status == "active"
    twilio_fake.add_number(INBOX, sms_url="https://bridge.example.com/twilio/sms")
    numbers = await twilio.incoming_phone_numbers.list_async(phone_number=INBOX)
    assert numbers[0].sms_url == "https://bridge.example.com/twilio/sms"
    assert await twilio.incoming_phone_numbers.list_async(phone_number="+14155550199") == []

    bad = Client(twilio_fake.account_sid, "wrong", http_client=twilio.http_client)
    bad.api.base_url = twilio_fake.url
    with pytest.raises(TwilioRestException) as exc:
        await bad.api.v2010.account.fetch_async()
    assert exc.value.status == 401 and exc.value.code == 20003


def test_segment_count() -> None:
    assert count_segments("a" * 160) == 1
    assert count_segments("a" * 161) == 2
    assert count_segments("é" * 160) == 1  # é is in GSM-7
    assert count_segments("hi 😀") == 1 and count_segments("😀" * 36) == 2  # UCS-2, surrogate pairs


# ---------------------------------------------------------------- signing helpers


def test_signing_helpers_match_library_validators() -> None:
    url = "https://bridge.example.com/twilio/sms"
    params = [("From", CUSTOMER), ("MediaUrl0", "https://x/1"), ("Body", "hi")]
    sig = twilio_signature("tok", url, params)
    assert RequestValidator("tok").validate(url, dict(params), sig)
    assert twilio_signature("tok", url, dict(params)) == sig

    body = json.dumps({"type": "event_callback"})
    headers = slack_headers("sign-secret", body)
    assert SignatureVerifier("sign-secret").is_valid_request(body, headers)
    assert not SignatureVerifier("other").is_valid_request(body, headers)
    old = slack_headers("sign-secret", body.encode(), timestamp=1)
    assert old["X-Slack-Request-Timestamp"] == "1"


async def test_loopback_only(slack: FakeSlack, twilio_fake: FakeTwilio) -> None:
    assert slack.api_url.startswith("http://127.0.0.1:") and slack.api_url.endswith("/api/")
    assert twilio_fake.url.startswith("http://127.0.0.1:")
    await asyncio.sleep(0)
