"""The durable scheduler: timers in the database, each fired exactly once.

- A caller schedules a timer inside its own transaction (`schedule(session, ...)`), so
  the timer exists exactly when the fact that caused it does. Its `key` is unique
  forever (fired timers are kept), so a retried request never schedules it twice.
- Kinds are registered like outbox job kinds: `register(kind, handler)`. A process
  only fires the kinds it knows; others wait for a process that does.
- Firing: in one transaction the due timers are locked (`FOR UPDATE SKIP LOCKED` on
  PostgreSQL, so several processes split them; SQLite has one writer), marked fired by
  a guarded UPDATE, and their handlers run on that same session. A handler does its
  work through the session (typically `Outbox.enqueue(session, ...)`), never directly
  on the outside world: if the process dies before the commit, nothing happened and
  the timer is still pending for the next run; after the commit it can never fire again.
- A failing handler rolls its batch back; the batch is then fired one timer at a time,
  and the failing timer is retried with backoff (`dead` after `max_attempts`).
- The loop sleeps until the next due time (no polling), is woken at once when a commit
  in this process schedules an earlier timer (an `after_commit` hook, as the outbox
  does), and looks at the database every `recheck` seconds anyway for timers other
  processes scheduled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, event, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bridge.inbox.clock import Clock, SystemClock, require_aware
from bridge.inbox.db import Database, changed_rows, insert_ignore
from bridge.inbox.models import Timer

log = logging.getLogger(__name__)

# After a pass that found due timers it could not take (another process holds them),
# look again this soon (real seconds): they are either fired or released by then.
CONTENDED_RETRY = 0.05
ERROR_RETRY = 1.0  # after a failed pass (database unreachable), real seconds
_INFO_KEY = "scheduler_due"  # session.info: scheduler id -> earliest due_at it scheduled


@dataclass(frozen=True)
class TimerInfo:
    id: int
    kind: str
    key: str
    due_at: datetime
    payload: dict[str, Any]
    conversation_id: int | None
    attempts: int  # 1 on the first firing


TimerHandler = Callable[[AsyncSession, TimerInfo], Awaitable[None]]

_COLUMNS = (
    Timer.id,
    Timer.kind,
    Timer.key,
    Timer.due_at,
    Timer.payload,
    Timer.conversation_id,
    Timer.attempts,
)


def _info(row: Any, attempts: int | None = None) -> TimerInfo:
    return TimerInfo(
        id=row.id,
        kind=row.kind,
        key=row.key,
        due_at=row.due_at,
        payload=dict(row.payload or {}),
        conversation_id=row.conversation_id,
        attempts=row.attempts if attempts is None else attempts,
    )


class Scheduler:
    def __init__(
        self,
        db: Database,
        *,
        clock: Clock | None = None,
        batch_size: int = 100,
        recheck: float = 30.0,
        retry_base: float = 5.0,
        retry_max: float = 3600.0,
        max_attempts: int = 8,
    ) -> None:
        self.db = db
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.batch_size = batch_size
        self.recheck = timedelta(seconds=recheck)
        self.retry_base = retry_base
        self.retry_max = retry_max
        self.max_attempts = max_attempts
        self.handlers: dict[str, TimerHandler] = {}
        self._wakeup = asyncio.Event()
        self._planned_wake: datetime | None = None
        self._idle: asyncio.Condition | None = None
        self._idle_since: datetime | None = None  # clock time of the pass before the last sleep
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        event.listen(Session, "after_commit", self._after_commit)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            event.remove(Session, "after_commit", self._after_commit)

    def register(self, kind: str, handler: TimerHandler) -> None:
        self.handlers[kind] = handler
        self._wakeup.set()  # timers of this kind may already be due

    # -- producing -------------------------------------------------------------------

    async def schedule(
        self,
        session: AsyncSession,
        kind: str,
        due_at: datetime,
        payload: dict[str, Any] | None = None,
        *,
        key: str,
        conversation_id: int | None = None,
    ) -> int | None:
        """Add a timer to the caller's transaction; its id, or None when `key` exists."""
        require_aware(due_at, "due_at")
        values: dict[str, Any] = {
            "kind": kind,
            "key": key,
            "due_at": due_at,
            "payload": payload or {},
            "conversation_id": conversation_id,
            "state": "pending",
            "attempts": 0,
            "created_at": self.clock.now(),
        }
        timer_id: int | None = await insert_ignore(session, Timer, values, ["key"])
        if timer_id is not None:
            self._note_due(session, due_at)
        return timer_id

    async def reschedule(self, session: AsyncSession, key: str, due_at: datetime) -> bool:
        """Move a pending timer; False when it is not pending (fired, cancelled, unknown)."""
        require_aware(due_at, "due_at")
        result = await session.execute(
            update(Timer).where(Timer.key == key, Timer.state == "pending").values(due_at=due_at)
        )
        moved = changed_rows(result) > 0
        if moved:
            self._note_due(session, due_at)
        return moved

    async def cancel(
        self,
        session: AsyncSession,
        *,
        key: str | None = None,
        timer_id: int | None = None,
        conversation_id: int | None = None,
    ) -> bool:
        """Cancel one pending timer by key or id (and, if given, only in that conversation).

        False when it already fired or was cancelled: on PostgreSQL a timer being fired
        right now is locked, so this waits for that commit and then answers False.
        """
        if (key is None) == (timer_id is None):
            raise ValueError("cancel needs exactly one of key or timer_id")
        stmt = update(Timer).where(Timer.state == "pending")
        stmt = stmt.where(Timer.key == key) if key is not None else stmt.where(Timer.id == timer_id)
        if conversation_id is not None:
            stmt = stmt.where(Timer.conversation_id == conversation_id)
        result = await session.execute(stmt.values(state="cancelled", finished_at=self.clock.now()))
        return changed_rows(result) > 0

    async def cancel_all(self, session: AsyncSession, *, conversation_id: int, kind: str | None = None) -> int:
        """Cancel a conversation's pending timers (of one kind); how many were cancelled."""
        stmt = update(Timer).where(Timer.state == "pending", Timer.conversation_id == conversation_id)
        if kind is not None:
            stmt = stmt.where(Timer.kind == kind)
        result = await session.execute(stmt.values(state="cancelled", finished_at=self.clock.now()))
        return changed_rows(result)

    async def pending(
        self,
        session: AsyncSession,
        *,
        conversation_id: int | None = None,
        kind: str | None = None,
        limit: int = 100,
    ) -> list[TimerInfo]:
        """Pending timers, soonest first (e.g. a conversation's scheduled messages)."""
        stmt = select(*_COLUMNS).where(Timer.state == "pending")
        if conversation_id is not None:
            stmt = stmt.where(Timer.conversation_id == conversation_id)
        if kind is not None:
            stmt = stmt.where(Timer.kind == kind)
        rows = await session.execute(stmt.order_by(Timer.due_at, Timer.id).limit(limit))
        return [_info(row) for row in rows.all()]

    def _note_due(self, session: AsyncSession, due_at: datetime) -> None:
        due: dict[int, datetime] = session.sync_session.info.setdefault(_INFO_KEY, {})
        current = due.get(id(self))
        due[id(self)] = due_at if current is None else min(current, due_at)

    def _after_commit(self, session: Session) -> None:
        due: dict[int, datetime] | None = session.info.get(_INFO_KEY)
        if not due or id(self) not in due:
            return
        earliest = due.pop(id(self))
        if not due:
            session.info.pop(_INFO_KEY, None)
        if self._planned_wake is None or earliest < self._planned_wake:
            self._wakeup.set()

    def wake(self) -> None:
        self._wakeup.set()

    # -- firing ----------------------------------------------------------------------

    def _claim(self, now: datetime, limit: int) -> Select[Any]:
        return (
            select(*_COLUMNS)
            .where(Timer.state == "pending", Timer.due_at <= now, Timer.kind.in_(list(self.handlers)))
            .order_by(Timer.due_at, Timer.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )

    async def _fire_batch(self, limit: int, only_id: int | None = None) -> tuple[int, int]:
        """Fire up to `limit` due timers in one transaction: (seen, fired)."""
        now = self.clock.now()
        async with self.db.sessions.begin() as session:
            claim = self._claim(now, limit)
            if only_id is not None:
                claim = claim.where(Timer.id == only_id)
            rows = (await session.execute(claim)).all()
            if not rows:
                return 0, 0
            # The guarded UPDATE decides who fires: without SKIP LOCKED (SQLite shared
            # by two processes) only one transaction sees a timer still pending.
            taken = await session.execute(
                update(Timer)
                .where(Timer.id.in_([row.id for row in rows]), Timer.state == "pending")
                .values(state="fired", finished_at=now, attempts=Timer.attempts + 1)
                .returning(Timer.id)
            )
            owned = set(taken.scalars().all())
            for row in rows:
                if row.id in owned:
                    await self.handlers[row.kind](session, _info(row, row.attempts + 1))
            return len(rows), len(owned)

    async def fire_due(self) -> int:
        """Fire every timer due now (batch after batch); how many fired."""
        fired = 0
        while self.handlers:
            try:
                seen, count = await self._fire_batch(self.batch_size)
            except Exception:  # a handler failed: its batch rolled back
                log.warning("a timer handler failed; firing its batch one timer at a time", exc_info=True)
                seen, count = await self._fire_one_by_one()
            fired += count
            if seen < self.batch_size or self._stopping:
                return fired
            await asyncio.sleep(0)  # let requests in between batches
        return fired

    async def _fire_one_by_one(self) -> tuple[int, int]:
        """Fire a batch's worth of due timers each in its own transaction: (seen, fired)."""
        fired = 0
        now = self.clock.now()
        async with self.db.sessions() as session:
            candidates = (
                await session.execute(
                    select(Timer.id, Timer.kind, Timer.attempts)
                    .where(Timer.state == "pending", Timer.due_at <= now, Timer.kind.in_(list(self.handlers)))
                    .order_by(Timer.due_at, Timer.id)
                    .limit(self.batch_size)
                )
            ).all()
        for candidate in candidates:
            try:
                _, count = await self._fire_batch(1, only_id=candidate.id)
                fired += count
            except Exception as exc:  # this timer's handler: retry it later
                log.warning("timer %s (%s) failed", candidate.id, candidate.kind, exc_info=True)
                await self._retry(candidate.id, candidate.attempts + 1, repr(exc))
        return len(candidates), fired

    async def _retry(self, timer_id: int, attempts: int, reason: str) -> None:
        now = self.clock.now()
        if attempts >= self.max_attempts:
            log.error("timer %s gave up after %s attempts: %s", timer_id, attempts, reason)
            values: dict[str, Any] = {"state": "dead", "finished_at": now}
        else:
            delay = min(self.retry_max, self.retry_base * 2 ** (attempts - 1))
            log.info("timer %s: retry %s in %.0fs", timer_id, attempts + 1, delay)
            values = {"due_at": now + timedelta(seconds=delay)}
        async with self.db.sessions.begin() as session:
            await session.execute(
                update(Timer)
                .where(Timer.id == timer_id, Timer.state == "pending")
                .values(attempts=attempts, last_error=reason[:2000], **values)
            )

    async def next_due(self) -> datetime | None:
        """The earliest due time of a pending timer this process can fire."""
        if not self.handlers:
            return None
        async with self.db.sessions() as session:
            result = await session.execute(
                select(func.min(Timer.due_at)).where(Timer.state == "pending", Timer.kind.in_(list(self.handlers)))
            )
            due: datetime | None = result.scalar_one_or_none()
            return due

    async def counts(self) -> dict[str, int]:
        async with self.db.sessions() as session:
            rows = await session.execute(select(Timer.state, func.count()).group_by(Timer.state))
            return {state: count for state, count in rows.all()}

    # -- running ---------------------------------------------------------------------

    async def start(self) -> None:
        self._stopping = False
        self._idle = asyncio.Condition()
        self._task = asyncio.create_task(self._loop(), name="scheduler")

    async def stop(self, *, graceful: bool = True) -> None:
        """Stop the loop; `graceful=False` cuts it off mid-pass (as a crash would)."""
        task, self._task = self._task, None
        if task is None:
            return
        if graceful:
            self._stopping = True
            self._wakeup.set()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), 10.0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _loop(self) -> None:
        while not self._stopping:
            self._wakeup.clear()
            pass_time = self.clock.now()
            retry_in: float | None = None
            try:
                await self.fire_due()
                next_due = await self.next_due()
                if next_due is not None and next_due <= pass_time:
                    retry_in = CONTENDED_RETRY
            except Exception:  # a database hiccup: try again shortly
                log.exception("firing timers failed")
                next_due, retry_in = None, ERROR_RETRY
            if self._stopping:
                return
            wake_at = pass_time + self.recheck
            if next_due is not None and next_due > pass_time:
                wake_at = min(wake_at, next_due)
            self._planned_wake = wake_at
            if not self._wakeup.is_set():
                await self._mark_idle(pass_time)
            await self._sleep(wake_at, retry_in)
            self._planned_wake = None

    async def _sleep(self, wake_at: datetime, real_timeout: float | None) -> None:
        """Until the clock reaches `wake_at`, a wake-up, or `real_timeout` seconds pass."""
        if self._wakeup.is_set():
            return
        sleeper = asyncio.ensure_future(self.clock.sleep_until(wake_at))
        waker = asyncio.ensure_future(self._wakeup.wait())
        try:
            await asyncio.wait({sleeper, waker}, timeout=real_timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for future in (sleeper, waker):
                future.cancel()

    async def _mark_idle(self, pass_time: datetime) -> None:
        assert self._idle is not None
        async with self._idle:
            self._idle_since = pass_time
            self._idle.notify_all()

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until the loop has fired everything due at the clock's current time and
        gone back to sleep (tests: advance the clock, settle, then look)."""
        if self._idle is None or not self.running:
            raise RuntimeError("the scheduler is not running")
        target = self.clock.now()
        self._wakeup.set()
        idle = self._idle

        def settled() -> bool:
            return self._idle_since is not None and self._idle_since >= target and not self._wakeup.is_set()

        async with idle:
            await asyncio.wait_for(idle.wait_for(settled), timeout)

