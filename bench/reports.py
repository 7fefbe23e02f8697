"""Report speed and memory at scale: bridge.inbox.report_queries.build() over a month.

Method
    A fresh, migrated database (SQLite file, or a PostgreSQL schema dropped at the end)
    is filled by INSERT ... SELECT in the database itself (a recursive CTE on SQLite,
    generate_series on PostgreSQL): 3 inboxes, 20 agents, 100,000 contacts with one
    conversation each, 120,000 conversation cycles (a fifth reopened, one in fifteen
    team-started) and N messages (default 1,000,000), by default all within the last 30
    days, so the report reads every one of them (--history-days spreads them wider): half customer texts, half outbound (replies by the 20
    agents, a few automatic replies, one in 53 failed with one of five error codes). The
    triggers (search index, hourly counters) are dropped (SQLite) or disabled
    (PostgreSQL) for the load; the hourly counters are then filled with one INSERT ...
    SELECT, as migration 0008 does for an existing history. Then ANALYZE.

    Each measurement runs in a fresh child process (spawn) that opens the database,
    runs one untimed warm-up report, then 5 timed reports; reported: the median and
    worst time, the median CPU time of the child (on SQLite the database's work too, so
    it is the number least disturbed by other work on the machine), and the child's peak
    resident memory (ru_maxrss: Python, SQLAlchemy, the
    driver and the database cache included). Measured: the 30-day report of every inbox
    and of one inbox (the budget), and of one agent (printed for information: it reads
    that agent's messages, since assignments are not counted per hour).

Baseline (same run, same data)
    The report smsbridge had before (bench/old_report.build, 30 days): it has no
    cycles, no p90, no per-agent speed, and computes its median in Python from every
    conversation's first-response pair.

Target
    Under 500 ms and under 300 MB on SQLite and on PostgreSQL; exit status 1 otherwise.

Usage
    python bench/reports.py [--messages 1000000] [--db sqlite|postgresql|both] [--pg]
        [--cache DIR] [--queries]
    (--pg is --db both; PostgreSQL at TEST_DATABASE_URL, else BENCH_DATABASE_URL, else
    postgresql+asyncpg://postgres@127.0.0.1:5432/test)

    --cache DIR keeps the loaded database (SQLite file in DIR, PostgreSQL schema named in
    DIR) and reuses it while the migrations' head, --messages and --history-days are
    unchanged: the report's month stays the one of the load (the baseline's is the last
    30 days up to now, so it reads less of a cached database). --queries also prints each
    statement's median time over the 5 timed runs of a report (the breakdown, less
    sensitive to the machine's load than the total).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import shutil
import sqlite3
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

if os.environ.get("TEST_DATABASE_URL") and not os.environ.get("BENCH_DATABASE_URL"):
    os.environ["BENCH_DATABASE_URL"] = os.environ["TEST_DATABASE_URL"]

from bench.common import PG_URL, DbKind, DbTarget, db_kinds, fresh_db

CONVERSATIONS = 100_000
AGENTS = 20
BUDGET_SECONDS = 0.500
BUDGET_MB = 300.0
RUNS = 5
ZONE = "America/New_York"
# The month's report of every inbox and of one inbox. An agent's report reads that
# agent's messages (assignments are not counted per hour): printed for information.
BUDGETED = ("all inboxes", "one inbox")
REPORT_DAYS = 30


# -- loading -------------------------------------------------------------------------

# The triggers are off during the load; the hourly counters are filled as migration 0008
# fills them for an existing history.
HOURS_BACKFILL = (
    "INSERT INTO report_message_hours (hour, inbox_id, direction, kind, status, error_code, author_platform,"
    " author_id, shard, messages)"
    " SELECT {hour}, c.inbox_id, m.direction, m.kind, m.status, COALESCE(m.error_code, ''),"
    " COALESCE(m.author_platform, ''), COALESCE(m.author_id, ''), {shard}, count(*)"
    " FROM messages m JOIN conversations c ON c.id = m.conversation_id GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9"
)


def _sqlite_load(target: DbTarget, messages: int, base: datetime, span: int) -> None:
    conn = sqlite3.connect(target.sqlite_path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")  # a benchmark fixture, rebuilt each run
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        conn.execute(f"DROP TRIGGER {name}")
    at = "strftime('%Y-%m-%d %H:%M:%S', :base, '+' || ({secs}) || ' seconds') || '.000000'"
    params = {"base": base.strftime("%Y-%m-%d %H:%M:%S"), "n": messages, "c": CONVERSATIONS}
    seq = "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {limit}) "
    with conn:
        conn.execute(
            "INSERT INTO inboxes (name, number, business_name, created_at) VALUES"
            " ('north', '+14155550101', 'Bench', :base), ('south', '+14155550102', 'Bench', :base),"
            " ('west', '+14155550103', 'Bench', :base)",
            params,
        )
        conn.execute(
            seq.format(limit=AGENTS) + "INSERT INTO agents (platform, user_id, name, role, away, created_at)"
            " SELECT 'slack', printf('U%02d', i), 'Agent ' || i, 'agent', 0, :base FROM s",
            params,
        )
        conn.execute(
            seq.format(limit=":c") + "INSERT INTO contacts (phone, phone_valid, tags, properties, created_at)"
            " SELECT '+1415' || (2000000 + i), 1, '[]', '{}', :base FROM s",
            params,
        )
        conn.execute(
            seq.format(limit=":c")
            + "INSERT INTO conversations (inbox_id, contact_id, status, assignee_id, priority, created_at, updated_at)"
            " SELECT 1 + i % 3, i, CASE WHEN i % 10 < 6 THEN 'closed' WHEN i % 10 < 8 THEN 'open'"
            " WHEN i % 10 = 8 THEN 'new' ELSE 'pending' END, CASE WHEN i % 7 = 0 THEN NULL ELSE 1 + i % 20 END, 0, "
            + at.format(secs=f"i * {span} / :c")
            + ", "
            + at.format(secs=f"i * {span} / :c + 86400")
            + " FROM s",
            params,
        )
        conn.execute(
            seq.format(limit=":n")
            + "INSERT INTO messages (conversation_id, direction, kind, body, media, status, error_code, error_text,"
            " from_number, to_number, author_platform, author_id, author_name, created_at)"
            " SELECT 1 + ((i / 2) * 7919) % :c, CASE WHEN i % 2 = 0 THEN 'in' ELSE 'out' END,"
            " CASE WHEN i % 2 = 0 THEN 'text' WHEN i % 50 = 1 THEN 'compliance' ELSE 'reply' END, '', '[]',"
            " CASE WHEN i % 2 = 0 THEN 'received' WHEN i % 53 = 0 THEN 'failed' ELSE 'delivered' END,"
            " CASE WHEN i % 2 = 1 AND i % 53 = 0 THEN '3000' || (i % 5) END,"
            " CASE WHEN i % 2 = 1 AND i % 53 = 0 THEN 'Carrier error ' || (i % 5) END, '', '',"
            " CASE WHEN i % 2 = 1 THEN 'slack' END, CASE WHEN i % 2 = 1 THEN printf('U%02d', 1 + i % 20) END,"
            " CASE WHEN i % 2 = 1 THEN 'Agent' END, "
            + at.format(secs=f"(i - 1) * {span}.0 / :n")
            + " FROM s",
            params,
        )
        cycle = (
            "INSERT INTO conversation_cycles (conversation_id, inbox_id, seq, origin, started_at, customer_at,"
            " first_response_at, first_response_message_id, responder_platform, responder_id, first_response_seconds,"
            " resolved_at, resolution_seconds)"
            " SELECT c.id, c.inbox_id, {seq}, CASE WHEN c.id % 15 = 0 AND {seq} = 1 THEN 'team' ELSE 'customer' END,"
            " {start}, {start}, CASE WHEN c.id % 10 <> 3 THEN {start} END,"
            " CASE WHEN c.id % 10 <> 3 THEN 2 * ((c.id * 31) % (:n / 2)) + 1 END,"
            " CASE WHEN c.id % 10 <> 3 THEN 'slack' END, CASE WHEN c.id % 10 <> 3 THEN printf('U%02d', 1 + c.id % 20) END,"
            " CASE WHEN c.id % 10 <> 3 THEN 30 + (c.id * 7919) % 7200 END,"
            " CASE WHEN c.status = 'closed' THEN {start} END,"
            " CASE WHEN c.status = 'closed' THEN 600 + (c.id * 104729) % 172800 END"
            " FROM conversations c WHERE {where}"
        )
        conn.execute(cycle.format(seq=1, start="c.created_at", where="1 = 1"), params)
        conn.execute(cycle.format(seq=2, start="c.updated_at", where="c.id % 5 = 0"), params)
        conn.execute("UPDATE conversations SET first_response_at = created_at WHERE id % 10 <> 3")
        conn.execute(HOURS_BACKFILL.format(hour="substr(m.created_at, 1, 13) || ':00:00.000000'", shard="0"))
    conn.execute("ANALYZE")
    conn.close()


async def _postgres_load(target: DbTarget, messages: int, base: datetime, span: int) -> None:
    import asyncpg

    conn = await asyncpg.connect(target.asyncpg_dsn, server_settings={"search_path": str(target.schema)})
    base_naive = base.replace(tzinfo=None)
    at = "$1::timestamp + make_interval(secs => {secs})"
    try:
        await conn.execute("SET maintenance_work_mem = '256MB'")
        for table in ("messages", "contacts", "notes"):
            await conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        await conn.execute(
            "INSERT INTO inboxes (name, number, business_name, created_at) VALUES"
            " ('north', '+14155550101', 'Bench', $1), ('south', '+14155550102', 'Bench', $1),"
            " ('west', '+14155550103', 'Bench', $1)",
            base_naive,
        )
        await conn.execute(
            "INSERT INTO agents (platform, user_id, name, role, away, created_at)"
            f" SELECT 'slack', 'U' || lpad(i::text, 2, '0'), 'Agent ' || i, 'agent', false, $1 FROM generate_series(1, {AGENTS}) i",
            base_naive,
        )
        await conn.execute(
            "INSERT INTO contacts (phone, phone_valid, tags, properties, created_at)"
            " SELECT '+1415' || (2000000 + i), true, '[]', '{}', $1 FROM generate_series(1, $2) i",
            base_naive, CONVERSATIONS,
        )
        await conn.execute(
            "INSERT INTO conversations (inbox_id, contact_id, status, assignee_id, priority, created_at, updated_at)"
            " SELECT 1 + i % 3, i, CASE WHEN i % 10 < 6 THEN 'closed' WHEN i % 10 < 8 THEN 'open'"
            " WHEN i % 10 = 8 THEN 'new' ELSE 'pending' END, CASE WHEN i % 7 = 0 THEN NULL ELSE 1 + i % 20 END, 0, "
            + at.format(secs=f"i * {span}.0 / $2")
            + ", "
            + at.format(secs=f"i * {span}.0 / $2 + 86400")
            + " FROM generate_series(1, $2) i",
            base_naive, CONVERSATIONS,
        )
        await conn.execute(
            "INSERT INTO messages (conversation_id, direction, kind, body, media, status, error_code, error_text,"
            " from_number, to_number, author_platform, author_id, author_name, created_at)"
            " SELECT 1 + ((i / 2)::bigint * 7919) % $3, CASE WHEN i % 2 = 0 THEN 'in' ELSE 'out' END,"
            " CASE WHEN i % 2 = 0 THEN 'text' WHEN i % 50 = 1 THEN 'compliance' ELSE 'reply' END, '', '[]',"
            " CASE WHEN i % 2 = 0 THEN 'received' WHEN i % 53 = 0 THEN 'failed' ELSE 'delivered' END,"
            " CASE WHEN i % 2 = 1 AND i % 53 = 0 THEN '3000' || (i % 5) END,"
            " CASE WHEN i % 2 = 1 AND i % 53 = 0 THEN 'Carrier error ' || (i % 5) END, '', '',"
            " CASE WHEN i % 2 = 1 THEN 'slack' END, CASE WHEN i % 2 = 1 THEN 'U' || lpad((1 + i % 20)::text, 2, '0') END,"
            " CASE WHEN i % 2 = 1 THEN 'Agent' END, "
            + at.format(secs=f"(i - 1) * {span}.0 / $2")
            + " FROM generate_series(1, $2) i",
            base_naive, messages, CONVERSATIONS,
        )
        cycle = (
            "INSERT INTO conversation_cycles (conversation_id, inbox_id, seq, origin, started_at, customer_at,"
            " first_response_at, first_response_message_id, responder_platform, responder_id, first_response_seconds,"
            " resolved_at, resolution_seconds)"
            " SELECT c.id, c.inbox_id, {seq}, CASE WHEN c.id % 15 = 0 AND {seq} = 1 THEN 'team' ELSE 'customer' END,"
            " {start}, {start}, CASE WHEN c.id % 10 <> 3 THEN {start} END,"
            " CASE WHEN c.id % 10 <> 3 THEN 2 * ((c.id::bigint * 31) % ($1 / 2)) + 1 END,"
            " CASE WHEN c.id % 10 <> 3 THEN 'slack' END,"
            " CASE WHEN c.id % 10 <> 3 THEN 'U' || lpad((1 + c.id % 20)::text, 2, '0') END,"
            " CASE WHEN c.id % 10 <> 3 THEN 30 + (c.id::bigint * 7919) % 7200 END,"
            " CASE WHEN c.status = 'closed' THEN {start} END,"
            " CASE WHEN c.status = 'closed' THEN 600 + (c.id::bigint * 104729) % 172800 END"
            " FROM conversations c WHERE {where}"
        )
        await conn.execute(cycle.format(seq=1, start="c.created_at", where="true"), messages)
        await conn.execute(cycle.format(seq=2, start="c.updated_at", where="c.id % 5 = 0"), messages)
        await conn.execute("UPDATE conversations SET first_response_at = created_at WHERE id % 10 <> 3")
        await conn.execute(HOURS_BACKFILL.format(hour="date_trunc('hour', m.created_at)", shard="m.id % 4"))
        for table in ("messages", "contacts", "notes"):
            await conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


# -- measuring (in a child process) --------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    name: str
    median: float
    worst: float
    peak_mb: float
    cpu: float  # median CPU seconds of this process per report (SQLite's work included, PostgreSQL's not)
    summary: str
    # per statement (first words of its SQL): median ms over the timed runs, how many per report
    statements: list[tuple[str, float, int]]


def _child(target: DbTarget, name: str, base: datetime, until: datetime, out: multiprocessing.queues.Queue) -> None:  # type: ignore[name-defined]
    out.put(asyncio.run(_measure(target, name, base, until)))


def _statement_label(sql: str) -> str:
    words = " ".join(sql.split())
    return words[:90]


async def _measure(target: DbTarget, name: str, base: datetime, until: datetime) -> Measurement:
    from zoneinfo import ZoneInfo

    from sqlalchemy import event

    from bench import old_report
    from bridge.inbox import report_queries
    from bridge.inbox.report_queries import Scope

    db = target.open()
    scopes = {
        "all inboxes": Scope(base, until, ZoneInfo(ZONE)),
        "one inbox": Scope(base, until, ZoneInfo(ZONE), inbox_id=2),
        "one agent": Scope(base, until, ZoneInfo(ZONE), agent_id=3),
    }
    times: list[float] = []
    cpu: list[float] = []
    summary = ""
    per_run: list[dict[str, list[float]]] = []  # per run: statement -> [seconds, executions]
    running: dict[int, float] = {}  # per cursor (PostgreSQL runs a report's parts at once)

    def before(conn: object, cursor: object, statement: str, *args: object) -> None:
        running[id(cursor)] = time.perf_counter()

    def after(conn: object, cursor: object, statement: str, *args: object) -> None:
        label = _statement_label(statement)
        spent = per_run[-1].setdefault(label, [0.0, 0])
        spent[0] += time.perf_counter() - running.pop(id(cursor), time.perf_counter())
        spent[1] += 1

    event.listen(db.engine.sync_engine, "before_cursor_execute", before)
    event.listen(db.engine.sync_engine, "after_cursor_execute", after)
    try:
        for run in range(RUNS + 1):
            per_run.append({})
            async with db.sessions() as session:
                started = time.perf_counter()
                started_cpu = time.process_time()
                if name == "baseline":
                    old = await old_report.build(session, timedelta(days=30))
                    summary = f"inbound {old.inbound}, median first response {old.median_first_response}"
                else:
                    new = await report_queries.build(session, scopes[name], sessions=db.sessions)
                    summary = (
                        f"in {new.texts_in}, out {new.texts_out}, new {new.new_conversations}, reopened {new.reopened},"
                        f" first response p50/p90 {new.first_response.median}/{new.first_response.p90} s,"
                        f" {len(new.agents)} agents, {len(new.failures)} failure codes"
                    )
                if run:  # the first is the warm-up
                    times.append(time.perf_counter() - started)
                    cpu.append(time.process_time() - started_cpu)
    finally:
        await db.dispose()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    timed = per_run[1:]  # not the warm-up
    labels = {label for spent in timed for label in spent}
    statements = sorted(
        (
            (
                label,
                statistics.median(spent.get(label, [0.0, 0])[0] for spent in timed) * 1000,
                round(statistics.median(spent.get(label, [0.0, 0])[1] for spent in timed)),
            )
            for label in labels
        ),
        key=lambda row: -row[1],
    )
    return Measurement(name, statistics.median(times), max(times), peak_mb, statistics.median(cpu), summary, statements)


def measure(target: DbTarget, name: str, base: datetime, until: datetime) -> Measurement:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    process = context.Process(target=_child, args=(target, name, base, until, out))
    process.start()
    result: Measurement = out.get(timeout=600)
    process.join(60)
    return result


def _head_revision() -> str:
    from alembic.script import ScriptDirectory

    from bridge.inbox.db import alembic_config

    return str(ScriptDirectory.from_config(alembic_config()).get_current_head())


async def _load(kind: DbKind, messages: int, history_days: int) -> tuple[DbTarget, datetime]:
    """A fresh database, migrated and loaded; returns it and the load's "now"."""
    from bridge.inbox.db import migrate

    target = await fresh_db(kind)
    try:
        db = target.open()
        await migrate(db)
        await db.dispose()
        now = datetime.now(UTC).replace(microsecond=0)
        first = now - timedelta(days=history_days)
        span = history_days * 86400
        started = time.perf_counter()
        if kind == "sqlite":
            await asyncio.get_running_loop().run_in_executor(None, _sqlite_load, target, messages, first, span)
        else:
            await _postgres_load(target, messages, first, span)
    except BaseException:
        await target.drop()
        raise
    print(
        f"\n{kind}: loaded {messages:,} messages, {CONVERSATIONS:,} conversations over {history_days} days"
        f" in {time.perf_counter() - started:.1f} s; the report covers the last {REPORT_DAYS}"
    )
    return target, now


