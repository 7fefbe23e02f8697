"""The durable outbox: jobs committed with the fact that caused them, run by workers.

- A request handler calls `Outbox.enqueue(session, ...)` inside its own transaction;
  the job exists exactly when the fact does.
- Jobs of one queue (a conversation on one platform, say) run strictly in id order.
  Only the *head* of a queue (its earliest open job) is marked `head`; the claim reads
  a partial index of those heads by lane and due time, so claiming costs the same
  with 100 or 100,000 jobs waiting (docs/outbox.md shows the plans).
- Heads are kept by the writers: a finished job marks the next job of its queue in
  the same transaction; new jobs are marked by the process that committed them just
  after the commit (and a queue found empty is looked at again after the commit),
  so two transactions racing on one queue can never leave it without a head. The
  claim still checks that no earlier job of the queue is open, so order holds even
  if a queue briefly has two heads.
- A claimed job records its worker (`owner`). Live workers beat in
  `outbox_instances`; the jobs of one that stops beating (or whose pid is gone, on
  the same machine) are handed to the others within seconds (bridge/inbox/takeover.py).
  Handlers get `job.attempts` so they can reconcile a send whose outcome was unknown.
- Workers sleep on an event that a commit with new jobs sets (and, on PostgreSQL,
  on LISTEN/NOTIFY for jobs from other processes) and until the next delayed job is
  due: no polling while nothing is queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Integer,
    Table,
    bindparam,
    delete,
    event,
    exists,
    func,
    insert,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select, Update
from tenacity import RetryCallState, wait_random_exponential

from bridge.inbox.db import Database, insert_ignore
from bridge.inbox.instances import new_instance_id, parse_instance_id
from bridge.inbox.models import OutboxInstance, OutboxJob, utcnow
from bridge.inbox.takeover import DEAD_AFTER_SECONDS, HEARTBEAT_SECONDS, Takeover
from bridge.logs import log_context
from bridge.metrics import JOB_SECONDS

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "smsbridge_outbox"
BURST_SPACING = 0.2  # during a burst of webhooks, at most one job started per 200 ms
CLAIM_DELAY = 0.02  # while draining a backlog, a free slot waits at most this for others
OPEN_STATES = ("pending", "running")
# Filing new texts waits behind everything downstream (posts, sends): in a burst the
# first texts reach the chat in seconds, not after the whole backlog is filed.
INTAKE_KINDS = frozenset({"sms.inbound"})
LANES = (0, 1)
INTAKE_SLOTS_PER_WORKER = 4  # texts being filed at once, per downstream slot
FINISH_BATCH = 100


def lane_of(kind: str) -> int:
    return 1 if kind in INTAKE_KINDS else 0


_TABLE = cast(Table, OutboxJob.__table__)
# The columns `enqueue` sets.
_ENQUEUED = ("queue", "kind", "lane", "payload", "dedupe_key", "state", "attempts", "run_after", "created_at")
_EARLIER = _TABLE.alias("earlier")
_NOW = bindparam("now", type_=OutboxJob.run_after.type)
# An earlier job of the same queue is still open: this one must wait (index ix_outbox_queue).
_BLOCKED = exists().where(
    _EARLIER.c.queue == _TABLE.c.queue, _EARLIER.c.id < _TABLE.c.id, _EARLIER.c.state.in_(OPEN_STATES)
)
_IS_HEAD = _TABLE.c.head.is_not(None)  # the literal predicate of the partial index ix_outbox_ready


_CANDIDATE = _TABLE.alias("candidate")


def claim_statement() -> Select[Any]:
    """Due heads of one lane, earliest first: a range scan of ix_outbox_ready, LIMIT rows.

    Nothing else in it, so no planner can turn it into a scan of the backlog; the
    guard that no earlier job of the queue is open is applied to these rows only.
    """
    return (
        select(_CANDIDATE.c.id)
        .where(
            _CANDIDATE.c.lane == bindparam("in_lane", type_=Integer),
            _CANDIDATE.c.head.is_not(None),
            _CANDIDATE.c.run_after <= _NOW,
        )
        .order_by(_CANDIDATE.c.run_after, _CANDIDATE.c.id)
        .limit(bindparam("limit", type_=Integer))
        .with_for_update(skip_locked=True, of=_CANDIDATE)
    )


def _promote(*where: Any) -> Update:
    """Mark as head every pending job matching `where` that has no earlier open job."""
    return (
        update(_TABLE)
        .where(*where, _TABLE.c.state == "pending", _TABLE.c.head.is_(None), ~_BLOCKED)
        .values(head=True)
        .execution_options(synchronize_session=False)
    )


# Built once: constructing these statements costs more than running them.
_CLAIMED = (
    _TABLE.c.id, _TABLE.c.queue, _TABLE.c.kind, _TABLE.c.payload, _TABLE.c.attempts, _TABLE.c.created_at, _TABLE.c.run_after
)
# What every claim writes into the jobs it takes.
_RUNNING: dict[str, Any] = {
    "state": "running",
    "attempts": _TABLE.c.attempts + 1,
    "head": None,
    "owner": bindparam("worker"),
    # dedupe_key coalesces *pending* jobs: once a job runs, a new one with the same key
    # must be accepted (e.g. a newer card).
    "dedupe_key": None,
}
# The claim: one statement (one round trip, its own transaction) takes the candidates.
_TAKE = (
    update(_TABLE)
    # Still a head: the guard that makes a claim safe even without SKIP LOCKED (SQLite
    # shared by two processes): a job another worker took in between is not returned.
    # And no earlier job of its queue open: order holds even if a queue has two heads
    # for a moment (two jobs committed out of id order); the later one waits.
    .where(_TABLE.c.id.in_(claim_statement()), _IS_HEAD, ~_BLOCKED)
    .values(_RUNNING)
    .returning(*_CLAIMED)
)


def _take_open(which: Any) -> Update:
    """Take the due jobs matching `which` that no earlier open job of their queue
    blocks, marked as heads or not (at most one per queue can be unblocked)."""
    return (
        update(_TABLE)
        .where(which, _TABLE.c.state == "pending", _TABLE.c.run_after <= _NOW, ~_BLOCKED)
        .values(_RUNNING)
        .returning(*_CLAIMED)
    )


_BY_IDS = _TABLE.c.id.in_(bindparam("ids", expanding=True))
_BY_QUEUES = _TABLE.c.queue.in_(bindparam("queues", expanding=True))
_Chosen = tuple[Update, Update, Update]  # by ids, by queues, by either


def _by_ids_or_queues(build: Callable[[Any], Update]) -> _Chosen:
    """`build` for jobs chosen by id, by queue, or either (one statement for both: each
    list probes its own index)."""
    return build(_BY_IDS), build(_BY_QUEUES), build(or_(_BY_IDS, _BY_QUEUES))


def _choose(statements: _Chosen, ids: set[int], queues: set[str]) -> tuple[Update, dict[str, Any]]:
    by_ids, by_queues, by_either = statements
    params: dict[str, Any] = {"ids": sorted(ids), "queues": sorted(queues)}
    return (by_either if ids and queues else by_ids if ids else by_queues), params


# Marking this process's new jobs, and the queues it finished a job of, as heads.
_PROMOTE_IDS, _PROMOTE_QUEUES, _PROMOTE_IDS_OR_QUEUES = _PROMOTE_NEW = _by_ids_or_queues(_promote)
# The same jobs taken at once when nothing else may be due (Outbox.claim): one
# statement instead of marking heads and then claiming heads.
_TAKE_NEW = _by_ids_or_queues(_take_open)
_PROMOTE_ALL = _promote()
_NEXT = (
    select(_EARLIER.c.id)
    .where(_EARLIER.c.queue == bindparam("of_queue"), _EARLIER.c.id > bindparam("after"), _EARLIER.c.state.in_(OPEN_STATES))
    .order_by(_EARLIER.c.id)
    .limit(1)
    .scalar_subquery()
)
# The job after a finished one heads its queue now (cheap: one probe of ix_outbox_queue).
_PROMOTE_NEXT = (
    update(_TABLE)
    .where(_TABLE.c.id == _NEXT, _TABLE.c.state == "pending", _TABLE.c.head.is_(None))
    .values(head=True)
    .execution_options(synchronize_session=False)
)
_FINISH = delete(_TABLE).where(_TABLE.c.id == bindparam("job_id"), _TABLE.c.attempts == bindparam("seen"))
_FINISH_MANY = (
    delete(_TABLE)
    .where(
        # The ids alone for the primary key lookup (SQLite scans the table for row values).
        _TABLE.c.id.in_(bindparam("ids", expanding=True)),
        tuple_(_TABLE.c.id, _TABLE.c.attempts).in_(bindparam("done", expanding=True)),
    )
    .returning(_TABLE.c.id)
)
# The next job of each finished job's queue, marked in one statement (an index probe
# of ix_outbox_queue per finished job); the queues returned are those that got one.
_PROMOTE_NEXT_MANY_SQLITE = text(
    "UPDATE outbox_jobs SET head = 1 WHERE state = 'pending' AND head IS NULL AND id IN ("
    " SELECT (SELECT n.id FROM outbox_jobs AS n WHERE n.queue = json_extract(done.value, '$[0]')"
    " AND n.id > json_extract(done.value, '$[1]') AND n.state IN ('pending', 'running') ORDER BY n.id LIMIT 1)"
    " FROM json_each(:pairs) AS done) RETURNING queue"
)
_PROMOTE_NEXT_MANY_PG = text(
    "UPDATE outbox_jobs SET head = TRUE WHERE id IN ("
    " SELECT nxt.id FROM unnest(CAST(:queues AS text[]), CAST(:afters AS bigint[])) AS done(queue, after)"
    " CROSS JOIN LATERAL (SELECT n.id FROM outbox_jobs AS n WHERE n.queue = done.queue AND n.id > done.after"
    " AND n.state IN ('pending', 'running') ORDER BY n.id LIMIT 1) AS nxt"
    ") AND state = 'pending' AND head IS NULL RETURNING queue"
)
_NEXT_DUE = select(
    *(
        select(func.min(_TABLE.c.run_after))
        .where(_TABLE.c.lane == lane, _IS_HEAD, _TABLE.c.run_after > _NOW)
        .scalar_subquery()
        for lane in LANES
    )
)
_HAND_BACK = (
    update(_TABLE)
    .where(_TABLE.c.owner == bindparam("dead"), _TABLE.c.state == "running")
    .values(state="pending", head=True, owner=None, last_error=bindparam("reason"))
    .execution_options(synchronize_session=False)
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

    @property
    def earliest_effect(self) -> datetime:
        """Where a retry starts looking for what an earlier attempt did on the other side
        (a post, a file): the job's creation, less a minute for the platform's clock."""
        return self.created_at - timedelta(minutes=1)


Handler = Callable[[Job], Awaitable[None]]
GiveUpHook = Callable[[Job, str], Awaitable[None]]


@dataclass
class JobKind:
    handler: Handler
    max_age: timedelta = timedelta(days=3)
    on_give_up: GiveUpHook | None = None


@dataclass
class _Notes:
    """What one transaction did to the outbox, acted on once it commits."""

    added: list[OutboxJob] = field(default_factory=list)  # ids known only after the flush
    ids: set[int] = field(default_factory=set)
    queues: set[str] = field(default_factory=set)  # finished a job and found no next one


_CONVERSATION_QUEUE = re.compile(r"(?:^|:)conv:(\d+)$")  # "sms:conv:12", "slack:conv:12"


def _log_ids(job: Job) -> dict[str, int]:
    """The conversation and message a job works on, for its log lines (LOG_FORMAT=json)."""
    payload = job.payload if isinstance(job.payload, dict) else {}
    ids = {key: value for key in ("conversation_id", "message_id") if isinstance(value := payload.get(key), int) and value}
    match = _CONVERSATION_QUEUE.search(job.queue)
    if match and "conversation_id" not in ids:
        ids["conversation_id"] = int(match[1])
    return ids


@dataclass
class Outbox:
    db: Database
    retry_base: float = 2.0
    retry_max: float = 300.0
    lease_seconds: float = 120.0  # unused since takeover by heartbeat; kept for callers
    kinds: dict[str, JobKind] = field(default_factory=dict)
    instance: str = field(default_factory=new_instance_id)
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    # Jobs this process committed (to mark as heads) and queues to look at again.
    _new_ids: set[int] = field(default_factory=set)
    _fresh: set[int] = field(default_factory=set)  # new jobs committed already marked as heads
    _recheck: set[str] = field(default_factory=set)
    _next_due: float | None = None  # loop time when the next delayed head falls due
    # Heads may be due that no claim has seen (another process's, a finished job's next,
    # a delayed one now due, more than the last claim could take). While False, a
    # claim only looks at this process's new jobs and queues (see `claim`).
    _look: bool = True
    _registered: bool = False
    _finishing: list[tuple[Job, asyncio.Future[None]]] = field(default_factory=list)
    _finisher: asyncio.Task[None] | None = None
    _ran_ok: set[int] = field(default_factory=set)  # handled, completion not yet recorded
    # No other worker beat at the last heartbeat round (takeover.py): nobody to NOTIFY of
    # heads this process cannot run now. False until a round says so; a worker that
    # starts meanwhile claims on its own at start and is seen within one beat.
    alone: bool = False

    def __post_init__(self) -> None:
        self._wait = wait_random_exponential(multiplier=self.retry_base, max=self.retry_max)
        self._key = ("outbox", id(self))
        event.listen(Session, "after_commit", self._after_commit)
        event.listen(Session, "after_soft_rollback", self._after_rollback)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            event.remove(Session, "after_commit", self._after_commit)
        with contextlib.suppress(Exception):
            event.remove(Session, "after_soft_rollback", self._after_rollback)

    def _notes(self, session: AsyncSession | Session) -> _Notes:
        info = session.info if isinstance(session, Session) else session.sync_session.info
        notes = info.get(self._key)
        if notes is None:
            notes = info[self._key] = _Notes()
        return notes

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
        now = utcnow()
        values: dict[str, Any] = {
            "queue": queue,
            "kind": kind,
            "lane": lane_of(kind),
            "payload": payload,
            "dedupe_key": dedupe_key,
            "state": "pending",
            "attempts": 0,
            "run_after": now + timedelta(seconds=delay),
            "created_at": now,
        }
        notes = self._notes(session)
        if dedupe_key is None:
            job = OutboxJob(**values)
            session.add(job)  # flushed with the caller's other rows
            notes.added.append(job)
            return True
        job_id = await insert_ignore(session, OutboxJob, values, ["dedupe_key"])
        if job_id is None:
            return False
        notes.ids.add(int(job_id))
        return True

    async def insert_added_together(self, session: AsyncSession) -> None:
        """Insert the jobs this transaction enqueued and has not flushed yet in one
        statement (a batch of texts filed together, inbound.py), instead of one INSERT
        each as the ORM does on SQLite (it fetches each new id on its own there).

        Rows of one multi-row INSERT get their ids in the order they are listed, so a
        queue's jobs keep the order they were enqueued in; their ids come back (in any
        order) to be marked as heads after the commit, as flushed jobs are.
        """
        notes = self._notes(session)
        pending = [job for job in notes.added if job in session.new]
        if len(pending) < 2:
            return
        rows = []
        for job in pending:
            session.expunge(job)
            state = sa_inspect(job).dict
            rows.append({key: state[key] for key in _ENQUEUED})
        result = await session.execute(insert(_TABLE).returning(_TABLE.c.id), rows)
        notes.ids.update(int(job_id) for (job_id,) in result.all())
        taken = {id(job) for job in pending}
        notes.added = [job for job in notes.added if id(job) not in taken]

    def _after_commit(self, session: Session) -> None:
        notes: _Notes | None = session.info.pop(self._key, None)
        if notes is None:
            return
        for job in notes.added:
            identity = sa_inspect(job).identity  # kept even when the commit expired the object
            if identity:
                self._new_ids.add(int(identity[0]))
        self._new_ids |= notes.ids
        self._recheck |= notes.queues
        self._wakeup.set()  # its jobs and queues are known: no need to look further

    def _after_rollback(self, session: Session, previous_transaction: Any) -> None:
        session.info.pop(self._key, None)

    def wake(self, *, look: bool = True) -> None:
        """Run the dispatcher now. `look`: heads may be due that this process does not
        know of; False when only a slot came free."""
        if look:
            self._look = True
        self._wakeup.set()

    def committed(self, jobs: Iterable[tuple[int, bool]]) -> None:
        """Jobs committed outside a Session (the intake's), each with whether its INSERT
        marked it as its queue's head: run them, and mark the others after this commit."""
        for job_id, head in jobs:
            (self._fresh if head else self._new_ids).add(job_id)
        self._wakeup.set()

    def _due_in(self, delay: float) -> None:
        when = asyncio.get_running_loop().time() + delay
        if self._next_due is None or when < self._next_due:
            self._next_due = when

    def next_due_delay(self) -> float | None:
        """Seconds until the next delayed head falls due, None when there is none."""
        if self._next_due is None:
            return None
        return max(0.0, self._next_due - asyncio.get_running_loop().time())

    # -- consuming -------------------------------------------------------------

    def register(self, kind: str, handler: Handler, **options: Any) -> None:
        self.kinds[kind] = JobKind(handler=handler, **options)

    async def register_instance(self) -> None:
        """Record this worker in outbox_instances (its heartbeat row) once."""
        if self._registered:
            return
        parsed = parse_instance_id(self.instance) or ("?", 0)
        async with self.db.sessions.begin() as session:
            await insert_ignore(
                session,
                OutboxInstance,
                {"id": self.instance, "machine": parsed[0], "pid": parsed[1], "beats": 0, "heartbeat_at": utcnow()},
                ["id"],
            )
        self._registered = True

    async def claim(self, limit: int, intake: int | None = None) -> list[Job]:
        """Mark this process's new jobs as heads, then take up to `limit` due heads.

        With `intake`, texts to file (lane 1) have slots of their own: up to `intake`
        of them are taken, still only when fewer than `limit` downstream jobs are due.

        The common case costs one statement: when nothing but this process's own new
        jobs can be due (`_look` is False) and they fit the free slots, they are taken
        directly, without marking them as heads first; the heads are looked at (and the
        next delayed one timed) only when something else may be due.
        """
        if not self._look and not self._new_ids and not self._recheck and not self._fresh:
            return []  # nothing can have fallen due since the last claim
        others_may_run = self.db.is_postgres and not self.alone
        if limit <= 0 and not intake and not self._new_ids and not self._recheck and not (self._fresh and others_may_run):
            return []  # nothing to mark, and fresh heads wait for a free slot (or a look)
        await self.register_instance()
        new_ids, self._new_ids = self._new_ids, set()
        recheck, self._recheck = self._recheck, set()
        fresh, self._fresh = self._fresh, set()
        look, self._look = self._look, False
        now = utcnow()
        claimed: list[Job] = []
        try:
            # Each statement is atomic on its own: no BEGIN/COMMIT round trips around them.
            async with self.db.engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                room = limit if intake is None else min(limit, intake)
                if not look and 0 < len(new_ids) + len(fresh) + len(recheck) <= room:
                    claimed = await self._take_new(conn, new_ids | fresh, recheck, now)
                    taken = {job.id for job in claimed}
                    new_ids, fresh = new_ids - taken, fresh - taken
                    recheck = recheck - {job.queue for job in claimed}
                promoted = await self._promote_new(conn, new_ids, recheck)
                # Fresh heads not taken here (no room, or delayed) are found by a look.
                if promoted or fresh or look:
                    more = await self._take_heads(conn, claimed, limit, intake, now)
                    self._look = self._look or more  # (or set meanwhile by a wake)
                    if (promoted or fresh) and len(claimed) >= limit and others_may_run:
                        # Heads this process cannot run now: let the other processes take them.
                        await conn.execute(text("SELECT pg_notify(:c, '')"), {"c": NOTIFY_CHANNEL})
        except BaseException:
            self._new_ids |= new_ids  # try again next round: a head must never be lost
            self._recheck |= recheck
            self._look = True
            raise
        return claimed

    async def _take_heads(
        self, conn: AsyncConnection, claimed: list[Job], limit: int, intake: int | None, now: datetime
    ) -> bool:
        """Take due heads into `claimed`; True when more may be due than were taken."""
        more = False
        for lane in LANES:
            downstream = sum(1 for job in claimed if lane_of(job.kind) == 0)
            if intake is None:
                want = limit - len(claimed)
            elif lane == 0:
                want = limit - downstream
            else:  # texts to file only while downstream jobs leave slots free
                want = intake - (len(claimed) - downstream) if downstream < limit else 0
            if want <= 0:
                more = True  # no room to look: some may be due
                continue
            got = await self._take(conn, lane, want, now)
            claimed += got
            more = more or len(got) == want
        if len(claimed) < limit:
            await self._note_next_due(conn, now)
        return more

    async def _take_new(self, conn: AsyncConnection, ids: set[int], queues: set[str], now: datetime) -> list[Job]:
        statement, params = _choose(_TAKE_NEW, ids, queues)
        return _jobs((await conn.execute(statement, {**params, "now": now, "worker": self.instance})).all())

    async def _promote_new(self, conn: AsyncConnection, ids: set[int], queues: set[str]) -> int:
        if not ids and not queues:
            return 0
        statement, params = _choose(_PROMOTE_NEW, ids, queues)
        return _rowcount(await conn.execute(statement, params))

    async def _take(self, conn: AsyncConnection, lane: int, limit: int, now: datetime) -> list[Job]:
        params = {"now": now, "limit": limit, "in_lane": lane, "worker": self.instance}
        return _jobs((await conn.execute(_TAKE, params)).all())

    async def _note_next_due(self, conn: AsyncConnection, now: datetime) -> None:
        due = [t for t in (await conn.execute(_NEXT_DUE, {"now": now})).one() if t is not None]
        self._next_due = None
        if due:
            self._due_in(max(0.0, (min(due) - now).total_seconds()))

    async def complete(self, job: Job) -> None:
        """Delete the finished job and mark the next of its queue, committed on return.

        Jobs finishing together share one transaction (a group commit, as the intake
        does): a drain costs a few statements per batch, not four round trips a job.
        """
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._finishing.append((job, future))
        if self._finisher is None or self._finisher.done():
            self._finisher = asyncio.create_task(self._finish_batches(), name="outbox-finisher")
        await future
        self.wake(look=False)  # a slot is free (a next job it marked set _look)

    async def _finish_batches(self) -> None:
        while self._finishing:
            batch, self._finishing = self._finishing[:FINISH_BATCH], self._finishing[FINISH_BATCH:]
            try:
                recheck, promoted = await self._finish({job.id: job for job, _ in batch})
            except BaseException as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            self._recheck |= recheck  # committed: look at these queues again
            self._look = self._look or promoted  # their next jobs are due heads now
            for job, future in batch:
                job.finished = True
                if not future.done():
                    future.set_result(None)

    async def _finish(self, jobs: dict[int, Job]) -> tuple[set[str], bool]:
        """One transaction: the queues whose next job was not found (to look at again),
        and whether any queue's next job was marked as its head."""
        async with self.db.sessions.begin() as session:
            done = {"ids": list(jobs), "done": [(job.id, job.attempts) for job in jobs.values()]}
            result = await session.execute(_FINISH_MANY, done)
            finished = [jobs[job_id] for (job_id,) in result.all()]
            if not finished:
                return set(), False
            queues = {job.queue for job in finished}
            if self.db.is_postgres:
                promoted = await session.execute(
                    _PROMOTE_NEXT_MANY_PG,
                    {"queues": [job.queue for job in finished], "afters": [job.id for job in finished]},
                )
            else:
                pairs = json.dumps([[job.queue, job.id] for job in finished])
                promoted = await session.execute(_PROMOTE_NEXT_MANY_SQLITE, {"pairs": pairs})
            marked = {queue for (queue,) in promoted.all()}
            return queues - marked, bool(marked)

    async def complete_in(self, session: AsyncSession, job: Job) -> None:
        """Finish `job` inside the handler's own transaction (result and done together).

        Its queue's next job is marked after the commit, with the other queues looked
        at in the dispatcher's next claim: one statement for a batch of finished jobs
        instead of one in each transaction. A process that dies in between leaves the
        queue without a head only until the takeover marks every headless queue.
        """
        result = await session.execute(_FINISH, {"job_id": job.id, "seen": job.attempts})
        if _rowcount(result) == 1:
            self._notes(session).queues.add(job.queue)
        job.finished = True

    async def complete_many_in(self, session: AsyncSession, jobs: list[Job]) -> None:
        """`complete_in` for several jobs in one statement (a group commit of their results)."""
        if not jobs:
            return
        by_id = {job.id: job for job in jobs}
        done = {"ids": list(by_id), "done": [(job.id, job.attempts) for job in jobs]}
        finished = (await session.execute(_FINISH_MANY, done)).all()
        self._notes(session).queues.update(by_id[job_id].queue for (job_id,) in finished)
        for job in jobs:
            job.finished = True

    async def _promote_next(self, session: AsyncSession, job: Job) -> None:
        result = await session.execute(_PROMOTE_NEXT, {"of_queue": job.queue, "after": job.id})
        if _rowcount(result) == 0:
            # Maybe a job of this queue is being committed right now, unseen here:
            # look again once this transaction has committed.
            self._notes(session).queues.add(job.queue)

    async def retry(self, job: Job, reason: str, delay: float | None) -> None:
        if delay is None:
            delay = self.backoff(job.attempts)
        async with self.db.sessions.begin() as session:
            await session.execute(
                update(OutboxJob)
                .where(OutboxJob.id == job.id, OutboxJob.attempts == job.attempts)
                .values(
                    state="pending",
                    head=True,  # still the head of its queue, due later
                    owner=None,
                    run_after=utcnow() + timedelta(seconds=delay),
                    locked_until=None,
                    last_error=reason[:2000],
                )
                .execution_options(synchronize_session=False)
            )
        self._due_in(delay)

    async def release(self, jobs: list[Job]) -> None:
        """Hand jobs back at once (a graceful stop); the next attempt reconciles."""
        if not jobs:
            return
        async with self.db.sessions.begin() as session:
            for job in jobs:
                await session.execute(
                    update(OutboxJob)
                    .where(OutboxJob.id == job.id, OutboxJob.attempts == job.attempts, OutboxJob.state == "running")
                    .values(state="pending", head=True, owner=None, last_error="released at shutdown")
                    .execution_options(synchronize_session=False)
                )
            await self._notify(session)

    async def bury(self, job: Job, reason: str) -> None:
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                update(OutboxJob)
                .where(OutboxJob.id == job.id, OutboxJob.attempts == job.attempts)
                .values(state="dead", head=None, owner=None, last_error=reason[:2000], finished_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            if _rowcount(result) == 1:
                await self._promote_next(session, job)
        self.wake()

    # -- takeover --------------------------------------------------------------

    async def hand_back(self, dead: str, reason: str, *, beats: int | None = None) -> int | None:
        """Return the running jobs of worker `dead` to the queue and forget it.

        With `beats`, only if the worker did not beat since it was seen dead (two
        survivors may judge at once; one wins, and a worker that was only slow keeps
        its jobs). The number of jobs handed back; None when another worker did it.
        """
        async with self.db.sessions.begin() as session:
            gone = delete(OutboxInstance).where(OutboxInstance.id == dead)
            if beats is not None:
                gone = gone.where(OutboxInstance.beats == beats)
            removed = _rowcount(await session.execute(gone.execution_options(synchronize_session=False)))
            if beats is not None and removed == 0:
                return None
            count = _rowcount(await session.execute(_HAND_BACK, {"dead": dead, "reason": reason[:2000]}))
            # Jobs it committed but never marked as heads (it died in between).
            await session.execute(_PROMOTE_ALL)
            await self._notify(session)
        self.wake()
        return count

    async def repair_heads(self) -> int:
        """Mark every pending job with no earlier open job as head (start-up safety net)."""
        async with self.db.sessions.begin() as session:
            count = _rowcount(await session.execute(_PROMOTE_ALL))
            if count:
                await self._notify(session)
        if count:
            self._look = True
        return count

    async def _notify(self, session: AsyncSession) -> None:
        if self.db.is_postgres:
            await session.execute(text("SELECT pg_notify(:c, '')"), {"c": NOTIFY_CHANNEL})

    def backoff(self, attempts: int) -> float:
        """Exponential backoff with full jitter, capped, computed by tenacity.

        The attempt count lives in the database (a retry may happen in another
        process, after a restart), so tenacity only computes the wait, not the loop.
        """
        state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = max(1, attempts)
        return max(self.retry_base / 10, self._wait(state))

    async def seconds_until_due(self) -> float | None:
        """Until the next delayed head falls due, None when there is none."""
        now = utcnow()
        async with self.db.sessions() as session:
            due = [t for t in (await session.execute(_NEXT_DUE, {"now": now})).one() if t is not None]
        return max(0.0, (min(due) - now).total_seconds()) if due else None

    async def counts(self) -> dict[str, int]:
        async with self.db.sessions() as session:
            rows = await session.execute(select(OutboxJob.state, func.count()).group_by(OutboxJob.state))
            return {state: count for state, count in rows.all()}

    async def oldest_pending(self) -> datetime | None:
        """When the oldest job still to do (pending or running) was queued (aware UTC); None when none."""
        async with self.db.sessions() as session:
            oldest = await session.scalar(
                select(func.min(OutboxJob.created_at)).where(OutboxJob.state.in_(("pending", "running")))
            )
        if oldest is None:
            return None
        moment = oldest if isinstance(oldest, datetime) else datetime.fromisoformat(str(oldest))
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    # -- running ---------------------------------------------------------------

    async def run_job(self, job: Job) -> None:
        """Run one claimed job and record its outcome, however long the database is away.

        A job stays owned by this live worker until its outcome is recorded: nobody
        else takes it meanwhile, so the recording is retried until it succeeds (or the
        process stops; then another worker takes it over and the handler reconciles).
        """
        delay = 0.25
        outcome = self._run_and_record(job)
        while True:
            try:
                await outcome
                return
            except Exception as exc:  # noqa: BLE001 - the database is away: try again
                log.warning("job %s (%s): recording its outcome failed, retrying: %r", job.id, job.kind, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
            outcome = self._record_again(job)

    async def _record_again(self, job: Job) -> None:
        if job.finished:
            self.wake()
        elif job.kind in self.kinds and job.id in self._ran_ok:
            await self.complete(job)
            self._ran_ok.discard(job.id)
        else:
            # The handler failed (or has no handler here): keep the job for a later try.
            await self.retry(job, "outcome not recorded in time", None)

    async def _run_and_record(self, job: Job) -> None:
        kind = self.kinds.get(job.kind)
        if kind is None:
            # Its adapter is not configured in this process (e.g. no Twilio credentials
            # yet): keep the job for a process that can run it, never drop it.
            await self.retry(job, f"no handler for {job.kind!r} in this process", self.retry_max)
            return
        ids = _log_ids(job)
        try:
            with JOB_SECONDS.labels(job.kind).time(), log_context(job_id=job.id, job_kind=job.kind, **ids):
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
            # Its transaction completed it; its queue is looked at again (complete_in).
            self.wake(look=False)
        else:
            self._ran_ok.add(job.id)
            await self.complete(job)
            self._ran_ok.discard(job.id)

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
            except Exception:  # any failure: the burial below must still happen
                log.exception("give-up hook of job %s failed", job.id)
        await self.bury(job, reason)


def _jobs(rows: Iterable[Any]) -> list[Job]:
    """Claimed rows as jobs, due order (RETURNING gives rows in no set order)."""
    ordered = sorted(rows, key=lambda row: (row.run_after, row.id))
    return [Job(row.id, row.queue, row.kind, dict(row.payload), row.attempts, row.created_at) for row in ordered]


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


class OutboxWorker:
    """One dispatcher per process: claims due jobs and runs up to `concurrency` at once."""

    def __init__(
        self,
        outbox: Outbox,
        concurrency: int = 8,
        idle_poll: float = 30.0,
        pressure: Callable[[], bool] | None = None,
        *,
        heartbeat: float = HEARTBEAT_SECONDS,
        dead_after: float = DEAD_AFTER_SECONDS,
    ) -> None:
        self.outbox = outbox
        self.concurrency = concurrency
        self.intake_slots = INTAKE_SLOTS_PER_WORKER * concurrency
        # While `pressure()` (a burst of webhooks) holds, run one job at a time: answering
        # providers fast matters more than posting a moment sooner, and nothing waits long.
        self.pressure = pressure
        self.idle_poll = idle_poll
        self.takeover = Takeover(outbox, interval=heartbeat, dead_after=dead_after)
        self._active: dict[asyncio.Task[None], Job] = {}
        self._task: asyncio.Task[None] | None = None
        self._listener: Any = None
        self._relisten: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        if self.outbox.db.is_postgres:
            await self._listen()
        await self.outbox.register_instance()
        # Jobs committed by a process that died before marking them (rare): mark now.
        await self.outbox.repair_heads()
        due = await self.outbox.seconds_until_due()
        if due is not None:
            self.outbox._due_in(max(due, 0.001))
        await self.takeover.start()
        self.outbox._look = True  # whatever is due already, this process's or not
        self._task = asyncio.create_task(self._loop(), name="outbox-dispatcher")

    async def _listen(self) -> bool:
        try:
            listener = await self.outbox.db.dedicated_connection()
            await listener.add_listener(NOTIFY_CHANNEL, lambda *_: self.outbox.wake())
        except Exception:  # noqa: BLE001 - polling still works, only slower across processes
            log.warning("LISTEN %s failed; other processes' jobs are picked up by polling", NOTIFY_CHANNEL)
            return False
        # A database restart closes it: listen again once the database is back.
        listener.add_termination_listener(lambda _conn: self._listen_again())
        self._listener = listener
        return True

    def _listen_again(self) -> None:
        if not self._stopping and (self._relisten is None or self._relisten.done()):
            self._relisten = asyncio.create_task(self._relisten_loop(), name="outbox-listen-again")

    async def _relisten_loop(self) -> None:
        delay = 0.5
        while not self._stopping:
            await asyncio.sleep(delay)
            if await self._listen():
                log.info("LISTEN %s restored", NOTIFY_CHANNEL)
                self.outbox.wake()  # jobs other processes queued meanwhile
                return
            delay = min(delay * 2, 15.0)

    async def stop(self) -> None:
        await self.takeover.stop()
        if self._task is not None:
            # Let the dispatcher leave at a safe point: cancelling it inside a claim
            # could leave jobs marked running with no task to run them.
            self._stopping = True
            self.outbox.wake()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 5.0)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        running = dict(self._active)
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        finisher = self.outbox._finisher
        if finisher is not None and not finisher.done():
            await asyncio.wait([finisher], timeout=5.0)  # completions already handed to it
        # A graceful stop hands every job it still holds back at once instead of letting
        # another worker wait for its heartbeat to stop; the next attempt reconciles.
        with contextlib.suppress(Exception):
            await self.outbox.hand_back(self.outbox.instance, "released at shutdown")
            self.outbox._registered = False
        if self._relisten is not None:
            self._relisten.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._relisten
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()
            self._listener = None

    async def _loop(self) -> None:
        wakeup = self.outbox._wakeup
        backlog = False  # the last claim found as many due jobs as it asked for
        loop = asyncio.get_running_loop()
        last_claim = loop.time()
        while not self._stopping:
            wakeup.clear()
            pressed = self.pressure is not None and self.pressure()
            limit = 1 if pressed else self.concurrency
            filing = sum(1 for job in self._active.values() if job.kind in INTAKE_KINDS)
            # Texts to file have slots of their own (unless webhooks press): the more run
            # at once, the more are filed in one transaction (inbound.py). They are
            # still claimed only when downstream jobs leave slots free.
            intake = None if pressed else self.intake_slots - filing
            free = limit - len(self._active) if intake is None else limit - (len(self._active) - filing)
            if backlog and 0 < free < limit // 2 and (waited := loop.time() - last_claim) < CLAIM_DELAY:
                # Draining a backlog: claim once half the slots are free, several jobs per
                # statement instead of one each (a completion wakes us), but never leave a
                # slot, or heads to mark (new jobs, queues whose job finished), waiting
                # more than CLAIM_DELAY: slow jobs keep every slot busy, and other
                # processes see new heads at once.
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(wakeup.wait(), CLAIM_DELAY - waited)
                continue
            if pressed and free > 0:
                await asyncio.sleep(BURST_SPACING)  # a trickle, so webhooks keep the CPU
            try:
                # Even with no free slot: marks the heads this process committed.
                jobs = await self.outbox.claim(max(free, 0), None if intake is None else max(intake, 0))
                last_claim = loop.time()
            except Exception:  # a database hiccup: wait and try again
                log.exception("claiming outbox jobs failed")
                await asyncio.sleep(1.0)
                continue
            if self._stopping:
                await self.outbox.release(jobs)
                return
            downstream = sum(1 for job in jobs if job.kind not in INTAKE_KINDS)
            if free > 0:
                backlog = downstream == free
            for job in jobs:
                task = asyncio.create_task(self.outbox.run_job(job), name=f"job-{job.id}")
                self._active[task] = job
                task.add_done_callback(self._done)
            if jobs and downstream == free:
                continue  # maybe more are due
            timeout = self.idle_poll
            if pressed:
                timeout = BURST_SPACING  # look again soon: the burst may be over
            else:
                due = self.outbox.next_due_delay()
                if due is not None:
                    timeout = min(timeout, due + 0.005)
            try:
                await asyncio.wait_for(wakeup.wait(), timeout)
            except TimeoutError:
                self.outbox._look = True  # a delayed job is due, or the idle re-check

    def _done(self, task: asyncio.Task[None]) -> None:
        job = self._active.pop(task, None)
        error = None if task.cancelled() else task.exception()
        if error is not None:
            # run_job retries recording its outcome itself, so this is a bug; the job stays
            # ours until this worker stops (then it is handed back or taken over). The class
            # only: a database error's text may carry customer data.
            log.warning("job %s: its outcome could not be recorded (%s)", job.id if job else "?", type(error).__name__)
        self.outbox.wake(look=False)  # a slot is free

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
