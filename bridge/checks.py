"""`smsbridge check`: what is missing or wrong, and which URL goes where. Never a traceback."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from bridge.config import Settings
from bridge.inbox.phone import parse_phone

TIMEOUT = 15.0


@dataclass
class Finding:
    level: str  # ok | warn | fail
    title: str
    detail: str = ""


def _public_url_findings(settings: Settings) -> list[Finding]:
    if not settings.public_url:
        return [
            Finding(
                "fail" if settings.twilio_enabled else "warn",
                "PUBLIC_URL is not set",
                "Set it to the https:// address the internet reaches this server at; "
                "Twilio signatures are checked against it.",
            )
        ]
    parts = urlsplit(settings.public_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return [Finding("fail", f"PUBLIC_URL is not a URL: {settings.public_url!r}")]
    base = settings.public_url.rstrip("/")
    found = [
        Finding(
            "ok",
            "Webhook URLs to paste",
            f"Twilio number → Messaging → 'A message comes in': {base}/twilio/sms (HTTP POST)\n"
            f"Slack app → Event Subscriptions → Request URL: {base}/slack/events",
        )
    ]
    if parts.scheme != "https":
        found.append(Finding("warn", "PUBLIC_URL is not https", "Twilio and Slack should call an https:// URL."))
    return found


def _inbox_findings(settings: Settings) -> list[Finding]:
    inboxes = settings.inboxes()
    if not inboxes:
        return [Finding("fail", "No inbox configured", "Set SMSBRIDGE_NUMBER (E.164, e.g. +14155550123) and SMSBRIDGE_SLACK_CHANNEL.")]
    found = []
    for inbox in inboxes:
        if inbox.number and not parse_phone(inbox.number).valid:
            found.append(Finding("fail", f"Inbox {inbox.name}: {inbox.number!r} is not a valid phone number"))
        if not inbox.slack_channel and not inbox.discord_channel:
            found.append(Finding("warn", f"Inbox {inbox.name} has no chat channel", "Set SMSBRIDGE_SLACK_CHANNEL (the channel id, e.g. C0123ABCD)."))
        elif inbox.slack_channel and inbox.slack_channel.startswith("#"):
            found.append(Finding("fail", f"Inbox {inbox.name}: use the channel id, not its name", "Slack: channel details → the id at the bottom (C…)."))
    if not found:
        found.append(Finding("ok", f"{len(inboxes)} inbox(es) configured"))
    return found


def startup_warnings(settings: Settings) -> list[str]:
    """The offline part of `check`, printed when `run` starts."""
    findings = _public_url_findings(settings) + _inbox_findings(settings)
    if not settings.twilio_enabled:
        findings.append(Finding("warn", "Twilio is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)"))
    if not settings.slack_enabled:
        findings.append(Finding("warn", "Slack is not configured (SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET or SLACK_APP_TOKEN)"))
    return [f.title + (f" — {f.detail}" if f.detail and f.level != "ok" else "") for f in findings if f.level != "ok"]


async def _database(settings: Settings) -> list[Finding]:
    from bridge.inbox.db import create_database

    db = create_database(settings.database_url)
    try:
        if await db.ping():
            return [Finding("ok", f"Database reachable ({db.engine.dialect.name})")]
        return [Finding("fail", "Database unreachable", f"Check DATABASE_URL ({db.engine.url.render_as_string(hide_password=True)}).")]
    finally:
        await db.dispose()


async def _twilio(settings: Settings) -> list[Finding]:
    if not settings.twilio_enabled:
        return [Finding("fail", "Twilio credentials missing", "Set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (Twilio console → Account info).")]
    from twilio.base.exceptions import TwilioRestException

    from bridge.adapters.twilio.sender import make_client

    assert settings.twilio_account_sid and settings.twilio_auth_token
    client = make_client(settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_api_url)
    found: list[Finding] = []
    try:
        account = await client.api.v2010.accounts(settings.twilio_account_sid).fetch_async()
        found.append(Finding("ok", f"Twilio account reachable: {account.friendly_name} ({account.status})"))
        expected = f"{settings.public_url.rstrip('/')}/twilio/sms" if settings.public_url else None
        for inbox in settings.inboxes():
            if not inbox.number:
                continue
            number = parse_phone(inbox.number).key
            listed = await client.api.v2010.account.incoming_phone_numbers.list_async(phone_number=number, limit=1)
            if not listed:
                found.append(Finding("fail", f"{number} is not a number of this Twilio account"))
            elif expected and (listed[0].sms_url or "") != expected:
                found.append(
                    Finding("warn", f"{number}: its incoming-message webhook is {listed[0].sms_url or 'empty'}", f"Set it to {expected} (HTTP POST).")
                )
            else:
                found.append(Finding("ok", f"{number} belongs to the account" + (" and points here" if expected else "")))
    except TwilioRestException as exc:
        found.append(Finding("fail", f"Twilio refused: {exc.msg} (code {exc.code})", "Check TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN."))
    except Exception as exc:  # noqa: BLE001
        found.append(Finding("fail", f"Twilio unreachable at {settings.twilio_api_url}: {type(exc).__name__}"))
    finally:
        await client.http_client.close()
    return found


async def _slack(settings: Settings) -> list[Finding]:
    if not settings.slack_bot_token:
        return [Finding("fail", "SLACK_BOT_TOKEN missing", "Create the app from manifests/slack-app.yaml, install it, copy the Bot User OAuth Token (xoxb-…).")]
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_client import AsyncWebClient

    found: list[Finding] = []
    if not settings.slack_signing_secret and not settings.slack_app_token:
        found.append(Finding("fail", "Neither SLACK_SIGNING_SECRET (HTTP) nor SLACK_APP_TOKEN (Socket Mode) is set"))
    if settings.slack_app_token and not settings.slack_app_token.startswith("xapp-"):
        found.append(Finding("fail", "SLACK_APP_TOKEN must be an app-level token (xapp-…) with connections:write"))
    client = AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=TIMEOUT)
    try:
        auth = await client.auth_test()
        found.append(Finding("ok", f"Slack token works: bot @{auth.get('user')} in {auth.get('team')}"))
        for inbox in settings.inboxes():
            if not inbox.slack_channel:
                continue
            try:
                info = await client.conversations_info(channel=inbox.slack_channel)
                channel = info.get("channel") or {}
                if channel.get("is_member"):
                    found.append(Finding("ok", f"Bot is in #{channel.get('name')} ({inbox.slack_channel})"))
                else:
                    found.append(Finding("fail", f"Bot is not in #{channel.get('name')}", f"In Slack: /invite @{auth.get('user')} in that channel."))
            except SlackApiError as exc:
                found.append(Finding("fail", f"Channel {inbox.slack_channel}: {exc.response.get('error')}", "Use the channel id (C…), and reinstall the app if scopes changed."))
    except SlackApiError as exc:
        found.append(Finding("fail", f"Slack refused the token: {exc.response.get('error')}", "Check SLACK_BOT_TOKEN."))
    except Exception as exc:  # noqa: BLE001
        found.append(Finding("fail", f"Slack unreachable at {settings.slack_api_url}: {type(exc).__name__}"))
    finally:
        if getattr(client, "session", None):
            await client.session.close()
    return found


async def _guarded(name: str, check: Callable[[], Awaitable[list[Finding]]]) -> list[Finding]:
    try:
        return await asyncio.wait_for(check(), TIMEOUT)
    except asyncio.TimeoutError:
        return [Finding("fail", f"{name}: no answer within {TIMEOUT:.0f} s")]
    except Exception as exc:  # noqa: BLE001 - check must explain, never crash
        return [Finding("fail", f"{name}: {exc}")]


async def run_checks(settings: Settings, out: object = None) -> int:
    stream = out or sys.stdout
    findings = _public_url_findings(settings) + _inbox_findings(settings)
    findings += await _guarded("Database", lambda: _database(settings))
    findings += await _guarded("Twilio", lambda: _twilio(settings))
    findings += await _guarded("Slack", lambda: _slack(settings))
    marks = {"ok": "✓", "warn": "!", "fail": "✗"}
    for finding in findings:
        print(f"{marks[finding.level]} {finding.title}", file=stream)  # type: ignore[arg-type]
        for line in finding.detail.splitlines():
            print(f"    {line}", file=stream)  # type: ignore[arg-type]
    failures = sum(f.level == "fail" for f in findings)
    print(f"\n{failures} problem(s) found." if failures else "\nAll good.", file=stream)  # type: ignore[arg-type]
    return 1 if failures else 0
