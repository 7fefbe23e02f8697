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

The chat path (`/sms export`, `exports.build_upload`), in the same run
    The same database, in two more fresh processes each: the file a chat upload gets,
    built as before this change (the whole export in an `io.StringIO`, then its bytes:
    the baseline) and as now (spooled to a temporary file, under Discord's 10 MiB
    limit: gzip-compressed, then split into parts). Each reports the peak resident
    memory before and after and the CPU time; `--trace` adds tracemalloc's peak (slow).

Target (chat path)
    Spooled, memory grows by less than 100 MB whatever N; the baseline grows with N.

Measured (2026-12-01, the shared 2-core machine at load average 6.2-6.7)
    1,000,000 rows as CSV for a chat upload: built in memory as before, peak memory grew
    306.1 MB (a 148.2 MB file) in 23.3 s of CPU; spooled, it grew 6.7 MB in 25.5 s of CPU,
    and the file went out as 2 gzip-compressed parts, 10.6 MB in all (over Discord's
    10 MiB whole). With --trace at 200,000 rows: tracemalloc's peak 60.4 MB in memory,
    5.0 MB spooled (one 2.1 MB compressed file). The CLI in the same run: 1,000,000 rows
    in 64.8 s, +6.2 MB.

Usage
    python bench/exports.py [--rows 1000000] [--format csv|json] [--chat-only] [--trace]
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
DISCORD_LIMIT = 10 * 1024 * 1024  # the chat path's file is built for Discord's limit (a bot's, in a DM)


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


async def measure_chat(path: Path, fmt: str, how: str, trace: bool) -> dict[str, float]:
    """Build the chat upload's file `how` ("memory": as before, the baseline; "spooled": now)."""
    import tracemalloc
    from datetime import datetime

    from sqlalchemy import text

    from bridge.inbox import exports
    from bridge.inbox.chat import ExportUpload
    from bridge.inbox.db import create_database
    from bridge.inbox.outbox import Job

    db = create_database(f"sqlite+aiosqlite:///{path}")
    async with db.sessions() as session:  # connections and imports warm before the baseline
        await session.execute(text("SELECT 1"))
    until = datetime(2030, 1, 1, tzinfo=UTC)
    post = ExportUpload("audit", until.isoformat(), None, fmt, "UBENCH")
    job = Job(1, "chat", "slack.export", {}, 1, datetime(2026, 12, 1, tzinfo=UTC))
    if trace:
        tracemalloc.start()
    before = _peak_mb()
    cpu = time.process_time()
    parts = 1
    if how == "memory":  # what build_file did before: the whole file in memory, twice
        request = exports.ExportRequest("audit", until=until)
        buffer = io.StringIO()
        written = await exports.write(exports.rows(db.sessions, request), exports.columns("audit"), fmt, buffer)
        data = buffer.getvalue().encode()
        size = len(data)
        del buffer
    else:
        with await exports.build_upload(db.sessions, post, "slack", job, limit=DISCORD_LIMIT) as built:
            written, parts, size = built.rows, len(built.parts), sum(part.size for part in built.parts)
    took = time.process_time() - cpu
    traced = tracemalloc.get_traced_memory()[1] / 1e6 if trace else None
    await db.dispose()
    return {"rows": written, "parts": parts, "bytes": size, "cpu_seconds": round(took, 1), "peak_before_mb": round(before, 1),
            "peak_after_mb": round(_peak_mb(), 1), **({"tracemalloc_peak_mb": round(traced, 1)} if traced is not None else {})}


def _child(*argv: str) -> dict[str, float]:
    child = subprocess.run([sys.executable, __file__, *argv], capture_output=True, text=True, check=True)
    return dict(json.loads(child.stdout))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--format", choices=("csv", "json"), default="csv")
    parser.add_argument("--chat-only", action="store_true", help="measure only the chat path (and its baseline)")
    parser.add_argument("--trace", action="store_true", help="also tracemalloc's peak in the chat measurements (slow)")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child process
    parser.add_argument("--chat", choices=("memory", "spooled"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        if args.chat:
            print(json.dumps(asyncio.run(measure_chat(args.measure, args.format, args.chat, args.trace))))
        else:
            print(json.dumps(asyncio.run(measure(args.measure, args.format))))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        began = time.perf_counter()
        build(path, args.rows)
        print(f"built {args.rows:,} rows in {time.perf_counter() - began:.0f} s", file=sys.stderr)
        trace = ["--trace"] if args.trace else []
        # The CLI first: an export is audited, so the chat path's exports see one row more.
        result = None if args.chat_only else _child("--measure", str(path), "--format", args.format)
        chat = {how: _child("--measure", str(path), "--format", args.format, "--chat", how, *trace) for how in ("memory", "spooled")}
    ok = True
    if result is not None:
        growth = result["peak_after_mb"] - result["peak_before_mb"]
        print(json.dumps({**result, "growth_mb": round(growth, 1), "rows_per_second": int(result["rows"] / result["seconds"])}))
        ok = growth < TARGET_GROWTH_MB and result["rows"] == args.rows
        print(("PASS" if ok else "FAIL") + f": CLI memory grew {growth:.1f} MB (target < {TARGET_GROWTH_MB} MB)")
    for how, measured in chat.items():
        grew = measured["peak_after_mb"] - measured["peak_before_mb"]
        label = "chat, in memory (before, the baseline)" if how == "memory" else "chat, spooled (now)"
        print(json.dumps({"path": label, **measured, "growth_mb": round(grew, 1)}))
    spooled = chat["spooled"]["peak_after_mb"] - chat["spooled"]["peak_before_mb"]
    baseline = chat["memory"]["peak_after_mb"] - chat["memory"]["peak_before_mb"]
    chat_ok = spooled < TARGET_GROWTH_MB and chat["spooled"]["rows"] == chat["memory"]["rows"] >= args.rows
    print(("PASS" if chat_ok else "FAIL") + f": chat export memory grew {spooled:.1f} MB spooled vs {baseline:.1f} MB in memory"
          f" (target < {TARGET_GROWTH_MB} MB); {chat['spooled']['parts']:.0f} part(s), {chat['spooled']['bytes'] / 1e6:.1f} MB"
          f" uploaded vs {chat['memory']['bytes'] / 1e6:.1f} MB", flush=True)
    return 0 if ok and chat_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
