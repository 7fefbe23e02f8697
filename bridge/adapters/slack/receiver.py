"""POST /slack/events: the guard in front of slack-bolt.

Bolt parses a body before it checks the signature, so garbage could become a 500.
Here the size, the signature and the timestamp are checked first, then the body's
shape, and only a well-formed, signed request reaches bolt.
"""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

from bridge.adapters.web_guard import read_body

MAX_SLACK_BYTES = 1024 * 1024
MAX_CLOCK_SKEW = 300  # Slack's own recommendation: reject requests older than 5 minutes


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


async def handle_slack_request(request: web.Request, app: AsyncApp, signing_secret: str) -> web.Response:
    body = await read_body(request, MAX_SLACK_BYTES)
    timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
    signature = request.headers.get("X-Slack-Signature", "")
    if not timestamp.isdigit() or not signature:
        return _reject(401, "missing Slack signature headers")
    if abs(time.time() - int(timestamp)) > MAX_CLOCK_SKEW:
        return _reject(401, "stale Slack request timestamp")
    verifier = SignatureVerifier(signing_secret)
    if not verifier.is_valid(body=body, timestamp=timestamp, signature=signature):
        return _reject(401, "invalid Slack signature")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return _reject(400, "body is not UTF-8")
    if not _well_formed(text, request.content_type):
        return _reject(400, "body is not a Slack event, command or action")
    bolt_request = AsyncBoltRequest(body=text, query=request.query_string, headers=dict(request.headers))
    return await to_aiohttp_response(await app.async_dispatch(bolt_request))
