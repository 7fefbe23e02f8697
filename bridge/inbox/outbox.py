"""The durable outbox: jobs committed with the fact that caused them, run by workers.

- A request handler calls `Outbox.enqueue(session, ...)` inside its own transaction;
  the job exists exactly when the fact does.
- Jobs of one queue (a conversation on one platform, say) run strictly in id order:
  a job is claimable only when no earlier job of its queue is still open.
- A claimed job holds a lease; if its process dies the lease runs out and another
  worker takes it again. Handlers get `job.attempts` so they can reconcile a send
  whose outcome was unknown before repeating it.
- Workers sleep on an event that a commit with new jobs sets (and, on PostgreSQL,
  on LISTEN/NOTIFY for jobs from other processes): no polling delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, delete, event, exists, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, aliased
from tenacity import RetryCallState, wait_random_exponential

from bridge.inbox.db import Database, insert_ignore
from bridge.inbox.models import OutboxJob, utcnow
from bridge.metrics import JOB_SECONDS

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "smsbridge_outbox"
BURST_SPACING = 0.2  # during a burst of webhooks, at most one job started per 200 ms
OPEN_STATES = ("pending", "running")


def _claim_statement() -> Any:
    """Due jobs that head their queue (no earlier job of the queue still open)."""
    earlier = aliased(OutboxJob)
    now = bindparam("now", type_=OutboxJob.run_after.type)
    blocked = exists().where(
        earlier.queue == OutboxJob.queue,
        earlier.id < OutboxJob.id,
        earlier.state.in_(OPEN_STATES),
    )
    due = or_(
        and_(OutboxJob.state == "pending", OutboxJob.run_after <= now),
        and_(OutboxJob.state == "running", OutboxJob.locked_until < now),
    )
    table = OutboxJob.__table__
    return (
        select(table.c.id, table.c.queue, table.c.kind, table.c.payload, table.c.attempts, table.c.created_at)
        .where(due, ~blocked)
        # Finish what is under way (posts, sends) before filing more new texts: in a
        # burst the first texts reach the chat in seconds, not after the whole backlog.
        .order_by(case((table.c.kind == "sms.inbound", 1), else_=0), table.c.id)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True, of=table)
    )


_TABLE = OutboxJob.__table__
# Built once: constructing these statements costs more than running them.
_CLAIM = _claim_statement()
_TAKE = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("job_id"), _TABLE.c.attempts == bindparam("seen"))
    .values(
        state="running",
        attempts=_TABLE.c.attempts + 1,
        locked_until=bindparam("locked_until"),
        # dedupe_key coalesces *pending* jobs: once a job runs, a new one with the
        # same key must be accepted (e.g. a newer card).
        dedupe_key=None,
    )
)
_NEXT_DUE = select(
    func.min(case((_TABLE.c.state == "pending", _TABLE.c.run_after))),
    func.min(case((_TABLE.c.state == "running", _TABLE.c.locked_until))),
)


class RetryLater(Exception):
    """Try the job again later: after `delay` seconds, or with backoff when None."""

    def __init__(self, reason: str, delay: float | None = None) -> None:
        super().__init__(reason)
        self.delay = delay


class GiveUp(Exception):
    """The job can never succeed (a 4xx the user must fix); it goes dead at once."""


@dataclass
class Job:
    id: int
    queue: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime
    finished: bool = False  # completed inside the handler's own transaction

    @property
    def is_retry(self) -> bool:
        """True when an earlier attempt may have reached the other side."""
        return self.attempts > 1


Handler = Callable[[Job], Awaitable[None]]
GiveUpHook = Callable[[Job, str], Awaitable[None]]


@dataclass
class JobKind:
    handler: Handler
    max_age: timedelta = timedelta(days=3)
    on_give_up: GiveUpHook | None = None


@dataclass
class Outbox:
    db: Database
    retry_base: float = 2.0
    retry_max: float = 300.0
    lease_seconds: float = 120.0
    kinds: dict[str, JobKind] = field(default_factory=dict)
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    # When delayed jobs this process made fall due (loop time); the database is asked
    # only at start. Other processes' delayed jobs are theirs to run (or the idle poll's).
    _due: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._wait = wait_random_exponential(multiplier=self.retry_base, max=self.retry_max)
        event.listen(Session, "after_commit", self._after_commit)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            event.remove(Session, "after_commit", self._after_commit)

    # -- producing -------------------------------------------------------------

    async def enqueue(
        self,
        session: AsyncSession,
        *,
        queue: str,
        kind: str,
        payload: dict[str, Any],
        dedupe_key: str | None = None,
        delay: float = 0.0,
    ) -> bool:
        """Add a job to the caller's transaction. False when `dedupe_key` is already open."""
        values: dict[str, Any] = {
            "queue": queue,
            "kind": kind,
            "payload": payload,
            "dedupe_key": dedupe_key,
            "state": "pending",
            "attempts": 0,
            "run_after": utcnow() + timedelta(seconds=delay),
            "created_at": utcnow(),
        }
        if dedupe_key is None:
            session.add(OutboxJob(**values))
            inserted = True
        else:
            inserted = await insert_ignore(session, OutboxJob, values, ["dedupe_key"]) is not None
        if inserted:
            self._due_in(delay)
            info = session.sync_session.info
            if self.db.is_postgres and not info.get("outbox_notified"):
                await session.execute(text("SELECT pg_notify(:c, '')"), {"c": NOTIFY_CHANNEL})
                info["outbox_notified"] = True
            info.setdefault("outboxes", set()).add(id(self))
        return inserted

    def _after_commit(self, session: Session) -> None:
        outboxes = session.info.pop("outboxes", None)
        session.info.pop("outbox_notified", None)
        if outboxes and id(self) in outboxes:
            self._wakeup.set()
        elif outboxes:
            session.info["outboxes"] = outboxes  # another Outbox's (tests run several)

    def wake(self) -> None:
        self._wakeup.set()

    def _due_in(self, delay: float) -> None:
        if delay > 0:
            heapq.heappush(self._due, asyncio.get_running_loop().time() + delay)

    def next_due_delay(self) -> float | None:
        """Seconds until the next delayed job of this process, None when there is none."""
        now = asyncio.get_running_loop().time()
        while self._due and self._due[0] <= now - 1.0:
            heapq.heappop(self._due)  # long past: its claim has run
        return max(0.0, self._due[0] - now) if self._due else None

    # -- consuming -------------------------------------------------------------

    def register(self, kind: str, handler: Handler, **options: Any) -> None:
        self.kinds[kind] = JobKind(handler=handler, **options)

    async def claim(self, limit: int) -> list[Job]:
        now = utcnow()
        claimed: list[Job] = []
        async with self.db.sessions.begin() as session:
            rows = (await session.execute(_CLAIM, {"now": now, "limit": limit})).all()
            for row in rows:
                # The guarded UPDATE makes a claim safe even without SKIP LOCKED (SQLite
                # shared by two processes): only one of them sees its rowcount be 1.
                result = await session.execute(
                    _TAKE,
                    {"job_id": row.id, "seen": row.attempts, "locked_until": now + timedelta(seconds=self.lease_seconds)},
                )
                if result.rowcount == 1:
                    claimed.append(Job(row.id, row.queue, row.kind, dict(row.payload), row.attempts + 1, row.created_at))
        return claimed

    async def complete(self, job: Job) -> None:
        async with self.db.sessions.begin() as session:
            await self.complete_in(session, job)
        self.wake()  # the next job of its queue is now free

    async def complete_in(self, session: AsyncSession, job: Job) -> None:
        """Finish `job` inside the handler's own transaction (result and done together)."""
        await session.execute(
            delete(OutboxJob).where(OutboxJob.id == job.id, OutboxJob.attempts == job.attempts)
        )
        job.finished = True

    async def retry(self, job: Job, reason: str, delay: float | None) -> None:
        if delay is None:
            delay = self.backoff(job.attempts)
        self._due_in(delay)
        async with self.db.sessions.begin() as session:
            await session.execute(
                update(OutboxJob)
                .where(OutboxJob.id == job.id, OutboxJob.attempts == job.attempts)
                .values(
                    state="pending",
                    run_after=utcnow() + timedelta(seconds=delay),
                    locked_until=None,
                    last_error=reason[:2000],
                )
            )

    async def release(self, jobs: list[Job]) -> None:
        if not jobs:
            return
        async with self.db.sessions.begin() as session:
            for job in jobs:
                await session.execute(
                    update(OutboxJob)
                    .where(OutboxJob.id == job.id, OutboxJob.attempts == job.attempts, OutboxJob.state == "running")
                    .values(state="pending", locked_until=None, last_error="released at shutdown")
                )

    async def bury(self, job: Job, reason: str) -> None:
        async with self.db.sessions.begin() as session:
            await session.execute(
                update(OutboxJob)
                .where(OutboxJob.id == job.id)
                .values(state="dead", locked_until=None, last_error=reason[:2000], finished_at=utcnow())
            )
        self.wake()

    def backoff(self, attempts: int) -> float:
        """Exponential backoff with full jitter, capped, computed by tenacity.

        The attempt count lives in the database (a retry may happen in another
        process, after a restart), so tenacity only computes the wait, not the loop.
        """
        state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = max(1, attempts)
        return max(self.retry_base / 10, self._wait(state))

    async def seconds_until_due(self) -> float | None:
        """Until the next delayed job or expiring lease, None when there is neither."""
        async with self.db.sessions() as session:
            next_run, next_lease = (await session.execute(_NEXT_DUE)).one()
        candidates = [t for t in (next_run, next_lease) if t is not None]
        if not candidates:
            return None
        return max(0.0, (min(candidates) - utcnow()).total_seconds())

    async def counts(self) -> dict[str, int]:
        async with self.db.sessions() as session:
            rows = await session.execute(select(OutboxJob.state, func.count()).group_by(OutboxJob.state))
            return {state: count for state, count in rows.all()}

    # -- running ---------------------------------------------------------------

    async def run_job(self, job: Job) -> None:
        kind = self.kinds.get(job.kind)
        if kind is None:
            # Its adapter is not configured in this process (e.g. no Twilio credentials
            # yet): keep the job for a process that can run it, never drop it.
            await self.retry(job, f"no handler for {job.kind!r} in this process", self.retry_max)
            return
        try:
            with JOB_SECONDS.labels(job.kind).time():
                await kind.handler(job)
        except GiveUp as exc:
            await self._give_up(kind, job, str(exc))
            return
        except RetryLater as exc:
            await self._retry_or_give_up(kind, job, str(exc), exc.delay)
            return
        except Exception as exc:  # noqa: BLE001 - our bug or an outage: log, retry
            log.warning("job %s (%s) attempt %s failed: %r", job.id, job.kind, job.attempts, exc)
            await self._retry_or_give_up(kind, job, repr(exc), None)
            return
        if job.finished:
            self.wake()  # its transaction completed it; the next job of its queue is free
        else:
            await self.complete(job)

    async def _retry_or_give_up(self, kind: JobKind, job: Job, reason: str, delay: float | None) -> None:
        if utcnow() - job.created_at > kind.max_age:
            await self._give_up(kind, job, f"gave up after {job.attempts} attempts: {reason}")
        else:
            await self.retry(job, reason, delay)

    async def _give_up(self, kind: JobKind, job: Job, reason: str) -> None:
        log.error("job %s (%s) gave up: %s", job.id, job.kind, reason)
        if kind.on_give_up is not None:
            try:
                await kind.on_give_up(job, reason)
            except Exception:  # noqa: BLE001 - the burial below must still happen
                log.exception("give-up hook of job %s failed", job.id)
        await self.bury(job, reason)


