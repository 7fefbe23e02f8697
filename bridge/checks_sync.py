"""`smsbridge check`: is what the platforms hold in step with this version of smsbridge?

The Slack token's scopes against manifests/slack-app.yaml, the Discord app commands
against manifests/discord-commands.json, and the database's schema against the newest
migration.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bridge.checks import Finding
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
