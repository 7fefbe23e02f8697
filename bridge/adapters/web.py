"""The one aiohttp server: provider webhooks, Slack's Request URL, health and metrics."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import DataError

from bridge import metrics
from bridge.adapters.twilio.webhook import MAX_WEBHOOK_BYTES, BadWebhook, parse_form, signature_ok, to_inbound, to_status
from bridge.adapters.web_guard import read_body
from bridge.inbox import media_files
from bridge.inbox.db import Database, database_unavailable
from bridge.inbox.intake import RejectedText
from bridge.inbox.outbox import Outbox
from bridge.inbox.routing import UnknownInbox
from bridge.inbox.service import InboxService

log = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
_TWIML_BODY = EMPTY_TWIML.encode()
_SMS_OK = metrics.WEBHOOKS.labels("twilio_sms", "200")
SlackHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Twilio and Slack both retry a 503; a few seconds is enough for a restart or failover.
RETRY_AFTER_SECONDS = 5
_ROUTES = {"/twilio/sms": "twilio_sms", "/twilio/status": "twilio_status", "/slack/events": "slack_events"}


@dataclass
class WebContext:
    db: Database
    service: InboxService
    outbox: Outbox
    public_url: str | None
    # Twilio's auth token, or SignalWire's Signing Key (SIGNALWIRE_SIGNING_KEY).
    webhook_key: str | None
    slack: SlackHandler | None = None
    metrics_token: str | None = None  # METRICS_TOKEN: /metrics then needs it as a bearer token


def _reply(route: str, status: int, reason: str, headers: dict[str, str] | None = None) -> web.Response:
    metrics.WEBHOOKS.labels(route, str(status)).inc()
    return web.Response(status=status, text=reason + "\n", headers=headers)


def database_away(route: str) -> web.Response:
    return _reply(route, 503, "database unavailable; retry later", {"Retry-After": str(RETRY_AFTER_SECONDS)})


@web.middleware
async def answer_failures(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure gets a deliberate answer: 503 + Retry-After while the database is
    away (the provider retries), 400 for a value the database refuses, and a logged 500
    (path only: the query string may carry ids) for a bug, never aiohttp's bare page."""
    route = _ROUTES.get(request.path, "other")
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except RejectedText as exc:
        return _reply(route, 400, str(exc))
    except DataError as exc:  # a value out of range or too long for its column
        log.warning("%s %s: the database refused a value: %s", request.method, request.path, type(exc.orig).__name__)
        return _reply(route, 400, "a value in this request cannot be stored")
    except Exception as exc:
        if database_unavailable(exc):
            log.warning("%s %s: database unavailable (%s); answered 503", request.method, request.path, type(exc).__name__)
            return database_away(route)
        log.exception("%s %s failed", request.method, request.path)
        return _reply(route, 500, "internal error")


async def _signed_twilio_params(request: web.Request, ctx: WebContext, route: str) -> dict[str, list[str]] | web.Response:
    if not ctx.webhook_key:
        return _reply(route, 503, "Twilio is not configured: set TWILIO_AUTH_TOKEN (SignalWire: SIGNALWIRE_SIGNING_KEY)")
    if not ctx.public_url:
        return _reply(route, 503, "PUBLIC_URL is not set, so Twilio signatures cannot be checked")
    try:
        body = await read_body(request, MAX_WEBHOOK_BYTES)
    except web.HTTPRequestEntityTooLarge:
        return _reply(route, 413, "webhook body too large")
    try:
        params = parse_form(body)
    except BadWebhook as exc:
        return _reply(route, 400, str(exc))
    url = ctx.public_url.rstrip("/") + request.raw_path
    # SignalWire sends X-SignalWire-Signature (and the same value as X-Twilio-Signature).
    signature = request.headers.get("X-SignalWire-Signature") or request.headers.get("X-Twilio-Signature")
    if not signature_ok(ctx.webhook_key, url, params, signature):
        return _reply(route, 403, "invalid Twilio signature")
    return params


