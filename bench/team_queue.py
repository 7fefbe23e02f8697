"""Queue latency at scale: bridge.inbox.queue.open_queue() over many open conversations.

Method
    bench/search.py's dataset and loaders: one inbox, 20,000 contacts with one open
    conversation each and N messages (default 200,000; 55% customer texts) spread over
    two years. Then, as a team would have it: each conversation's last_outbound_at is its
    latest reply, a tenth are closed, a fifth assigned (a twentieth to the measured
    agent). After 10 untimed warm-ups, 50 calls of each view through the real
    open_queue() on one AsyncSession: unassigned, mine, all, and overdue (waiting over
    1 hour). Reported: p50/p99 per view.

Baseline (same run, same data)
    The open conversations, most recently updated first, LIMIT 10, without wait times:
    what listing the queue costs before working out who has waited how long.

Target
    p99 < 150 ms per view at 20,000 open conversations, on SQLite and on PostgreSQL.

Usage
    python bench/team_queue.py [--messages 200000] [--db sqlite|postgresql|both] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import DbKind, DbTarget, db_kinds, migrated_db, ms, percentile
from bench.search import CONTACTS, START, load_postgres, load_sqlite, make_dataset

TARGET_P99 = 0.150
RUNS = 50
NOW = START + timedelta(days=731)

SHAPE = [
    # the team's last reply and the customer's last text, as the service keeps them
    (
        "UPDATE conversations SET last_outbound_at = (SELECT max(m.created_at) FROM messages m"
        " WHERE m.conversation_id = conversations.id AND m.direction = 'out'),"
        " last_inbound_at = (SELECT max(m.created_at) FROM messages m"
        " WHERE m.conversation_id = conversations.id AND m.direction = 'in')"
    ),
    "INSERT INTO agents (platform, user_id, name, role, away, created_at) VALUES ('slack', 'UBENCH', 'Bench', 'agent', false, :now)",
    "INSERT INTO agents (platform, user_id, name, role, away, created_at) VALUES ('slack', 'UOTHER', 'Other', 'agent', false, :now)",
    "UPDATE conversations SET status = 'closed' WHERE id % 10 = 0",
    "UPDATE conversations SET assignee_id = (SELECT id FROM agents WHERE user_id = 'UBENCH') WHERE id % 20 = 1",
    "UPDATE conversations SET assignee_id = (SELECT id FROM agents WHERE user_id = 'UOTHER') WHERE id % 20 IN (2, 3, 4)",
]


async def shape(target: DbTarget) -> None:
    from sqlalchemy import text

    db = target.open()
    try:
        async with db.engine.begin() as conn:
            for statement in SHAPE:
                await conn.execute(text(statement), {"now": START})
            await conn.execute(text("ANALYZE"))
    finally:
        await db.dispose()


async def run_views(target: DbTarget) -> dict[str, list[float]]:
    from bridge.inbox.queue import QueueView, open_queue

    views = [(v, timedelta(hours=1) if v is QueueView.OVERDUE else None) for v in QueueView]
    now = NOW.replace(tzinfo=UTC)
    timings: dict[str, list[float]] = {}
    db = target.open()
    try:
        async with db.sessions() as session:
            for view, after in views * 3:  # warm-up, untimed
                await open_queue(session, view, now=now, agent_id=1, overdue_after=after)
            for _ in range(RUNS):
                for view, after in views:
                    started = time.perf_counter()
                    page = await open_queue(session, view, now=now, agent_id=1, overdue_after=after)
                    timings.setdefault(view.value, []).append(time.perf_counter() - started)
                    if not page.items:
                        raise SystemExit(f"the {view.value} view found nothing: the dataset is wrong")
    finally:
        await db.dispose()
    return timings


async def run_baseline(target: DbTarget) -> list[float]:
    from sqlalchemy import text

    stmt = text("SELECT id FROM conversations WHERE status != 'closed' ORDER BY updated_at DESC LIMIT 10")
    db = target.open()
    timings = []
    try:
        async with db.engine.connect() as conn:
            for _ in range(RUNS):
                started = time.perf_counter()
                await conn.execute(stmt)
                timings.append(time.perf_counter() - started)
    finally:
        await db.dispose()
    return timings


def _line(label: str, values: list[float]) -> str:
    return f"  {label:<22} n={len(values):<4} p50 {ms(percentile(values, 50))} ms   p99 {ms(percentile(values, 99))} ms"


async def bench(kind: DbKind, messages: int, seed: int) -> bool:

    rng = random.Random(seed)
    data = make_dataset(rng)
    target = await migrated_db(kind)
    try:
        if kind == "sqlite":
            await asyncio.to_thread(load_sqlite, target, rng, data, messages)
        else:
            await load_postgres(target, rng, data, messages)
        await shape(target)
        timings = await run_views(target)
        baseline = await run_baseline(target)
    finally:
        await target.drop()
    print(f"\n{kind}: {CONTACTS:,} conversations (90% open), {messages:,} messages")
    ok = True
    for view, values in timings.items():
        p99 = percentile(values, 99)
        ok &= p99 < TARGET_P99
        print(_line(f"queue {view}", values) + f"   ({'met' if p99 < TARGET_P99 else 'MISSED'})")
    print(_line("baseline, no waits", baseline))
    print(f"  target p99 < {TARGET_P99 * 1000:.0f} ms per view: {'met' if ok else 'MISSED'}")
    return ok


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    results = [await bench(kind, args.messages, args.seed) for kind in db_kinds(args.db)]
    return 0 if all(results) else 1


if __name__ == "__main__":
    started = datetime.now(UTC)
    code = asyncio.run(main())
    print(f"\n(took {(datetime.now(UTC) - started).total_seconds():.0f} s)")
    raise SystemExit(code)
