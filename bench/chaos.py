"""Chaos: several smsbridge processes on one database, one SIGKILLed every few seconds.

Method
    --procs real smsbridge processes (tests/bridge_process.py: the same SmsBridge as
    `smsbridge run`) share one fresh database (PostgreSQL by default) and the loopback
    fakes of Slack and Twilio in this process. --customers customers send --texts texts
    in all (each customer's one after another, as a phone does), spread over the live
    processes; once a customer's thread is in Slack, teammates answer with --replies
    replies in all. Every --kill-every seconds one process is killed with SIGKILL and
    started again. A webhook that fails because its process died is sent again to
    another one, as Twilio and Slack retry (same MessageSid, same event id).

    Reported: texts and replies lost, duplicated and out of order (all must be 0), the
    longest stall (a text's webhook answered -> the text in its Slack thread), and the
    throughput of texts into Slack. Exits 1 when anything is lost, duplicated or out of
    order, or the run does not finish within --timeout.

Usage
    python bench/chaos.py [--db postgresql|sqlite] [--procs 2] [--customers 100]
                          [--texts 2000] [--replies 400] [--kill-every 5] [--rate 40]
    The figures of issue 9 use --texts 10000 --replies 2000 (several minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from bench import common
from bench.common import fresh_db, sender_numbers, start_world, stop_world
from bridge.config import Settings
from bridge.inbox.db import migrate
from tests.bridge_process import BridgeProcess
from tests.fakes.signing import slack_headers, twilio_signature
from tests.harness import BUSINESS, CHANNEL, NUMBER, PUBLIC_URL

_TEXT = re.compile(r"^c(\d+) t(\d+) bench-(\d+)-")
_REPLY = re.compile(r"^c(\d+) r(\d+)$")


class Cluster:
    def __init__(self, settings: Settings, schema: str | None, size: int) -> None:
        self.settings, self.schema, self.size = settings, schema, size
        self.procs: list[BridgeProcess | None] = [None] * size
        self.kills = 0

    async def start(self) -> None:
        for slot in range(self.size):
            self.procs[slot] = await BridgeProcess(self.settings, self.schema).start(60)

    def alive(self) -> list[BridgeProcess]:
        return [p for p in self.procs if p is not None]

    async def chaos(self, every: float, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), every)
                return
            except TimeoutError:
                pass
            slot = random.randrange(self.size)
            victim, self.procs[slot] = self.procs[slot], None
            if victim is not None:
                await victim.kill()
                self.kills += 1
            self.procs[slot] = await BridgeProcess(self.settings, self.schema).start(60)

    async def stop(self) -> None:
        await asyncio.gather(*(p.stop() for p in self.alive()))


async def post(cluster: Cluster, http: aiohttp.ClientSession, path: str, data: Any, headers: dict[str, str]) -> None:
    """POST to any live process until one answers 200 (a provider's retries)."""
    while True:
        live = cluster.alive()
        if live:
            try:
                async with http.post(random.choice(live).url(path), data=data, headers=headers) as response:
                    if response.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
        await asyncio.sleep(0.2)


async def run(args: argparse.Namespace) -> int:
    world = await start_world()
    world.slack.add_user("UANA", "Ana")
    target = await fresh_db(args.db)
    db = target.open()
    await migrate(db)
    await db.dispose()
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=target.url, public_url=PUBLIC_URL,
        slack_bot_token=world.slack.bot_token, slack_signing_secret=world.slack.signing_secret,
        slack_api_url=world.slack.api_url, twilio_account_sid=world.twilio.account_sid,
        twilio_auth_token=world.twilio.auth_token, twilio_api_url=world.twilio.url,
        smsbridge_number=NUMBER, smsbridge_slack_channel=CHANNEL, smsbridge_business_name=BUSINESS,
        undo_seconds=0, outbox_retry_base=0.2, outbox_retry_max=2.0,
        # Every customer's thread is in one channel, which real Slack (and the pacer)
        # would hold to about a post a second: pacing is bench/pacing.py's; here the fake
        # Slack is not rate-limited, as in the other benchmarks.
        slack_post_interval=0.0,
    )
    cluster = Cluster(settings, target.schema, args.procs)
    senders = sender_numbers(args.customers)
    per_customer = args.texts // args.customers
    replies_per = args.replies // args.customers
    accepted: dict[int, float] = {}
    roots: dict[int, str] = {}
    stop = asyncio.Event()
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
    pace = asyncio.Semaphore(1)
    started = time.perf_counter()
    try:
        await cluster.start()
        killer = asyncio.create_task(cluster.chaos(args.kill_every, stop))

        async def texts_of(k: int) -> None:
            for i in range(per_customer):
                index = k * per_customer + i
                body = f"c{k} t{i} bench-{index}-{random.getrandbits(32):08x}"
                params = world.inbound_params(body, senders[k])
                signature = twilio_signature(world.twilio.auth_token, PUBLIC_URL + "/twilio/sms", params)
                async with pace:  # the overall rate: one webhook per 1/rate seconds
                    await asyncio.sleep(1 / args.rate)
                await post(cluster, http, "/twilio/sms", aiohttp.FormData(params), {"X-Twilio-Signature": signature})
                accepted[index] = time.perf_counter()

        async def replies_of(k: int) -> None:
            while k not in roots:
                await asyncio.sleep(0.2)
                for root in world.slack.messages(CHANNEL):
                    texts = [m["text"] or "" for m in world.slack.thread(CHANNEL, root["ts"])]
                    if any(t.startswith(f"c{k} t") for t in texts):
                        roots[k] = root["ts"]
            await asyncio.sleep(1.0)  # a teammate answers a thread once smsbridge recorded it
            for j in range(replies_per):
                event = world.teammate_event(roots[k], f"!r c{k} r{j}")
                raw = json.dumps(world.slack.make_event_callback(event, event_id=f"Ev{k}x{j}"))
                headers = {"Content-Type": "application/json", **slack_headers(world.slack.signing_secret, raw, None)}
                await post(cluster, http, "/slack/events", raw, headers)
                await asyncio.sleep(random.uniform(0.2, 1.0))

        await asyncio.gather(*(texts_of(k) for k in range(args.customers)), *(replies_of(k) for k in range(args.customers)))
        total_texts, total_replies = per_customer * args.customers, replies_per * args.customers

        def delivered() -> bool:
            return len(world.slack.arrivals) >= total_texts and len(world.twilio.messages) >= total_replies

        deadline = time.perf_counter() + args.timeout
        while not delivered() and time.perf_counter() < deadline:
            await asyncio.sleep(0.2)
        stop.set()
        await killer
        elapsed = time.perf_counter() - started
        return report(world, args, accepted, total_texts, total_replies, cluster.kills, elapsed, delivered())
    finally:
        stop.set()
        await http.close()
        await cluster.stop()
        await target.drop()
        await stop_world(world)


