"""`smsbridge export audit` over a million rows: memory stays flat, time is linear.

Method
    A migrated SQLite database gets one inbox, 1,000 contacts and conversations, N/2
    outbound messages (delivered, with provider ids and authors) and N/2 audit events
    (default N = 1,000,000), written with stdlib sqlite3 (the triggers of the migrations
    do their work). A fresh process then runs exactly what `smsbridge export audit
    --format csv` runs (`export_cli.run`) into /dev/null, and reports the rows written,
    the time taken, and its peak resident memory before and after the export.

Target
    The export's peak memory grows by less than 100 MB over the process's memory before
    it, whatever N: rows are streamed in batches of 1,000, never loaded as a table.

Measured (2026-12-01, the shared 2-core test machine at load average 15-18)
    1,000,000 rows as CSV: 259 s (3,859 rows/s), peak memory 67.0 MB before the export
    and 72.5 MB after it (+5.5 MB). 20,000 rows: +6.1 MB. Flat, as intended.

Usage
    python bench/exports.py [--rows 1000000] [--format csv|json]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET_GROWTH_MB = 100


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


async def _migrate(path: Path) -> None:
    from bridge.inbox.db import create_database, migrate

    db = create_database(f"sqlite+aiosqlite:///{path}")
    try:
        await migrate(db)
    finally:
        await db.dispose()


def build(path: Path, rows: int) -> None:
    asyncio.run(_migrate(path))
    con = sqlite3.connect(path)
    first = datetime(2026, 1, 1, tzinfo=UTC)

    def at(seconds: int = 0) -> str:  # as SQLAlchemy stores a UTC time on SQLite
        return (first + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S.%f")

    start = at()
    con.execute("INSERT INTO inboxes (id, name, number, business_name, created_at) VALUES (1, 'default', '+14155550100', '', ?)",
                (start,))
    con.executemany(
        "INSERT INTO contacts (id, phone, phone_valid, tags, properties, created_at) VALUES (?, ?, 1, '[]', '{}', ?)",
        ((i, f"+1415555{i:04d}", start) for i in range(1, 1001)),
    )
    con.executemany(
        "INSERT INTO conversations (id, inbox_id, contact_id, status, priority, created_at, updated_at)"
        " VALUES (?, 1, ?, 'open', 2, ?, ?)",
        ((i, i, start, start) for i in range(1, 1001)),
    )
    half = rows // 2
    con.executemany(
        "INSERT INTO messages (conversation_id, direction, kind, body, media, provider_sid, status, from_number, to_number,"
        " author_platform, author_id, author_name, created_at, segments, encoding)"
        " VALUES (?, 'out', 'reply', 'Ready at 5', '[]', ?, 'delivered', '+14155550100', ?, 'slack', 'UANA', 'Ana', ?, 1, 'GSM-7')",
        ((i % 1000 + 1, f"SM{i:032d}", f"+1415555{i % 1000 + 1:04d}", at(i)) for i in range(half)),
    )
    detail = json.dumps({"before": None, "after": "Ana"})
    con.executemany(
        "INSERT INTO audit_events (actor, action, conversation_id, detail, created_at) VALUES ('slack:UANA', 'claimed', ?, ?, ?)",
        ((i % 1000 + 1, detail, at(i)) for i in range(rows - half)),
    )
    con.commit()
    con.close()


async def measure(path: Path, fmt: str) -> dict[str, float]:
    import argparse as ap

    from bridge import export_cli
    from bridge.inbox.db import create_database

    parser = ap.ArgumentParser()
    export_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["export", "audit", "--format", fmt, "--out", "/dev/null"])
    db = create_database(f"sqlite+aiosqlite:///{path}")
    async with db.sessions() as session:  # connections and imports warm before the baseline
        from sqlalchemy import text

        await session.execute(text("SELECT 1"))
    before = _peak_mb()
    began = time.perf_counter()
    err = io.StringIO()
    code = await export_cli.run(db, args, io.StringIO(), err)
    took = time.perf_counter() - began
    await db.dispose()
    assert code == 0, err.getvalue()
    rows = int(err.getvalue().split("exported ")[1].split()[0])
    return {"rows": rows, "seconds": round(took, 1), "peak_before_mb": round(before, 1), "peak_after_mb": round(_peak_mb(), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--format", choices=("csv", "json"), default="csv")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(asyncio.run(measure(args.measure, args.format))))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        began = time.perf_counter()
        build(path, args.rows)
        print(f"built {args.rows:,} rows in {time.perf_counter() - began:.0f} s", file=sys.stderr)
        child = subprocess.run([sys.executable, __file__, "--measure", str(path), "--format", args.format],
                               capture_output=True, text=True, check=True)
        result = json.loads(child.stdout)
    growth = result["peak_after_mb"] - result["peak_before_mb"]
    print(json.dumps({**result, "growth_mb": round(growth, 1), "rows_per_second": int(result["rows"] / result["seconds"])}))
    ok = growth < TARGET_GROWTH_MB and result["rows"] == args.rows
    print(("PASS" if ok else "FAIL") + f": memory grew {growth:.1f} MB (target < {TARGET_GROWTH_MB} MB)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
