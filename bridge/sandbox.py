"""`smsbridge sandbox`: the real smsbridge on this machine, nothing to sign up for.

The same core, command registry and outbox as `smsbridge run`, on a fresh SQLite file,
with the built-in SMS provider (bridge/adapters/localsms.py) and the built-in web chat
(bridge/adapters/webchat/) as the inbox's only platforms. It reads no `.env` and no
`smsbridge.toml`: real credentials and the real database are never touched, and
nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from bridge.config import InboxConfig, Settings

INBOX_NUMBER = "+14155550100"
CUSTOMERS = ("+14155550123", "+14155550187", "+442071838750")
CHANNEL = "team"
BUSINESS = "Acme Bikes (sandbox)"


class SandboxSettings(Settings):
    """Settings from the arguments only: no environment, no `.env`, no `smsbridge.toml`."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def sandbox_settings(data_dir: Path, port: int, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{data_dir / 'sandbox.db'}",
        "public_url": f"http://127.0.0.1:{port}",
        "host": "127.0.0.1",
        "port": port,
        "admins": ["web:ana"],
        "undo_seconds": 5,
        "log_level": "WARNING",
        "inbox": [InboxConfig(name="sandbox", number=INBOX_NUMBER, web_channel=CHANNEL, business_name=BUSINESS)],
    }
    values.update(overrides)
    return SandboxSettings(**values)


@dataclass
class Sandbox:
    """A started sandbox: `url` to open, `stop()` to end it."""

    bridge: Any
    url: str
    data_dir: Path

    async def stop(self) -> None:
        await self.bridge.stop()


async def start_sandbox(port: int = 8025, data_dir: Path | None = None, **overrides: Any) -> Sandbox:
    """Start on 127.0.0.1:`port` (0: any free port); OSError when the port is taken."""
    from bridge.adapters.localsms import LocalSms
    from bridge.adapters.webchat.platform import Teammate, WebChatPlatform
    from bridge.app import SmsBridge

    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="smsbridge-sandbox-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "sandbox.db").unlink(missing_ok=True)  # the web chat lives in memory: start both fresh
    settings = sandbox_settings(data_dir, port, **overrides)
    sms = LocalSms()
    chat = WebChatPlatform(
        CHANNEL, (Teammate("ana", "Ana"), Teammate("ben", "Ben")), sms, INBOX_NUMBER, CUSTOMERS
    )
    sms.on_change = chat.store.changed
    bridge = SmsBridge(settings, extra_platforms=(sms, chat), extra_chats=("web",))
    try:
        await bridge.start("127.0.0.1", port)
    except BaseException:
        await bridge.stop()
        raise
    return Sandbox(bridge, f"http://127.0.0.1:{bridge.port}/", data_dir)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sandbox = commands.add_parser("sandbox", help="try smsbridge in the browser: a phone and a team chat, all local")
    sandbox.add_argument("--port", type=int, default=8025, help="local port (default 8025; 0 picks a free one)")
    sandbox.add_argument("--data", type=Path, default=None, help="folder for the sandbox's SQLite file (default: a new temp folder)")
    sandbox.add_argument("--no-bodies", action="store_true",
                         help="no-bodies mode (SMSBRIDGE_NO_BODIES): the team channel shows no customer words; `!show` reads them")


def free_port_after(port: int) -> int:
    """The first port after `port` that is free on 127.0.0.1 now (0 when none of the next 50 is)."""
    import socket

    for candidate in range(port + 1, min(port + 51, 65536)):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return candidate
    return 0


async def _serve(args: argparse.Namespace) -> int:
    try:
        extra = {"smsbridge_no_bodies": True} if getattr(args, "no_bodies", False) else {}
        sandbox = await start_sandbox(args.port, args.data, **extra)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(f"smsbridge sandbox: port {args.port} is in use; try --port {free_port_after(args.port)} (or --port 0 for any)", file=sys.stderr)
            return 1
        raise
    print(f"smsbridge sandbox: open {sandbox.url}  (Ctrl-C stops)", flush=True)
    print(f"smsbridge sandbox: a fresh database in {sandbox.data_dir}; nothing leaves this machine", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await sandbox.stop()
    return 0


def run(args: argparse.Namespace) -> int:
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in ("bridge.adapters.twilio.platform", "bridge.adapters.slack.platform"):
        logging.getLogger(name).setLevel(logging.ERROR)  # "not configured": by design here
    try:
        return asyncio.run(_serve(args))
    except KeyboardInterrupt:
        return 0
