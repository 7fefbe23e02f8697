"""`smsbridge check`: is what the platforms hold in step with this version of smsbridge?

The Slack token's scopes against manifests/slack-app.yaml (and, with SLACK_CONFIG_TOKEN,
the app's event subscriptions and request URLs), the Discord app commands
against manifests/discord-commands.json, and the database's schema against the newest
migration.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bridge.checks import Finding
from bridge.config import Settings, reveal
from bridge.inbox.db import Database

MANIFESTS = Path(__file__).resolve().parent.parent / "manifests"


def manifest_scopes(path: Path = MANIFESTS / "slack-app.yaml") -> list[str]:
    """The bot scopes the Slack manifest asks for (read without a YAML library: the list
    under `oauth_config.scopes.bot`)."""
    text = path.read_text(encoding="utf-8")
    block = text.split("    bot:", 1)[1].split("\nsettings:", 1)[0]
    return re.findall(r"^\s+-\s+([a-z:._]+)", block, re.M)


def slack_scopes(granted_header: str | None) -> Finding:
    """The X-OAuth-Scopes Slack sends with every answer, against the manifest's."""
    if granted_header is None:
        return Finding("warn", "Slack did not say which scopes the token has")
    granted = {s.strip() for s in granted_header.split(",") if s.strip()}
    missing = [s for s in manifest_scopes() if s not in granted]
    if missing:
        return Finding(
            "fail",
            f"Slack: the bot token lacks the scopes {', '.join(missing)}",
            "api.slack.com/apps → your app → OAuth & Permissions → add them (or paste manifests/slack-app.yaml in App Manifest),\n"
            "then reinstall the app to the workspace and copy the new bot token.",
        )
    return Finding("ok", "Slack: the bot token has every scope of manifests/slack-app.yaml")


def discord_commands(registered: list[dict[str, Any]], where: str) -> Finding:
    """Discord's registered app commands against the ones this version declares."""
    from bridge.adapters.discord_bot.commands import manifest

    wanted = {c["name"]: c for c in manifest()}
    have = {str(c.get("name")): c for c in registered}
    missing = sorted(set(wanted) - set(have))
    stale = sorted(n for n in set(wanted) & set(have) if _options(wanted[n]) != _options(have[n]))
    extra = sorted(set(have) - set(wanted))
    if missing or stale or extra:
        parts = [f"missing /{', /'.join(missing)}" if missing else "", f"outdated /{', /'.join(stale)}" if stale else "",
                 f"no longer used /{', /'.join(extra)}" if extra else ""]
        return Finding("fail", f"Discord: the app commands in {where} are not this version's ({'; '.join(p for p in parts if p)})",
                       "Run `smsbridge discord sync`.")
    return Finding("ok", f"Discord: the {len(wanted)} app commands in {where} are synced")


def _options(command: dict[str, Any]) -> list[tuple[str, int]]:
    """What a teammate sees of a command's options: their names and types, nested."""
    out: list[tuple[str, int]] = []
    for option in command.get("options") or []:
        out.append((str(option.get("name")), int(option.get("type", 0))))
        out += _options(option)
    return out


async def migrations(db: Database) -> Finding:
    """The database's Alembic revision against the newest migration of this version."""
    from alembic.script import ScriptDirectory
    from sqlalchemy import text

    from bridge.inbox.db import alembic_config

    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    try:
        async with db.engine.connect() as conn:
            rows = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
    except Exception:  # noqa: BLE001 - no table yet: a new database
        rows = []
    current = set(rows)
    if not current:
        return Finding("warn", "Database: no migrations applied yet", "`smsbridge run` (or `smsbridge migrate`) applies them.")
    if current != heads:
        return Finding("fail", f"Database: schema at revision {', '.join(sorted(current))}, this version needs {', '.join(sorted(heads))}",
                       "Run `smsbridge migrate` (`smsbridge run` also does it at start).")
    return Finding("ok", f"Database: migrations current (revision {', '.join(sorted(heads))})")


