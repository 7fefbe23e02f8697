"""The durable scheduler on both databases, driven by a hand-moved clock.

A fire is counted by what the handler wrote in the firing transaction (an audit row),
so "exactly once" means exactly one committed effect, as the bridge relies on.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.app import SmsBridge
from bridge.inbox.clock import ManualClock
from bridge.inbox.db import Database
from bridge.inbox.instances import machine_id
from bridge.inbox.models import (
    AuditEvent,
    Contact,
    Conversation,
    Inbox,
    OutboxJob,
    Timer,
)
from bridge.inbox.outbox import Job, Outbox
from bridge.inbox.scheduler import Scheduler, TimerInfo
from bridge.inbox.takeover import Takeover
from tests.bridge_process import dead_pid
from tests.conftest import DatabaseFactory
from tests.harness import CHANNEL, Harness

T0 = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)


class Recorder:
    """A timer kind whose handler writes an audit row (the effect) and reports the call."""

    def __init__(self) -> None:
        self.calls: asyncio.Queue[TimerInfo] = asyncio.Queue()
        self.fail_times: dict[str, int] = {}  # key -> how many more calls raise

    async def handler(self, session: AsyncSession, timer: TimerInfo) -> None:
        session.add(AuditEvent(actor="scheduler", action="timer.fired", detail={"key": timer.key}))
        await session.flush()
        if self.fail_times.get(timer.key, 0) > 0:
            self.fail_times[timer.key] -= 1
            raise RuntimeError(f"{timer.key} failed")
        self.calls.put_nowait(timer)

    async def next_call(self, timeout: float = 10.0) -> TimerInfo:
        return await asyncio.wait_for(self.calls.get(), timeout)


async def fired_keys(db: Database) -> Counter[str]:
    async with db.sessions() as session:
        rows = await session.execute(select(AuditEvent.detail).where(AuditEvent.action == "timer.fired"))
        return Counter(str(detail["key"]) for detail in rows.scalars())


async def states(db: Database) -> dict[str, str]:
    async with db.sessions() as session:
        return {key: state for key, state in (await session.execute(select(Timer.key, Timer.state))).all()}


async def schedule(scheduler: Scheduler, db: Database, *timers: tuple[str, timedelta], conversation: int | None = None) -> None:
    async with db.sessions.begin() as session:
        for key, delay in timers:
            await scheduler.schedule(session, "test", T0 + delay, {"key": key}, key=key, conversation_id=conversation)


async def new_conversation(db: Database, phone: str) -> int:
    async with db.sessions.begin() as session:
        inbox = (await session.execute(select(Inbox).where(Inbox.name == "main"))).scalar_one_or_none()
        if inbox is None:
            inbox = Inbox(name="main", number="+14155550100")
            session.add(inbox)
        contact = Contact(phone=phone)
        session.add(contact)
        await session.flush()
        conversation = Conversation(inbox_id=inbox.id, contact_id=contact.id)
        session.add(conversation)
        await session.flush()
        return conversation.id


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
async def running(db: Database, clock: ManualClock) -> AsyncIterator[tuple[Scheduler, Recorder]]:
    scheduler = Scheduler(db, clock=clock, recheck=3600)
    recorder = Recorder()
    scheduler.register("test", recorder.handler)
    await scheduler.start()
    yield scheduler, recorder
    await scheduler.stop()
    scheduler.close()


async def test_a_timer_fires_once_at_its_due_time_not_before(
    db: Database, clock: ManualClock, running: tuple[Scheduler, Recorder]
) -> None:
    scheduler, recorder = running
    await schedule(scheduler, db, ("reminder", timedelta(seconds=60)))
    await scheduler.settle()
    clock.advance(59)
    await scheduler.settle()
    assert await fired_keys(db) == Counter()

    clock.advance(1)
    call = await recorder.next_call()
    assert (call.key, call.payload, call.due_at, call.attempts) == ("reminder", {"key": "reminder"}, T0 + timedelta(seconds=60), 1)
    clock.advance(3600)
    await scheduler.settle()
    assert await fired_keys(db) == Counter({"reminder": 1})
    assert await states(db) == {"reminder": "fired"}
    assert recorder.calls.empty()


async def test_a_handlers_work_commits_with_the_firing(db: Database, clock: ManualClock) -> None:
    outbox = Outbox(db)
    scheduler = Scheduler(db, clock=clock)

    async def send_later(session: AsyncSession, timer: TimerInfo) -> None:
        await outbox.enqueue(session, queue="conv:1", kind="sms.send", payload=timer.payload)

    scheduler.register("later", send_later)
    try:
        async with db.sessions.begin() as session:
            await scheduler.schedule(session, "later", T0 + timedelta(minutes=5), {"text": "Your order is ready"}, key="later:1")
        clock.advance(timedelta(minutes=5))
        assert await scheduler.fire_due() == 1
        assert await scheduler.fire_due() == 0
        async with db.sessions() as session:
            jobs = (await session.execute(select(OutboxJob.kind, OutboxJob.payload))).all()
        assert [(kind, payload) for kind, payload in jobs] == [("sms.send", {"text": "Your order is ready"})]
    finally:
        scheduler.close()
        outbox.close()


async def test_the_same_key_is_never_scheduled_twice(db: Database, clock: ManualClock, running: tuple[Scheduler, Recorder]) -> None:
    scheduler, recorder = running
    async with db.sessions.begin() as session:
        first = await scheduler.schedule(session, "test", T0 + timedelta(seconds=5), key="sla:7:warn")
        again = await scheduler.schedule(session, "test", T0 + timedelta(seconds=9), key="sla:7:warn")
    assert first is not None and again is None
    clock.advance(5)
    await recorder.next_call()
    # Fired timers keep their key: a retried request cannot bring the timer back.
    async with db.sessions.begin() as session:
        assert await scheduler.schedule(session, "test", T0 + timedelta(seconds=20), key="sla:7:warn") is None
    clock.advance(60)
    await scheduler.settle()
    assert await fired_keys(db) == Counter({"sla:7:warn": 1})


async def test_cancelled_timers_never_fire(db: Database, clock: ManualClock, running: tuple[Scheduler, Recorder]) -> None:
    scheduler, recorder = running
    conversation = await new_conversation(db, "+14155550123")
    other = await new_conversation(db, "+14155550124")
    await schedule(scheduler, db, ("a", timedelta(seconds=10)), ("b", timedelta(seconds=20)), conversation=conversation)
    async with db.sessions.begin() as session:
        assert not await scheduler.cancel(session, key="a", conversation_id=other)  # not that thread's timer
        assert await scheduler.cancel(session, key="a", conversation_id=conversation)
        assert not await scheduler.cancel(session, key="a")  # already cancelled
        assert not await scheduler.cancel(session, key="missing")
    clock.advance(20)
    assert (await recorder.next_call()).key == "b"
    async with db.sessions.begin() as session:
        assert not await scheduler.cancel(session, key="b")  # already fired
    await scheduler.settle()
    assert await fired_keys(db) == Counter({"b": 1})
    assert await states(db) == {"a": "cancelled", "b": "fired"}


async def test_pending_lists_a_conversations_timers_soonest_first_and_cancel_all(
    db: Database, clock: ManualClock
) -> None:
    scheduler = Scheduler(db, clock=clock)
    mine = await new_conversation(db, "+14155550123")
    theirs = await new_conversation(db, "+14155550124")
    try:
        async with db.sessions.begin() as session:
            await scheduler.schedule(session, "later", T0 + timedelta(hours=3), {"text": "third"}, key="l3", conversation_id=mine)
            await scheduler.schedule(session, "later", T0 + timedelta(hours=1), {"text": "first"}, key="l1", conversation_id=mine)
            await scheduler.schedule(session, "sla", T0 + timedelta(hours=2), key="s1", conversation_id=mine)
            await scheduler.schedule(session, "later", T0 + timedelta(hours=2), key="other", conversation_id=theirs)
        async with db.sessions() as session:
            listed = await scheduler.pending(session, conversation_id=mine, kind="later")
        assert [(t.key, t.payload["text"], t.due_at) for t in listed] == [
            ("l1", "first", T0 + timedelta(hours=1)),
            ("l3", "third", T0 + timedelta(hours=3)),
        ]
        async with db.sessions.begin() as session:
            assert await scheduler.cancel(session, timer_id=listed[0].id, conversation_id=mine)
            assert await scheduler.cancel_all(session, conversation_id=mine, kind="later") == 1
        async with db.sessions() as session:
            assert [t.key for t in await scheduler.pending(session, conversation_id=mine)] == ["s1"]
            assert [t.key for t in await scheduler.pending(session)] == ["s1", "other"]
    finally:
        scheduler.close()


async def test_a_commit_with_an_earlier_timer_wakes_the_sleeping_loop(
    db: Database, clock: ManualClock, running: tuple[Scheduler, Recorder]
) -> None:
    scheduler, recorder = running  # recheck is an hour: only the commit can wake it
    await schedule(scheduler, db, ("late", timedelta(hours=2)))
    await scheduler.settle()
    await schedule(scheduler, db, ("soon", timedelta(seconds=10)))
    clock.advance(10)
    assert (await recorder.next_call()).key == "soon"


async def test_other_processes_timers_are_found_by_the_periodic_recheck(
    db: Database, databases: DatabaseFactory, clock: ManualClock
) -> None:
    scheduler = Scheduler(db, clock=clock, recheck=30)
    recorder = Recorder()
    scheduler.register("test", recorder.handler)
    other_db = databases.reopen()
    producer = Scheduler(other_db, clock=clock)  # another process that only schedules
    await scheduler.start()
    try:
        await scheduler.settle()
        await schedule(producer, other_db, ("from-elsewhere", timedelta(seconds=5)))
        clock.advance(30)  # no wake-up reaches this process: the re-check finds it
        assert (await recorder.next_call()).key == "from-elsewhere"
    finally:
        await scheduler.stop()
        scheduler.close()
        producer.close()
        await other_db.dispose()


async def test_timers_a_dead_process_left_due_fire_as_soon_as_its_death_is_seen(
    db: Database, databases: DatabaseFactory, clock: ManualClock
) -> None:
    """Not at the next periodic re-check: the takeover that hands back the dead
    worker's jobs wakes this process's scheduler (as the app wires it)."""
    scheduler = Scheduler(db, clock=clock, recheck=30)
    recorder = Recorder()
    scheduler.register("test", recorder.handler)
    survivor = Outbox(db)
    takeover = Takeover(survivor)
    takeover.on_take_over.append(scheduler.wake)
    other_db = databases.reopen()
    dead = Outbox(other_db, instance=f"{machine_id()}:{dead_pid()}:cafecafe")
    producer = Scheduler(other_db, clock=clock)  # the dead process scheduled it, then died
    await scheduler.start()
    try:
        await scheduler.settle()
        await dead.register_instance()
        await schedule(producer, other_db, ("orphan", timedelta(seconds=5)))
        clock.advance(5)  # due; this process's loop sleeps until its re-check at 30 s
        assert await takeover.round() == [dead.instance]
        assert (await recorder.next_call()).key == "orphan"
    finally:
        await scheduler.stop()
        for closing in (scheduler, producer, survivor, dead):
            closing.close()
        await other_db.dispose()


async def test_a_restart_loses_nothing_and_fires_nothing_twice(
    db: Database, databases: DatabaseFactory, clock: ManualClock
) -> None:
    first = Scheduler(db, clock=clock)
    recorder = Recorder()
    first.register("test", recorder.handler)
    await schedule(first, db, *((f"t{i}", timedelta(seconds=i)) for i in range(1, 11)))
    await first.start()
    clock.advance(5)
    await first.settle()
    await first.stop(graceful=False)
    first.close()
    await db.dispose()
    assert await fired_keys(db) == Counter({f"t{i}": 1 for i in range(1, 6)})

    reopened = databases.reopen()
    second = Scheduler(reopened, clock=clock)
    second.register("test", recorder.handler)
    await second.start()
    try:
        clock.advance(5)
        await second.settle()
        assert await fired_keys(reopened) == Counter({f"t{i}": 1 for i in range(1, 11)})
        assert set((await states(reopened)).values()) == {"fired"}
    finally:
        await second.stop()
        second.close()
        await reopened.dispose()


async def test_a_process_dying_mid_fire_leaves_the_timer_for_the_next_one(
    db: Database, databases: DatabaseFactory, clock: ManualClock
) -> None:
    first = Scheduler(db, clock=clock)
    entered = asyncio.Event()

    async def hangs(session: AsyncSession, timer: TimerInfo) -> None:
        session.add(AuditEvent(actor="scheduler", action="timer.fired", detail={"key": timer.key}))
        await session.flush()
        entered.set()
        await asyncio.Event().wait()  # the process dies here, before the commit

    first.register("test", hangs)
    await schedule(first, db, ("crash", timedelta(seconds=1)))
    await first.start()
    clock.advance(1)
    await asyncio.wait_for(entered.wait(), 10)
    await first.stop(graceful=False)
    first.close()
    await db.dispose()

    reopened = databases.reopen()
    assert await fired_keys(reopened) == Counter()
    assert await states(reopened) == {"crash": "pending"}
    second = Scheduler(reopened, clock=clock)
    recorder = Recorder()
    second.register("test", recorder.handler)
    await second.start()
    try:
        assert (await recorder.next_call()).key == "crash"
        await second.settle()
        assert await fired_keys(reopened) == Counter({"crash": 1})
    finally:
        await second.stop()
        second.close()
        await reopened.dispose()


async def test_two_schedulers_never_fire_the_same_timer(
    db: Database, databases: DatabaseFactory, clock: ManualClock
) -> None:
    if databases.backend != "postgresql":
        pytest.skip("several processes share PostgreSQL; SQLite is one process's file")
    other_db = databases.reopen()
    fired_by: Counter[str] = Counter()
    schedulers = [Scheduler(database, clock=clock, batch_size=10) for database in (db, other_db)]
    for name, scheduler in zip(("a", "b"), schedulers, strict=False):

        async def handler(session: AsyncSession, timer: TimerInfo, name: str = name) -> None:
            session.add(AuditEvent(actor=name, action="timer.fired", detail={"key": timer.key}))
            await session.flush()
            await asyncio.sleep(0)  # let the other process in while this transaction is open
            fired_by[name] += 1

        scheduler.register("test", handler)
    await schedule(schedulers[0], db, *((f"t{i}", timedelta(seconds=1 + i % 7)) for i in range(300)))
    for scheduler in schedulers:
        await scheduler.start()
    try:
        clock.advance(10)
        for scheduler in schedulers:
            await scheduler.settle()
        for scheduler in schedulers:
            await scheduler.settle()
        assert await fired_keys(db) == Counter({f"t{i}": 1 for i in range(300)})
        assert fired_by["a"] > 0 and fired_by["b"] > 0  # both really competed
    finally:
        for scheduler in schedulers:
            await scheduler.stop()
            scheduler.close()
        await other_db.dispose()


async def test_a_failing_handler_is_retried_with_backoff_and_spares_the_others(
    db: Database, clock: ManualClock
) -> None:
    scheduler = Scheduler(db, clock=clock, retry_base=10, max_attempts=3)
    recorder = Recorder()
    recorder.fail_times = {"flaky": 2, "broken": 99}  # the batch try counts too
    scheduler.register("test", recorder.handler)
    try:
        await schedule(scheduler, db, ("flaky", timedelta(0)), ("fine", timedelta(0)), ("broken", timedelta(0)))
        assert await scheduler.fire_due() == 1  # "fine"; the batch rolled back, then one by one
        assert await fired_keys(db) == Counter({"fine": 1})
        clock.advance(10)  # first retry after retry_base
        assert await scheduler.fire_due() == 1
        assert await fired_keys(db) == Counter({"fine": 1, "flaky": 1})
        clock.advance(20)  # then twice as long
        assert await scheduler.fire_due() == 0
        assert await states(db) == {"flaky": "fired", "fine": "fired", "broken": "dead"}
        async with db.sessions() as session:
            broken = (await session.execute(select(Timer).where(Timer.key == "broken"))).scalar_one()
        assert (broken.attempts, broken.last_error) == (3, "RuntimeError('broken failed')")
    finally:
        scheduler.close()


async def test_a_kind_without_a_handler_waits_for_a_process_that_has_one(
    db: Database, clock: ManualClock, running: tuple[Scheduler, Recorder]
) -> None:
    scheduler, recorder = running
    async with db.sessions.begin() as session:
        await scheduler.schedule(session, "digest", T0 + timedelta(seconds=1), key="digest:1")
    clock.advance(5)
    await scheduler.settle()
    assert await states(db) == {"digest:1": "pending"}
    scheduler.register("digest", recorder.handler)
    assert (await recorder.next_call()).key == "digest:1"


async def test_reschedule_moves_only_a_pending_timer(db: Database, clock: ManualClock, running: tuple[Scheduler, Recorder]) -> None:
    scheduler, recorder = running
    await schedule(scheduler, db, ("snooze", timedelta(hours=1)))
    async with db.sessions.begin() as session:
        assert await scheduler.reschedule(session, "snooze", T0 + timedelta(minutes=1))
    clock.advance(60)
    assert (await recorder.next_call()).key == "snooze"
    async with db.sessions.begin() as session:
        assert not await scheduler.reschedule(session, "snooze", T0 + timedelta(hours=2))


async def test_due_times_must_be_timezone_aware(db: Database, clock: ManualClock) -> None:
    scheduler = Scheduler(db, clock=clock)
    try:
        async with db.sessions.begin() as session:
            with pytest.raises(ValueError, match="timezone-aware"):
                await scheduler.schedule(session, "test", datetime(2026, 12, 1, 9, 0), key="naive")
    finally:
        scheduler.close()


async def test_smsbridge_runs_the_scheduler_and_keeps_timers_across_a_restart(harness: Harness) -> None:
    """Inside the real process: timer -> outbox job -> the worker posts to Slack."""

    def wire(bridge: SmsBridge) -> None:
        async def post(job: Job) -> None:
            assert bridge.slack.client is not None
            await bridge.slack.client.chat_postMessage(channel=CHANNEL, text=str(job.payload["text"]))

        async def remind(session: AsyncSession, timer: TimerInfo) -> None:
            await bridge.outbox.enqueue(session, queue="test", kind="test.post", payload=timer.payload)

        bridge.outbox.register("test.post", post)
        bridge.scheduler.register("test.remind", remind)

    def posted(text: str) -> int:
        return sum(1 for m in harness.slack.messages(CHANNEL) if m.get("text") == text)

    assert harness.bridge is not None
    first = harness.bridge
    wire(first)
    now = first.scheduler.clock.now()
    async with first.db.sessions.begin() as session:
        await first.scheduler.schedule(session, "test.remind", now, {"text": "Call Ana back"}, key="r1")
        await first.scheduler.schedule(session, "test.remind", now + timedelta(hours=1), {"text": "Follow up"}, key="r2")
    await harness.slack.wait_for(lambda: posted("Call Ana back") == 1)
    # Let the job finish: a post whose job is cut off is posted again (the outbox's
    # at-least-once delivery, not the scheduler's business).
    await first.worker.drain()

    await harness.restart()
    second = harness.bridge
    assert second is not None and second is not first
    second.scheduler.clock = ManualClock(now + timedelta(hours=1))
    wire(second)  # registering wakes the loop, which now reads the hand-moved clock
    await harness.slack.wait_for(lambda: posted("Follow up") == 1)
    await second.scheduler.settle()
    await second.worker.drain()
    assert (posted("Call Ana back"), posted("Follow up")) == (1, 1)
