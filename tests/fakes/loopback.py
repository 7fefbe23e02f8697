"""The lifecycle every loopback fake shares: an aiohttp app on 127.0.0.1, port 0."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any, Self

from aiohttp import web

Predicate = Callable[[], Any]  # a value or an awaitable, truthy when done


# How long a test waits for something to happen before it fails. Generous on purpose: a
# wait returns as soon as its condition holds, so this costs a passing test nothing, and a
# CI machine whose two cores are busy with other workers can stall one for seconds.
DEFAULT_WAIT = 15.0


class LoopbackServer:
    """Subclasses build their routes in `make_app` and close their sockets in `before_stop`."""

    name = "fake"

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    def make_app(self) -> web.Application:
        raise NotImplementedError

    async def before_stop(self) -> None:
        """Close long-lived connections (websockets) so shutdown does not wait on them."""

    async def start(self) -> Self:
        # A short shutdown timeout: a connected websocket client must not stall stop().
        self._runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        await self.before_stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def recent_activity(self) -> str:
        """What the fake saw last, for a timeout's message."""
        return ""

    async def wait_for(self, predicate: Predicate, timeout: float = DEFAULT_WAIT, message: str | None = None) -> None:
        """Poll ``predicate`` (sync or async) every 10 ms until it is truthy."""
        await wait_until(predicate, timeout, message, who=f"{type(self).__name__}.wait_for", activity=self.recent_activity)


async def wait_until(
    predicate: Predicate,
    timeout: float = DEFAULT_WAIT,
    message: str | None = None,
    *,
    who: str = "wait_until",
    activity: Callable[[], str] = lambda: "",
) -> None:
    """Poll ``predicate`` (sync or async) every 10 ms until it is truthy; tests wait on a
    condition, never for a fixed time."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() >= deadline:
            what = message or getattr(predicate, "__name__", repr(predicate))
            raise AssertionError(f"{who} timed out after {timeout}s waiting for {what}; {activity()}")
        await asyncio.sleep(0.01)
