"""A real smsbridge in a process of its own, for the multi-process and crash tests.

`BridgeProcess(settings, schema).start()` runs `python -m tests.bridge_process` with the
test's Settings (and, on PostgreSQL, the test's schema, which a URL cannot carry): the
child builds the same `SmsBridge` that `smsbridge run` does, prints its port, and serves
until SIGTERM (a graceful stop) or SIGKILL (a crash).

Importing smsbridge takes the child seconds, so `launch()` starts it early (it imports,
then waits for its settings on stdin) and `serve()` hands it the settings when the test
wants the process: a restart after a crash measures smsbridge, not Python's imports.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bridge.config import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent


def dead_pid() -> int:
    """The pid of a process of this machine that has exited (and been reaped)."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    return int(child.stdout)


class BridgeProcess:
    def __init__(self, settings: Settings, schema: str | None = None) -> None:
        values = settings.model_dump(mode="json", exclude_unset=True)
        for name, value in settings.model_dump(exclude_unset=True).items():
            if isinstance(value, SecretStr):  # dumped as "**********": the child needs the real one
                values[name] = value.get_secret_value()
        self.spec = {"settings": values, "schema": schema}
        self.proc: asyncio.subprocess.Process | None = None
        self.port = 0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self, timeout: float = 120.0) -> BridgeProcess:
        await self.launch()
        return await self.serve(timeout)

    async def launch(self) -> BridgeProcess:
        """Start the child: it imports smsbridge, then waits for `serve()`."""
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "SMSBRIDGE_CONFIG": os.devnull + ".toml"}
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.bridge_process",
            cwd=REPO_ROOT, env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        return self

    async def serve(self, timeout: float = 120.0) -> BridgeProcess:
        """Hand the launched child its settings; return once it serves (its port known)."""
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(self.spec).encode() + b"\n")
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not line:
            raise RuntimeError(f"smsbridge process exited with {await self.proc.wait()} before serving")
        self.port = int(json.loads(line)["port"])
        return self

    async def kill(self) -> None:
        """SIGKILL, and reap it: no zombie keeps its pid looking alive."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 20.0)
            except TimeoutError:
                await self.kill()


async def _serve(spec: dict[str, Any]) -> None:
    from bridge.app import SmsBridge
    from bridge.inbox.db import create_database

    settings = Settings(_env_file=None, **spec["settings"])  # type: ignore[call-arg]
    connect_args = {"server_settings": {"search_path": spec["schema"]}} if spec.get("schema") else None
    bridge = SmsBridge(settings, db=create_database(settings.database_url, connect_args=connect_args))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await bridge.start("127.0.0.1", 0)
    print(json.dumps({"port": bridge.port}), flush=True)
    try:
        await stop.wait()
    finally:
        await bridge.stop()


if __name__ == "__main__":
    import logging

    import bridge.app  # noqa: F401 - the seconds of imports, before the test needs this process

    logging.basicConfig(level=logging.WARNING, format=f"[bridge {os.getpid()}] %(levelname)s %(name)s: %(message)s")
    line = sys.stdin.readline()
    if line:  # empty: the test ended without using this process
        asyncio.run(_serve(json.loads(line)))
