"""What one SQL statement costs the smsbridge process: the bound on delivery per process.

Method
    The same point lookup (`SELECT id FROM contacts WHERE phone = ?`, a unique index)
    is run N times, one after the other, in one process, and the process's CPU time
    (user + system, resource.getrusage) and wall time per statement are printed for:

    - smsbridge's way: SQLAlchemy's AsyncEngine (one connection; then an AsyncSession
      per statement, as a job's read does; then a session with BEGIN/COMMIT, as a
      job's write does), on aiosqlite (SQLite) or asyncpg (PostgreSQL);
    - the driver alone, without SQLAlchemy: aiosqlite (execute, fetchall, close: three
      hops to its thread) or asyncpg (fetch);
    - the floor: sqlite3 called directly, blocking (SQLite only).

    Delivering a text costs about 20 statements in about 4 transactions
    (docs/outbox.md), so CPU per text is roughly 20x the statement figure plus 4x the
    transaction overhead, plus the HTTP calls; one process runs on one core.

Usage
    python bench/sql_cost.py [--db sqlite|postgresql|both] [--n 3000] [--pg URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import bindparam, select, text

from bench import common
from bench.common import DbKind, db_kinds, fresh_db
from bridge.inbox.db import Database, migrate
from bridge.inbox.models import Contact

LOOKUP = select(Contact.id).where(Contact.phone == bindparam("phone"))
RAW = "SELECT id FROM contacts WHERE phone = {}"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(label: str, n: int, once: Callable[[], Awaitable[object]]) -> None:
    for _ in range(min(100, n)):  # warm caches (statement cache, prepared statements)
        await once()
    cpu, wall = _cpu(), time.perf_counter()
    for _ in range(n):
        await once()
    cpu, wall = _cpu() - cpu, time.perf_counter() - wall
    print(f"  {label:<52} {1e6 * cpu / n:7.0f} us CPU {1e6 * wall / n:7.0f} us wall")


async def run(kind: DbKind, n: int) -> None:
    target = await fresh_db(kind)
    db: Database = target.open()
    try:
        await migrate(db)
        async with db.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO contacts (phone, phone_valid, tags, properties, created_at)"
                    " VALUES ('+14155550101', TRUE, '[]', '{}', CURRENT_TIMESTAMP)"
                )
            )
        params = {"phone": "+14155550101"}
        print(f"\n== {kind}: {n} point look-ups each")
        async with db.engine.connect() as conn:

            async def core() -> object:
                return (await conn.execute(LOOKUP, params)).all()

            await measure("SQLAlchemy AsyncConnection.execute", n, core)

        async def read() -> object:
            async with db.sessions() as session:
                return await session.scalar(LOOKUP, params)

        async def write() -> object:
            async with db.sessions.begin() as session:
                return await session.scalar(LOOKUP, params)

        await measure("SQLAlchemy AsyncSession, one statement", n, read)
        await measure("SQLAlchemy AsyncSession.begin(), one statement, COMMIT", n, write)
        if kind == "sqlite":
            await _sqlite_drivers(target.sqlite_path, n)
        else:
            await _asyncpg_driver(db, n)
    finally:
        await db.dispose()
        await target.drop()


async def _sqlite_drivers(path: str, n: int) -> None:
    import aiosqlite

    sql = RAW.format("?")
    async with aiosqlite.connect(path) as conn:

        async def hop() -> object:
            cursor = await conn.execute(sql, ("+14155550101",))
            rows = await cursor.fetchall()
            await cursor.close()
            return rows

        await measure("aiosqlite alone (execute, fetchall, close)", n, hop)
    blocking = sqlite3.connect(path)
    try:

        async def direct() -> object:
            return blocking.execute(sql, ("+14155550101",)).fetchall()

        await measure("sqlite3 alone, blocking (the floor)", n, direct)
    finally:
        blocking.close()


async def _asyncpg_driver(db: Database, n: int) -> None:
    conn = await db.dedicated_connection()
    try:
        statement = await conn.prepare(RAW.format("$1"))

        async def fetch() -> object:
            return await statement.fetch("+14155550101")

        await measure("asyncpg alone (prepared fetch)", n, fetch)
    finally:
        await conn.close()


async def main(args: argparse.Namespace) -> int:
    if args.pg:
        common.PG_URL = args.pg
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    for kind in db_kinds(args.db):
        await run(kind, args.n)
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--pg", help="PostgreSQL URL; default TEST_DATABASE_URL or BENCH_DATABASE_URL")
    args = parser.parse_args()
    if not args.pg and os.environ.get("TEST_DATABASE_URL") and not os.environ.get("BENCH_DATABASE_URL"):
        args.pg = os.environ["TEST_DATABASE_URL"]
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
