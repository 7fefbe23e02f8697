"""What one text costs from webhook to Slack: SQL statements, transactions and CPU, in one process.

Method
    The real `SmsBridge` (Slack against FakeSlack, Twilio against FakeTwilio) runs in
    this process, on a fresh database. 50 texts warm it up; then N signed inbound
    webhooks from N new senders are sent (50 in flight) and the run waits until every
    text is in its Slack thread. An engine event hook counts every statement the server
    sends (by its first 110 characters) and every BEGIN and COMMIT.

    Printed: statements and transactions per text, the most frequent statements, and
    the process's CPU time per text. That CPU figure includes the fakes and the load
    generator (all in this process), so compare it only with another run of this
    script: run it from two checkouts one after the other (it imports `bridge` from
    the checkout it lives in). `bench/ingest.py` measures the server alone.

Usage
    python bench/pipeline_cost.py [--n 300] [--db sqlite|postgresql] [--top 25]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event

from bench.common import (
    SMS_PATH,
    bridge_settings,
    closed_loop,
    fresh_db,
    sender_numbers,
    server_spec,
    signed_inbound,
    start_world,
    stop_world,
    token_text,
    wait_until,
)

WARMUP = 50


async def run(args: argparse.Namespace) -> int:
    from bridge.app import SmsBridge

    world = await start_world()
    target = await fresh_db(args.db)
    statements: Counter[str] = Counter()
    transactions: Counter[str] = Counter()
    try:
        # FakeSlack is not rate-limited: no pacing (as bench/ingest.py), the ServerSpec default.
        settings = bridge_settings(server_spec(world, "bridge", target))
        bridge = SmsBridge(settings, db=target.open())
        await bridge.start("127.0.0.1", 0)
        engine = bridge.db.engine.sync_engine

        def counted(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            statements[re.sub(r"\s+", " ", statement)[:110]] += 1

        event.listen(engine, "before_cursor_execute", counted)
        event.listen(engine, "begin", lambda _conn: transactions.update(["begin"]))
        event.listen(engine, "commit", lambda _conn: transactions.update(["commit"]))
        try:
            senders = sender_numbers(WARMUP + args.n)
            requests = [signed_inbound(world, token_text(i), senders[i]) for i in range(WARMUP + args.n)]
            url = f"http://127.0.0.1:{bridge.port}{SMS_PATH}"
            await closed_loop(url, requests[:WARMUP], 50)
            await wait_until(lambda: len(world.slack.arrivals) >= WARMUP, timeout=120)
            statements.clear()
            transactions.clear()
            cpu, wall = time.process_time(), time.perf_counter()
            await closed_loop(url, requests[WARMUP:], 50)
            posted = await wait_until(lambda: len(world.slack.arrivals) >= WARMUP + args.n, timeout=args.timeout)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        finally:
            await bridge.stop()
        total = sum(statements.values())
        print(f"== {args.db}: {args.n} texts from new senders, webhook to Slack, in one process")
        print(f"  every text in Slack: {'yes' if posted else 'NO'} ({len(world.slack.arrivals) - WARMUP}/{args.n}), {wall:.1f} s")
        print(f"  process CPU (server, fakes and load generator): {1000 * cpu / args.n:.2f} ms per text")
        print(
            f"  statements: {total / args.n:.2f} per text; transactions: {transactions['begin'] / args.n:.2f} begun,"
            f" {transactions['commit'] / args.n:.2f} committed per text"
        )
        for statement, count in statements.most_common(args.top):
            print(f"  {count / args.n:6.2f}  {statement}")
        return 0 if posted else 1
    finally:
        await target.drop()
        await stop_world(world)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300, help="timed texts (default 300)")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--top", type=int, default=25, help="statements listed (default 25)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for every text in Slack")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(run(parse_args())))
