"""Several real smsbridge processes on one database, and crashes (SIGKILL) among them.

Each process is a child running the same SmsBridge as `smsbridge run`
(tests/bridge_process.py), against the loopback fakes of Slack and Twilio in this
test process. What a user sees is checked: every text in its Slack thread once and
in order, every reply sent once and in order, and after a crash, within 15 seconds.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text

from bridge.inbox.db import Database, migrate
from tests.bridge_process import BridgeProcess
from tests.fakes.signing import slack_headers, twilio_signature
from tests.harness import CHANNEL, NUMBER, PUBLIC_URL, Harness

TAKEOVER_SECONDS = 15.0
_TEXT = re.compile(r"^c(\d+) text (\d+)$")
_REPLY = re.compile(r"^c(\d+) reply (\d+)$")


def customer(k: int) -> str:
    return f"+1415555{k + 200:04d}"


class World:
    """The fakes (from tests/harness.py), one migrated database, and bridge processes."""

    def __init__(self, databases: Any) -> None:
        self.databases = databases
        self.harness = Harness(databases)
        self.slack = self.harness.slack
        self.twilio = self.harness.twilio
        self.db: Database | None = None
        self.procs: list[BridgeProcess] = []
        self.warm: list[BridgeProcess] = []  # launched (importing) but not serving yet
        self.http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        h = self.harness
        await h.slack.start()
        await h.twilio.start()
        h.slack.set_channel(CHANNEL, "support")
        h.slack.add_user("UANA", "Ana")
        h.twilio.add_number(NUMBER, sms_url=f"{PUBLIC_URL}/twilio/sms")
        self.db = await self.databases.new()
        # Every test here runs two processes: both import while the database migrates.
        self.warm = [await self._process().launch() for _ in range(2)]
        await migrate(self.db)  # once, before the processes start
        self.http = aiohttp.ClientSession()

    def _process(self) -> BridgeProcess:
        schema = self.databases.schemas[-1] if self.databases.backend == "postgresql" else None
        return BridgeProcess(self.harness.make_settings(), schema)

    async def spawn(self) -> BridgeProcess:
        """A new smsbridge process serving on this database (one launched early, if any)."""
        proc = self.warm.pop(0) if self.warm else await self._process().launch()
        self.procs.append(proc)
        return await proc.serve()

    async def stop(self) -> None:
        await asyncio.gather(*(p.stop() for p in [*self.procs, *self.warm]))
        if self.http is not None:
            await self.http.close()
        if self.db is not None:
            await self.db.dispose()
        await self.slack.stop()
        await self.twilio.stop()

    # -- what the platforms send ----------------------------------------------

    async def text_in(self, proc: BridgeProcess, body: str, sender: str) -> None:
        assert self.http is not None
        params = self.harness.inbound_params(body, sender)
        signature = twilio_signature(self.twilio.auth_token, PUBLIC_URL + "/twilio/sms", params)
        async with self.http.post(
            proc.url("/twilio/sms"), data=aiohttp.FormData(params), headers={"X-Twilio-Signature": signature}
        ) as response:
            assert response.status == 200, await response.text()

    async def reply(self, proc: BridgeProcess, root_ts: str, body: str) -> None:
        assert self.http is not None
        envelope = self.slack.make_event_callback(self.harness.teammate_event(root_ts, f"!r {body}"))
        raw = json.dumps(envelope)
        headers = {"Content-Type": "application/json", **slack_headers(self.slack.signing_secret, raw, None)}
        async with self.http.post(proc.url("/slack/events"), data=raw, headers=headers) as response:
            assert response.status == 200, await response.text()

    # -- what a user sees -----------------------------------------------------

    def threads(self) -> dict[int, tuple[str, list[str]]]:
        """Customer number k -> (root ts, the customer's texts in thread order)."""
        found: dict[int, tuple[str, list[str]]] = {}
        replies = self.slack.replies_by_thread(CHANNEL)  # polled: one pass, not one per thread
        for root in self.slack.messages(CHANNEL):
            texts = [m["text"] for m in replies.get(root["ts"], []) if _TEXT.match(m["text"] or "")]
            if texts:
                k = int(_TEXT.match(texts[0]).group(1))  # type: ignore[union-attr]
                assert k not in found, f"customer {k} has two threads"
                found[k] = (root["ts"], texts)
        return found

    def posted_texts(self) -> Counter[str]:
        return Counter(t for _, texts in self.threads().values() for t in texts)

    def sent(self) -> dict[str, list[str]]:
        by_customer: dict[str, list[str]] = defaultdict(list)
        for message in self.twilio.messages:
            by_customer[message["To"]].append(message["Body"])
        return by_customer

    async def rows(self, sql: str) -> list[Any]:
        assert self.db is not None
        async with self.db.engine.connect() as conn:
            return list((await conn.execute(text(sql))).all())


@pytest.fixture
async def world(databases: Any) -> AsyncIterator[World]:
    w = World(databases)
    await w.start()
    yield w
    await w.stop()


def assert_in_order(expected: dict[int, list[str]], seen: dict[int, list[str]]) -> None:
    for k, texts in expected.items():
        assert seen.get(k) == texts, f"customer {k}: {seen.get(k)} != {texts}"


async def test_two_processes_post_and_send_each_message_once_in_order(world: World) -> None:
    a = await world.spawn()  # one after the other: concurrent first starts race in InboxDirectory.sync
    b = await world.spawn()
    customers, per_customer = 50, 10  # 500 texts, each customer's alternating between the processes

    async def texts_of(k: int) -> None:
        for i in range(per_customer):
            await world.text_in((a, b)[(k + i) % 2], f"c{k} text {i}", customer(k))

    await asyncio.gather(*(texts_of(k) for k in range(customers)))
    expected = {k: [f"c{k} text {i}" for i in range(per_customer)] for k in range(customers)}
    await world.slack.wait_for(lambda: sum(world.posted_texts().values()) >= customers * per_customer, 60, "all texts posted")
    posted = world.posted_texts()
    assert max(posted.values()) == 1 and len(posted) == customers * per_customer
    threads = world.threads()
    assert_in_order(expected, {k: texts for k, (_, texts) in threads.items()})

    # A thread is answered once smsbridge recorded it, as a teammate would see it.
    await world.slack.wait_for(
        lambda: len(world.slack.messages(CHANNEL)) == customers, message="one card per customer"
    )

    async def recorded() -> bool:
        return len(await world.rows("SELECT 1 FROM thread_links")) == customers

    await world.slack.wait_for(recorded, message="threads recorded")
    replies = 4  # 200 replies, alternating between the processes

    async def replies_to(k: int) -> None:
        root_ts = threads[k][0]
        for j in range(replies):
            await world.reply((a, b)[(k + j) % 2], root_ts, f"c{k} reply {j}")

    await asyncio.gather(*(replies_to(k) for k in range(customers)))
    await world.twilio.wait_for(lambda: len(world.twilio.messages) >= customers * replies, 60, "all replies sent")
    sent = world.sent()
    for k in range(customers):
        assert sent[customer(k)] == [f"c{k} reply {j}" for j in range(replies)]
    assert len(world.twilio.messages) == customers * replies
    await asyncio.sleep(0)  # nothing more: every job done, none dead
    assert await world.rows("SELECT kind, state FROM outbox_jobs WHERE state = 'dead'") == []


async def _hold_jobs_then_kill(world: World, victim: BridgeProcess, customers: int) -> tuple[dict[int, list[str]], dict[int, list[str]], float]:
    """Texts and replies through `victim` with slow platforms; SIGKILL it while it holds jobs."""
    first = {k: [f"c{k} text 0"] for k in range(customers)}
    await asyncio.gather(*(world.text_in(victim, f"c{k} text 0", customer(k)) for k in range(customers)))

    async def recorded() -> bool:
        return len(await world.rows("SELECT 1 FROM thread_links")) == customers and len(world.threads()) == customers

    await world.slack.wait_for(recorded, 20, "threads recorded")
    roots = {k: ts for k, (ts, _) in world.threads().items()}
    world.slack.latency = 0.3
    world.twilio.answer_latency = 0.3
    texts = {k: [*first[k], *(f"c{k} text {i}" for i in range(1, 4))] for k in range(customers)}
    replies = {k: [f"c{k} reply {j}" for j in range(2)] for k in range(customers)}

    async def traffic(k: int) -> None:
        for i in range(1, 4):
            await world.text_in(victim, f"c{k} text {i}", customer(k))
        for body in replies[k]:
            await world.reply(victim, roots[k], body)

    await asyncio.gather(*(traffic(k) for k in range(customers)))

    async def holding_a_send() -> bool:
        # A reply handed to Twilio whose answer has not come back, among other jobs.
        running = await world.rows(f"SELECT kind FROM outbox_jobs WHERE state = 'running' AND owner LIKE '%:{victim.pid}:%'")
        return bool(world.twilio.messages) and "sms.send" in {r[0] for r in running} and len(running) >= 3

    await world.twilio.wait_for(holding_a_send, 20, "the victim holding jobs, a send among them")
    await victim.kill()
    return texts, replies, time.monotonic()


async def _finished_within_takeover(world: World, texts: dict[int, list[str]], replies: dict[int, list[str]], killed_at: float) -> None:
    want_texts = sum(len(v) for v in texts.values())
    want_replies = sum(len(v) for v in replies.values())

    def done() -> bool:
        return sum(world.posted_texts().values()) >= want_texts and len(world.twilio.messages) >= want_replies

    await world.slack.wait_for(done, TAKEOVER_SECONDS + 5, "every text posted and every reply sent")
    took = time.monotonic() - killed_at
    assert took <= TAKEOVER_SECONDS, f"took {took:.1f} s after the crash"
    assert max(world.posted_texts().values()) == 1
    assert_in_order(texts, {k: t for k, (_, t) in world.threads().items()})
    sent = world.sent()
    for k, bodies in replies.items():
        assert sent[customer(k)] == bodies  # each once (reconciled, not resent), in order
    assert await world.rows("SELECT kind FROM outbox_jobs WHERE state = 'dead'") == []


async def test_sigkill_jobs_are_finished_by_a_restarted_process_within_seconds(world: World) -> None:
    """One process (the SQLite deployment): killed while holding jobs, restarted on the same database."""
    victim = await world.spawn()
    texts, replies, killed_at = await _hold_jobs_then_kill(world, victim, customers=6)
    await world.spawn()  # the restart
    await _finished_within_takeover(world, texts, replies, killed_at)


async def test_sigkill_jobs_are_finished_by_the_surviving_process_within_seconds(world: World) -> None:
    """Two processes: one is killed while holding jobs; the other finishes them."""
    victim = await world.spawn()
    await world.spawn()  # the survivor
    texts, replies, killed_at = await _hold_jobs_then_kill(world, victim, customers=6)
    await _finished_within_takeover(world, texts, replies, killed_at)
