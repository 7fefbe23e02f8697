"""Inbound latency: from a customer's webhook to its text arriving in the Slack thread.

Method
    20 conversations (20 distinct valid US senders) text at an aggregate 20 texts/s for
    15 s (300 texts), open loop: each webhook (POST /twilio/sms, signed as Twilio signs)
    leaves on its schedule whatever happened to the earlier ones. For every text we
    measure from just before its POST is sent to the moment a zero-latency FakeSlack
    (tests/fakes, subclassed in bench/common.py) receives the chat.postMessage carrying
    that text in the conversation's thread. Both clocks are time.perf_counter() in the
    same process: the load generator and FakeSlack live in this process, the server
    alone in a child process.

    Before the timed texts each conversation sends one untimed text, one at a time,
    so every thread exists: the timed texts measure the steady state. That first text
    (which opens the thread: card, then text) is reported separately.

    Servers: smsbridge (`bridge.app.SmsBridge` on a fresh SQLite file and a fresh
    PostgreSQL schema, Slack over HTTP pointed at FakeSlack) and, as the floor measured
    in the same run, a trivial aiohttp handler that calls chat.postMessage (slack_sdk,
    kept-alive session) as soon as the webhook arrives. smsbridge minus floor is our
    overhead: the database transaction, the outbox hand-off and the worker's reads.

Targets (smsbridge, each database; issue 9)
    p50 < 10 ms, p99 < 40 ms.

Usage
    python bench/latency.py [--db sqlite|postgresql|both] [--rate 20] [--duration 15]
                            [--conversations 20] [--profile DIR]

    Exits 1 when a text never arrives or arrives twice.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from bench.common import (
    SMS_PATH,
    DbKind,
    LoadResult,
    ServerProcess,
    World,
    db_kinds,
    ms,
    percentile,
    post_webhook,
    profile_path,
    sender_numbers,
    server_spec,
    signed_inbound,
    start_world,
    stop_world,
    token_text,
    wait_until,
    world_and_db,
)

TARGET_P50 = 0.010
TARGET_P99 = 0.040
FIRST_TEXT_BASE = 1_000_000  # token indices of the untimed first texts
ARRIVAL_GRACE = 10.0  # seconds to wait for the last texts after the last send


@dataclass
class LatencyRun:
    label: str
    latencies: list[float] = field(default_factory=list)  # webhook sent -> text in Slack
    first_texts: list[float] = field(default_factory=list)  # the thread-opening texts
    http: LoadResult = field(default_factory=LoadResult)  # webhook answers
    max_send_lag: float = 0.0  # how late the open-loop schedule ran at worst
    problems: list[str] = field(default_factory=list)

    def row(self) -> str:
        lat = self.latencies
        cells = "".join(ms(percentile(lat, q)) for q in (50, 90, 99, 100))
        first = f"{ms(percentile(self.first_texts, 50))}{ms(max(self.first_texts, default=float('nan')))}"
        return f"  {self.label:<22}{cells}  {ms(percentile(self.http.latencies, 50))}   {first}  {len(lat):5d}"


async def measure(world: World, port: int, label: str, args: argparse.Namespace) -> LatencyRun:
    run = LatencyRun(label)
    url = f"http://127.0.0.1:{port}{SMS_PATH}"
    senders = sender_numbers(args.conversations)
    count = round(args.rate * args.duration)
    timed = [signed_inbound(world, token_text(i), senders[i % len(senders)]) for i in range(count)]
    arrivals = world.slack.arrivals
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        # One thread-opening text per conversation, one at a time.
        for j, sender in enumerate(senders):
            index = FIRST_TEXT_BASE + j
            sent = time.perf_counter()
            await post_webhook(session, url, signed_inbound(world, token_text(index), sender), LoadResult())
            if await wait_until(lambda index=index: index in arrivals, timeout=10.0, interval=0.001):
                run.first_texts.append(arrivals[index] - sent)

        sent_at: dict[int, float] = {}

        async def send(i: int) -> None:
            sent_at[i] = time.perf_counter()
            await post_webhook(session, url, timed[i], run.http)

        tasks: list[asyncio.Task[None]] = []
        start = time.perf_counter() + 0.05
        for i in range(count):
            due = start + i / args.rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            run.max_send_lag = max(run.max_send_lag, time.perf_counter() - due)
            tasks.append(asyncio.create_task(send(i)))
        await asyncio.gather(*tasks)
        await wait_until(lambda: all(i in arrivals for i in range(count)), timeout=ARRIVAL_GRACE, interval=0.005)

    run.latencies = [arrivals[i] - sent_at[i] for i in range(count) if i in arrivals]
    missing = count - len(run.latencies)
    if missing:
        run.problems.append(f"{missing}/{count} texts never reached Slack within {ARRIVAL_GRACE:.0f} s of the last send")
    twice = sum(1 for c in world.slack.arrival_counts.values() if c > 1)
    if twice:
        run.problems.append(f"{twice} texts posted more than once")
    bad = {s: c for s, c in run.http.statuses.items() if s != "200"}
    if bad:
        run.problems.append(f"non-200 webhook answers: {bad}")
    return run


async def run_floor(args: argparse.Namespace) -> LatencyRun:
    world = await start_world()
    try:
        async with ServerProcess(server_spec(world, "latency_floor", None)) as port:
            return await measure(world, port, "floor (post at once)", args)
    finally:
        await stop_world(world)


async def run_bridge(kind: DbKind, args: argparse.Namespace) -> LatencyRun:
    async with world_and_db(kind) as (world, db):
        profile = profile_path(args.profile, f"latency-{kind}")
        async with ServerProcess(server_spec(world, "bridge", db, profile)) as port:
            return await measure(world, port, f"smsbridge {kind}", args)


async def main(args: argparse.Namespace) -> int:
    count = round(args.rate * args.duration)
    print(
        f"{count} texts from {args.conversations} conversations at {args.rate:g} texts/s for {args.duration:g} s"
        " (open loop); webhook POST -> chat.postMessage in the thread at a zero-latency FakeSlack"
    )
    runs = [await run_floor(args)]
    for kind in db_kinds(args.db):
        runs.append(await run_bridge(kind, args))

    print(f"\n  {'ms':<22}{'p50':>8}{'p90':>8}{'p99':>8}{'max':>8}  {'http p50':>8}   {'1st p50':>8}{'1st max':>8}  {'n':>5}")
    for run in runs:
        print(run.row())
    floor = runs[0]
    print(f"\n  targets for smsbridge: p50 < {TARGET_P50 * 1000:.0f} ms, p99 < {TARGET_P99 * 1000:.0f} ms")
    for run in runs[1:]:
        p50, p99 = percentile(run.latencies, 50), percentile(run.latencies, 99)
        verdict = "PASS" if p50 < TARGET_P50 and p99 < TARGET_P99 else "MISS"
        print(
            f"  {run.label:<22} p50 {p50 * 1000:6.1f} ms, p99 {p99 * 1000:6.1f} ms  {verdict}"
            f"   overhead above the floor: p50 +{(p50 - percentile(floor.latencies, 50)) * 1000:.1f} ms,"
            f" p99 +{(p99 - percentile(floor.latencies, 99)) * 1000:.1f} ms"
        )
    print("  (1st = a conversation's first, thread-opening text, untimed warm-up; http = webhook answer time)")
    failed = False
    for run in runs:
        lag = f"; schedule ran up to {run.max_send_lag * 1000:.0f} ms late" if run.max_send_lag > 0.010 else ""
        status = "OK" if not run.problems else "FAILED: " + "; ".join(run.problems)
        print(f"  correctness {run.label}: {status}{lag}")
        failed |= bool(run.problems)
    if args.profile:
        print(f"profiles of the smsbridge server: {args.profile}/latency-<db>.txt")
    return 1 if failed else 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--rate", type=float, default=20.0, help="texts per second, all conversations (default 20)")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of timed load (default 15)")
    parser.add_argument("--conversations", type=int, default=20, help="distinct senders (default 20)")
    parser.add_argument("--profile", metavar="DIR", help="profile the smsbridge server into DIR")
    args = parser.parse_args()
    if args.rate <= 0 or args.duration <= 0 or args.conversations < 1:
        parser.error("--rate, --duration and --conversations must be positive")
    if args.rate * args.duration > 5000:
        parser.error("at most 5000 texts per run (rate x duration)")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
