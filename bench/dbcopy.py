"""`smsbridge db copy` throughput: a SQLite deployment moved to PostgreSQL.

Method
    A SQLite deployment is built as bench/search.py builds it (one inbox, 20,000
    contacts and conversations, N messages (default 100,000) and N/10 notes, the search
    index kept by its triggers). It is copied twice, each time into a fresh, migrated
    PostgreSQL schema:
    - smsbridge: `copy_database()`, exactly what `smsbridge db copy` runs (one
      transaction, batches of 1,000, type conversion through the models, the target's
      triggers indexing every message, note and contact, sequences, count checks).
    - floor (the baseline, same run, same data): the least a copy can do: stdlib sqlite3
      reads every table and asyncpg COPYs it in (`copy_records_to_table`) in one
      transaction, with the same triggers, foreign keys and indexes doing their work
      on the server; then the sequences. No conversion beyond what COPY needs, no checks.

Target
    smsbridge takes at most 1.5x the floor's time: the copy's own work (reading through
    SQLAlchemy, batching, checks) costs less than half of what the database must do.

Usage
    python bench/dbcopy.py [--messages 100000] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import DbTarget, migrated_db
from bench.search import load_sqlite, make_dataset

TARGET_RATIO = 1.5


def _converter(column: Any) -> Any:
    from sqlalchemy import JSON, Boolean, DateTime

    type_ = column.type.impl if hasattr(column.type, "impl") else column.type
    if isinstance(type_, DateTime):
        return lambda v: None if v is None else datetime.fromisoformat(v)
    if isinstance(type_, Boolean):
        return lambda v: None if v is None else bool(v)
    if isinstance(type_, JSON):
        return lambda v: v if v is None or isinstance(v, str) else json.dumps(v)
    return None


async def floor_copy(source: DbTarget, target: DbTarget) -> int:
    import asyncpg

    from bridge.dbcopy.copier import copied_tables

    lite = sqlite3.connect(source.sqlite_path)
    conn = await asyncpg.connect(target.asyncpg_dsn, server_settings={"search_path": str(target.schema)})
    rows = 0
    try:
        async with conn.transaction():
            for table in copied_tables():
                names = [c.name for c in table.columns]
                convert = [(_converter(c)) for c in table.columns]
                cursor = lite.execute(f'SELECT {", ".join(names)} FROM "{table.name}" ORDER BY 1')
                while batch := cursor.fetchmany(10_000):
                    records = [tuple(f(v) if f else v for f, v in zip(convert, row, strict=False)) for row in batch]
                    await conn.copy_records_to_table(table.name, records=records, columns=names)
                    rows += len(records)
                if "id" in names:
                    await conn.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), coalesce(max(id), 0) + 1, false)"
                        f' FROM "{table.name}"'
                    )
    finally:
        await conn.close()
        lite.close()
    return rows


async def smsbridge_copy(source: DbTarget, target: DbTarget) -> int:
    from bridge.dbcopy import copy_database

    src, dst = source.open(), target.open()
    try:
        counts = await copy_database(src, dst)
    finally:
        await src.dispose()
        await dst.dispose()
    assert all(c.matches for c in counts)
    return sum(c.target for c in counts[:-1])


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    source = await migrated_db("sqlite")
    targets: list[DbTarget] = []
    try:
        rng = random.Random(args.seed)
        started = time.perf_counter()
        await asyncio.to_thread(load_sqlite, source, rng, make_dataset(rng), args.messages)
        print(f"source: SQLite with {args.messages:,} messages built in {time.perf_counter() - started:.0f} s")
        results: dict[str, tuple[int, float]] = {}
        for name, copy in (("floor (sqlite3 + COPY)", floor_copy), ("smsbridge db copy", smsbridge_copy)):
            target = await migrated_db("postgresql")
            targets.append(target)
            started = time.perf_counter()
            rows = await copy(source, target)
            results[name] = (rows, time.perf_counter() - started)
        for name, (rows, seconds) in results.items():
            print(f"  {name:<24} {rows:>9,} rows in {seconds:6.1f} s = {rows / seconds:>8,.0f} rows/s")
        (_, floor_s), (_, ours_s) = results.values()
        ratio = ours_s / floor_s
        met = ratio <= TARGET_RATIO
        print(f"  smsbridge / floor: {ratio:.2f}x time (target <= {TARGET_RATIO}x: {'met' if met else 'MISSED'})")
        return 0 if met else 1
    finally:
        await source.drop()
        for target in targets:
            await target.drop()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
