"""A named lease in the database: at most one process holds it at a time.

Used for the Discord gateway (one connection per bot token, or every event arrives
twice). The row `leases(name, holder, expires_at)` is taken when free or expired and
renewed every `ttl / 3` seconds. A holder that dies is replaced within seconds, not
after `ttl`:

- on PostgreSQL the holder also keeps `pg_try_advisory_lock` on a dedicated
  connection, so a second process can never win while the first's connection (and so
  the process) is alive, whatever the clocks say; and once the lock is free (the
  holder's connection closed: it died or let go) the row is taken at once;
- on one machine (SQLite), a holder whose pid no longer exists is taken over at once
  (bridge/inbox/instances.py); a holder on another host is trusted until `ttl`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox.db import Database, insert_ignore
from bridge.inbox.instances import died_here, new_instance_id, parse_instance_id
from bridge.inbox.models import Lease, utcnow

log = logging.getLogger(__name__)


def default_holder() -> str:
    return new_instance_id()


Callback = Callable[[], Awaitable[None]]


class LeaseKeeper:
    """Takes and renews one lease; calls `on_acquired` / `on_lost` as that changes."""

    def __init__(
        self,
        db: Database,
        name: str,
        *,
        ttl: float = 30.0,
        holder: str | None = None,
        on_acquired: Callback | None = None,
        on_lost: Callback | None = None,
    ) -> None:
        self.db = db
        self.name = name
        self.ttl = ttl
        self.holder = holder or default_holder()
        self.on_acquired = on_acquired
        self.on_lost = on_lost
        self.held = False
        self._task: asyncio.Task[None] | None = None
        self._lock_conn: Any = None  # PostgreSQL: the connection holding the advisory lock
        self._key = zlib.crc32(f"smsbridge:{name}".encode()) & 0x7FFFFFFF

    # -- one attempt -----------------------------------------------------------

    async def try_acquire(self) -> bool:
        """Take or renew the lease; True while this process holds it."""
        if self.db.is_postgres and not await self._advisory_lock():
            return False
        now = utcnow()
        until = now + timedelta(seconds=self.ttl)
        async with self.db.sessions.begin() as session:
            if await self._insert(session, until):
                return True
            takeable = [Lease.holder == self.holder, Lease.expires_at < now]
            if self.db.is_postgres:
                takeable.append(true())  # the advisory lock is ours: its last holder is gone
            else:
                holder = await session.scalar(select(Lease.holder).where(Lease.name == self.name))
                parsed = parse_instance_id(holder) if holder else None
                if parsed is not None and died_here(*parsed):
                    takeable.append(Lease.holder == holder)
            result = await session.execute(
                update(Lease)
                .where(Lease.name == self.name, or_(*takeable))
                .values(holder=self.holder, expires_at=until)
                .execution_options(synchronize_session=False)
            )
            return bool(getattr(result, "rowcount", 0))

    async def _insert(self, session: AsyncSession, until: datetime) -> bool:
        """INSERT … ON CONFLICT DO NOTHING (via insert_ignore): True when the lease row was new."""
        values = {"name": self.name, "holder": self.holder, "expires_at": until}
        return await insert_ignore(session, Lease, values, ["name"]) is not None

    async def release(self) -> None:
        """Give the lease up at once (a graceful stop), so another process need not wait."""
        with contextlib.suppress(Exception):
            async with self.db.sessions.begin() as session:
                await session.execute(
                    update(Lease)
                    .where(Lease.name == self.name, Lease.holder == self.holder)
                    .values(expires_at=utcnow() - timedelta(seconds=1))
                    .execution_options(synchronize_session=False)
                )
        await self._advisory_unlock()

    async def _advisory_lock(self) -> bool:
        try:
            if self._lock_conn is None or self._lock_conn.is_closed():
                self._lock_conn = await self.db.dedicated_connection()
            return bool(await self._lock_conn.fetchval("SELECT pg_try_advisory_lock($1)", self._key))
        except Exception as exc:  # noqa: BLE001 - no lock means "not held", never a crash
            log.warning("lease %s: advisory lock unavailable: %s", self.name, exc)
            await self._advisory_unlock()
            return False

    async def _advisory_unlock(self) -> None:
        conn, self._lock_conn = self._lock_conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()  # closing the session frees its advisory locks

    # -- keeping it ------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"lease-{self.name}")

    async def _loop(self) -> None:
        interval = max(0.05, self.ttl / 3)
        while True:
            try:
                held = await self.try_acquire()
            except Exception as exc:  # noqa: BLE001 - a database hiccup: not held this round
                log.warning("lease %s: renewal failed: %s", self.name, exc)
                held = False
            if held != self.held:
                self.held = held
                log.info("lease %s %s by %s", self.name, "taken" if held else "lost", self.holder)
                callback = self.on_acquired if held else self.on_lost
                if callback is not None:
                    try:
                        await callback()
                    except Exception:  # a callback bug must not stop the renewals
                        log.exception("lease %s: callback failed", self.name)
            await asyncio.sleep(interval)

    async def stop(self, *, release: bool = True) -> None:
        """Stop renewing; `release=False` behaves like a crash (the lease runs out)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
            self._task = None
        if self.held and self.on_lost is not None:
            with contextlib.suppress(Exception):
                await self.on_lost()
        self.held = False
        if release:
            await self.release()
        else:
            await self._advisory_unlock()
