"""Slack posts are paced per channel: bursts go out at Slack's pace, in order, none lost."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from bridge.adapters.slack.pacing import ChannelPacer, RateLimited
from bridge.inbox.outbox import Job, RetryLater
from tests.harness import CUSTOMER, Harness

# -- the pacer's arithmetic, on a clock the test moves ---------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def job(id_: int, attempts: int = 1) -> Job:
    return Job(id_, f"slack:conv:{id_}", "slack.message", {}, attempts, datetime.now(UTC))


async def turn(pacer: ChannelPacer, j: Job, channel: str = "C1") -> float | None:
    """None when `j` may post now, else the delay the outbox is asked to bring it back after."""
    try:
        await pacer.wait_turn(j, channel)
    except RetryLater as exc:
        return exc.delay
    return None


async def test_a_burst_then_one_post_per_interval_with_later_jobs_handed_back() -> None:
    clock = Clock()
    pacer = ChannelPacer(interval=1.0, burst=2, max_wait=0.0, clock=clock)
    assert [await turn(pacer, job(i)) for i in (1, 2)] == [None, None]
    assert await turn(pacer, job(3)) == pytest.approx(1.0)
    assert await turn(pacer, job(4)) == pytest.approx(2.0)
    assert await turn(pacer, job(5), "C2") is None  # another channel has its own bucket
    clock.now += 1.0
    assert await turn(pacer, job(3)) is None  # it kept its slot
    assert await turn(pacer, job(6)) == pytest.approx(2.0)  # after job 4's
    clock.now += 1.0
    assert await turn(pacer, job(4)) is None


async def test_a_429_pauses_the_channel_and_drops_the_slots_given_before() -> None:
    clock = Clock()
    pacer = ChannelPacer(interval=1.0, burst=2, max_wait=0.0, clock=clock)
    for i in (1, 2):
        assert await turn(pacer, job(i)) is None
    assert await turn(pacer, job(3)) == pytest.approx(1.0)
    pacer.pause("C1", 5.0)  # another process used the channel's budget
    assert pacer.paused_for("C1") == pytest.approx(5.0)
    clock.now += 1.0
    assert await turn(pacer, job(3)) == pytest.approx(4.0)  # its old slot fell inside the pause
    assert await turn(pacer, job(7)) == pytest.approx(5.0)  # then one per interval, no burst


async def test_only_a_job_whose_post_may_have_reached_slack_looks_for_it_again() -> None:
    clock = Clock()
    pacer = ChannelPacer(interval=1.0, burst=1, max_wait=0.0, clock=clock)
    assert await turn(pacer, job(1)) is None
    assert await turn(pacer, job(2)) is not None  # handed back before posting
    assert not pacer.may_have_posted(job(2, attempts=2))

    async def refused() -> None:
        raise RateLimited("429", delay=1.0)

    async def lost() -> None:
        raise RetryLater("answer lost")

    clock.now += 5.0
    with pytest.raises(RateLimited):
        await pacer.paced(job(2, attempts=2), "C1", refused)
    assert not pacer.may_have_posted(job(2, attempts=3))  # a 429 posts nothing
    clock.now += 5.0
    with pytest.raises(RetryLater):
        await pacer.paced(job(2, attempts=3), "C1", lost)
    assert pacer.may_have_posted(job(2, attempts=4))  # that post may exist: look first


# -- the real service against a rate-limited FakeSlack --------------------------------

CUSTOMERS = [CUSTOMER, "+14155550102", "+14155550103", "+14155550104"]


@pytest.fixture
async def paced(databases: Any) -> Any:
    # Slack allows one post per 50 ms per channel with a burst of 3; smsbridge paces
    # itself at the same rate with a burst of 2 (its cushion against clock jitter).
    h = Harness(databases, slack_post_interval=0.05, slack_post_burst=2)
    await h.start()
    h.slack.rate_limit("chat.postMessage", per_channel_interval=0.05, burst=3)
    try:
        yield h
    finally:
        await h.stop()


async def test_a_burst_from_several_customers_is_posted_once_each_in_order(paced: Harness) -> None:
    sent = [(sender, f"{i} from {sender[-3:]}") for i in range(4) for sender in CUSTOMERS]
    for sender, body in sent:
        await paced.text_in(body, sender=sender)
    await paced.slack.wait_for(
        lambda: len(paced.slack.posts) >= len(CUSTOMERS) + len(sent), 20, "every card and text posted"
    )
    await paced.drain(timeout=20)
    roots = paced.roots()
    assert len(roots) == len(CUSTOMERS)
    threads = sorted([m["text"] for m in paced.thread(r["ts"])] for r in roots)
    assert threads == sorted([body for s, body in sent if s == sender] for sender in CUSTOMERS)
    posted = Counter(p["text"] for p in paced.slack.posts if p.get("thread_ts"))
    assert set(posted.values()) == {1}
    # Whatever Slack refused was posted later, exactly once.
    calls = len(paced.slack.calls_to("chat.postMessage"))
    assert calls == len(paced.slack.posts) + len(paced.slack.throttled)
