"""What operators see: /metrics (SMS outcomes by error code, chat API latency and 429s,
outbox depth and oldest job, SLA breaches, the Discord gateway's state), METRICS_TOKEN,
and LOG_FORMAT=json lines carrying job and conversation ids, never secrets or numbers."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from bridge.logs import setup_logging, uninstall_privacy
from tests.harness import Harness

Scrape = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def _scrape(h: Harness, headers: dict[str, str] | None = None) -> tuple[int, Scrape]:
    from prometheus_client.parser import text_string_to_metric_families

    assert h.http is not None
    async with h.http.get(h.url("/metrics"), headers=headers or {}) as response:
        body = await response.text()
        if response.status != 200:
            return response.status, {}
    return 200, {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def _delta(after: Scrape, before: Scrape, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


async def test_metrics_count_sms_outcomes_chat_calls_and_429s(harness: Harness) -> None:
    _, before = await _scrape(harness)
    await harness.text_in("Hi, is my bike ready?")
    root = await harness.first_thread()
    harness.slack.fail_next("chat.postMessage", status=429)  # the reply's status line waits out a 429
    await harness.teammate(root, "!r Yes, come by at 5")
    await harness.drain()
    harness.twilio.fail_next(count=1, status=400, code=21211)
    await harness.teammate(root, "!r this one is refused")
    await harness.drain()
    [sent] = harness.sms_sent()
    await harness.status_callback(sent["sid"], "delivered")
    await harness.drain()
    _, after = await _scrape(harness)

    assert _delta(after, before, "smsbridge_sms_total", status="sent", error_code="") == 1
    assert _delta(after, before, "smsbridge_sms_total", status="delivered", error_code="") == 1
    assert _delta(after, before, "smsbridge_sms_total", status="failed", error_code="21211") == 1
    assert _delta(after, before, "smsbridge_chat_api_seconds_count", platform="slack") >= 3
    assert _delta(after, before, "smsbridge_chat_rate_limited_total", platform="slack") == 1
    assert after[("smsbridge_outbox_oldest_job_seconds", ())] == 0  # nothing waits now
    for target in ("first_reply", "next_reply", "resolution"):
        assert ("smsbridge_sla_breaches_total", (("target", target),)) in after


async def test_metrics_show_the_oldest_waiting_job_during_an_outage(harness: Harness) -> None:
    harness.slack.outage = True
    await harness.text_in("hello")
    await harness.slack.wait_for(lambda: harness.slack.calls_to("chat.postMessage"), message="a post attempt")
    _, during = await _scrape(harness)
    assert during[("smsbridge_outbox_oldest_job_seconds", ())] > 0
    harness.slack.outage = False
    await harness.drain()


async def test_metrics_token_guards_the_scrape(databases: Any) -> None:
    h = Harness(databases, metrics_token="scrape-secret-123")
    await h.start()
    try:
        assert (await _scrape(h))[0] == 401
        assert (await _scrape(h, {"Authorization": "Bearer wrong-token"}))[0] == 401
        status, scrape = await _scrape(h, {"Authorization": "Bearer scrape-secret-123"})
        assert status == 200 and ("smsbridge_outbox_oldest_job_seconds", ()) in scrape
    finally:
        await h.stop()


@pytest.fixture
async def dh(databases: Any) -> AsyncIterator[Harness]:
    h = Harness(databases, discord=True, smsbridge_slack_channel=None)
    await h.start()
    yield h
    await h.stop()


async def test_metrics_show_the_discord_gateway_state(dh: Harness) -> None:
    _, scrape = await _scrape(dh)
    states = {labels[0][1]: value for (name, labels), value in scrape.items() if name == "smsbridge_discord_gateway_state"}
    assert states["ready"] == 1 and sum(states.values()) == 1


@pytest.fixture
def json_logging() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    yield
    uninstall_privacy()
    root.handlers[:] = [h for h in root.handlers if h.get_name() != "smsbridge"]
    root.setLevel(level)


async def test_json_logs_carry_job_and_conversation_ids_and_no_secrets(harness: Harness, json_logging: None) -> None:
    assert harness.settings is not None
    stream = io.StringIO()
    setup_logging("INFO", harness.settings.secrets(), stream, fmt="json")
    await harness.text_in("my bike lock code is 4521")
    root = await harness.first_thread()
    harness.twilio.fail_next(count=1, status=400, code=21211)
    await harness.teammate(root, "!r never leaves")
    await harness.drain()
    logging.getLogger("bridge.test").error("token %s for +14155550101", harness.slack.bot_token)

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert any("job_id" in line and "job_kind" in line for line in lines), lines
    assert any(line.get("conversation_id") for line in lines), lines
    raw = stream.getvalue()
    for secret in (harness.slack.bot_token, "4155550101", "bike lock", "never leaves"):
        assert secret not in raw
    assert "+1415•••0101" in raw and "***" in raw
