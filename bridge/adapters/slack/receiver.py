"""POST /slack/events: the guard in front of slack-bolt.

Bolt parses a body before it checks the signature, so garbage could become a 500.
Here the size, the signature and the timestamp are checked first, then the body's
shape (every field a listener reads has the type and length it should), then that the
request is for this app and the workspace or organisation it is installed in; only a
well-formed, signed request of our own installation reaches bolt.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from sqlalchemy.exc import NoResultFound

from bridge.adapters.slack.events import BotIdentity
from bridge.adapters.slack.shapes import shape_problem
from bridge.adapters.web_guard import read_body
from bridge.inbox.db import database_unavailable

log = logging.getLogger(__name__)

MAX_SLACK_BYTES = 1024 * 1024
MAX_CLOCK_SKEW = 300  # Slack's own recommendation: reject requests older than 5 minutes
FOREIGN_WORKSPACE = "smsbridge is not set up for this workspace."
RETRY_AFTER_SECONDS = 5


def _signature_ok(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """Slack's v0 scheme over the raw bytes (slack_sdk's verifier needs UTF-8 first,
    and a non-UTF-8 body must be refused, not crash it)."""
    basestring = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), basestring, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def _reject(status: int, reason: str) -> web.Response:
    return web.Response(status=status, text=reason + "\n")


def _parse(text: str, content_type: str) -> tuple[str, dict[str, Any]] | None:
    """("event" | "command" | "interaction", body), or None when it is neither JSON
    nor a form Slack would send."""
    try:
        if content_type == "application/json":
            body = json.loads(text)
            return ("event", body) if isinstance(body, dict) else None
        pairs = parse_qsl(text, strict_parsing=True, keep_blank_values=True)
        if not pairs:
            return None
        form = dict(pairs)
        if "payload" in form:
            payload = json.loads(form["payload"])
            return ("interaction", payload) if isinstance(payload, dict) else None
        return "command", form
    except ValueError:
        return None


def _foreign(kind: str, body: dict[str, Any], identity: BotIdentity) -> bool:
    """True for a request meant for another app, workspace or organisation."""
    if kind == "event" and body.get("type") == "url_verification":
        return False
    app_id, team_id, enterprise_id = identity.installation()
    if kind == "interaction":
        team, org, user = body.get("team") or {}, body.get("enterprise") or {}, body.get("user") or {}
        their_team, their_org = team.get("id") or user.get("team_id"), org.get("id")
    else:
        their_team, their_org = body.get("team_id"), body.get("enterprise_id")
    if app_id is not None and body.get("api_app_id") != app_id:
        return True
    if identity.org_wide():
        return their_org != enterprise_id
    return their_team != team_id


def only_our_installation(app: AsyncApp, identity: BotIdentity) -> None:
    """The same installation check for requests that do not pass through the HTTP guard
    (Socket Mode): a request for another workspace or app is acknowledged, not run."""

    async def check(body: dict[str, Any], next: Callable[[], Awaitable[BoltResponse]]) -> BoltResponse:
        kind = "command" if "command" in body else "event" if "event" in body else "interaction"
        if await identity.ensure() and _foreign(kind, body, identity):
            log.warning("ignored a Slack %s for another app or workspace", kind)
            return BoltResponse(status=200, body="")
        return await next()

    app.middleware(check)


def _raised_inside_bolt(error: BaseException) -> bool:
    tb = error.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return "slack_bolt" in tb.tb_frame.f_code.co_filename


def answer_listener_errors(app: AsyncApp) -> None:
    """Bolt answers any listener failure with a bare 500 and a traceback. Say instead what
    happened: 503 + Retry-After while the database is away (Slack retries), 404 for a
    button or form naming a row that no longer exists; a real bug stays a logged 500."""

    async def on_error(error: Exception, response: BoltResponse | None) -> BoltResponse | None:
        if response is None:
            return None
        if database_unavailable(error):
            log.warning("Slack listener: database unavailable (%s); answered 503", type(error).__name__)
            return BoltResponse(status=503, body="database unavailable; retry later\n", headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        if isinstance(error, NoResultFound):
            log.warning("Slack listener: the request names a row that does not exist")
            return BoltResponse(status=404, body="that item no longer exists\n")
        if _raised_inside_bolt(error):
            # Bolt's own code tripped over a field no check here knows: the request's fault.
            log.warning("Slack request bolt could not read: %r", error)
            return BoltResponse(status=400, body="malformed Slack request\n")
        log.error("Slack listener failed", exc_info=error)
        return None

    app.error(on_error)


async def handle_slack_request(
    request: web.Request, app: AsyncApp, signing_secret: str, identity: BotIdentity
) -> web.Response:
    body = await read_body(request, MAX_SLACK_BYTES)
    timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
    signature = request.headers.get("X-Slack-Signature", "")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12 or not signature:
        return _reject(401, "missing Slack signature headers")
    if abs(time.time() - int(timestamp)) > MAX_CLOCK_SKEW:
        return _reject(401, "stale Slack request timestamp")
    if not _signature_ok(signing_secret, timestamp, body, signature):
        return _reject(401, "invalid Slack signature")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return _reject(400, "body is not UTF-8")
    parsed = _parse(text, request.content_type)
    if parsed is None:
        return _reject(400, "body is not a Slack event, command or action")
    kind, data = parsed
    problem = shape_problem(kind, data)
    if problem is not None:
        return _reject(400, f"malformed Slack {kind}: {problem}")
    if not await identity.ensure():
        # Slack's Web API is down: refuse, so Slack retries this event later.
        return _reject(503, "Slack Web API unreachable; retry later")
    if _foreign(kind, data, identity):
        # Signed with our secret but for another workspace or app (an org-wide or
        # distributed install): acknowledge and do nothing. A 4xx would make Slack
        # retry the event and count failures against the subscription; a command
        # gets a private line saying why instead of Slack's "dispatch_failed".
        log.warning("ignored a Slack %s for another app or workspace", kind)
        if kind == "command":
            return web.json_response({"response_type": "ephemeral", "text": FOREIGN_WORKSPACE})
        return web.Response(status=200)
    try:
        bolt_request = AsyncBoltRequest(body=text, query=request.query_string, headers=dict(request.headers))
        return await to_aiohttp_response(await app.async_dispatch(bolt_request))
    except Exception as exc:
        if database_unavailable(exc):
            raise  # answered 503 by the web layer
        # Bolt reads fields our shape check does not know about; a signed request it
        # cannot read is still the sender's problem, not a 500 (the body is not logged).
        log.warning("Slack %s could not be read: %r", kind, exc, exc_info=log.isEnabledFor(logging.DEBUG))
        return _reject(400, f"malformed Slack {kind}")
