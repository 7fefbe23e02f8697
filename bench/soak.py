"""Soak: a steady stream of texts for minutes; memory must level off, the outbox keep up.

Method
    Signed inbound Twilio webhooks arrive at --rate texts/s (open loop: on schedule,
    whatever the answers do) from --senders customers for --minutes, into the real
    smsbridge (bench/common.py's server process, Slack over HTTP against a FakeSlack in
    this process). Every second the server's resident memory (VmRSS from /proc) is
    sampled. Each text's age in the outbox is the time from its webhook being sent to
    its post arriving in the customer's Slack thread.

    The first --warmup seconds (default: a quarter of the run, at most 2 minutes) fill
    caches, pools and the database; the baseline is the memory just after them (median of
    10 s of samples), compared with the memory at the end (median of the last 10 s).

Target
    - RSS growth after warm-up under 10 %;
    - outbox age p99 under 2 s for the texts sent after warm-up;
    - every text answered 200, in Slack once, none lost.

Usage
    python bench/soak.py [--minutes 10] [--rate 50] [--db sqlite|postgresql] [--senders 500]
                         [--warmup SECONDS]

Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    SMS_PATH,
    BenchSlack,
    LoadResult,
    ServerProcess,
    World,
    fresh_db,
    ms,
    percentile,
    post_webhook,
    sender_numbers,
    server_spec,
    signed_inbound,
    stop_world,
    token_text,
    wait_until,
)
from tests.harness import CHANNEL, NUMBER, PUBLIC_URL

RSS_GROWTH_MAX = 0.10
AGE_P99_MAX = 2.0
MAX_IN_FLIGHT = 200  # beyond this the server is not keeping up; the run says so
SETTLE = 10.0  # seconds of RSS samples a level is the median of


class SoakSlack(BenchSlack):
    """BenchSlack with its message lookups indexed: tens of thousands of posts stay cheap
    to serve, so the fake never becomes what is measured."""

    def __init__(self) -> None:
        super().__init__()
        self._by_ts: dict[tuple[str, str], dict[str, Any]] = {}
        self._replies: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def _store(self, channel: str, msg: dict[str, Any]) -> dict[str, Any]:
        stored = super()._store(channel, msg)
        self._by_ts[(channel, stored["ts"])] = stored
        if stored["thread_ts"] not in (None, stored["ts"]):
            self._replies.setdefault((channel, stored["thread_ts"]), []).append(stored)
        return stored

    def get(self, channel: str, ts: str) -> dict[str, Any] | None:
        return self._by_ts.get((channel, ts))

    def thread(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        return list(self._replies.get((channel, thread_ts), []))


@dataclass
class Soak:
    sent_at: dict[int, float] = field(default_factory=dict)  # text index -> perf_counter
    rss: list[tuple[float, int]] = field(default_factory=list)  # (seconds since start, kB)
    webhooks: LoadResult = field(default_factory=LoadResult)
    behind: int = 0  # sends started late because MAX_IN_FLIGHT were waiting


def rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


async def sample_rss(pid: int, soak: Soak, started: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        kb = rss_kb(pid)
        if kb is not None:
            soak.rss.append((time.perf_counter() - started, kb))
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except TimeoutError:
            pass


async def load(url: str, world: World, senders: list[str], args: argparse.Namespace, soak: Soak) -> int:
    """Send texts on schedule for the whole run; returns how many were sent."""
    loop = asyncio.get_running_loop()
    interval = 1.0 / args.rate
    duration = args.minutes * 60
    in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
    tasks: set[asyncio.Task[Any]] = set()
    timeout = aiohttp.ClientTimeout(total=15)  # Twilio's webhook timeout
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=MAX_IN_FLIGHT), timeout=timeout) as session:

        async def send(index: int) -> None:
            try:
                request = signed_inbound(world, token_text(index), senders[index % len(senders)])
                soak.sent_at[index] = time.perf_counter()
                await post_webhook(session, url, request, soak.webhooks)
            finally:
                in_flight.release()

        start = loop.time()
        index = 0
        while True:
            due = start + index * interval
            if due - start >= duration:
                break
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if in_flight.locked():
                soak.behind += 1
            await in_flight.acquire()
            task = asyncio.create_task(send(index))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            index += 1
            if index % args.rate == 0:
                # Inspection lists the fake keeps for tests: not needed here, and they grow.
                world.slack.calls.clear()
                world.slack.posts.clear()
        await asyncio.gather(*tasks)
    return index


def level(samples: list[tuple[float, int]], start: float, end: float) -> float:
    window = [kb for t, kb in samples if start <= t <= end]
    return statistics.median(window) if window else float("nan")


async def run(args: argparse.Namespace) -> int:
    world = World()
    world.slack = SoakSlack()
    await world.slack.start()
    await world.twilio.start()
    world.slack.set_channel(CHANNEL, "support")
    world.twilio.add_number(NUMBER, sms_url=f"{PUBLIC_URL}{SMS_PATH}")
    db = await fresh_db(args.db)
    soak = Soak()
    duration = args.minutes * 60
    warmup = args.warmup if args.warmup is not None else min(120.0, duration / 4)
    try:
        senders = sender_numbers(args.senders)
        server = ServerProcess(server_spec(world, "bridge", db))
        async with server as port:
            assert server.pid is not None
            url = f"http://127.0.0.1:{port}{SMS_PATH}"
            stop = asyncio.Event()
            started = time.perf_counter()
            sampler = asyncio.create_task(sample_rss(server.pid, soak, started, stop))
            sent = await load(url, world, senders, args, soak)
            load_ended = time.perf_counter() - started
            await wait_until(lambda: len(world.slack.arrivals) >= sent, timeout=30.0, interval=0.1)
            stop.set()
            await sampler
    finally:
        await db.drop()
        await stop_world(world)

    after_warmup = [i for i, t in soak.sent_at.items() if t - started >= warmup]
    ages = [world.slack.arrivals[i] - soak.sent_at[i] for i in after_warmup if i in world.slack.arrivals]
    baseline = level(soak.rss, warmup, warmup + SETTLE)
    final = level(soak.rss, load_ended - SETTLE, load_ended)
    peak = max((kb for t, kb in soak.rss if t >= warmup), default=0)
    growth = final / baseline - 1 if baseline > 0 else float("nan")
    p99 = percentile(ages, 99)
    missing = sent - len(world.slack.arrivals)
    dupes = sum(1 for count in world.slack.arrival_counts.values() if count > 1)
    bad = {s: c for s, c in soak.webhooks.statuses.items() if s != "200"}
    lat = soak.webhooks.latencies

    print(
        f"\n== {args.db}: {args.minutes:g} min at {args.rate} texts/s from {args.senders} customers"
        f" (warm-up {warmup:.0f} s)"
    )
    print(f"  texts sent {sent} ({sent / load_ended:.1f}/s achieved), late starts {soak.behind}, non-200 {bad or 0}")
    print(f"  webhook p50/p99 {ms(percentile(lat, 50)).strip()}/{ms(percentile(lat, 99)).strip()} ms")
    print(
        f"  outbox age (webhook -> Slack thread) after warm-up: p50 {ms(percentile(ages, 50)).strip()} ms,"
        f" p99 {ms(p99).strip()} ms, max {ms(max(ages, default=float('nan'))).strip()} ms"
        f"  (target p99 < {AGE_P99_MAX:g} s)"
    )
    print(
        f"  server RSS: after warm-up {baseline / 1024:.1f} MB, at the end {final / 1024:.1f} MB, peak {peak / 1024:.1f} MB"
        f" -> growth {growth * 100:+.1f} %  (target < {RSS_GROWTH_MAX * 100:.0f} %)"
    )
    trend = []
    for begin in range(0, int(load_ended), max(10, int(load_ended) // 6)):
        window = [world.slack.arrivals[i] - t for i, t in soak.sent_at.items() if i in world.slack.arrivals and begin <= t - started < begin + max(10, int(load_ended) // 6)]
        trend.append(f"{begin}s: {ms(percentile(window, 99)).strip()}")
    print("  outbox age p99 by time sent (ms): " + ", ".join(trend))
    rss_trend = [f"{int(t)}s: {kb / 1024:.0f}" for t, kb in soak.rss[:: max(1, len(soak.rss) // 8)]]
    print("  server RSS by time (MB): " + ", ".join(rss_trend))
    problems = []
    if not growth < RSS_GROWTH_MAX:
        problems.append(f"RSS grew {growth * 100:.1f} % after warm-up")
    if not p99 < AGE_P99_MAX:
        problems.append(f"outbox age p99 {p99:.2f} s")
    if missing:
        problems.append(f"{missing}/{sent} texts never reached Slack")
    if dupes:
        problems.append(f"{dupes} texts posted twice")
    if bad:
        problems.append(f"webhooks not answered 200: {bad}")
    if soak.behind:
        problems.append(f"{soak.behind} sends started late ({MAX_IN_FLIGHT} answers outstanding)")
    print("  " + ("PASS" if not problems else "FAIL: " + "; ".join(problems)))
    return 1 if problems else 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the run (default 10)")
    parser.add_argument("--rate", type=int, default=50, help="texts per second (default 50)")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--senders", type=int, default=500, help="distinct customers (default 500)")
    parser.add_argument("--warmup", type=float, help="seconds before memory counts (default: a quarter, at most 120)")
    args = parser.parse_args()
    if args.minutes <= 0 or args.rate < 1 or args.senders < 1:
        parser.error("--minutes, --rate and --senders must be positive")
    if args.warmup is not None and not 0 <= args.warmup < args.minutes * 60 - 2 * SETTLE:
        parser.error("--warmup must leave at least 20 s of the run")
    return args


def main() -> int:
    return asyncio.run(run(parse_args()))


if __name__ == "__main__":
    sys.exit(main())
