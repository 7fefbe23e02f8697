"""Ingest throughput: signed inbound Twilio webhooks per second, smsbridge vs a floor.

Method
    N signed inbound-SMS webhooks (POST /twilio/sms, the form tests/harness.py builds,
    signed with tests/fakes/signing.twilio_signature against PUBLIC_URL) are sent over
    loopback with a fixed number in flight (default 50, one aiohttp client session),
    from many distinct valid US senders, after an untimed warm-up. Two servers take
    the same load, each alone in a child process, on a fresh database of the same kind:

    - smsbridge: the real `bridge.app.SmsBridge`, Slack configured against a FakeSlack
      in the parent process, so its outbox workers really post cards and texts while
      the webhooks come in, as in production;
    - the floor: a bare aiohttp handler that reads the form, checks the signature with
      twilio's RequestValidator and inserts one row (SQLite: one aiosqlite connection in
      WAL mode; PostgreSQL: an asyncpg pool) — the least any correct service must do.

    Reported: requests/s, p50 and p99 latency of each, the ratio smsbridge/floor, and
    the drain: how many texts were still waiting for Slack when the HTTP load ended, how
    long until every text was posted into its Slack thread (waited for at most
    --drain-timeout seconds), and the rate of that drain in texts and in chat posts per
    second. Then the database is checked: smsbridge stored every MessageSid sent exactly
    once, and FakeSlack received each text exactly once.

Targets (issue 9), on SQLite and on PostgreSQL
    - the webhook: throughput smsbridge/floor >= 0.7 and p99 <= 2x the floor's, while
      the workers deliver;
    - the drain: 500 chat posts a second or more (`--n 10000 --senders 10000` is the
      issue's burst of 10,000 texts from new senders);
    - every text in Slack, once (a run where any text is missing when the drain times
      out, or one is posted twice, FAILS: exit 1). A missed target prints MISS.

Usage
    python bench/ingest.py [--n 2000] [--db sqlite|postgresql|both] [--concurrency 50]
                           [--senders 500] [--warmup 100] [--drain-timeout 120]
                           [--profile DIR] [--without-slack]

    --profile writes a profile of the smsbridge server process (pyinstrument if
    installed, else cProfile) to DIR. Exits 1 when a correctness check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    SMS_PATH,
    DbKind,
    DbTarget,
    LoadResult,
    Role,
    ServerProcess,
    closed_loop,
    db_kinds,
    fresh_db,
    ms,
    percentile,
    profile_path,
    query,
    sender_numbers,
    server_spec,
    signed_inbound,
    start_world,
    stop_world,
    token_text,
    wait_until,
)

TARGET_RATIO = 0.7
TARGET_P99_FACTOR = 2.0
TARGET_POSTS_PER_S = 500.0
LABELS = {"ingest_floor": "floor", "bridge": "smsbridge"}


@dataclass
class Run:
    role: Role
    kind: DbKind
    load: LoadResult
    posted: int = 0  # smsbridge: texts that reached their Slack thread
    posted_after: float | None = None  # smsbridge: load start -> last of them in Slack
    backlog: int = 0  # smsbridge: texts not yet in Slack when the HTTP load ended
    drain: float | None = None  # smsbridge: load end -> last text in Slack
    chat_posts: int = 0  # every chat.postMessage of the drain (cards and texts)
    cpu_load: float | None = None  # server CPU seconds during the HTTP load
    cpu_total: float | None = None  # server CPU seconds from load start to the last text in Slack
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        lat = self.load.latencies
        return (
            f"  {LABELS[self.role]:<10} {self.load.rate:9.0f} {ms(percentile(lat, 50))} {ms(percentile(lat, 99))}"
            f"  ok={self.load.ok}" + ("" if set(self.load.statuses) <= {"200"} else f" statuses={dict(self.load.statuses)}")
        )


async def run_one(role: Role, kind: DbKind, args: argparse.Namespace) -> Run:
    world = await start_world()
    db = await fresh_db(kind)
    try:
        senders = sender_numbers(args.senders)
        total = args.warmup + args.n
        requests = [signed_inbound(world, token_text(i), senders[i % len(senders)]) for i in range(total)]
        profile = profile_path(args.profile, f"ingest-{kind}") if role == "bridge" else None
        spec = server_spec(world, role, db, profile, with_slack=not args.without_slack)
        server = ServerProcess(spec)
        async with server as port:
            url = f"http://127.0.0.1:{port}{SMS_PATH}"
            await closed_loop(url, requests[: args.warmup], args.concurrency)
            started = time.perf_counter()
            cpu_start = server.cpu_seconds()
            load = await closed_loop(url, requests[args.warmup :], args.concurrency)
            run = Run(role, kind, load)
            cpu_end = server.cpu_seconds()
            if cpu_start is not None and cpu_end is not None:
                run.cpu_load = cpu_end - cpu_start
            if role == "bridge" and not args.without_slack:
                load_end = time.perf_counter()
                run.backlog = total - len(world.slack.arrivals)
                posts_at_end = len(world.slack.posts)
                # Bounded: a drain that does not finish in time fails the run.
                await wait_until(lambda: len(world.slack.arrivals) >= total, timeout=args.drain_timeout)
                run.posted = len(world.slack.arrivals)
                cpu_drained = server.cpu_seconds()
                if cpu_start is not None and cpu_drained is not None:
                    run.cpu_total = cpu_drained - cpu_start
                if run.posted:
                    last = max(world.slack.arrivals.values())
                    run.posted_after = last - started
                    run.drain = max(0.0, last - load_end)
                    run.chat_posts = len(world.slack.posts) - posts_at_end
                if run.posted < total:
                    run.problems.append(f"only {run.posted}/{total} texts in Slack {args.drain_timeout:.0f} s after the load")
        await check(run, db, {r.sid for r in requests}, world.slack.arrival_counts)
        return run
    finally:
        await db.drop()
        await stop_world(world)


def _sid_of(payload: object) -> str:
    data = json.loads(payload) if isinstance(payload, str) else payload
    return str(data["sid"])  # type: ignore[index]


async def check(run: Run, db: DbTarget, sids: set[str], slack_counts: Counter[int]) -> None:
    """Every webhook stored exactly once (and, for smsbridge, posted to Slack exactly once)."""
    bad = {s: c for s, c in run.load.statuses.items() if s != "200"}
    if bad:
        run.problems.append(f"non-200 answers: {bad}")
    if run.role == "bridge":
        # A text is durable once accepted: filed as a message, or still waiting in its
        # `sms.inbound` job (smsbridge answers the webhook after that commit).
        stored = [row[0] for row in await query(db, "SELECT provider_sid FROM messages WHERE direction = 'in'")]
        waiting = await query(db, "SELECT dedupe_key, payload FROM outbox_jobs WHERE kind = 'sms.inbound'")
        stored += [_sid_of(payload) for _, payload in waiting if _sid_of(payload) not in stored]
        leftover = await query(db, "SELECT state, kind, count(*) FROM outbox_jobs GROUP BY state, kind")
        if leftover:
            run.notes.append(f"outbox jobs still open when stopped: {sorted(tuple(row) for row in leftover)}")
        dupes = sum(1 for c in slack_counts.values() if c > 1)
        if dupes:
            run.problems.append(f"{dupes} texts posted to Slack more than once")
    else:
        stored = [row[0] for row in await query(db, "SELECT sid FROM messages")]
    if len(stored) != len(set(stored)):
        run.problems.append(f"{len(stored) - len(set(stored))} duplicate rows")
    if set(stored) != sids:
        run.problems.append(f"stored {len(set(stored) & sids)}/{len(sids)} sent sids, {len(set(stored) - sids)} unknown")


def _per_request(run: Run, n: int) -> str:
    return "?" if run.cpu_load is None else f"{1000 * run.cpu_load / n:.2f} ms/request"


def targets(floor: Run, bridge: Run, args: argparse.Namespace) -> list[tuple[str, bool]]:
    """Each target of issue 9 this run measured, and whether it was met."""
    ratio = bridge.load.rate / floor.load.rate if floor.load.rate else 0.0
    p99, floor_p99 = percentile(bridge.load.latencies, 99), percentile(floor.load.latencies, 99)
    met = [
        (f"throughput {ratio:.2f} of the floor (>= {TARGET_RATIO})", ratio >= TARGET_RATIO),
        (
            f"p99 {p99 * 1000:.1f} ms = {p99 / floor_p99:.1f}x the floor's {floor_p99 * 1000:.1f} ms (<= {TARGET_P99_FACTOR:g}x)",
            p99 <= TARGET_P99_FACTOR * floor_p99,
        ),
    ]
    if not args.without_slack:
        rate = bridge.chat_posts / bridge.drain if bridge.drain else 0.0
        met.append((f"drain {rate:.0f} chat posts/s (>= {TARGET_POSTS_PER_S:.0f})", rate >= TARGET_POSTS_PER_S))
    return met


def report(kind: DbKind, floor: Run, bridge: Run, args: argparse.Namespace) -> list[tuple[str, bool]]:
    print(f"\n== {kind}: {args.n} webhooks (+{args.warmup} warm-up), {args.concurrency} in flight, {args.senders} senders")
    print(f"  {'':<10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    print(floor.line())
    print(bridge.line())
    total = args.n + args.warmup
    if args.without_slack:
        print("  smsbridge ran WITHOUT Slack (--without-slack): webhook path only, no outbox work")
    elif bridge.posted == total and bridge.posted_after is not None and bridge.drain is not None:
        print(
            f"  smsbridge to Slack: all {total} texts in their threads {bridge.posted_after:.1f} s after the timed"
            f" load began (its HTTP part took {bridge.load.elapsed:.1f} s) -> {args.n / bridge.posted_after:.0f}"
            " texts/s end to end"
        )
        if bridge.backlog and bridge.drain > 0:
            print(
                f"  drain: {bridge.backlog} texts waiting when the load ended, all posted {bridge.drain:.1f} s later:"
                f" {bridge.backlog / bridge.drain:.0f} texts/s, {bridge.chat_posts / bridge.drain:.0f} chat posts/s"
            )
        else:
            print("  drain: nothing was waiting when the load ended (the outbox kept up)")
    else:
        print(
            f"  smsbridge to Slack: only {bridge.posted}/{total} texts in their threads {args.drain_timeout:.0f} s after"
            f" the HTTP load ended (outbox backlog; HTTP part took {bridge.load.elapsed:.1f} s)"
        )
    if bridge.cpu_total is not None and bridge.posted == total:
        # The warm-up's texts are part of the drain: per text of all of them.
        print(
            f"  server CPU: {1000 * bridge.cpu_total / total:.2f} ms per text from webhook to Slack"
            f" ({bridge.cpu_total:.1f} s for {total} texts); during the HTTP load: floor {_per_request(floor, args.n)},"
            f" smsbridge {_per_request(bridge, args.n)} (its workers posting meanwhile)"
        )
    for run in (floor, bridge):
        status = "OK (every MessageSid stored once" + (", no text posted twice)" if run.role == "bridge" else ")")
        if run.problems:
            status = "FAILED: " + "; ".join(run.problems)
        print(f"  correctness {LABELS[run.role]}: {status}" + "".join(f"; note: {n}" for n in run.notes))
    met = targets(floor, bridge, args)
    for text, ok in met:
        print(f"  target: {text}  {'PASS' if ok else 'MISS'}")
    return met


async def main(args: argparse.Namespace) -> int:
    failed = False
    summary: list[str] = []
    for kind in db_kinds(args.db):
        floor = await run_one("ingest_floor", kind, args)
        bridge = await run_one("bridge", kind, args)
        met = report(kind, floor, bridge, args)
        failed |= bool(floor.problems or bridge.problems)
        drained = (
            f"   all {bridge.posted} in Slack, drain {bridge.drain:.1f} s"
            f" ({bridge.backlog / bridge.drain if bridge.drain else 0:.0f} texts/s,"
            f" {bridge.chat_posts / bridge.drain if bridge.drain else 0:.0f} chat posts/s)"
            if bridge.drain is not None and not bridge.problems
            else "   FAILED: " + "; ".join(bridge.problems)
            if bridge.problems
            else ""
        )
        missed = [text.split(" (")[0] for text, ok in met if not ok]
        verdict = "FAIL" if bridge.problems else "MISS: " + ", ".join(missed) if missed else "PASS"
        ratio = bridge.load.rate / floor.load.rate if floor.load.rate else 0.0
        cpu = (
            f"   server CPU {1000 * bridge.cpu_total / (args.n + args.warmup):.2f} ms/text"
            if bridge.cpu_total is not None and not bridge.problems
            else ""
        )
        summary.append(
            f"  {kind:<11} floor {floor.load.rate:6.0f} req/s   smsbridge {bridge.load.rate:6.0f} req/s"
            f"   ratio {ratio:.2f} ({verdict}){drained}{cpu}"
        )
    print(
        f"\nsummary (targets: webhook >= {TARGET_RATIO} of the floor with p99 <= {TARGET_P99_FACTOR:g}x its,"
        f" drain >= {TARGET_POSTS_PER_S:.0f} chat posts/s, every text in Slack once):"
    )
    print("\n".join(summary))
    if args.profile:
        print(f"profiles of the smsbridge server: {args.profile}/ingest-<db>.txt")
    return 1 if failed else 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="timed webhooks per server (default 2000)")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--concurrency", type=int, default=50, help="requests in flight (default 50)")
    parser.add_argument("--senders", type=int, default=500, help="distinct customer numbers (default 500)")
    parser.add_argument("--warmup", type=int, default=100, help="untimed webhooks first (default 100)")
    parser.add_argument(
        "--drain-timeout", type=float, default=120.0, help="seconds to wait for every text in Slack (default 120)"
    )
    parser.add_argument("--profile", metavar="DIR", help="profile the smsbridge server into DIR")
    parser.add_argument(
        "--without-slack",
        action="store_true",
        help="diagnostic: smsbridge with Slack unconfigured (no outbox jobs), to isolate the webhook path",
    )
    args = parser.parse_args()
    if args.n < 1 or args.concurrency < 1 or args.senders < 1 or args.warmup < 0:
        parser.error("--n, --concurrency and --senders must be positive, --warmup not negative")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
