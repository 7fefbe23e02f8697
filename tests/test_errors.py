"""Provider errors as a teammate sees them: a failed reply says why in words, with the
provider's code; transient errors are retried until the reply leaves, permanent ones are
not retried."""

from __future__ import annotations

import pytest

from bridge.adapters.twilio.errors import describe_error
from tests.harness import Harness


async def _thread(h: Harness) -> str:
    await h.text_in("hello")
    root = await h.first_thread()
    await h.drain()
    return root


def _status_line(h: Harness, root: str) -> str:
    [line] = [m["text"] for m in h.thread(root) if "SMS by Ana" in m["text"]]
    return str(line)


def _send_attempts(h: Harness) -> int:
    return sum(1 for method, path in h.twilio.requests if method == "POST" and path.endswith("/Messages.json"))


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (21211, "not a valid phone number"),
        (21408, "country is not enabled"),
        (21614, "not a mobile number"),
        (30034, "not registered for 10DLC"),
        (30023, "daily message limit"),  # retrying helps only tomorrow: not a backoff
    ],
)
async def test_rejected_reply_says_why_and_is_not_retried(harness: Harness, code: int, words: str) -> None:
    root = await _thread(harness)
    harness.twilio.fail_next(count=1, status=400, code=code)
    await harness.teammate(root, "!r are you there?")
    await harness.drain()
    assert harness.sms_sent() == []
    assert _send_attempts(harness) == 1
    line = _status_line(harness, root)
    assert "Failed" in line and words in line and f"(Twilio {code})" in line


@pytest.mark.parametrize(("status", "code"), [(400, 30001), (400, 30022), (429, 20429), (503, None)])
async def test_transient_errors_are_retried_until_the_reply_leaves(harness: Harness, status: int, code: int | None) -> None:
    root = await _thread(harness)
    harness.twilio.fail_next(count=2, status=status, code=code)
    await harness.teammate(root, "!r on its way")
    await harness.drain()
    assert [m["Body"] for m in harness.sms_sent()] == ["on its way"]
    assert _send_attempts(harness) == 3
    assert "Failed" not in _status_line(harness, root)


@pytest.mark.parametrize(
    ("code", "message", "shown"),
    [
        ("30007", None, "Carrier filtered the message as spam (Twilio 30007)"),
        ("30005", "Unknown destination handset", "no longer in service (Twilio 30005)"),
        ("39999", "Something new went wrong", "Something new went wrong"),  # unknown code: the provider's words
        ("39998", None, "Provider error 39998"),
    ],
)
async def test_failed_status_callback_shows_the_reason(harness: Harness, code: str, message: str | None, shown: str) -> None:
    root = await _thread(harness)
    await harness.teammate(root, "!r see you at 5")
    await harness.drain()
    [sent] = harness.sms_sent()
    params = [("MessageSid", sent["sid"]), ("MessageStatus", "undelivered"), ("AccountSid", harness.twilio.account_sid), ("ErrorCode", code)]
    if message is not None:
        params.append(("ErrorMessage", message))
    status, _ = await harness.twilio_post("/twilio/status", params)
    assert status == 200
    await harness.drain()
    line = _status_line(harness, root)
    assert "Not delivered" in line and shown in line


@pytest.mark.parametrize(
    ("code", "fallback", "expected"),
    [
        (" 63016 ", None, "WhatsApp only allows a template more than 24h after the customer's last message (Twilio 63016)"),
        (30007, "Message filtered", "Carrier filtered the message as spam (Twilio 30007)"),  # our words win
        ("abc", None, "Provider error abc"),
        ("", None, "Provider error"),
        (None, "Timeout", "Timeout"),
        (True, None, "Provider error True"),  # a bool is never a code
    ],
)
def test_odd_codes_still_read_as_a_sentence(code: int | str | None, fallback: str | None, expected: str) -> None:
    assert describe_error(code, fallback) == expected
