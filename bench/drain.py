"""Outbox drain: jobs/s and claim-query time at backlogs of 1,000 to 100,000 jobs.

Method
    For each database (SQLite file; PostgreSQL via --pg, TEST_DATABASE_URL or
    BENCH_DATABASE_URL) and each backlog size N, on a fresh, migrated database:

    1. N jobs are inserted in bulk, as a burst of chat posts leaves them: N/2
       conversations with two jobs each (the second waits behind the first, so half
       the backlog is blocked), then the queue heads are marked as the outbox does.
    2. The claim query is timed alone (the fastest of --repeat runs, each in a
       transaction that is rolled back): the outbox's claim (an index range scan of queue heads)
       and, as the baseline in the same run, the claim statement used before
       (a NOT EXISTS over earlier jobs of the queue plus an ORDER BY over all due
       jobs). Both plans are printed (EXPLAIN ANALYZE / EXPLAIN QUERY PLAN).
    3. One process (`OutboxWorker`, 8 at once, the default) drains the backlog with a
       zero-latency handler: jobs/s over the whole drain (or the first --sample jobs),
       checking every job ran exactly once and in id order within its queue.

Target
    >= 500 jobs/s at every size, on each database, and flat: the rate at the largest
    size at least 0.7x the rate at the smallest, the claim time at the largest at most
    3x the smallest. Exits 1 when a drain is incomplete or a job ran twice or out of
    order; 2 when a target is missed.

Usage
    python bench/drain.py [--db sqlite|postgresql|both] [--sizes 1000,10000,100000]
                          [--sample 0] [--repeat 20] [--pg URL] [--no-baseline] [--plans]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Integer, and_, bindparam, case, exists, insert, or_, select, text
from sqlalchemy.orm import aliased

from bench import common
from bench.common import DbKind, DbTarget, db_kinds, fresh_db
from bridge.inbox.db import Database, migrate
from bridge.inbox.models import OutboxJob, utcnow
from bridge.inbox.outbox import Job, Outbox, OutboxWorker, claim_statement

TARGET_RATE = 500.0
KIND = "bench.post"


def old_claim_statement() -> Any:
    """The claim before docs/outbox.md's design, verbatim: the baseline."""
    earlier = aliased(OutboxJob)
    now = bindparam("now", type_=OutboxJob.run_after.type)
    blocked = exists().where(
        earlier.queue == OutboxJob.queue, earlier.id < OutboxJob.id, earlier.state.in_(("pending", "running"))
    )
    due = or_(
        and_(OutboxJob.state == "pending", OutboxJob.run_after <= now),
        and_(OutboxJob.state == "running", OutboxJob.locked_until < now),
    )
    table = OutboxJob.__table__
    return (
        select(table.c.id, table.c.queue, table.c.kind, table.c.payload, table.c.attempts, table.c.created_at)
        .where(due, ~blocked)
        .order_by(case((table.c.kind == "sms.inbound", 1), else_=0), table.c.id)
        .limit(bindparam("limit", type_=Integer))
        .with_for_update(skip_locked=True, of=table)
    )


async def fill(db: Database, size: int) -> None:
    now = utcnow()
    rows = [
        {
            "queue": f"slack:conv:{i % max(1, size // 2)}",
            "kind": KIND,
            "lane": 0,
            "payload": {"i": i},
            "state": "pending",
            "attempts": 0,
            "run_after": now,
            "created_at": now,
        }
        for i in range(size)
    ]
    async with db.engine.begin() as conn:
        for start in range(0, size, 5000):
            await conn.execute(insert(OutboxJob), rows[start : start + 5000])
    outbox = Outbox(db)
    try:
        await outbox.repair_heads()  # as each producer does for its own jobs
    finally:
        outbox.close()
    if db.is_postgres:
        async with db.engine.connect() as conn:
            await conn.execute(text("ANALYZE outbox_jobs"))
            await conn.commit()


def _compile(db: Database, stmt: Any, params: dict[str, Any]) -> str:
    """The statement as SQL text with its parameters inlined, for EXPLAIN."""
    from sqlalchemy.dialects import postgresql, sqlite
    from sqlalchemy.sql.elements import BindParameter
    from sqlalchemy.sql.visitors import replacement_traverse

    def inline(element: Any, **_: Any) -> Any:
        if isinstance(element, BindParameter) and element.key in params:
            return bindparam(element.key, value=params[element.key], type_=element.type, expanding=element.expanding)
        return None

    dialect = postgresql.dialect() if db.is_postgres else sqlite.dialect()  # type: ignore[no-untyped-call]
    bound = replacement_traverse(stmt, {}, inline)
    return str(bound.compile(dialect=dialect, compile_kwargs={"literal_binds": True, "render_postcompile": True}))


