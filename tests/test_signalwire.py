"""SignalWire as the README sets it up: the LaML (Twilio-compatible) API with the
project id and API token, and webhooks signed with the project's Signing Key
(SIGNALWIRE_SIGNING_KEY), checked the way SignalWire computes them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.signing import twilio_signature
from tests.harness import CHANNEL, CUSTOMER, PUBLIC_URL, Harness


@pytest.fixture
async def signalwire(databases) -> AsyncIterator[Harness]:  # type: ignore[no-untyped-def]
    h = Harness(databases, signalwire=True)
    await h.start()
    yield h
    await h.stop()


async def test_signalwire_signed_text_reply_and_status_round_trip(signalwire: Harness) -> None:
    h = signalwire
    await h.text_in("hello from a SignalWire number")
    root = await h.first_thread()
    await h.drain()
    assert [m["text"] for m in h.thread(root)] == ["hello from a SignalWire number"]
    await h.teammate(root, "!r hi there")
    await h.drain()
    [sent] = h.sms_sent()  # the REST call authenticated with the API token
    assert sent["Body"] == "hi there"
    message_id = int(sent["StatusCallback"].rsplit("=", 1)[1])
    status, _ = await h.status_callback(sent["sid"], "delivered", message_id=message_id)
    assert status == 200
    await h.drain()
    [line] = [m for m in h.thread(root) if "Delivered" in m["text"]]
    assert line["text"].startswith("✅")


async def test_signalwire_webhook_signed_with_the_api_token_is_refused(signalwire: Harness) -> None:
    h = signalwire
    params = h.inbound_params("signed with the wrong key")
    wrong = twilio_signature(h.twilio.auth_token, PUBLIC_URL + "/twilio/sms", params)
    status, reason = await h.twilio_post("/twilio/sms", params, signature=wrong)
    assert (status, reason.strip()) == (403, "invalid Twilio signature")
    await h.drain()
    assert await h.rows("SELECT id FROM messages") == []
    assert h.slack.messages(CHANNEL) == []


async def test_webhook_naming_the_message_only_by_smssid_is_accepted(harness: Harness) -> None:
    # Older Twilio and some SignalWire payloads carry SmsSid/SmsMessageSid, no MessageSid.
    params = [(k, v) for k, v in harness.inbound_params("by SmsSid", sid="SM" + "5" * 32) if k != "MessageSid"]
    params += [("SmsSid", "SM" + "5" * 32), ("SmsMessageSid", "SM" + "5" * 32)]
    status, reason = await harness.twilio_post("/twilio/sms", params)
    assert status == 200, reason
    root = await harness.first_thread()
    await harness.drain()
    assert [m["text"] for m in harness.thread(root)] == ["by SmsSid"]
    assert [tuple(r) for r in await harness.rows("SELECT provider_sid FROM messages")] == [("SM" + "5" * 32,)]

    await harness.teammate(root, "!r ok")
    await harness.drain()
    [sent] = harness.sms_sent()
    status, reason = await harness.twilio_post(
        f"/twilio/status?m={sent['StatusCallback'].rsplit('=', 1)[1]}", [("SmsSid", sent["sid"]), ("SmsStatus", "delivered")]
    )
    assert status == 200, reason
    await harness.drain()
    assert [tuple(r) for r in await harness.rows("SELECT status FROM messages WHERE direction='out'")] == [("delivered",)]


async def test_signalwire_erasure_deletes_the_texts_and_pictures_in_the_space(databases) -> None:  # type: ignore[no-untyped-def]
    from tests.test_erasure import button
    from tests.test_mms_out import file_share

    h = Harness(databases, signalwire=True, admins=["slack:UANA"])
    await h.start()
    try:
        first = await h.text_in_kept("my address is 12 Elm St", picture=b"\x89PNG" + b"7" * 64)
        root = await h.first_thread()
        await h.drain()
        photo = h.slack.user_file("map.png", b"\x89PNG" + b"8" * 64, "image/png")
        await h.slack_event(file_share(h, root, "!r noted, here is the map", photo))
        await h.drain()
        [reply] = [m["sid"] for m in h.sms_sent()]
        [picture] = h.twilio.media_of(first)
        [map_copy] = h.twilio.media_of(reply)
        asked = await h.sms_command(f"erase {CUSTOMER}")
        answer = await h.click(button(asked["blocks"], "erase_contact"), "UANA", ephemeral=True)
        assert "The SMS provider's copies of 2 texts are being deleted too." in answer["text"]
        await h.drain()
        assert h.twilio.held(CUSTOMER) == []
        # A SignalWire space keeps a deleted message's media: smsbridge deletes it first.
        assert sorted(h.twilio.deleted_media) == sorted([picture, map_copy])
        assert h.twilio.media_of(first) == [] and h.twilio.media_of(reply) == []
    finally:
        await h.stop()


def test_signalwire_settings_pick_the_signing_key() -> None:
    from bridge.config import Settings

    space = Settings(_env_file=None, twilio_api_url="https://acme.signalwire.com/api/laml", twilio_auth_token="PT-api-token")  # type: ignore[call-arg]
    assert space.signalwire and space.webhook_signing_key() == "PT-api-token"  # `check` says the key is missing
    keyed = Settings(_env_file=None, twilio_api_url="https://acme.signalwire.com/api/laml", twilio_auth_token="PT-api-token", signalwire_signing_key="PSK_key")  # type: ignore[call-arg]
    assert keyed.webhook_signing_key() == "PSK_key" and "PSK_key" in keyed.secrets()
    assert not Settings(_env_file=None).signalwire  # type: ignore[call-arg]


async def test_check_names_the_missing_signing_key() -> None:
    from bridge.checks import _twilio
    from bridge.config import Settings

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, twilio_api_url="https://127.0.0.1.signalwire.com.invalid/api/laml", twilio_account_sid="AC1", twilio_auth_token="t"
    )
    findings = await _twilio(settings)
    assert any("SIGNALWIRE_SIGNING_KEY" in f.detail for f in findings), findings
