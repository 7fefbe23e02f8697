"""Slack outages (5xx, timeouts, 429 storms) and lost answers delay posts, and never
lose, duplicate or reorder them; a retried picture share does not upload it twice."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.harness import CUSTOMER, OTHER_CUSTOMER, Harness

THIRD_CUSTOMER = "+14155550103"
TWILIO_TIMEOUT = 15.0  # Twilio gives up on a webhook after this and does not retry a text


async def test_slack_down_with_5xx_timeouts_and_a_429_storm_loses_and_reorders_nothing(databases: Any) -> None:
    h = Harness(databases, slack_timeout=1)  # a Slack call taking longer than 1 s counts as failed
    await h.start()
    try:
        sent: dict[str, list[str]] = {CUSTOMER: [], OTHER_CUSTOMER: []}
        slowest = 0.0

        async def texts(phase: str) -> None:
            nonlocal slowest
            for customer in sorted(sent):
                body = f"{phase} from {customer[-4:]}"
                started = time.monotonic()
                await h.text_in(body, sender=customer)  # answered 200
                slowest = max(slowest, time.monotonic() - started)
                sent[customer].append(body)

        def refused_since(mark: int, count: int) -> Callable[[], bool]:
            return lambda: len(h.slack.calls) >= mark + count

        # 1. Slack answers 503.
        h.slack.outage = True
        await texts("during 503s")
        await h.slack.wait_for(refused_since(0, 3), message="calls refused with 503")
        assert h.slack.posts == []
        # 2. Slack answers after smsbridge gave up: posts land while it thinks they failed.
        h.slack.outage, h.slack.latency = False, 1.5
        sent[THIRD_CUSTOMER] = []  # whose card is posted at its first try, so it lands late
        await texts("during timeouts")
        await h.slack.wait_for(lambda: len(h.slack.posts) >= 1, message="a post applied after its call timed out")
        # 3. A 429 storm, until every slow call above has been answered.
        h.slack.outage, h.slack.outage_status, h.slack.latency = True, 429, 0.0
        await texts("during 429s")
        mark = len(h.slack.calls)
        await h.slack.wait_for(refused_since(mark, 3), message="calls refused with 429")
        await h.slack.wait_for(lambda: h.slack.in_flight == 0, message="the slow calls answered")
        # Slack is back.
        h.slack.outage = False
        await h.drain(timeout=15)
        assert slowest < TWILIO_TIMEOUT
        roots = h.roots()
        assert len(roots) == len(sent)  # one card each, none duplicated
        threads = sorted([m["text"] for m in h.thread(r["ts"])] for r in roots)
        assert threads == sorted(sent.values())  # every text once, in the order it came
    finally:
        await h.stop()


async def _picture_in(h: Harness) -> tuple[str, bytes]:
    picture = b"\x89PNG\r\n\x1a\n" + b"1" * 4096
    url = h.twilio.add_media(picture, "image/png")
    await h.text_in("", media=[(url, "image/png")])
    root = await h.first_thread()
    await h.drain()
    return root, picture


def _pictures_in_thread(h: Harness, root: str) -> list[str]:
    return [f["id"] for m in h.thread(root) for f in m.get("files") or []]


async def test_lost_answer_to_a_picture_share_does_not_upload_it_twice(harness: Harness) -> None:
    # Slack shares the file into the thread, but smsbridge never hears it did.
    harness.slack.lose_answer_next("files.completeUploadExternal")
    root, picture = await _picture_in(harness)
    assert len(harness.slack.calls_to("files.completeUploadExternal")) == 1  # the retry found it
    assert [f["bytes"] for f in harness.slack.files] == [picture]
    assert _pictures_in_thread(harness, root) == [harness.slack.files[0]["id"]]
    assert len(harness.slack.calls_to("files.getUploadURLExternal")) == 1


async def test_failed_picture_share_is_completed_from_the_same_upload(harness: Harness) -> None:
    harness.slack.fail_next("files.completeUploadExternal", status=503)  # not applied
    root, picture = await _picture_in(harness)
    completes = harness.slack.calls_to("files.completeUploadExternal")
    assert len(completes) == 2 and completes[0]["files"] == completes[1]["files"]  # the same file id
    assert len(harness.slack.calls_to("files.getUploadURLExternal")) == 1  # the bytes went once
    assert [f["bytes"] for f in harness.slack.files] == [picture]
    assert _pictures_in_thread(harness, root) == [harness.slack.files[0]["id"]]


async def test_lost_answer_to_a_notice_is_found_on_the_retry_not_posted_twice(harness: Harness) -> None:
    """Every kind of chat post reconciles the same way: a notice (here a claim's) whose
    answer was lost is found by its metadata on the retry."""
    await harness.text_in("hello")
    root = await harness.first_thread()
    await harness.drain()
    harness.slack.lose_answer_next("chat.postMessage")  # Slack posts it; smsbridge never hears
    await harness.teammate(root, "!claim")
    await harness.drain()
    claimed = [m for m in harness.thread(root) if "claimed this conversation" in m["text"]]
    assert len(claimed) == 1
