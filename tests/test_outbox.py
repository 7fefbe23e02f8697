"""The durable outbox on both databases: order per queue, one claim per job, wake-ups."""

from __future__ import annotations

import asyncio

from bridge.inbox.db import Database
from bridge.inbox.outbox import Job, Outbox, OutboxWorker, RetryLater
from tests.fakes.loopback import wait_until


async def _enqueue(outbox: Outbox, db: Database, queue: str, n: int, kind: str = "test") -> None:
    async with db.sessions.begin() as session:
        for i in range(n):
            await outbox.enqueue(session, queue=queue, kind=kind, payload={"i": i})


async def test_jobs_of_one_queue_run_in_order_even_with_retries(db: Database) -> None:
    outbox = Outbox(db, retry_base=0.01, retry_max=0.05)
    seen: list[tuple[str, int]] = []
    failed_once: set[int] = set()

    async def handler(job: Job) -> None:
        i = int(job.payload["i"])
        if i % 3 == 0 and i not in failed_once:
            failed_once.add(i)
            raise RetryLater("flaky")
        seen.append((job.queue, i))

    outbox.register("test", handler)
    worker = OutboxWorker(outbox, concurrency=4)
    await worker.start()
    try:
        await _enqueue(outbox, db, "a", 10)
        await _enqueue(outbox, db, "b", 10)
        await worker.drain()
    finally:
        await worker.stop()
        outbox.close()
    for queue in ("a", "b"):
        assert [i for q, i in seen if q == queue] == list(range(10))


async def test_two_processes_never_claim_the_same_job(db: Database, databases) -> None:  # type: ignore[no-untyped-def]
    first = Outbox(db)
    other_db = databases.reopen()
    second = Outbox(other_db)
    try:
        async with db.sessions.begin() as session:
            for i in range(40):
                await first.enqueue(session, queue=f"q{i}", kind="test", payload={"i": i})
        ids: list[int] = []
        for _ in range(20):  # rounds of concurrent claims from both "processes"
            claims = await asyncio.gather(*(o.claim(5) for o in (first, second) for _ in range(3)))
            batch = [job.id for claim in claims for job in claim]
            if not batch:
                break
            ids += batch
        assert len(ids) == len(set(ids)) == 40
    finally:
        first.close()
        second.close()
        await other_db.dispose()


async def test_dedupe_key_coalesces_pending_jobs(db: Database) -> None:
    outbox = Outbox(db)
    try:
        async with db.sessions.begin() as session:
            assert await outbox.enqueue(session, queue="q", kind="test", payload={}, dedupe_key="card:1")
            assert not await outbox.enqueue(session, queue="q", kind="test", payload={}, dedupe_key="card:1")
        [job] = await outbox.claim(10)
        async with db.sessions.begin() as session:  # a running job no longer blocks a newer one
            assert await outbox.enqueue(session, queue="q", kind="test", payload={}, dedupe_key="card:1")
        assert job.attempts == 1
    finally:
        outbox.close()


async def test_worker_wakes_on_commit_without_polling(db: Database) -> None:
    outbox = Outbox(db)
    done = asyncio.Event()

    async def handler(job: Job) -> None:
        done.set()

    outbox.register("test", handler)
    # Observe (not replace) the worker's claims: the job must be enqueued after the
    # worker found nothing to do, so only the commit's wake-up can start it.
    claims_done = 0
    claim = outbox.claim

    async def counted_claim(limit: int, intake: int | None = None) -> list[Job]:
        nonlocal claims_done
        jobs = await claim(limit, intake)
        claims_done += 1
        return jobs

    outbox.claim = counted_claim  # type: ignore[method-assign]
    worker = OutboxWorker(outbox, idle_poll=60.0)  # a poll would take a minute
    await worker.start()
    try:
        await wait_until(lambda: claims_done >= 1, message="the worker's first, empty claim")
        await _enqueue(outbox, db, "q", 1)
        await asyncio.wait_for(done.wait(), 2.0)
    finally:
        await worker.stop()
        outbox.close()


async def test_job_without_a_handler_waits_instead_of_being_dropped(db: Database) -> None:
    outbox = Outbox(db, retry_max=30)
    try:
        await _enqueue(outbox, db, "q", 1, kind="sms.send")
        [job] = await outbox.claim(1)
        await outbox.run_job(job)
        assert (await outbox.counts()) == {"pending": 1}
    finally:
        outbox.close()
