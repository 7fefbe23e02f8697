"""Property-based fuzzing of every webhook route, signed and unsigned (hypothesis).

Whatever arrives: never a 5xx, never an SMS that a customer or teammate did not cause
(only consent confirmations to signed texts), never a half-stored record (a text
answered 2xx is stored exactly once; one answered 4xx leaves nothing behind).

Profiles: with the CI environment variable set, a fixed seed and a modest number of
examples; locally a longer random run. Choose one explicitly with
`HYPOTHESIS_PROFILE=ci|dev|long .venv/bin/python -m pytest tests/test_fuzz.py`.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import BACKENDS, DatabaseFactory
from tests.fakes.signing import slack_headers, twilio_signature
from tests.harness import CHANNEL, NUMBER, PUBLIC_URL, Harness

T = TypeVar("T")

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]}
settings.register_profile("ci", max_examples=60, derandomize=True, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("dev", max_examples=200, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("long", max_examples=3000, **_COMMON)  # type: ignore[arg-type]
PROFILE = os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")


class LiveHarness:
    """The harness on an event loop of its own thread, so hypothesis drives it from a
    plain (synchronous) test and can shrink what it finds."""

    def __init__(self, backend: str, tmp_path: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fuzz-loop", daemon=True)
        self.thread.start()
        self.databases = DatabaseFactory(backend, tmp_path)
        self.h = Harness(self.databases)
        self.call(self.h.start())

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=120)

    def close(self) -> None:
        try:
            self.call(self.h.stop())
            self.call(self.databases.cleanup())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


@pytest.fixture(params=BACKENDS)
def live(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[LiveHarness]:
    harness = LiveHarness(request.param, tmp_path)
    yield harness
    harness.close()


# -- strategies ----------------------------------------------------------------------

TRICKY = [
    "", "0", "1", "10", "11", "-1", "²", "٣", "1e9", "3000000000", "99999999999999999999", " ", "\x00", "\ud7ff",
    NUMBER, "+14155550101", "+1", "whatsapp:+14155550101", "12345", "STOP", "HELP", "START", "stop all",
    "SM" + "a" * 32, "SM" + "a" * 70, "MG" + "b" * 32, "x" * 300, "https://127.0.0.1:1/metrics", "file:///etc/passwd",
    "delivered", "failed", "undelivered", "received", "30007", "21610", "<@U1>", "@channel", "true", "[]", "{}",
]
value = st.one_of(st.text(max_size=60), st.sampled_from(TRICKY))
TWILIO_KEYS = [
    "MessageSid", "SmsSid", "AccountSid", "From", "To", "Body", "NumMedia", "NumSegments", "MessagingServiceSid",
    "MediaUrl0", "MediaContentType0", "MediaUrl1", "OptOutType", "MessageStatus", "SmsStatus", "ErrorCode", "ErrorMessage",
]
edit = st.tuples(st.sampled_from(["set", "drop", "add"]), st.one_of(st.sampled_from(TWILIO_KEYS), st.text(max_size=12)), value)
signing = st.sampled_from(["valid", "valid", "valid", "none", "forged"])


@dataclass
class Outcomes:
    accepted: set[str] = field(default_factory=set)  # MessageSids answered 2xx
    refused: set[str] = field(default_factory=set)  # MessageSids answered 4xx

    def never_accepted(self) -> set[str]:
        return self.refused - self.accepted


def _signed_text(outcomes: Outcomes, sid: str, status: int, signed: bool, sms: bool) -> None:
    if not (signed and sms and sid):
        return
    # Hypothesis replays examples (the same sid) while it shrinks: a sid counts as
    # refused only if no request with it was ever accepted.
    (outcomes.accepted if status < 300 else outcomes.refused).add(sid)


async def _post(h: Harness, path: str, body: bytes, headers: dict[str, str]) -> int:
    assert h.http is not None
    async with h.http.post(h.url(path), data=body, headers=headers) as response:
        await response.read()
        return response.status


async def _stored_correctly(h: Harness, outcomes: Outcomes) -> None:
    await h.drain(60)
    rows = await h.rows("SELECT provider_sid, kind FROM messages WHERE direction = 'in'")
    stored = [sid for sid, _kind in rows]
    assert len(stored) == len(set(stored)), "a text was stored twice"
    assert outcomes.accepted <= set(stored), outcomes.accepted - set(stored)
    refused = outcomes.never_accepted()
    assert not (refused & set(stored)), refused & set(stored)
    refused_jobs = await h.rows("SELECT dedupe_key FROM outbox_jobs")
    assert not ({f"in:{sid}" for sid in refused} & {key for (key,) in refused_jobs})
    assert await h.rows("SELECT id, kind FROM outbox_jobs WHERE state = 'dead'") == []
    # Every SMS that left is a consent confirmation to a signed text, never anything else.
    out = await h.rows("SELECT kind FROM messages WHERE direction = 'out'")
    assert {kind for (kind,) in out} <= {"compliance"}
    assert len(h.sms_sent()) == len(out)


# -- Twilio ----------------------------------------------------------------------------


def test_fuzz_twilio_webhooks(live: LiveHarness) -> None:
    h = live.h
    outcomes = Outcomes()

    @settings(settings.get_profile(PROFILE))
    @given(
        route=st.sampled_from(["/twilio/sms", "/twilio/sms", "/twilio/status", "/twilio/status?m="]),
        message_id=value,
        sid=st.uuids().map(lambda u: "SM" + u.hex),
        sender=st.sampled_from(["+14155550101", "+14155550102", "+447700900123", "12345", "whatsapp:+14155550103"]),
        body=value,
        edits=st.lists(edit, max_size=4),
        sign=signing,
        raw=st.one_of(st.none(), st.binary(max_size=200), st.just(b"Body=" + b"x" * 70_000)),
    )
    def run(route: str, message_id: str, sid: str, sender: str, body: str, edits: list[tuple[str, str, str]], sign: str, raw: bytes | None) -> None:
        path = route + quote(message_id, safe="") if route.endswith("=") else route
        if route.startswith("/twilio/sms"):
            params = h.inbound_params(body, sender, sid=sid)
        else:
            params = [("MessageSid", sid), ("MessageStatus", "delivered"), ("AccountSid", h.twilio.account_sid)]
        for op, key, new in edits:
            if op == "drop":
                params = [(k, v) for k, v in params if k != key]
            elif op == "set":
                params = [(k, new if k == key else v) for k, v in params]
            else:
                params.append((key, new))
        payload = raw if raw is not None else urlencode(params).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if sign == "valid":
            headers["X-Twilio-Signature"] = twilio_signature(h.twilio.auth_token, PUBLIC_URL + path, params)
        elif sign == "forged":
            headers["X-Twilio-Signature"] = "bm90IGEgcmVhbCBzaWduYXR1cmU="
        status = live.call(_post(h, path, payload, headers))
        assert status < 500, (path, params, status)
        if sign != "valid" or raw is not None:
            assert status >= 400 or (raw is not None and sign == "valid")
        first: dict[str, str] = {}
        for key, val in params:  # the webhook reads the first of repeated fields
            first.setdefault(key, val)
        final_sid = first.get("MessageSid") or first.get("SmsSid") or ""
        _signed_text(outcomes, final_sid, status, sign == "valid" and raw is None, path == "/twilio/sms")

    run()
    live.call(_stored_correctly(h, outcomes))


# -- Slack -----------------------------------------------------------------------------

json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), value),
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)),
    max_leaves=6,
)
json_edit = st.tuples(st.integers(min_value=0, max_value=50), st.integers(min_value=0, max_value=50), json_value)


def _apply(body: dict[str, Any], edits: list[tuple[int, int, Any]], keys: list[str]) -> dict[str, Any]:
    """Set a field of some object inside `body` (an existing key, or a new one) to a value."""
    for node_pick, key_pick, new in edits:
        nodes: list[dict[str, Any]] = []
        stack: list[Any] = [body]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                nodes.append(node)
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
        target = nodes[node_pick % len(nodes)]
        names = sorted(target) + keys
        target[names[key_pick % len(names)]] = new
    return body


SLACK_KEYS = ["type", "event", "user", "text", "channel", "thread_ts", "ts", "team_id", "api_app_id", "actions", "value", "view", "team", "id", "authorizations", "enterprise"]


def test_fuzz_slack_requests(live: LiveHarness) -> None:
    h = live.h
    slack = h.slack

    def base(kind: str) -> tuple[str, dict[str, Any]]:
        if kind == "event":
            return "json", slack.make_event_callback(h.teammate_event("1700000000.000100", "!r fuzz"))
        if kind == "verify":
            return "json", {"type": "url_verification", "challenge": "c", "token": "t"}
        if kind == "command":
            return "form", slack.slash_command("/sms", "list", "UANA", CHANNEL)
        if kind == "action":
            return "payload", slack.block_action({"action_id": "smsbridge.claim", "value": "1"}, "UANA", CHANNEL)
        if kind == "snippet":
            return "payload", slack.block_action({"action_id": "smsbridge.snippet", "selected_option": {"value": "1:hi"}}, "UANA", CHANNEL)
        return "payload", slack.view_submission({"type": "modal", "callback_id": "smsbridge.edit_draft", "private_metadata": "1"}, {"draft": {"text": {"value": "x"}}}, "UANA")

    @settings(settings.get_profile(PROFILE))
    @given(
        kind=st.sampled_from(["event", "event", "verify", "command", "action", "snippet", "view"]),
        edits=st.lists(json_edit, max_size=3),
        form_edits=st.lists(st.tuples(st.sampled_from(["text", "user_id", "channel_id", "team_id", "command", "api_app_id", "x"]), value), max_size=3),
        sign=st.sampled_from(["valid", "valid", "valid", "none", "forged", "stale"]),
        raw=st.one_of(st.none(), st.none(), st.binary(max_size=100), st.just(b"x" * (1024 * 1024 + 1))),
    )
    def run(kind: str, edits: list[tuple[int, int, Any]], form_edits: list[tuple[str, str]], sign: str, raw: bytes | None) -> None:
        encoding, body = base(kind)
        if encoding == "form":
            for key, new in form_edits:
                body[key] = new
            data, content_type = urlencode(body), "application/x-www-form-urlencoded"
        elif encoding == "payload":
            data, content_type = urlencode({"payload": json.dumps(_apply(body, edits, SLACK_KEYS))}), "application/x-www-form-urlencoded"
        else:
            data, content_type = json.dumps(_apply(body, edits, SLACK_KEYS)), "application/json"
        payload = raw if raw is not None else data.encode()
        headers = {"Content-Type": content_type}
        if sign in ("valid", "stale"):
            headers.update(slack_headers(slack.signing_secret, payload, int(time.time()) - 600 if sign == "stale" else None))
        elif sign == "forged":
            headers.update({"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=" + "0" * 64})
        status = live.call(_post(h, "/slack/events", payload, headers))
        assert status < 500, (kind, data[:2000], status)
        if sign != "valid":
            assert status in (401, 413), (sign, status)

    run()
    live.call(_stored_correctly(h, Outcomes()))
    assert h.sms_sent() == []
    assert live.call(h.rows("SELECT id FROM notes")) == []