def _bearer_ok(request: web.Request, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # Constant time: the comparison must not tell how much of a guess was right.
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def build_web_app(ctx: WebContext) -> web.Application:
    async def twilio_sms(request: web.Request) -> web.Response:
        params = await _signed_twilio_params(request, ctx, "twilio_sms")
        if isinstance(params, web.Response):
            return params
        try:
            sms = to_inbound(params)
            accepted = await ctx.service.inbound.accept_from_webhook(sms)
        except BadWebhook as exc:
            return _reply("twilio_sms", 400, str(exc))
        except UnknownInbox as exc:
            log.error("inbound message for an unconfigured number: %s", exc)
            return _reply("twilio_sms", 404, str(exc))
        if accepted:
            metrics.INBOUND.inc()
        _SMS_OK.inc()
        return web.Response(body=_TWIML_BODY, content_type="text/xml")

    async def twilio_status(request: web.Request) -> web.Response:
        params = await _signed_twilio_params(request, ctx, "twilio_status")
        if isinstance(params, web.Response):
            return params
        try:
            update = to_status(params, request.query.get("m"))
        except BadWebhook as exc:
            return _reply("twilio_status", 400, str(exc))
        await ctx.service.delivery.record_status(update)
        metrics.WEBHOOKS.labels("twilio_status", "200").inc()
        return web.Response(text=EMPTY_TWIML, content_type="text/xml")

    async def slack_events(request: web.Request) -> web.StreamResponse:
        if ctx.slack is None:
            return _reply("slack_events", 503, "Slack over HTTP is not configured: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET")
        try:
            response = await ctx.slack(request)
        except web.HTTPRequestEntityTooLarge:
            return _reply("slack_events", 413, "request body too large")
        if response.status >= 500 and not await ctx.db.ping():
            # Bolt answers a failed listener with 500; say why, so Slack retries later.
            return database_away("slack_events")
        metrics.WEBHOOKS.labels("slack_events", str(response.status)).inc()
        return response

    async def media(request: web.Request) -> web.Response:
        # No credentials (the provider sends none): the token is the secret. An unknown,
        # expired or malformed one is a bare 404 that says nothing about which it was.
        token = request.match_info["token"]
        if len(token) > 64:
            return _reply("media", 404, "not found")
        async with ctx.db.sessions() as session:
            found = await media_files.served(session, token)
        if found is None:
            return _reply("media", 404, "not found")
        metrics.WEBHOOKS.labels("media", "200").inc()
        return web.Response(
            body=found.data,
            content_type=found.content_type.split(";")[0].strip() or "application/octet-stream",
            headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
        )

    async def healthz(_request: web.Request) -> web.Response:
        if await ctx.db.ping():
            return web.Response(text="ok\n")
        return web.Response(status=503, text="database unreachable\n", headers={"Retry-After": str(RETRY_AFTER_SECONDS)})

    async def metrics_route(request: web.Request) -> web.Response:
        if ctx.metrics_token and not _bearer_ok(request, ctx.metrics_token):
            return web.Response(
                status=401, text="/metrics needs Authorization: Bearer <METRICS_TOKEN>\n", headers={"WWW-Authenticate": "Bearer"}
            )
        try:
            counts = await ctx.outbox.counts()
            for state in ("pending", "running", "dead"):
                metrics.OUTBOX.labels(state).set(counts.get(state, 0))
            oldest = await ctx.outbox.oldest_pending()
            age = (datetime.now(UTC) - oldest).total_seconds() if oldest is not None else 0.0
            metrics.OUTBOX_OLDEST_SECONDS.set(max(age, 0.0))
        except Exception:  # noqa: BLE001 - metrics must answer even when the db does not
            log.warning("could not read outbox counts for /metrics")
        response = web.Response(body=generate_latest())
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return response

    app = web.Application(client_max_size=2 * 1024 * 1024, middlewares=[answer_failures])
    app.router.add_post("/twilio/sms", twilio_sms)
    app.router.add_post("/twilio/status", twilio_status)
    app.router.add_post("/slack/events", slack_events)
    app.router.add_get("/media/{token}", media)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_route)
    return app