def manifest_events(path: Path = MANIFESTS / "slack-app.yaml") -> list[str]:
    """The bot events the Slack manifest subscribes to (`settings.event_subscriptions.bot_events`)."""
    block = path.read_text(encoding="utf-8").split("    bot_events:", 1)[1]
    events = []
    for line in block.splitlines()[1:]:
        item = re.match(r"^\s{6,}-\s+([a-z_.]+)", line)
        if item is None:
            break
        events.append(item.group(1))
    return events


def events_unchecked() -> Finding:
    return Finding(
        "warn",
        "Slack: event subscriptions not checked (a bot token cannot read them)",
        "Compare api.slack.com/apps → your app → Event Subscriptions with manifests/slack-app.yaml "
        f"({', '.join(manifest_events())}),\n"
        "or set SLACK_CONFIG_TOKEN (an app configuration token) so `smsbridge check` reads the app's manifest.",
    )


async def slack_events(settings: Settings, client: Any, bot_id: str | None) -> list[Finding]:
    """The app's event subscriptions, request URLs and socket mode, read from its manifest
    (`apps.manifest.export`) with SLACK_CONFIG_TOKEN; without that token they cannot be read."""
    from slack_sdk.errors import SlackApiError

    token = reveal(settings.slack_config_token)
    if not token:
        return [events_unchecked()]
    if not token.startswith("xoxe."):
        return [Finding("fail", "SLACK_CONFIG_TOKEN is not an app configuration token (xoxe.xoxp-…)",
                        "api.slack.com/apps → Your App Configuration Tokens → Generate Token; copy the Access Token (or unset it).")]
    try:
        app_id = (await client.bots_info(bot=bot_id))["bot"]["app_id"]
        exported = await client.apps_manifest_export(token=token, app_id=app_id)
    except SlackApiError as exc:
        error = exc.response.get("error")
        hint = ("Configuration tokens last 12 hours: generate a new one (api.slack.com/apps → Your App Configuration Tokens), or unset SLACK_CONFIG_TOKEN."
                if error in ("token_expired", "invalid_auth", "not_authed") else
                "The token must belong to a collaborator of this app, in the app's workspace.")
        return [Finding("warn", f"Slack refused SLACK_CONFIG_TOKEN: {error}", hint)]
    return _compare_manifest(settings, exported.get("manifest") or {})


MANIFEST_FIX = ("api.slack.com/apps → your app → App Manifest: paste what `smsbridge init` prints "
                "(manifests/slack-app.yaml with your host), save, and reinstall if Slack asks.")


def _compare_manifest(settings: Settings, manifest: dict[str, Any]) -> list[Finding]:
    app = manifest.get("settings") or {}
    subscriptions = app.get("event_subscriptions") or {}
    problems = []
    missing = [e for e in manifest_events() if e not in (subscriptions.get("bot_events") or [])]
    if missing:
        problems.append(f"it is not subscribed to {', '.join(missing)}")
    socket = bool(settings.slack_app_token)
    if bool(app.get("socket_mode_enabled")) != socket:
        problems.append("Socket Mode is on but SLACK_APP_TOKEN is not set" if not socket else "SLACK_APP_TOKEN is set but Socket Mode is off")
    elif not socket and settings.public_url:
        wanted = f"{settings.public_url.rstrip('/')}/slack/events"
        urls = {
            "Event Subscriptions → Request URL": subscriptions.get("request_url"),
            "Interactivity → Request URL": (app.get("interactivity") or {}).get("request_url"),
            "Slash Commands → /sms": next((c.get("url") for c in (manifest.get("features") or {}).get("slash_commands") or []
                                           if c.get("command") == "/sms"), None),
        }
        problems += [f"{where} is {url or 'empty'}, not {wanted}" for where, url in urls.items() if url != wanted]
    if problems:
        return [Finding("fail", f"Slack: the app's configuration differs from manifests/slack-app.yaml: {problems[0]}",
                        "\n".join([*problems[1:], MANIFEST_FIX]))]
    return [Finding("ok", "Slack: the app's event subscriptions and request URLs match manifests/slack-app.yaml")]
