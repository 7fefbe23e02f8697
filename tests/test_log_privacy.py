"""What reaches the log: never a secret (tracebacks included); at the default level no
phone number and no message text, from our code or from the libraries we drive."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bridge.logs import mask_phone, setup_logging, uninstall_privacy

TOKEN = "xoxb-very-secret-token"
AUTH = "twilio-auth-123"


@pytest.fixture
def configured_logging() -> Iterator[None]:
    """setup_logging changes process-wide state: put it back after the test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    libraries = {name: logging.getLogger(name).level for name in ("twilio", "aiohttp.access", "alembic", "slack_bolt", "slack_sdk", "asyncio", "discord")}
    yield
    uninstall_privacy()
    root.handlers[:] = handlers
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
        log.exception("call failed with %r", exc)
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
