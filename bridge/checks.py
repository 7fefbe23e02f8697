"""`smsbridge check`: what is missing or wrong, and which URL goes where. Never a traceback."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bridge.config import InboxConfig, Settings
from bridge.inbox.db import Database
from bridge.inbox.phone import WHATSAPP_PREFIX, parse_phone

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
    whatsapp = sorted({inbox.whatsapp_number for inbox in settings.inboxes() if inbox.whatsapp_number})
    found = [
        Finding(
            "ok",
            "Webhook URLs to paste",
            f"Twilio number → Messaging → 'A message comes in': {base}/twilio/sms (HTTP POST)\n"
            + "".join(
                f"WhatsApp sender {number} → 'Webhook URL for incoming messages': {base}/twilio/sms (HTTP POST)\n" for number in whatsapp
            )
            + f"Slack app → Event Subscriptions → Request URL: {base}/slack/events",
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
        if inbox.whatsapp_number:
            found.extend(_whatsapp_number_findings(inbox, inboxes))
        if not inbox.slack_channel and not inbox.discord_channel:
            found.append(Finding("warn", f"Inbox {inbox.name} has no chat channel", "Set SMSBRIDGE_SLACK_CHANNEL (the channel id, e.g. C0123ABCD) and/or SMSBRIDGE_DISCORD_CHANNEL (a forum channel id)."))
        elif inbox.slack_channel and inbox.slack_channel.startswith("#"):
            found.append(Finding("fail", f"Inbox {inbox.name}: use the channel id, not its name", "Slack: channel details → the id at the bottom (C…)."))
    if not found:
        found.append(Finding("ok", f"{len(inboxes)} inbox(es) configured"))
    found.extend(_no_bodies_findings(settings, inboxes))
    return found


def _whatsapp_number_findings(inbox: InboxConfig, inboxes: list[InboxConfig]) -> list[Finding]:
    """An inbox's WhatsApp sender is a number (E.164, as WhatsApp takes it) no other inbox
    answers WhatsApp on: a message to it must find one inbox."""
    assert inbox.whatsapp_number is not None
    phone = parse_phone(WHATSAPP_PREFIX + inbox.whatsapp_number)
    if not phone.valid:
        return [Finding("fail", f"Inbox {inbox.name}: whatsapp_number {inbox.whatsapp_number!r} is not a valid phone number",
                        "Write the WhatsApp sender in E.164 form, e.g. +14155550177.")]
    others = [
        other.name for other in inboxes
        if other is not inbox and other.whatsapp_number and parse_phone(WHATSAPP_PREFIX + other.whatsapp_number).key == phone.key
    ]
    if others:
        return [Finding("fail", f"Inbox {inbox.name}: WhatsApp sender {phone.key} is also inbox {', '.join(others)}'s",
                        "A WhatsApp message to it must find one inbox: give each inbox its own whatsapp_number.")]
    return []


def _no_bodies_findings(settings: Settings, inboxes: list[InboxConfig]) -> list[Finding]:
    """Say which inboxes keep message bodies out of chat (SMSBRIDGE_NO_BODIES, `no_bodies`)."""
    hidden = [inbox.name for inbox in inboxes if inbox.no_bodies]
    if not hidden:
        return []
    where = "every inbox" if len(hidden) == len(inboxes) else "inbox " + ", ".join(hidden)
    setting = "SMSBRIDGE_NO_BODIES" if settings.smsbridge_no_bodies else "no_bodies in [[inbox]]"
    return [Finding("ok", f"No-bodies mode ({setting}) in {where}: threads show length and media count, `!show` reads a text privately")]


def _retention_findings(settings: Settings) -> list[Finding]:
    """Rule 8 and retention: consent kept at least 4 years; message bodies at least a day
    and never longer than consent records (docs/compliance.md "Retention")."""
    from bridge.inbox.retention import MIN_CONSENT_DAYS

    consent = settings.smsbridge_consent_retention_days
    found: list[Finding] = []
    if consent < MIN_CONSENT_DAYS:
        found.append(Finding(
            "fail", f"SMSBRIDGE_CONSENT_RETENTION_DAYS={consent} is shorter than 4 years",
            f"TCPA claims can be brought 4 years later: keep consent records at least that long, "
            f"e.g. SMSBRIDGE_CONSENT_RETENTION_DAYS={MIN_CONSENT_DAYS} (the default).",
        ))
    overall = settings.smsbridge_retention_days
    settings.inboxes()  # fills each [[inbox]]'s unset retention_days from the overall one
    named = [("SMSBRIDGE_RETENTION_DAYS", overall)] if overall is not None else []
    named += [
        (f"retention_days of [[inbox]] {inbox.name}", inbox.retention_days)
        for inbox in settings.inbox
        if inbox.retention_days is not None and inbox.retention_days != overall
    ]
    for setting, days in named:
        assert days is not None
        if days < 1:
            found.append(Finding(
                "fail", f"{setting}={days} is shorter than a day",
                "Retention deletes message bodies older than this many days; give at least 1, e.g. SMSBRIDGE_RETENTION_DAYS=90 "
                "(or leave it unset to keep them).",
            ))
        elif days > consent:
            found.append(Finding(
                "fail", f"{setting}={days} is longer than the consent period ({consent} days)",
                f"Messages must not outlive the consent records that allowed them (SMSBRIDGE_CONSENT_RETENTION_DAYS): "
                f"give at most {consent}, e.g. SMSBRIDGE_RETENTION_DAYS=365.",
            ))
    if not found and any(inbox.retention_days for inbox in settings.inboxes()):
        found.append(Finding("ok", "Retention: " + ", ".join(f"{i.name} {i.retention_days} days" for i in settings.inboxes() if i.retention_days)))
    return found


def startup_warnings(settings: Settings) -> list[str]:
    """The offline part of `check`, printed when `run` starts."""
    findings = _public_url_findings(settings) + _inbox_findings(settings) + _retention_findings(settings)
    if not settings.twilio_enabled:
        findings.append(Finding("warn", "Twilio is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)"))
    if not settings.slack_enabled:
        findings.append(Finding("warn", "Slack is not configured (SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET or SLACK_APP_TOKEN)"))
    # Discord (issue 4)
    discord_bound = any(inbox.discord_channel for inbox in settings.inboxes())
    if discord_bound and not settings.discord_token:
        findings.append(Finding("warn", "An inbox has a Discord forum but DISCORD_TOKEN is not set"))
    elif settings.discord_token and not discord_bound:
        findings.append(Finding("warn", "DISCORD_TOKEN is set but no inbox has a Discord forum (SMSBRIDGE_DISCORD_CHANNEL)"))
    return [f.title + (f" — {f.detail}" if f.detail and f.level != "ok" else "") for f in findings if f.level != "ok"]


async def _database(settings: Settings) -> list[Finding]:
    from bridge.inbox.db import create_database

    db = create_database(settings.database_url)
    try:
        if await db.ping():
            from bridge.checks_sync import migrations

            found = [Finding("ok", f"Database reachable ({db.engine.dialect.name})"), await migrations(db), *await _agent_findings(settings, db)]
            return found + await _rule_findings(settings, db)
        return [Finding("fail", "Database unreachable", f"Check DATABASE_URL ({db.engine.url.render_as_string(hide_password=True)}).")]
    finally:
        await db.dispose()


async def _agent_findings(settings: Settings, db: Database) -> list[Finding]:
    """SMSBRIDGE_AGENTS (or an inbox's `agents`) naming someone smsbridge does not know."""
    from bridge.inbox.assignment import unknown_agents
    from bridge.inbox.assignment_policy import AssignPolicy

    found: list[Finding] = []
    try:
        async with db.sessions() as session:
            for index, inbox in enumerate(settings.inboxes()):
                for entry in await unknown_agents(session, AssignPolicy(agents=tuple(inbox.agents or ()))):
                    setting = "SMSBRIDGE_AGENTS" if inbox.agents is settings.smsbridge_agents else f"inbox[{index}].agents"
                    found.append(Finding("warn", f"{setting}: {entry} is not a teammate smsbridge knows (inbox {inbox.name})", AGENT_HINT))
    except Exception:  # noqa: BLE001 - a database not migrated yet knows nobody; `run` migrates it
        return []
    return found


def _notified(settings: Settings, platform: str) -> list[tuple[str, str]]:
    """(rule name, channel id) of each rule's `notify` on `platform`."""
    return [
        (rule.name, target.partition(":")[2].strip())
        for rule in settings.rule
        for target in rule.notify or ()
        if target.partition(":")[0].strip().lower() == platform
    ]


async def _rule_findings(settings: Settings, db: Database) -> list[Finding]:
    """Rules naming snippets that do not exist: `run` would run no rule."""
    from bridge.inbox.rules import from_config, missing_snippets

    try:
        async with db.sessions() as session:
            problems = await missing_snippets(session, from_config(settings.rule))
    except Exception:  # noqa: BLE001 - a database not migrated yet
        return []
    return [Finding("fail", f"[[rule]] {p}", "Add it (`/sms snippet add NAME text`) or change the rule; until then no rule runs.") for p in problems]


AGENT_HINT = (
    "A teammate becomes known the first time they use smsbridge (a note, a command, a button); "
    "until then automatic assignment skips them. Write ids as slack:U0123 or discord:1234."
)


async def _twilio(settings: Settings) -> list[Finding]:
    if not settings.twilio_enabled:
        return [Finding("fail", "Twilio credentials missing", "Set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (Twilio console → Account info).")]
    from twilio.base.exceptions import TwilioRestException

    from bridge.adapters.twilio.sender import make_client

    assert settings.twilio_account_sid and settings.twilio_auth_token
    client = make_client(settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value(), settings.twilio_api_url)
    found: list[Finding] = []
    if settings.signalwire and not settings.signalwire_signing_key:
        found.append(
            Finding(
                "fail",
                "SignalWire signs webhooks with the project's Signing Key, which is not set",
                "Set SIGNALWIRE_SIGNING_KEY=PSK_... (SignalWire Dashboard → API → Signing Key); without it every inbound text is refused with 403.",
            )
        )
    try:
        account = await client.api.v2010.accounts(settings.twilio_account_sid).fetch_async()
        found.append(Finding("ok", f"Twilio account reachable: {account.friendly_name} ({account.status})"))
        expected = f"{settings.public_url.rstrip('/')}/twilio/sms" if settings.public_url else None
        for inbox in settings.inboxes():
            if inbox.messaging_service_sid:
                found.append(await _messaging_service(client, inbox.messaging_service_sid, expected))
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


async def _messaging_service(client: Any, sid: str, expected: str | None) -> Finding:
    """A number pool's inbound URL (Messaging Service → Integration) must be ours."""
    from twilio.base.exceptions import TwilioRestException

    try:
        service = await client.messaging.v1.services(sid).fetch_async()
    except TwilioRestException as exc:
        return Finding("fail", f"Messaging Service {sid}: {exc.msg}", "Check SMSBRIDGE_MESSAGING_SERVICE_SID (Twilio console → Messaging → Services).")
    if service.use_inbound_webhook_on_number:
        return Finding("warn", f"Messaging Service {sid} defers to each number's webhook",
                       f"Messaging → Services → Integration → 'Send a webhook' to {expected} (HTTP POST), or set it on every number.")
    if expected and (service.inbound_request_url or "") != expected:
        return Finding("fail", f"Messaging Service {sid}: its inbound URL is {service.inbound_request_url or 'empty'}",
                       f"Messaging → Services → Integration → 'Send a webhook': {expected} (HTTP POST).")
    return Finding("ok", f"Messaging Service {sid} sends incoming texts here")


async def _slack(settings: Settings) -> list[Finding]:
    if not settings.slack_bot_token:
        return [Finding("fail", "SLACK_BOT_TOKEN missing", "Create the app from manifests/slack-app.yaml, install it, copy the Bot User OAuth Token (xoxb-…).")]
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_client import AsyncWebClient

    found: list[Finding] = []
    if not settings.slack_signing_secret and not settings.slack_app_token:
        found.append(Finding("fail", "Neither SLACK_SIGNING_SECRET (HTTP) nor SLACK_APP_TOKEN (Socket Mode) is set"))
    if settings.slack_app_token and not settings.slack_app_token.get_secret_value().startswith("xapp-"):
        found.append(Finding("fail", "SLACK_APP_TOKEN must be an app-level token (xapp-…) with connections:write"))
    client = AsyncWebClient(token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url, timeout=TIMEOUT)
    try:
        auth = await client.auth_test()
        found.append(Finding("ok", f"Slack token works: bot @{auth.get('user')} in {auth.get('team')}"))
        from bridge.checks_sync import slack_scopes

        scopes = next((v for k, v in (auth.headers or {}).items() if k.lower() == "x-oauth-scopes"), None)
        found.append(slack_scopes(scopes))
        from bridge.checks_sync import slack_events

        found += await slack_events(settings, client, auth.get("bot_id"))
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
        for rule, channel_id in _notified(settings, "slack"):
            where = f"[[rule]] rule {rule!r}, notify: slack:{channel_id}"
            try:
                info = await client.conversations_info(channel=channel_id)
            except SlackApiError as exc:
                found.append(Finding("fail", f"{where}: {exc.response.get('error')}", "Use the channel id (C…): channel details → the id at the bottom."))
                continue
            channel = info.get("channel") or {}
            if not channel.get("is_member"):
                found.append(Finding("fail", f"{where}: the bot is not in #{channel.get('name')}", f"In Slack: /invite @{auth.get('user')} in that channel."))
            else:
                found.append(Finding("ok", f"Rule {rule!r} notifies #{channel.get('name')} ({channel_id})"))
    except SlackApiError as exc:
        found.append(Finding("fail", f"Slack refused the token: {exc.response.get('error')}", "Check SLACK_BOT_TOKEN."))
    except Exception as exc:  # noqa: BLE001
        found.append(Finding("fail", f"Slack unreachable at {settings.slack_api_url}: {type(exc).__name__}"))
    finally:
        if getattr(client, "session", None):
            await client.session.close()
    return found


async def _discord(settings: Settings) -> list[Finding]:
    """Discord (issue 4): the token, the MESSAGE_CONTENT intent, each forum and the bot's
    permissions in it, naming exactly what is missing."""
    forums = [(inbox.name, inbox.discord_channel) for inbox in settings.inboxes() if inbox.discord_channel]
    if not settings.discord_token:
        if forums:
            return [Finding("fail", "DISCORD_TOKEN missing", "Developer Portal → your application → Bot → Reset Token; see README → Discord bot.")]
        return []
    import discord

    from bridge.adapters.discord_bot.gateway import point_at

    point_at(settings.discord_api_url, settings.discord_gateway_url)
    found: list[Finding] = []
    client = discord.Client(intents=discord.Intents(guilds=True))  # REST only
    try:
        try:
            await client.login(settings.discord_token.get_secret_value())
        except discord.LoginFailure:
            return [Finding("fail", "Discord refused DISCORD_TOKEN", "Copy the bot token again: Developer Portal → Bot → Reset Token.")]
        found.append(Finding("ok", f"Discord token works: bot @{client.user} (application {client.application_id})"))
        flags = client.application.flags if client.application else None
        if flags is not None and not (flags.gateway_message_content or flags.gateway_message_content_limited):
            found.append(
                Finding(
                    "fail",
                    "Discord: the MESSAGE_CONTENT intent is not enabled",
                    "Developer Portal → your application → Bot → Privileged Gateway Intents → turn on Message Content Intent.\n"
                    "Without it notes and `!` commands in posts cannot be read (buttons and /commands still work).",
                )
            )
        found.append(await _discord_commands(client, settings.discord_guild_id))
        usable: list[tuple[str, int]] = []
        for inbox_name, channel_id in forums:
            if not channel_id.isdigit():
                found.append(Finding("fail", f"Inbox {inbox_name}: discord channel {channel_id!r} is not a channel id", "Discord: right-click the forum → Copy Channel ID (Developer Mode)."))
                continue
            try:
                channel = await client.fetch_channel(int(channel_id))
            except discord.NotFound:
                found.append(Finding("fail", f"Discord channel {channel_id} does not exist", "Check SMSBRIDGE_DISCORD_CHANNEL / discord_channel."))
                continue
            except discord.Forbidden:
                found.append(Finding("fail", f"Discord: the bot cannot see channel {channel_id}", "Invite the bot with the URL in README → Discord bot, and give it View Channel there."))
                continue
            if not isinstance(channel, discord.ForumChannel):
                found.append(Finding("fail", f"Discord channel #{channel} ({channel_id}) is not a forum", "Create a Forum channel and use its id: each conversation becomes a post."))
                continue
            found.append(Finding("ok", f"Discord forum #{channel.name} ({channel_id})"))
            usable.append((channel.name, int(channel_id)))
        for rule, channel_id in _notified(settings, "discord"):
            where = f"[[rule]] rule {rule!r}, notify: discord:{channel_id}"
            try:
                target = await client.fetch_channel(int(channel_id))
            except (discord.NotFound, discord.Forbidden) as exc:
                seen = "does not exist" if isinstance(exc, discord.NotFound) else "is not visible to the bot"
                found.append(Finding("fail", f"{where}: the channel {seen}", "Discord: right-click a text channel → Copy Channel ID, and let the bot see it."))
                continue
            if not isinstance(target, discord.TextChannel):
                found.append(Finding("fail", f"{where}: #{target} is not a text channel", "A notice is a message: use a text channel's id (not a forum or a voice channel)."))
            else:
                found.append(Finding("ok", f"Rule {rule!r} notifies #{target.name} ({channel_id})"))
        if usable:
            found += await _discord_permissions(settings.discord_token.get_secret_value(), usable)
    finally:
        await client.close()
    return found


async def _discord_commands(client: Any, guild_id: int | None) -> Finding:
    """The app commands Discord holds (in DISCORD_GUILD_ID's server, else global) against this version's."""
    import discord

    from bridge.checks_sync import discord_commands

    app_id = client.application_id
    try:
        if guild_id:
            registered = await client.http.get_guild_commands(app_id, guild_id)
        else:
            registered = await client.http.get_global_commands(app_id)
    except discord.HTTPException as exc:
        return Finding("warn", f"Discord: could not list the app commands ({exc.status})")
    return discord_commands(list(registered), f"server {guild_id}" if guild_id else "all servers (global)")


async def _discord_permissions(token: str, forums: list[tuple[str, int]]) -> list[Finding]:
    """The bot's permissions in each forum (a brief gateway connection: REST alone
    cannot compute them). Only the GUILDS intent: no message events are taken."""
    import discord

    from bridge.adapters.discord_bot.gateway import OPTIONAL_PERMISSIONS, missing_permissions, permission_label

    intents = discord.Intents.none()
    intents.guilds = True
    client = discord.Client(intents=intents, guild_ready_timeout=0.2)
    task = asyncio.create_task(client.start(token))
    found: list[Finding] = []
    try:
        for _ in range(100):
            if client.is_ready() or task.done():
                break
            await asyncio.sleep(0.05)
        if not client.is_ready():
            return [Finding("warn", "Discord: could not connect to the gateway to check the bot's permissions")]
        for name, channel_id in forums:
            channel = client.get_channel(channel_id)
            me = channel.guild.me if isinstance(channel, discord.ForumChannel) else None
            if me is None:
                found.append(Finding("fail", f"Discord: the bot is not in the server of #{name}"))
                continue
            required, optional = missing_permissions(channel, me)  # type: ignore[arg-type]
            if required:
                found.append(
                    Finding(
                        "fail",
                        f"Discord: the bot lacks {', '.join(permission_label(p) for p in required)} in #{name}",
                        "Server Settings → Roles (or the forum's Permissions) → grant them to the bot's role.",
                    )
                )
            for perm in optional:
                found.append(Finding("warn", f"Discord: no {permission_label(perm)} in #{name}", f"Needed to {OPTIONAL_PERMISSIONS[perm]}."))
            if not required and not optional:
                found.append(Finding("ok", f"Discord: the bot has every permission it needs in #{name}"))
    finally:
        await client.close()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(task, 2)
    return found


async def _guarded(name: str, check: Callable[[], Awaitable[list[Finding]]]) -> list[Finding]:
    try:
        return await asyncio.wait_for(check(), TIMEOUT)
    except TimeoutError:
        return [Finding("fail", f"{name}: no answer within {TIMEOUT:.0f} s")]
    except Exception as exc:  # noqa: BLE001 - check must explain, never crash
        return [Finding("fail", f"{name}: {exc}")]


async def run_checks(settings: Settings, out: object = None) -> int:
    stream = out or sys.stdout
    findings = _public_url_findings(settings) + _inbox_findings(settings) + _retention_findings(settings)
    findings += await _guarded("Database", lambda: _database(settings))
    findings += await _guarded("Twilio", lambda: _twilio(settings))
    findings += await _guarded("Slack", lambda: _slack(settings))
    findings += await _guarded("Discord", lambda: _discord(settings))  # issue 4
    marks = {"ok": "✓", "warn": "!", "fail": "✗"}
    for finding in findings:
        print(f"{marks[finding.level]} {finding.title}", file=stream)  # type: ignore[arg-type]
        for line in finding.detail.splitlines():
            print(f"    {line}", file=stream)  # type: ignore[arg-type]
    failures = sum(f.level == "fail" for f in findings)
    print(f"\n{failures} problem(s) found." if failures else "\nAll good.", file=stream)  # type: ignore[arg-type]
    return 1 if failures else 0
