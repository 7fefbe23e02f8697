"""The `smsbridge` command: init, sandbox, run, migrate, check, contacts import/export/erase, discord sync, db copy, report, export."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

from pydantic import ValidationError

from bridge.config import Settings, load_settings
from bridge.logs import setup_logging


def _field_name(loc: tuple[int | str, ...]) -> str:
    """`SMSBRIDGE_NUMBER` for an environment setting, `inbox[1].number` for a TOML table."""
    if len(loc) == 1:
        return str(loc[0]).upper()
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")


def _reason(message: str) -> str:
    return message.removeprefix("Value error, ")


def _settings() -> Settings:
    try:
        return load_settings()
    except ValidationError as exc:
        # One line per wrong setting, naming it as the operator wrote it.
        for err in exc.errors():
            print(f"smsbridge: configuration error: {_field_name(err['loc'])}: {_reason(err['msg'])}", file=sys.stderr)
        raise SystemExit(2) from None
    except Exception as exc:  # noqa: BLE001 - e.g. a broken smsbridge.toml
        print(f"smsbridge: cannot read the configuration: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


async def _run(settings: Settings, host: str | None, port: int | None) -> None:
    from bridge.app import SmsBridge
    from bridge.checks import startup_warnings

    for warning in startup_warnings(settings):
        print(f"smsbridge: {warning}", file=sys.stderr)
    bridge = SmsBridge(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await bridge.start(host, port)
    print(f"smsbridge: serving on http://{host or settings.host}:{bridge.port} (Ctrl-C stops)", file=sys.stderr)
    try:
        await stop.wait()
    finally:
        await bridge.stop()


async def _migrate(settings: Settings) -> None:
    from bridge.inbox.db import create_database, migrate

    db = create_database(settings.database_url)
    try:
        await migrate(db)
    finally:
        await db.dispose()
    print("smsbridge: database is up to date")


async def _contacts(settings: Settings, action: str, path: Path) -> int:
    from bridge.inbox.contacts_csv import ContactsCsvError, export_contacts, import_contacts
    from bridge.inbox.db import create_database, migrate

    db = create_database(settings.database_url)
    try:
        await migrate(db)
        if action == "import":
            report = await import_contacts(db, path)
            print(f"smsbridge: {path}: {report.summary()}")
        else:
            count = await export_contacts(db, path)
            print(f"smsbridge: exported {count} contacts to {path}")
    except ContactsCsvError as exc:
        print(f"smsbridge: {exc}", file=sys.stderr)
        return 1
    finally:
        await db.dispose()
    return 0


async def _on_migrated_database(settings: Settings, args: argparse.Namespace, command: str) -> int:
    """`report` and `export`: the database brought up to date, then the command's `run(db, args)`."""
    import importlib

    from bridge.inbox.db import create_database, migrate

    run = importlib.import_module(f"bridge.{command}_cli").run
    db = create_database(settings.database_url)
    try:
        await migrate(db)
        return int(await run(db, args))
    finally:
        await db.dispose()


async def _discord(settings: Settings, action: str) -> int:
    """`smsbridge discord sync` (issue 4): upload the app commands on demand."""
    import discord

    from bridge.adapters.discord_bot.commands import sync_commands
    from bridge.adapters.discord_bot.gateway import point_at

    if not settings.discord_token:
        print("smsbridge: DISCORD_TOKEN is not set", file=sys.stderr)
        return 2
    point_at(settings.discord_api_url, settings.discord_gateway_url)
    try:
        names = await sync_commands(settings.discord_token.get_secret_value(), settings.discord_guild_id)
    except discord.LoginFailure:
        print("smsbridge: Discord refused DISCORD_TOKEN", file=sys.stderr)
        return 1
    except discord.HTTPException as exc:
        print(f"smsbridge: Discord refused the commands: {exc.status} {exc.text}", file=sys.stderr)
        return 1
    where = f"server {settings.discord_guild_id}" if settings.discord_guild_id else "all servers (global; may take a while to appear)"
    print(f"smsbridge: synced {len(names)} Discord commands to {where}: /{', /'.join(names)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Every `smsbridge` command (deploy/ examples are tested against it)."""
    parser = argparse.ArgumentParser(prog="smsbridge", description="A shared SMS inbox in Slack and Discord.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="serve webhooks, connect Slack and Discord, run workers")
    run.add_argument("--host", default=None)
    run.add_argument("--port", type=int, default=None)
    commands.add_parser("migrate", help="apply database migrations (run also does it)")
    commands.add_parser("check", help="validate the configuration and reach each API")
    contacts = commands.add_parser("contacts", help="import or export contacts as CSV, or erase one")
    contacts_actions = contacts.add_subparsers(dest="action", required=True)
    for action, text in (("import", "add or update contacts from a CSV file"), ("export", "write all contacts to a CSV file")):
        contacts_actions.add_parser(action, help=text).add_argument("file", type=Path)
    erase = contacts_actions.add_parser("erase", help="erase a contact and everything about them; an opt-out stays, hashed")
    erase.add_argument("number", help="the contact's phone number, e.g. +14155550123")
    erase.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    discord_cmd = commands.add_parser("discord", help="Discord bot tasks")  # issue 4
    discord_cmd.add_subparsers(dest="action", required=True).add_parser(
        "sync", help="upload the app commands (/reply, /claim, /sms, ...) to Discord"
    )
    from bridge.dbcopy.command import add_parser as add_db_parser  # issue 9: db copy

    add_db_parser(commands)

    from bridge import export_cli, init_cli, report_cli, sandbox

    report_cli.add_parser(commands)
    export_cli.add_parser(commands)
    init_cli.add_parser(commands)
    sandbox.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    from bridge import init_cli, sandbox

    args = build_parser().parse_args(argv)
    if args.command == "init":  # before the settings: there are none yet
        return init_cli.run(args)
    if args.command == "sandbox":  # reads no settings: it must not touch a real .env
        return sandbox.run(args)

    settings = _settings()
    setup_logging(settings.log_level, settings.secrets(), fmt=settings.log_format)
    try:
        if args.command == "run":
            asyncio.run(_run(settings, args.host, args.port))
        elif args.command == "migrate":
            asyncio.run(_migrate(settings))
        elif args.command == "check":
            from bridge.checks import run_checks

            return asyncio.run(run_checks(settings))
        elif args.command == "contacts" and args.action == "erase":
            from bridge.erase_cli import erase_contact

            return asyncio.run(erase_contact(settings, args.number, yes=args.yes))
        elif args.command == "contacts":
            return asyncio.run(_contacts(settings, args.action, args.file))
        elif args.command == "report":
            return asyncio.run(_on_migrated_database(settings, args, "report"))
        elif args.command == "export":
            return asyncio.run(_on_migrated_database(settings, args, "export"))
        elif args.command == "discord":
            return asyncio.run(_discord(settings, args.action))
        elif args.command == "db":
            from bridge.dbcopy.command import run_copy

            return asyncio.run(run_copy(args.source or settings.database_url, args.to, args.batch_size))
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(f"smsbridge: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
