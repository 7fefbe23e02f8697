"""What reaches the log: never a secret (tracebacks included); at the default level no
phone number and no message text, from our code or from the libraries we drive."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from bridge.logs import mask_phone, setup_logging, uninstall_privacy
from tests.harness import CHANNEL, CUSTOMER, Harness

TOKEN = "xoxb-very-secret-token"
AUTH = "twilio-auth-123"


@pytest.fixture
def configured_logging() -> Iterator[None]:
    """setup_logging changes process-wide state: put it back after the test."""
    root = logging.getLogger()
    level = root.level
    libraries = {name: logging.getLogger(name).level for name in ("twilio", "aiohttp.access", "alembic", "slack_bolt", "slack_sdk", "asyncio", "discord")}
    yield
    uninstall_privacy()
    # Only our handler goes: pytest adds and removes its own per test phase.
    root.handlers[:] = [h for h in root.handlers if h.get_name() != "smsbridge"]
    root.setLevel(level)
    for name, old in libraries.items():
        logging.getLogger(name).setLevel(old)


def test_secret_in_an_exception_and_its_traceback_is_redacted(configured_logging: None, caplog: pytest.LogCaptureFixture) -> None:
    stream = io.StringIO()
    setup_logging("INFO", [TOKEN, AUTH], stream)
    log = logging.getLogger("bridge.test")
    try:
        raise RuntimeError(f"Slack refused Authorization: Bearer {TOKEN}", {"auth": AUTH})
    except RuntimeError as exc:
        log.exception("call failed with %r", exc)  # noqa: TRY401 - the exception's args are the point
    log.error("plain %s", TOKEN)
    written = stream.getvalue()
    assert "Traceback" in written and "RuntimeError" in written  # the traceback is kept...
    assert TOKEN not in written and AUTH not in written  # ...without the secrets
    assert written.count("***") >= 4
    # Any other handler (here pytest's) receives the cleaned record too.
    assert TOKEN not in caplog.text and AUTH not in caplog.text and "***" in caplog.text


def test_numbers_are_masked_unless_debug(configured_logging: None) -> None:
    stream = io.StringIO()
    setup_logging("INFO", [], stream)
    logging.getLogger("bridge.test").warning("sending to %s via whatsapp:+447700900123 and To=%%2B14155550101", "+14155550101")
    written = stream.getvalue()
    assert "+1415•••0101" in written and "whatsapp:+4477•••0123" in written and "%2B1415•••0101" in written
    assert "14155550101" not in written and "447700900123" not in written

    stream = io.StringIO()
    setup_logging("DEBUG", [], stream)
    logging.getLogger("bridge.test").debug("sending to %s", "+14155550101")
    assert "+14155550101" in stream.getvalue()


def test_mask_phone() -> None:
    assert mask_phone("+14155550101") == "+1415•••0101"
    assert mask_phone("+3312345") == "+33•••45"
    assert mask_phone("not a number") == "not a number"


async def test_a_whole_flow_logs_no_number_and_no_text_at_info(
    harness: Harness, configured_logging: None, caplog: pytest.LogCaptureFixture
) -> None:
    """An inbound text, a reply, a send the provider refuses and retries, a status
    callback and an unhandled Slack request: the operator's log at INFO holds no phone
    number and no message text, from our code or from twilio, SQLAlchemy and bolt."""
    assert harness.settings is not None
    stream = io.StringIO()
    setup_logging("INFO", harness.settings.secrets(), stream)
    caplog.set_level(logging.INFO)

    first_text = "my bike lock code is 4521"
    await harness.text_in(first_text)
    root = await harness.first_thread()
    harness.twilio.fail_next(count=2, status=500)  # retried: the twilio client logs each request
    await harness.teammate(root, "!r your order ships friday")
    await harness.drain()
    harness.twilio.fail_next(count=1, status=400, code=21211)
    await harness.teammate(root, "!r second reply never leaves")
    await harness.drain()
    [sent] = harness.sms_sent()
    await harness.status_callback(sent["sid"], "delivered")
    # A signed event nobody listens to: bolt warns with the whole body.
    unhandled = {"type": "reaction_added", "user": "UANA", "reaction": "eyes", "item": {"type": "message", "channel": CHANNEL, "ts": root}, "text": "my bike lock code is 4521"}
    await harness.slack_post(json.dumps(harness.slack.make_event_callback(unhandled)))
    assert "Unhandled request (body hidden" in stream.getvalue()
    # A database error carries the statement's parameters (here a number and a text).
    insert = text(
        "INSERT INTO outbox_jobs (id, queue, kind, payload, state, attempts, run_after, created_at)"
        " VALUES (999999, :q, 'x', '{}', 'pending', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    )
    try:
        async with harness.bridge.db.engine.begin() as conn:  # type: ignore[union-attr]
            for _ in range(2):  # the second one violates the primary key; all is rolled back
                await conn.execute(insert, {"q": f"{CUSTOMER} {first_text}"})
    except Exception:
        logging.getLogger("bridge.test").exception("a database error")

    written = stream.getvalue()
    assert "a database error" in written and "[SQL parameters hidden" in written
    assert len([r for r in harness.twilio.requests if r[0] == "POST"]) >= 4  # 2 refused + 1 sent + 1 refused
    for output in (written, caplog.text):
        for secret in ("4155550101", "4155550100", "bike lock", "order ships", "never leaves"):
            assert secret not in output, (secret, [line for line in output.splitlines() if secret in line])