def _read_cache(kind: DbKind, cache: Path) -> dict[str, str | int | None]:
    cache.mkdir(parents=True, exist_ok=True)
    meta_path = cache / f"{kind}.json"
    return json.loads(meta_path.read_text()) if meta_path.exists() else {}


def _write_cache(kind: DbKind, cache: Path, meta: dict[str, str | int | None]) -> None:
    (cache / f"{kind}.json").write_text(json.dumps(meta))


def _cached_sqlite(cache: Path) -> DbTarget:
    return DbTarget("sqlite", f"sqlite+aiosqlite:///{cache / 'bench.db'}", directory=str(cache))


def _keep_sqlite(target: DbTarget, cache: Path) -> DbTarget:
    Path(target.sqlite_path).replace(cache / "bench.db")
    for suffix in ("-wal", "-shm"):
        Path(target.sqlite_path + suffix).unlink(missing_ok=True)
    if target.directory:
        shutil.rmtree(target.directory, ignore_errors=True)
    return _cached_sqlite(cache)


def _forget_sqlite(cache: Path) -> None:
    (cache / "sqlite.json").unlink(missing_ok=True)
    for suffix in ("", "-wal", "-shm"):
        (cache / f"bench.db{suffix}").unlink(missing_ok=True)


async def _cached(kind: DbKind, messages: int, history_days: int, cache: Path) -> tuple[DbTarget, datetime]:
    """The database --cache kept from an earlier run with the same schema and data, else a new one kept there."""
    meta = _read_cache(kind, cache)
    wanted: dict[str, str | int | None] = {
        "head": _head_revision(), "messages": messages, "history_days": history_days,
        "url": PG_URL if kind == "postgresql" else None,
    }
    if meta:
        if {key: meta.get(key) for key in wanted} == wanted:
            target = _cached_sqlite(cache) if kind == "sqlite" else DbTarget(kind, PG_URL, schema=str(meta["schema"]))
            print(f"\n{kind}: reusing the database loaded at {meta['now']} ({cache}); the report covers its last {REPORT_DAYS} days")
            return target, datetime.fromisoformat(str(meta["now"]))
        if kind == "sqlite":
            _forget_sqlite(cache)
        elif meta.get("schema") and meta.get("url") == PG_URL:
            await DbTarget(kind, PG_URL, schema=str(meta["schema"])).drop()
    target, now = await _load(kind, messages, history_days)
    if kind == "sqlite":
        target = _keep_sqlite(target, cache)
    _write_cache(kind, cache, {**wanted, "now": now.isoformat(), "schema": target.schema})
    return target, now