def report(world: Any, args: argparse.Namespace, accepted: dict[int, float], texts: int, replies: int,
           kills: int, elapsed: float, finished: bool) -> int:
    threads: dict[int, list[int]] = defaultdict(list)
    for root in world.slack.messages(CHANNEL):
        for message in world.slack.thread(CHANNEL, root["ts"]):
            found = _TEXT.match(message["text"] or "")
            if found:
                threads[int(found.group(1))].append(int(found.group(2)))
    posted = Counter((k, i) for k, seq in threads.items() for i in seq)
    text_dupes = sum(c - 1 for c in posted.values() if c > 1)
    text_lost = texts - len(posted)
    text_disorder = sum(1 for seq in threads.values() if [i for i in dict.fromkeys(seq)] != sorted(set(seq)))
    sent: dict[int, list[int]] = defaultdict(list)
    for message in world.twilio.messages:
        found = _REPLY.match(message.get("Body", ""))
        if found:
            sent[int(found.group(1))].append(int(found.group(2)))
    reply_count = Counter((k, j) for k, seq in sent.items() for j in seq)
    reply_dupes = sum(c - 1 for c in reply_count.values() if c > 1)
    reply_lost = replies - len(reply_count)
    reply_disorder = sum(1 for seq in sent.values() if [j for j in dict.fromkeys(seq)] != sorted(set(seq)))
    stalls = [world.slack.arrivals[i] - t for i, t in accepted.items() if i in world.slack.arrivals]
    print(f"\n== chaos on {args.db}: {args.procs} processes, SIGKILL every {args.kill_every:.0f} s ({kills} kills)")
    print(f"  texts:   {len(posted)}/{texts} in Slack, lost {text_lost}, duplicated {text_dupes}, out of order {text_disorder}")
    print(f"  replies: {len(reply_count)}/{replies} sent, lost {reply_lost}, duplicated {reply_dupes}, out of order {reply_disorder}")
    if stalls:
        print(f"  longest stall (webhook answered -> text in Slack): {max(stalls):.1f} s;"
              f" p50 {sorted(stalls)[len(stalls) // 2]:.2f} s")
    print(f"  throughput: {len(posted) / elapsed:.1f} texts/s into Slack over {elapsed:.0f} s")
    bad = text_lost or text_dupes or text_disorder or reply_lost or reply_dupes or reply_disorder or not finished
    print(f"  {'FAIL' if bad else 'PASS'} (target: nothing lost, duplicated or out of order)")
    return 1 if bad else 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--pg", help="PostgreSQL URL (default BENCH_DATABASE_URL or the local test server)")
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--replies", type=int, default=400)
    parser.add_argument("--kill-every", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=40.0, help="texts per second offered (default 40)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for delivery after the load")
    args = parser.parse_args()
    if args.pg:
        common.PG_URL = args.pg
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(run(parse_args())))