class OutboxWorker:
    """One dispatcher per process: claims due jobs and runs up to `concurrency` at once."""

    def __init__(
        self, outbox: Outbox, concurrency: int = 8, idle_poll: float = 30.0, pressure: Callable[[], bool] | None = None
    ) -> None:
        self.outbox = outbox
        self.concurrency = concurrency
        # While `pressure()` (a burst of webhooks) holds, run one job at a time: answering
        # providers fast matters more than posting a moment sooner, and nothing waits long.
        self.pressure = pressure
        self.idle_poll = idle_poll
        self._active: dict[asyncio.Task[None], Job] = {}
        self._task: asyncio.Task[None] | None = None
        self._listener: Any = None
        self._stopping = False

    async def start(self) -> None:
        if self.outbox.db.is_postgres:
            await self._listen()
        # Delayed jobs left by an earlier run of this process (undo windows, retries).
        due = await self.outbox.seconds_until_due()
        if due is not None:
            self.outbox._due_in(max(due, 0.001))
        self._task = asyncio.create_task(self._loop(), name="outbox-dispatcher")

    async def _listen(self) -> None:
        import asyncpg

        url = self.outbox.db.engine.url.set(drivername="postgresql")
        try:
            self._listener = await asyncpg.connect(url.render_as_string(hide_password=False))
            await self._listener.add_listener(NOTIFY_CHANNEL, lambda *_: self.outbox.wake())
        except Exception:  # noqa: BLE001 - polling still works, only slower across processes
            log.warning("LISTEN %s failed; other processes' jobs are picked up by polling", NOTIFY_CHANNEL)

    async def stop(self) -> None:
        if self._task is not None:
            # Let the dispatcher leave at a safe point: cancelling it inside a claim
            # could leave jobs marked running with no task to run them.
            self._stopping = True
            self.outbox.wake()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 5.0)
            except asyncio.TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        running = dict(self._active)
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
            # A graceful stop hands its jobs back at once instead of letting their
            # leases run out; the next attempt reconciles, as after a crash.
            with contextlib.suppress(Exception):
                await self.outbox.release([job for task, job in running.items() if task.cancelled()])
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()

    async def _loop(self) -> None:
        wakeup = self.outbox._wakeup
        while not self._stopping:
            wakeup.clear()
            pressed = self.pressure is not None and self.pressure()
            limit = 1 if pressed else self.concurrency
            free = limit - len(self._active)
            if pressed and free > 0:
                await asyncio.sleep(BURST_SPACING)  # a trickle, so webhooks keep the CPU
            jobs: list[Job] = []
            if free > 0:
                try:
                    jobs = await self.outbox.claim(free)
                except Exception:  # noqa: BLE001 - database hiccup: wait and try again
                    log.exception("claiming outbox jobs failed")
                    await asyncio.sleep(1.0)
                    continue
            if self._stopping:
                await self.outbox.release(jobs)
                return
            for job in jobs:
                task = asyncio.create_task(self.outbox.run_job(job), name=f"job-{job.id}")
                self._active[task] = job
                task.add_done_callback(self._done)
            if jobs and len(jobs) == free:
                continue  # maybe more are due
            timeout = self.idle_poll
            if pressed:
                timeout = BURST_SPACING  # look again soon: the burst may be over
            else:
                due = self.outbox.next_due_delay()
                if due is not None:
                    timeout = min(timeout, due + 0.005)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(wakeup.wait(), timeout)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._active.pop(task, None)
        self.outbox.wake()

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until no job is open (tests and graceful shutdown)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            counts = await self.outbox.counts()
            if not counts.get("pending") and not counts.get("running") and not self._active:
                return
            await asyncio.sleep(0.01)
        raise TimeoutError(f"outbox not drained: {await self.outbox.counts()}")