async def run(kind: DbKind, messages: int, history_days: int, cache: Path | None, queries: bool) -> bool:
    if cache is None:
        target, now = await _load(kind, messages, history_days)
    else:
        target, now = await _cached(kind, messages, history_days, cache)
    try:
        base = now - timedelta(days=REPORT_DAYS)
        print(f"  machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (timings grow with it)")
        until = now + timedelta(seconds=1)
        ok = True
        print(f"  {'report':<14}{'median ms':>11}{'worst ms':>10}{'cpu ms':>8}{'peak MB':>9}  numbers")
        for name in ("baseline", "all inboxes", "one inbox", "one agent"):
            m = measure(target, name, base, until)
            over = name in BUDGETED and (m.worst > BUDGET_SECONDS or m.peak_mb > BUDGET_MB)
            ok = ok and not over
            flag = "  OVER BUDGET" if over else ("" if name in BUDGETED else "  (for information)")
            print(
                f"  {name:<14}{m.median * 1000:>11.1f}{m.worst * 1000:>10.1f}{m.cpu * 1000:>8.1f}{m.peak_mb:>9.0f}"
                f"  {m.summary}{flag}"
            )
            if queries and name != "baseline":
                total = sum(ms for _, ms, _ in m.statements)
                print(
                    f"      statements: {total:.1f} ms of the median report's {m.median * 1000:.1f}"
                    " (median ms, runs per report; on PostgreSQL the report's three parts overlap)"
                )
                for label, ms, n in m.statements:
                    print(f"      {ms:>8.1f}  x{n:<3} {label}")
        return ok
    finally:
        if cache is None:
            await target.drop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--pg", action="store_true", help="also PostgreSQL (same as --db both)")
    parser.add_argument(
        "--history-days", type=int, default=REPORT_DAYS,
        help="days the data spans (default 30: the whole history falls in the report's month)",
    )
    parser.add_argument(
        "--cache", type=Path, default=None,
        help="keep the loaded database in DIR and reuse it while the schema and the data's size are the same",
    )
    parser.add_argument("--queries", action="store_true", help="print each statement's median time per report")
    args = parser.parse_args()
    kinds = db_kinds("both" if args.pg else args.db)
    print(f"budget: each report's worst run under {BUDGET_SECONDS * 1000:.0f} ms, peak memory under {BUDGET_MB:.0f} MB")
    results = [
        asyncio.run(run(kind, args.messages, args.history_days, args.cache, args.queries)) for kind in kinds
    ]
    if all(results):
        print("\nOK: within budget")
        return 0
    print("\nFAIL: over budget")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
