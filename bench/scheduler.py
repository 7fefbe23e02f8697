"""The durable scheduler under load: firing lag, misses and double fires across a crash.

Method
    100,000 timers are written to a fresh database (a SQLite file, a PostgreSQL schema).
    20,000 of them fall due uniformly over a 60 s window that starts a few seconds after
    the writing (~330 a second); the other 80,000 are due a day later, so 100,000 are
    pending when the window opens and 80,000 still at its end. The scheduler runs in
    worker *processes* (`bridge.inbox.scheduler.Scheduler`, the real class, SystemClock,
    batch 100): one on SQLite (one writer), two on PostgreSQL (sharing the timers
    through SKIP LOCKED). The workers are started, warm, before the timers are written
    and begin with all of them pending, as after a restart. Each firing runs the handler
    a real one is: `Outbox.enqueue(session, ...)` of a job carrying the timer id and the
    wall-clock time, in the firing transaction. A fire is a committed job, so a fire
    rolled back by a crash does not count and a double fire shows as two jobs.

    Halfway through the window worker 1 is killed with SIGKILL (mid-transaction, as a
    crash) and replaced by a process that was started beforehand and waits, warm, to
    begin (a supervisor's restart minus Python's start-up time, reported apart).

    Lag = the handler's wall-clock time - the due time. Missed = a timer due in the
    window with no job once the window and a grace period are over; double = a timer
    with two jobs or more; early = a job written before its timer was due (including
    any of the 80,000 due tomorrow).

    `--due 100000` makes every timer fall due in the window (~1,700 a second): that
    measures how many fires a second one worker sustains on this machine.

Baseline (same run, same machinery)
    A naive scheduler in a worker process: every second it loads every pending timer and
    fires the due ones, one transaction each, with the same handler. 10,000 timers with
    the same mix (2,000 due in the window).

Targets
    Zero missed, zero double, zero early fires, lag p99 < 1 s, on each database.

Usage
    python bench/scheduler.py [--timers 100000] [--due 20000] [--window 60]
                              [--baseline-timers 10000] [--pg] [--db sqlite|postgresql|both]
                              [--lead-scale 1]   # more time to write the timers on a busy machine
    PostgreSQL runs with --pg, --db postgresql|both, or when TEST_DATABASE_URL is set
    (BENCH_DATABASE_URL picks the server). Exits 1 on any miss, double or early fire, or
    a p99 over target.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import DbKind, DbTarget, migrated_db, percentile

TARGET_P99 = 1.0
GRACE = 30.0  # seconds after the window for the last timers to fire
LATER = timedelta(days=1)  # when the timers not due in the window are due


# -- worker processes ----------------------------------------------------------------


def _worker_main(target: DbTarget, name: str, mode: str, conn: Connection) -> None:
    asyncio.run(_worker(target, name, mode, conn))


async def _worker(target: DbTarget, name: str, mode: str, conn: Connection) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import AsyncSession

    from bridge.inbox.outbox import Outbox
    from bridge.inbox.scheduler import Scheduler, TimerInfo

    db = target.open()
    outbox = Outbox(db)  # only enqueues here: no worker runs the jobs

    async def record(session: AsyncSession, timer_id: int) -> None:
        payload = {"timer": timer_id, "worker": name, "fired_at": time.time()}
        await outbox.enqueue(session, queue=f"bench:{timer_id % 100}", kind="bench.fired", payload=payload)

    loop = asyncio.get_running_loop()
    async with db.engine.connect() as warm:  # connect before "ready": a warm standby
        await warm.execute(text("SELECT 1"))
    conn.send("ready")
    await loop.run_in_executor(None, conn.recv)  # "go"
    cpu_start = time.process_time()
    fired = 0

    if mode == "scheduler":
        scheduler = Scheduler(db, batch_size=100)

        async def handler(session: AsyncSession, timer: TimerInfo) -> None:
            nonlocal fired
            await record(session, timer.id)
            fired += 1

        scheduler.register("bench", handler)
        await scheduler.start()
        await loop.run_in_executor(None, conn.recv)  # "stop"
        await scheduler.stop()
        scheduler.close()
    else:
        stop = asyncio.ensure_future(loop.run_in_executor(None, conn.recv))
        fired = await _naive_loop(db, record, stop)
    conn.send(("stopped", fired, time.process_time() - cpu_start))
    outbox.close()
    await db.dispose()


async def _naive_loop(db: Any, record: Any, stop: asyncio.Future[Any]) -> int:
    """The baseline: poll every second, read every pending timer, fire each due one alone."""
    from sqlalchemy import select, update

    from bridge.inbox.models import Timer

    fired = 0
    while not stop.done():
        now = datetime.now(UTC)
        async with db.sessions() as session:
            pending = (await session.execute(select(Timer.id, Timer.due_at).where(Timer.state == "pending"))).all()
        for timer_id, due_at in pending:
            if due_at > now:
                continue
            async with db.sessions.begin() as session:
                taken = await session.execute(
                    update(Timer).where(Timer.id == timer_id, Timer.state == "pending").values(state="fired")
                )
                if taken.rowcount == 1:
                    await record(session, timer_id)
                    fired += 1
        await asyncio.wait({stop}, timeout=1.0)
    return fired


class Worker:
    def __init__(self, target: DbTarget, name: str, mode: str) -> None:
        context = multiprocessing.get_context("spawn")
        self.name = name
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(target, name, mode, child), daemon=True)
        self.started_at = time.perf_counter()
        self.process.start()
        self.result: tuple[int, float] | None = None

    async def _recv(self, timeout: float) -> Any:
        def wait() -> Any:
            if not self.conn.poll(timeout):
                raise TimeoutError(f"worker {self.name} did not answer within {timeout}s")
            return self.conn.recv()

        return await asyncio.get_running_loop().run_in_executor(None, wait)

    async def ready(self) -> float:
        """Wait until it is warm; seconds it took to start (Python, imports, connect)."""
        assert await self._recv(120.0) == "ready"
        return time.perf_counter() - self.started_at

    def go(self) -> None:
        self.conn.send("go")

    def kill(self) -> None:
        self.process.kill()
        self.process.join(10)

    async def stop(self) -> tuple[int, float]:
        self.conn.send("stop")
        _, fired, cpu = await self._recv(60.0)
        self.process.join(10)
        self.result = (fired, cpu)
        return fired, cpu


# -- one run -------------------------------------------------------------------------


@dataclass
class Run:
    label: str
    timers: int
    write_seconds: float = 0.0
    lags: list[float] = field(default_factory=list)
    due: int = 0
    missed: int = 0
    doubles: int = 0
    early: int = 0
    by_worker: Counter[str] = field(default_factory=Counter)
    cpu_seconds: float = 0.0
    standby_start: float = 0.0  # how long a fresh process takes to be ready
    restart_lags: list[float] = field(default_factory=list)  # timers due within 1 s after the kill

    @property
    def ok(self) -> bool:
        return self.missed == 0 and self.doubles == 0 and self.early == 0 and bool(self.lags)


LEAD_SCALE = 1.0  # --lead-scale


async def _write_timers(target: DbTarget, count: int, due: int, window: float) -> tuple[datetime, float]:
    """Write `count` timers, `due` of them due over `window` seconds from a start after
    the writing, the others a day later."""
    from sqlalchemy import insert

    from bridge.inbox.models import Timer

    # Writing runs at 5,000-10,000 timers/s on a quiet machine; --lead-scale stretches the
    # lead on a busy one (the window still opens with every timer pending).
    lead = (3.0 + count / 2500) * LEAD_SCALE
    start = datetime.now(UTC) + timedelta(seconds=lead)
    random.seed(7)
    later = LATER.total_seconds()
    offsets = sorted(random.uniform(0, window) for _ in range(due))
    offsets += sorted(later + random.uniform(0, later) for _ in range(count - due))
    now = datetime.now(UTC)
    rows = [
        {"kind": "bench", "key": f"bench:{i}", "due_at": start + timedelta(seconds=offset), "payload": {},
         "state": "pending", "attempts": 0, "created_at": now}
        for i, offset in enumerate(offsets)
    ]  # fmt: skip
    db = target.open()
    began = time.perf_counter()
    try:
        for chunk in range(0, count, 5000):
            async with db.sessions.begin() as session:
                await session.execute(insert(Timer), rows[chunk : chunk + 5000])
    finally:
        await db.dispose()
    write_seconds = time.perf_counter() - began
    if datetime.now(UTC) >= start:
        raise RuntimeError("writing the timers took longer than the lead; lower --timers")
    return start, write_seconds


async def _jobs(target: DbTarget) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from bridge.inbox.models import OutboxJob

    db = target.open()
    try:
        async with db.sessions() as session:
            return [dict(p) for p in (await session.execute(select(OutboxJob.payload))).scalars()]
    finally:
        await db.dispose()


async def _collect(target: DbTarget, run: Run, window_end: datetime, restart_at: datetime | None) -> None:
    from sqlalchemy import select

    from bridge.inbox.models import Timer

    db = target.open()
    try:
        async with db.sessions() as session:
            timers = dict((await session.execute(select(Timer.id, Timer.due_at))).all())
    finally:
        await db.dispose()
    fires: Counter[int] = Counter()
    for job in await _jobs(target):
        timer_id, fired_at = int(job["timer"]), float(job["fired_at"])
        fires[timer_id] += 1
        due_ts = timers[timer_id].timestamp()
        lag = fired_at - due_ts
        run.lags.append(lag)
        run.by_worker[str(job["worker"])] += 1
        if lag < 0:
            run.early += 1
        if restart_at is not None and 0 <= due_ts - restart_at.timestamp() < 1.0:
            run.restart_lags.append(lag)
    due_ids = [timer_id for timer_id, due_at in timers.items() if due_at <= window_end]
    run.due = len(due_ids)
    run.missed = sum(1 for timer_id in due_ids if not fires[timer_id])
    run.doubles = sum(1 for n in fires.values() if n > 1)


async def _fired(target: DbTarget) -> int:
    from sqlalchemy import func, select

    from bridge.inbox.models import OutboxJob

    db = target.open()
    try:
        async with db.sessions() as session:
            return int((await session.execute(select(func.count()).select_from(OutboxJob))).scalar_one())
    finally:
        await db.dispose()


async def _wait_fired(target: DbTarget, count: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        if await _fired(target) >= count:
            return
        await asyncio.sleep(0.5)


async def run_scheduler(kind: DbKind, count: int, due: int, window: float) -> Run:
    run = Run(f"scheduler, {kind}", count)
    target = await migrated_db(kind)
    try:
        # Every process starts now and waits warm: the first timers must find them running.
        workers = [Worker(target, f"w{i}", "scheduler") for i in range(2 if kind == "postgresql" else 1)]
        standby = Worker(target, "w0-restarted", "scheduler")
        for worker in workers:
            await worker.ready()
        run.standby_start = await standby.ready()
        start, run.write_seconds = await _write_timers(target, count, due, window)
        for worker in workers:
            worker.go()  # they find 100,000 pending timers and sleep until the first is due
        restart_at = start + timedelta(seconds=window / 2)
        await asyncio.sleep(max(0.0, (restart_at - datetime.now(UTC)).total_seconds()))
        workers[0].kill()  # a crash, mid-transaction more often than not
        standby.go()
        killed_at = datetime.now(UTC)
        end = start + timedelta(seconds=window)
        await _wait_fired(target, due, time.monotonic() + (end - datetime.now(UTC)).total_seconds() + GRACE)
        for worker in [*workers[1:], standby]:
            _, cpu = await worker.stop()
            run.cpu_seconds += cpu
        await _collect(target, run, end, killed_at)
    finally:
        await target.drop()
    return run


async def run_baseline(kind: DbKind, count: int, due: int, window: float) -> Run:
    run = Run(f"naive poll-all, {kind}", count)
    target = await migrated_db(kind)
    try:
        worker = Worker(target, "naive", "naive")
        await worker.ready()
        start, run.write_seconds = await _write_timers(target, count, due, window)
        worker.go()
        end = start + timedelta(seconds=window)
        await _wait_fired(target, due, time.monotonic() + (end - datetime.now(UTC)).total_seconds() + GRACE)
        _, run.cpu_seconds = await worker.stop()
        await _collect(target, run, end, None)
    finally:
        await target.drop()
    return run


# -- report --------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f}"


def report(runs: list[Run]) -> None:
    print()
    print(f"{'run':<28}{'pending':>8}{'due':>7}{'write/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
          f"{'missed':>8}{'double':>8}{'early':>7}{'cpu s':>7}{'cpu us/fire':>13}")  # fmt: skip
    for run in runs:
        rate = run.timers / run.write_seconds if run.write_seconds else 0.0
        per_timer = run.cpu_seconds / max(1, len(run.lags)) * 1e6
        print(
            f"{run.label:<28}{run.timers:>8}{run.due:>7}{rate:>9.0f}{_ms(percentile(run.lags, 50)):>9}"
            f"{_ms(percentile(run.lags, 99)):>9}{_ms(max(run.lags, default=float('nan'))):>9}{run.missed:>8}"
            f"{run.doubles:>8}{run.early:>7}{run.cpu_seconds:>7.1f}{per_timer:>13.0f}"
        )
    for run in runs:
        if run.by_worker and run.label.startswith("scheduler"):
            workers = ", ".join(f"{name} {n}" for name, n in sorted(run.by_worker.items()))
            restart = f"max lag of timers due in the second after the kill {_ms(max(run.restart_lags, default=0.0)).strip()} ms"
            print(f"  {run.label}: fired by {workers}; {restart}; a fresh process needs {run.standby_start:.1f} s to be ready")
    print("  (cpu = CPU time of the worker processes that ran to the end; the killed one is not counted)")


async def main(args: argparse.Namespace) -> int:
    kinds: list[DbKind] = ["sqlite"]
    if args.db in ("postgresql", "both") or args.pg or (args.db is None and os.environ.get("TEST_DATABASE_URL")):
        kinds = ["sqlite", "postgresql"] if args.db != "postgresql" else ["postgresql"]
    if args.db == "sqlite":
        kinds = ["sqlite"]
    runs: list[Run] = []
    failed = False
    for kind in kinds:
        baseline_due = max(1, args.baseline_timers * args.due // args.timers)
        print(f"[{kind}] baseline: {args.baseline_timers} pending, {baseline_due} due over {args.window:.0f} s ...", flush=True)
        runs.append(await run_baseline(kind, args.baseline_timers, baseline_due, args.window))
        print(f"[{kind}] scheduler: {args.timers} pending, {args.due} due over {args.window:.0f} s, a crash halfway ...", flush=True)
        run = await run_scheduler(kind, args.timers, args.due, args.window)
        runs.append(run)
        p99 = percentile(run.lags, 99)
        if not run.ok or not p99 < TARGET_P99:
            failed = True
    report(runs)
    for run in runs:
        if run.label.startswith("scheduler"):
            verdict = "ok" if run.ok and percentile(run.lags, 99) < TARGET_P99 else "FAILED"
            print(f"{run.label}: {verdict} (missed {run.missed}, double {run.doubles}, early {run.early}, p99 {_ms(percentile(run.lags, 99)).strip()} ms, target < {TARGET_P99 * 1000:.0f} ms)")
    return 1 if failed else 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timers", type=int, default=100_000, help="pending timers (default 100000)")
    parser.add_argument("--due", type=int, default=20_000, help="of them due in the window (default 20000)")
    parser.add_argument("--window", type=float, default=60.0, help="seconds over which they fall due (default 60)")
    parser.add_argument("--baseline-timers", type=int, default=10_000, help="timers for the naive baseline (default 10000)")
    parser.add_argument("--lead-scale", type=float, default=1.0, help="stretch the time allowed to write the timers (busy machine)")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default=None)
    parser.add_argument("--pg", action="store_true", help="also run on PostgreSQL")
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    LEAD_SCALE = arguments.lead_scale
    sys.exit(asyncio.run(main(arguments)))
