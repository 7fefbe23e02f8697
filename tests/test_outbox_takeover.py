"""Outbox heads, takeover of a dead worker's jobs, and leases whose holder died.

The crash tests with real processes are in tests/test_outbox_processes.py; these drive
the pieces directly, including what a real crash on one machine cannot show: a worker
on *another* host that stops beating, and a live worker whose slow job is never taken.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text

from bridge.inbox.db import Database
from bridge.inbox.instances import machine_id
from bridge.inbox.lease import LeaseKeeper
from bridge.inbox.outbox import Job, Outbox, OutboxWorker
from tests.bridge_process import dead_pid

ELSEWHERE = "other-host/0123456789ab:4242:deadbeef"  # a worker on a machine we cannot look into


async def _enqueue(outbox: Outbox, db: Database, queue: str, n: int) -> None:
    async with db.sessions.begin() as session:
        for i in range(n):
            await outbox.enqueue(session, queue=queue, kind="test", payload={"i": i})


async def _owners(db: Database) -> list[Any]:
    async with db.engine.connect() as conn:
        return list((await conn.execute(text("SELECT owner FROM outbox_jobs WHERE state = 'running'"))).all())


async def test_jobs_of_a_worker_on_another_host_that_stops_beating_are_taken_over(db: Database) -> None:
    dead = Outbox(db, instance=ELSEWHERE)
    survivor = Outbox(db)
    runs: list[tuple[int, int]] = []
    done = asyncio.Event()

    async def handler(job: Job) -> None:
        runs.append((int(job.payload["i"]), job.attempts))
        if len(runs) == 3:
            done.set()

    survivor.register("test", handler)
    worker = OutboxWorker(survivor, heartbeat=0.05, dead_after=0.5)
    try:
        await _enqueue(dead, db, "q", 3)
        [held] = await dead.claim(5)  # then it dies: no heartbeat, no completion
        assert held.payload["i"] == 0
        await worker.start()
        await asyncio.wait_for(done.wait(), 10)
        await worker.drain(5)
        # The dead worker's job first (as a retry, so its handler reconciles), then the rest in order.
        assert runs == [(0, 2), (1, 1), (2, 1)]
        assert await _owners(db) == []
    finally:
        await worker.stop()
        dead.close()
        survivor.close()


async def test_a_slow_job_of_a_live_worker_is_never_taken(databases: Any, db: Database) -> None:
    other_db = databases.reopen()
    slow, watcher = Outbox(db), Outbox(other_db)
    started, release = asyncio.Event(), asyncio.Event()
    runs: list[str] = []

    async def slow_handler(job: Job) -> None:
        runs.append("slow")
        started.set()
        await release.wait()

    async def watcher_handler(job: Job) -> None:
        runs.append("watcher")

    slow.register("test", slow_handler)
    watcher.register("test", watcher_handler)
    slow_worker = OutboxWorker(slow, heartbeat=0.05, dead_after=0.3)
    watcher_worker = OutboxWorker(watcher, heartbeat=0.05, dead_after=0.3)
    try:
        await slow_worker.start()
        await _enqueue(slow, db, "q", 1)
        await asyncio.wait_for(started.wait(), 5)
        await watcher_worker.start()
        # The watcher looks at the slow worker for many times its dead_after.
        beats_then = watcher_worker.takeover._seen.get(slow.instance, (0, 0.0))[0]

        async def watched_long() -> bool:
            async with other_db.engine.connect() as conn:
                beats = (await conn.execute(text("SELECT beats FROM outbox_instances WHERE id = :i"), {"i": slow.instance})).scalar_one()
            return int(beats) >= beats_then + 30  # 30 beats of 50 ms: 5x dead_after

        while not await watched_long():
            await asyncio.sleep(0.05)
        assert runs == ["slow"]
        assert [o[0] for o in await _owners(db)] == [slow.instance]
        release.set()
        await slow_worker.drain(5)
        assert runs == ["slow"]
    finally:
        release.set()
        await watcher_worker.stop()
        await slow_worker.stop()
        slow.close()
        watcher.close()
        await other_db.dispose()


async def test_a_restarted_process_takes_over_its_dead_predecessor_at_once(db: Database) -> None:
    """Same machine, pid gone (SIGKILL, OOM kill): no need to wait for missed heartbeats."""
    dead = Outbox(db, instance=f"{machine_id()}:{dead_pid()}:cafecafe")
    restarted = Outbox(db)
    ran = asyncio.Event()

    async def handler(job: Job) -> None:
        ran.set()

    restarted.register("test", handler)
    worker = OutboxWorker(restarted, heartbeat=60.0, dead_after=60.0)  # only the pid can tell
    try:
        await _enqueue(dead, db, "q", 1)
        assert len(await dead.claim(1)) == 1
        await worker.start()
        await asyncio.wait_for(ran.wait(), 5)
    finally:
        await worker.stop()
        dead.close()
        restarted.close()


async def test_jobs_committed_by_a_process_that_died_before_marking_them_still_run(db: Database) -> None:
    producer = Outbox(db)  # commits jobs, then dies before its dispatcher marks them as heads
    consumer = Outbox(db)
    seen: list[int] = []

    async def handler(job: Job) -> None:
        seen.append(int(job.payload["i"]))

    consumer.register("test", handler)
    await _enqueue(producer, db, "q", 3)
    producer.close()
    assert await consumer.claim(5) == []  # not heads yet: only their producer knows of them
    worker = OutboxWorker(consumer)
    try:
        await worker.start()  # its start-up repair marks them
        await worker.drain(5)
        assert seen == [0, 1, 2]
    finally:
        await worker.stop()
        consumer.close()


async def test_a_job_queued_while_its_queue_empties_in_another_process_is_never_stranded(databases: Any, db: Database) -> None:
    """Completing the last job of a queue races with committing the next one elsewhere:
    whichever commits second must still leave the new job a head that runs."""
    other_db = databases.reopen()
    finisher, producer = Outbox(db), Outbox(other_db)
    try:
        for round_ in range(40):
            await _enqueue(finisher, db, f"q{round_}", 1)
            [job] = await finisher.claim(1)

            async def produce(queue: str = f"q{round_}") -> None:
                await _enqueue(producer, other_db, queue, 1)

            await asyncio.gather(finisher.complete(job), produce())
            # Each side marks what it can after its own commit; then the job must be due.
            await producer.claim(0)
            [nxt] = await finisher.claim(1)
            assert nxt.queue == f"q{round_}" and nxt.payload == {"i": 0}
            await finisher.complete(nxt)
    finally:
        finisher.close()
        producer.close()
        await other_db.dispose()


async def test_a_queue_emptied_while_a_job_is_committed_elsewhere_gets_its_head_after_the_commit(
    databases: Any, db: Database
) -> None:
    """The other order of the race above: the finisher's transaction is still open while
    the producer commits and looks, so only the finisher's look after its commit can
    mark the new job. (PostgreSQL only: SQLite lets one writer at a time, so the
    producer could not commit inside the finisher's transaction at all.)"""
    if databases.backend != "postgresql":
        pytest.skip("needs concurrent writers (PostgreSQL)")
    other_db = databases.reopen()
    finisher, producer = Outbox(db), Outbox(other_db)
    try:
        await _enqueue(finisher, db, "q", 1)
        [job] = await finisher.claim(1)
        async with db.sessions.begin() as session:
            await finisher.complete_in(session, job)  # finds no next job: none committed yet
            await _enqueue(producer, other_db, "q", 1)
            await producer.claim(0)  # the producer's look: the finished job still seems open
        [nxt] = await finisher.claim(1)
        assert nxt.queue == "q" and nxt.id > job.id
    finally:
        finisher.close()
        producer.close()
        await other_db.dispose()


async def test_the_claim_reads_only_heads_and_takes_downstream_work_before_intake(db: Database) -> None:
    outbox = Outbox(db)
    try:
        async with db.sessions.begin() as session:
            await outbox.enqueue(session, queue="in:1", kind="sms.inbound", payload={})
            for i in range(3):
                await outbox.enqueue(session, queue="slack:conv:1", kind="slack.message", payload={"i": i})
            await outbox.enqueue(session, queue="slack:conv:2", kind="slack.message", payload={"i": 9}, delay=60)
        jobs = await outbox.claim(10)
        # One head per queue, the delayed one not yet, chat work before filing new texts.
        assert [(j.queue, j.kind) for j in jobs] == [("slack:conv:1", "slack.message"), ("in:1", "sms.inbound")]
        async with db.engine.connect() as conn:
            heads = (await conn.execute(text("SELECT queue FROM outbox_jobs WHERE head IS NOT NULL"))).all()
        assert [h[0] for h in heads] == ["slack:conv:2"]
        assert 55 < (await outbox.seconds_until_due() or 0) <= 60
    finally:
        outbox.close()


async def test_a_lease_whose_holder_died_on_this_machine_is_taken_at_once(db: Database) -> None:
    dead = LeaseKeeper(db, "gateway", ttl=600, holder=f"{machine_id()}:{dead_pid()}:0badf00d")
    heir = LeaseKeeper(db, "gateway", ttl=600)
    try:
        assert await dead.try_acquire()
        await dead.stop(release=False)  # dies: on PostgreSQL its advisory lock goes with its connection
        assert await heir.try_acquire()  # long before the 600 s would run out
    finally:
        await heir.stop()


async def test_a_lease_of_a_live_holder_is_not_taken(databases: Any, db: Database) -> None:
    other_db = databases.reopen()
    holder = LeaseKeeper(db, "gateway", ttl=600)
    other = LeaseKeeper(other_db, "gateway", ttl=600)
    try:
        assert await holder.try_acquire()
        assert not await other.try_acquire()
        assert await holder.try_acquire()  # renewing is still possible
    finally:
        await other.stop()
        await holder.stop()
        await other_db.dispose()
