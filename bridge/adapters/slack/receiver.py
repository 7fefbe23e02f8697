"""POST /slack/events: the guard in front of slack-bolt.

Bolt parses a body before it checks the signature, so garbage could become a 500.
Here the size, the signature and the timestamp are checked first, then the body's
shape, and only a well-formed, signed request reaches bolt.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from bridge.adapters.slack.events import BotIdentity
from bridge.adapters.web_guard import read_body

MAX_SLACK_BYTES = 1024 * 1024
MAX_CLOCK_SKEW = 300  # Slack's own recommendation: reject requests older than 5 minutes


def _signature_ok(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """Slack's v0 scheme over the raw bytes (slack_sdk's verifier needs UTF-8 first,
    and a non-UTF-8 body must be refused, not crash it)."""
    basestring = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), basestring, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def _reject(status: int, reason: str) -> web.Response:
    return web.Response(status=status, text=reason + "\n")


def _well_formed(text: str, content_type: str) -> bool:
    try:
        if content_type == "application/json":
            return isinstance(json.loads(text), dict)
        pairs = dict(parse_qsl(text, strict_parsing=True, keep_blank_values=True))
        if "payload" in pairs:
            return isinstance(json.loads(pairs["payload"]), dict)
        return bool(pairs)
    except ValueError:
        return False


async def handle_slack_request(
    request: web.Request, app: AsyncApp, signing_secret: str, identity: BotIdentity
) -> web.Response:
    body = await read_body(request, MAX_SLACK_BYTES)
    timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
    signature = request.headers.get("X-Slack-Signature", "")
    if not timestamp.isdigit() or not signature:
        return _reject(401, "missing Slack signature headers")
    if abs(time.time() - int(timestamp)) > MAX_CLOCK_SKEW:
        return _reject(401, "stale Slack request timestamp")
    if not _signature_ok(signing_secret, timestamp, body, signature):
        return _reject(401, "invalid Slack signature")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return _reject(400, "body is not UTF-8")
    if not _well_formed(text, request.content_type):
        return _reject(400, "body is not a Slack event, command or action")
    if not await identity.ensure():
        # Slack's Web API is down: refuse, so Slack retries this event later.
        return _reject(503, "Slack Web API unreachable; retry later")
    bolt_request = AsyncBoltRequest(body=text, query=request.query_string, headers=dict(request.headers))
    return await to_aiohttp_response(await app.async_dispatch(bolt_request))
