"""Pacing: a burst of texts from several customers into one rate-limited Slack channel.

Method
    FakeSlack allows chat.postMessage at 1 post per --interval seconds per channel with
    a burst of --burst (a token bucket, as Slack does), and answers 429 + Retry-After
    beyond it. --customers customers send --texts texts each, interleaved, as signed
    Twilio webhooks one after another (a customer's next text after the previous one was
    answered, as Twilio does). The real smsbridge (bench/common.py's server process)
    opens one thread per customer and posts every text into it.

    Two runs on a fresh database each:
    - smsbridge as configured in production: it paces its own posts per channel;
    - the baseline: the same smsbridge with pacing off, relying on Slack's 429s alone.

    The theoretical minimum for N posts into one channel is (N - burst) * interval after
    the first text (the bucket starts full, then refills one post per interval), where N
    counts every post smsbridge made there (cards and texts).

Target (smsbridge run; the baseline is printed for comparison)
    - time from the first webhook to the last post within 1.2x the theoretical minimum;
    - every text in its customer's thread exactly once and in the order sent, so every
      429 was answered without loss; no outbox job dead or left open;
    - every webhook answered 200.

Usage
    python bench/pacing.py [--db sqlite|postgresql|both] [--customers 6] [--texts 5]
                           [--interval 1.0] [--burst 3] [--no-baseline]

Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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
    query,
    sender_numbers,
    server_spec,
    signed_inbound,
    token_index,
    token_text,
    wait_until,
    world_and_db,
)
from tests.harness import CHANNEL

TARGET = 1.2


@dataclass
class Run:
    label: str
    kind: DbKind
    posts: int = 0  # chat.postMessage calls Slack accepted in the channel
    refused: int = 0  # of them answered 429
    elapsed: float = float("nan")  # first webhook -> last post
    minimum: float = float("nan")
    webhooks: LoadResult = field(default_factory=LoadResult)
    problems: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.elapsed / self.minimum if self.minimum > 0 else float("nan")


async def run_one(kind: DbKind, paced: bool, args: argparse.Namespace) -> Run:
    run = Run("smsbridge" if paced else "baseline (no pacing, 429s only)", kind)
    async with world_and_db(kind) as (world, db):
        world.slack.rate_limit("chat.postMessage", per_channel_interval=args.interval, burst=args.burst)
        senders = sender_numbers(args.customers)
        order = [(c, i) for i in range(args.texts) for c in range(args.customers)]
        requests = [signed_inbound(world, token_text(n), senders[c]) for n, (c, _) in enumerate(order)]
        spec = dataclasses.replace(
            server_spec(world, "bridge", db),
            slack_post_interval=args.interval if paced else 0.0,
            slack_post_burst=max(1, args.burst - 1),
        )
        async with ServerProcess(spec) as port, aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}{SMS_PATH}"
            started = time.time()
            for request in requests:
                await post_webhook(session, url, request, run.webhooks)
            n_texts = len(requests)
            budget = (n_texts + args.customers) * args.interval * 4 + 10
            await wait_until(lambda: len(world.slack.arrivals) >= n_texts, timeout=budget, interval=0.05)
            # Let any straggler (a duplicate, a late card update) show before counting.
            await wait_until(lambda: False, timeout=min(2.0, args.interval * 2))
        posts = [p for p in world.slack.posts if p.get("channel") == CHANNEL]
        run.posts = len(posts)
        run.refused = sum(1 for method, channel, _ in world.slack.throttled if channel == CHANNEL)
        if posts:
            run.elapsed = max(float(p["ts"]) for p in posts) - started
        run.minimum = max(0, run.posts - args.burst) * args.interval
        check(run, world, [c for c, _ in order], n_texts)
        leftover = await query(db, "SELECT state, count(*) FROM outbox_jobs GROUP BY state")
        open_jobs = {state: count for state, count in leftover if state != "done"}
        if open_jobs:
            run.problems.append(f"outbox jobs left: {open_jobs}")
        return run


def check(run: Run, world: World, owner: list[int], n_texts: int) -> None:
    """`owner[n]` is the customer who sent text n; each customer sent theirs in index order."""
    bad = {s: c for s, c in run.webhooks.statuses.items() if s != "200"}
    if bad:
        run.problems.append(f"webhooks not answered 200: {bad}")
    missing = n_texts - len(world.slack.arrivals)
    if missing:
        run.problems.append(f"{missing}/{n_texts} texts never reached Slack")
    dupes = sum(1 for count in world.slack.arrival_counts.values() if count > 1)
    if dupes:
        run.problems.append(f"{dupes} texts posted more than once")
    # Read back from Slack: one thread per customer, holding only their texts, in order.
    roots = world.slack.messages(CHANNEL)
    if len(roots) != len(set(owner)):
        run.problems.append(f"{len(roots)} threads for {len(set(owner))} customers")
    for root in roots:
        texts = [t for t in (token_index(m["text"]) for m in world.slack.thread(CHANNEL, root["ts"])) if t is not None]
        if len({owner[t] for t in texts}) > 1:
            run.problems.append(f"thread {root['ts']} mixes customers")
        if texts != sorted(texts):
            run.problems.append(f"thread {root['ts']} out of order: {texts}")


def report(run: Run, args: argparse.Namespace, target: bool) -> bool:
    lat = run.webhooks.latencies
    ok = not run.problems and (not target or run.ratio <= TARGET)
    verdict = ("PASS" if ok else "FAIL") if target else ("ok" if not run.problems else "FAIL")
    print(
        f"  {run.label:<34} posts {run.posts:3d}  429s {run.refused:3d}  last post after {run.elapsed:6.1f} s"
        f"  minimum {run.minimum:5.1f} s  ratio {run.ratio:5.2f}"
        + (f" (target <= {TARGET})" if target else "")
        + f"  webhook p50/p99 {ms(percentile(lat, 50)).strip()}/{ms(percentile(lat, 99)).strip()} ms  {verdict}"
    )
    for problem in run.problems:
        print(f"    problem: {problem}")
    return ok


async def main(args: argparse.Namespace) -> int:
    failed = False
    for kind in db_kinds(args.db):
        print(
            f"\n== {kind}: {args.customers} customers x {args.texts} texts into one channel; Slack allows 1 post per"
            f" {args.interval:g} s per channel, burst {args.burst}"
        )
        paced = await run_one(kind, True, args)
        failed |= not report(paced, args, target=True)
        if not args.no_baseline:
            report(await run_one(kind, False, args), args, target=False)
    return 1 if failed else 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--customers", type=int, default=6)
    parser.add_argument("--texts", type=int, default=5, help="texts per customer (default 5)")
    parser.add_argument("--interval", type=float, default=1.0, help="Slack's seconds per post and channel (default 1)")
    parser.add_argument("--burst", type=int, default=3, help="Slack's burst per channel (default 3)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the run without pacing")
    args = parser.parse_args()
    if args.customers < 1 or args.texts < 1 or args.interval <= 0 or args.burst < 1:
        parser.error("--customers, --texts, --interval and --burst must be positive")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