async def explain(db: Database, stmt: Any, params: dict[str, Any]) -> str:
    """EXPLAIN ANALYZE (PostgreSQL) or EXPLAIN QUERY PLAN (SQLite), rolled back."""
    from sqlalchemy.sql.elements import TextClause

    # SQL text (dialect-specific statements) keeps its parameters; the rest is inlined.
    sql, bound = (stmt.text, params) if isinstance(stmt, TextClause) else (_compile(db, stmt, params), {})
    async with db.engine.connect() as conn:
        transaction = await conn.begin()
        try:
            if db.is_postgres:
                rows = (await conn.execute(text("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + sql), bound)).all()
                return "\n".join(str(r[0]) for r in rows)
            rows = (await conn.execute(text("EXPLAIN QUERY PLAN " + sql), bound)).all()
            return "\n".join(str(r[3]) for r in rows)
        finally:
            await transaction.rollback()


async def time_query(db: Database, stmt: Any, params: dict[str, Any], repeat: int) -> tuple[float, str]:
    """Seconds of `stmt` (fastest of `repeat`, each rolled back) and its plan."""
    times: list[float] = []
    async with db.engine.connect() as conn:
        for _ in range(repeat):
            transaction = await conn.begin()
            started = time.perf_counter()
            (await conn.execute(stmt, params)).all()
            times.append(time.perf_counter() - started)
            await transaction.rollback()
    # The fastest run: the query's own cost, least disturbed by a busy machine.
    return min(times), await explain(db, stmt, params)


async def every_plan(db: Database, size: int) -> str:
    """The plan of each statement the outbox runs per job, on a backlog of `size`."""
    from bridge.inbox import outbox as ob

    now = utcnow()
    statements = {
        "claim (one statement: candidates by index range, guarded UPDATE ... RETURNING)": (
            ob._TAKE, {"now": now, "limit": 8, "in_lane": 0, "worker": "bench"}),
        "mark new jobs as heads (after the producer's commit)": (ob._PROMOTE_IDS, {"ids": [size - 2, size - 1]}),
        "look again at queues found empty": (ob._PROMOTE_QUEUES, {"queues": ["slack:conv:1", "slack:conv:2"]}),
        "both at once (a claim after jobs finished in handlers' transactions)": (
            ob._PROMOTE_IDS_OR_QUEUES,
            {"ids": [size - 2, size - 1], "queues": ["slack:conv:1", "slack:conv:2"]},
        ),
        "finish a batch of jobs (complete; complete_many_in for postlog.py)": (ob._FINISH_MANY, {"ids": [1, 2], "done": [(1, 0), (2, 0)]}),
        "mark the next job of each finished job's queue": (
            (ob._PROMOTE_NEXT_MANY_PG, {"queues": ["slack:conv:1", "slack:conv:2"], "afters": [1, 2]})
            if db.is_postgres
            else (ob._PROMOTE_NEXT_MANY_SQLITE, {"pairs": json.dumps([["slack:conv:1", 1], ["slack:conv:2", 2]])})
        ),
        "next due time (how long to sleep)": (ob._NEXT_DUE, {"now": now}),
    }
    out = []
    for name, (stmt, params) in statements.items():
        out.append(f"-- {name}\n{await explain(db, stmt, params)}")
    return "\n".join(out)


async def drain(db: Database, size: int, sample: int) -> tuple[int, float, list[str]]:
    """Run the backlog (or its first `sample` jobs) through one OutboxWorker."""
    target = min(size, sample) if sample else size
    outbox = Outbox(db)
    seen: dict[str, list[int]] = defaultdict(list)
    ran = 0
    done = asyncio.Event()

    async def handler(job: Job) -> None:
        nonlocal ran
        seen[job.queue].append(int(job.payload["i"]))
        ran += 1
        if ran >= target:
            done.set()

    outbox.register(KIND, handler)
    worker = OutboxWorker(outbox)
    problems: list[str] = []
    started = time.perf_counter()
    await worker.start()
    try:
        timeout = max(60.0, target / 50)
        try:
            await asyncio.wait_for(done.wait(), timeout)
            while worker._active and target == size:  # the last completions are part of the drain
                await asyncio.sleep(0.001)
        except TimeoutError:
            problems.append(f"drain incomplete: {ran}/{target} jobs in {timeout:.0f} s")
        elapsed = time.perf_counter() - started
    finally:
        await worker.stop()
        outbox.close()
    if not sample or sample >= size:
        left = await outbox.counts()
        if left:
            problems.append(f"jobs left: {left}")
    dupes = sum(len(v) - len(set(v)) for v in seen.values())
    if dupes:
        problems.append(f"{dupes} jobs ran twice")
    disorder = sum(1 for v in seen.values() if v != sorted(v))
    if disorder:
        problems.append(f"{disorder} queues ran out of order")
    return ran, elapsed, problems


async def run_size(kind: DbKind, size: int, args: argparse.Namespace) -> dict[str, Any]:
    target: DbTarget = await fresh_db(kind)
    db = target.open()
    try:
        await migrate(db)
        await fill(db, size)
        params = {"now": utcnow(), "limit": 8, "in_lane": 0}
        claim_s, plan = await time_query(db, claim_statement(), params, args.repeat)
        old_s, old_plan = (None, "")
        if not args.no_baseline:
            old_s, old_plan = await time_query(db, old_claim_statement(), params, max(3, args.repeat // 5))
        plans = await every_plan(db, size) if args.plans else ""
        ran, elapsed, problems = await drain(db, size, args.sample)
        return {
            "size": size,
            "claim_ms": claim_s * 1000,
            "old_ms": None if old_s is None else old_s * 1000,
            "plan": plan,
            "old_plan": old_plan,
            "plans": plans,
            "ran": ran,
            "rate": ran / elapsed if elapsed else 0.0,
            "problems": problems,
        }
    finally:
        await db.dispose()
        await target.drop()


async def main(args: argparse.Namespace) -> int:
    if args.pg:
        common.PG_URL = args.pg
    sizes = [int(s) for s in args.sizes.split(",")]
    failed = missed = False
    summary: list[str] = []
    for kind in db_kinds(args.db):
        results = []
        for size in sizes:
            result = await run_size(kind, size, args)
            results.append(result)
            print(f"\n== {kind}, backlog {size:,} jobs ({size // 2:,} queues)")
            print("  claim plan (outbox):\n    " + result["plan"].replace("\n", "\n    "))
            if result["old_ms"] is not None and size == sizes[-1]:
                print("  claim plan (baseline, the old statement):\n    " + result["old_plan"].replace("\n", "\n    "))
            if result["plans"]:
                print("  every outbox statement:\n    " + result["plans"].replace("\n", "\n    "))
            old = f"{result['old_ms']:9.2f} ms" if result["old_ms"] is not None else "  (skipped)"
            print(f"  claim query: outbox {result['claim_ms']:7.2f} ms   baseline {old}")
            print(f"  drain: {result['ran']:,} jobs at {result['rate']:,.0f} jobs/s")
            for problem in result["problems"]:
                print(f"  FAILED: {problem}")
            failed |= bool(result["problems"])
        first, last = results[0], results[-1]
        rate_ok = all(r["rate"] >= TARGET_RATE for r in results)
        flat_rate = last["rate"] >= 0.7 * first["rate"]
        flat_claim = last["claim_ms"] <= 3 * max(first["claim_ms"], 0.05)
        missed |= not (rate_ok and flat_rate and flat_claim)
        summary.append(f"  {kind}:")
        for r in results:
            old = f"{r['old_ms']:9.2f}" if r["old_ms"] is not None else "        -"
            summary.append(f"    {r['size']:>8,}  {r['rate']:8,.0f} jobs/s  claim {r['claim_ms']:6.2f} ms  baseline {old} ms")
        summary.append(
            f"    >= {TARGET_RATE:.0f} jobs/s: {'PASS' if rate_ok else 'MISS'};"
            f" rate flat (x{last['rate'] / first['rate'] if first['rate'] else 0:.2f}): {'PASS' if flat_rate else 'MISS'};"
            f" claim flat (x{last['claim_ms'] / max(first['claim_ms'], 1e-9):.2f}): {'PASS' if flat_claim else 'MISS'}"
        )
    print("\nsummary (backlog, drain rate, claim query best of --repeat; baseline = the old claim statement):")
    print("\n".join(summary))
    return 1 if failed else 2 if missed else 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--sizes", default="1000,10000,100000", help="backlog sizes (default 1000,10000,100000)")
    parser.add_argument("--sample", type=int, default=0, help="drain only the first N jobs of each backlog (0: all)")
    parser.add_argument("--repeat", type=int, default=20, help="claim query timings per size (default 20)")
    parser.add_argument("--pg", help="PostgreSQL URL (postgresql+asyncpg://...); default TEST_DATABASE_URL or BENCH_DATABASE_URL")
    parser.add_argument("--no-baseline", action="store_true", help="skip timing the old claim statement")
    parser.add_argument("--plans", action="store_true", help="also print the plan of every outbox statement")
    args = parser.parse_args()
    if not args.pg and os.environ.get("TEST_DATABASE_URL") and not os.environ.get("BENCH_DATABASE_URL"):
        args.pg = os.environ["TEST_DATABASE_URL"]
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
