"""Taking over the outbox jobs of a worker that died, within seconds.

Every worker has a row in `outbox_instances` and bumps its `beats` counter every
`interval` seconds from a task of its own, whatever its jobs are doing, so a slow job
in a live process is never taken from it. Each worker also watches the others' rows:

- a worker on this same machine whose pid no longer exists died: its jobs are handed
  back at once (a crash, an OOM kill, a restart after SIGKILL);
- otherwise a worker is dead when its counter has not moved for `dead_after` seconds
  *of the watcher's own monotonic clock*. Only the counter's value is compared, never
  timestamps from two hosts, so clock skew between machines cannot kill a live worker,
  and after a database outage every watcher starts counting afresh.

Handing back deletes the dead worker's row (only if its counter is still the one seen)
and returns its running jobs to their queues as heads, in one transaction: two
watchers deciding at once cannot both do it, and a worker that was merely stalled
finds its row gone, registers again, and its stale results are refused by the
`attempts` guard of the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from bridge.inbox.instances import died_here
from bridge.inbox.models import OutboxInstance, utcnow

if TYPE_CHECKING:
    from bridge.inbox.outbox import Outbox

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 2.0
DEAD_AFTER_SECONDS = 10.0  # + one heartbeat: jobs of a dead worker move within ~12 s


@dataclass
class Takeover:
    outbox: Outbox
    interval: float = HEARTBEAT_SECONDS
    dead_after: float = DEAD_AFTER_SECONDS
    _seen: dict[str, tuple[int, float]] = field(default_factory=dict)  # id -> (beats, first seen at)
    # Called after a dead worker's jobs were handed back: what else it held is free now
    # (the app wakes its scheduler, so timers the dead process left due fire in seconds,
    # not at the next periodic re-check).
    on_take_over: list[Callable[[], None]] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.round()  # a restarted process takes its dead predecessor's jobs at once
        self._task = asyncio.create_task(self._loop(), name="outbox-heartbeat")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.round()
            except Exception as exc:  # noqa: BLE001 - a database hiccup: try next beat
                log.warning("outbox heartbeat failed: %s", exc)

    async def round(self) -> list[str]:
        await self.beat()
        taken = await self.take_over_dead()
        if not self.outbox.alone:
            # Claims look at the heads' index only when something says heads may be due
            # (outbox.py `_look`); with other processes about, one look a beat bounds any
            # head nothing announced (a NOTIFY lost with a dying connection, say) to a
            # beat instead of the 30 s idle re-check.
            self.outbox.wake()
        return taken

    async def beat(self) -> None:
        db = self.outbox.db
        async with db.sessions.begin() as session:
            result = await session.execute(
                update(OutboxInstance)
                .where(OutboxInstance.id == self.outbox.instance)
                .values(beats=OutboxInstance.beats + 1, heartbeat_at=utcnow())
                .execution_options(synchronize_session=False)
            )
        if not getattr(result, "rowcount", 0):
            if self.outbox._registered:
                log.warning("outbox worker %s was taken for dead (stalled?); registering again", self.outbox.instance)
            self.outbox._registered = False
            await self.outbox.register_instance()

    async def take_over_dead(self) -> list[str]:
        db = self.outbox.db
        async with db.sessions() as session:
            rows = (
                await session.execute(
                    select(OutboxInstance.id, OutboxInstance.machine, OutboxInstance.pid, OutboxInstance.beats).where(
                        OutboxInstance.id != self.outbox.instance
                    )
                )
            ).all()
        self.outbox.alone = not rows
        now = asyncio.get_running_loop().time()
        dead: list[tuple[str, int, str]] = []
        for instance, machine, pid, beats in rows:
            if died_here(machine, pid):
                dead.append((instance, beats, "its process is gone"))
                continue
            seen = self._seen.get(instance)
            if seen is None or seen[0] != beats:
                self._seen[instance] = (beats, now)
            elif now - seen[1] >= self.dead_after:
                dead.append((instance, beats, f"no heartbeat for {now - seen[1]:.0f} s"))
        self._seen = {k: v for k, v in self._seen.items() if k in {row[0] for row in rows}}
        taken: list[str] = []
        for instance, beats, why in dead:
            count = await self.outbox.hand_back(instance, f"taken over: worker {instance} died ({why})", beats=beats)
            if count is not None:
                log.warning("outbox worker %s died (%s): %d running jobs handed back", instance, why, count)
                for listener in self.on_take_over:
                    listener()
            self._seen.pop(instance, None)
            taken.append(instance)
        return taken
