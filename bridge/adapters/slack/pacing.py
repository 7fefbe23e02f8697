"""Pacing of Slack posts per channel, so a burst goes out at Slack's pace without 429s.

Slack allows about one `chat.postMessage` a second per channel with short bursts, and
answers 429 + Retry-After (whole seconds) beyond that. Learning the limit from 429s
costs up to a second per refusal, so the poster keeps its own bucket per channel,
a little stricter than Slack's (one post fewer in a burst: the cushion absorbs the
jitter between our clock and Slack's), and gives each post a slot in it:

- a post whose slot is at most `max_wait` away waits for it inside its job;
- a later one keeps its slot and hands its job back to the outbox (RetryLater) to come
  back just before it, so the workers serve other channels meanwhile. The outbox runs a
  conversation's next job only after this one, so each conversation keeps its order;
- a 429 (another process posting into the channel, a stricter Slack) pauses the channel
  for Retry-After and drops the slots handed out before it.

A job handed back (or refused with 429) before any of its posts may have reached Slack
need not look for an earlier post of its own when it returns: `may_have_posted`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from bridge.inbox.outbox import Job, RetryLater

# Slots handed out to jobs that never came back (another process took them, or they
# gave up) are forgotten this long after they passed.
FORGET_AFTER = 60.0
# Jobs remembered as unsent; past this many (jobs handed back that another process
# finished) the memory starts afresh: forgetting costs only one look-up per job.
MAX_UNSENT = 10_000
T = TypeVar("T")


@dataclass
class ChannelPacer:
    interval: float = 1.0  # seconds per post and channel; 0 turns pacing off
    burst: int = 2  # posts that may go at once after a quiet spell
    max_wait: float = 1.5  # longer waits are spent back in the outbox, not in a worker
    clock: Callable[[], float] = time.monotonic
    # Per channel: when its next post conforms if no burst is left (GCRA's "theoretical
    # arrival time"); a post may go `burst - 1` intervals before it.
    _next: dict[str, float] = field(default_factory=dict)
    _paused_until: dict[str, float] = field(default_factory=dict)
    _slots: dict[int, tuple[str, float]] = field(default_factory=dict)  # job id -> (channel, slot)
    _unsent: set[int] = field(default_factory=set)  # jobs whose attempts reached no Slack post

    @property
    def enabled(self) -> bool:
        return self.interval > 0

    # -- before a call ---------------------------------------------------------

    def paused_for(self, channel: str) -> float:
        """Seconds this channel is still paused by a 429 (0 when it is not)."""
        return max(0.0, self._paused_until.get(channel, 0.0) - self.clock())

    async def wait_turn(self, job: Job, channel: str) -> None:
        """Return when `job` may post into `channel`, or raise RetryLater to come back later."""
        if not self.enabled:
            return
        now = self.clock()
        kept = self._slots.pop(job.id, None)
        slot = kept[1] if kept and kept[0] == channel else self._take_slot(channel, now)
        wait = slot - now
        if wait > self.max_wait:
            self._slots[job.id] = (channel, slot)
            self._forget_stale(now)
            self._hand_back(job)
            raise RetryLater(f"pacing posts to Slack channel {channel}", delay=wait - self.max_wait / 2)
        if wait > 0:
            await asyncio.sleep(wait)

    def _take_slot(self, channel: str, now: float) -> float:
        start = max(now, self._paused_until.get(channel, 0.0))
        due = max(self._next.get(channel, start), start)
        slot = max(start, due - (self.burst - 1) * self.interval)
        self._next[channel] = due + self.interval
        return slot

    def _forget_stale(self, now: float) -> None:
        if len(self._slots) > 1000:
            self._slots = {job: kept for job, kept in self._slots.items() if kept[1] > now - FORGET_AFTER}

    # -- around a post -----------------------------------------------------------

    async def paced(self, job: Job, channel: str, post: Callable[[], Awaitable[T]]) -> T:
        """Run `post` (one message into `channel`) in its turn; raises RetryLater as `post` does."""
        await self.wait_turn(job, channel)
        clean = not self.may_have_posted(job)
        self._unsent.discard(job.id)  # from here on its outcome may be unknown
        try:
            return await post()
        except RateLimited:
            if clean:
                self._remember_unsent(job)  # refused: nothing was posted
            raise

    def may_have_posted(self, job: Job) -> bool:
        """False when no earlier attempt of `job` sent a post whose outcome is unknown."""
        return job.is_retry and job.id not in self._unsent

    def pause(self, channel: str, retry_after: float) -> None:
        """Slack answered 429: pause the channel for Retry-After."""
        until = self.clock() + retry_after
        if until > self._paused_until.get(channel, 0.0):
            self._paused_until[channel] = until
        # After the pause, posts resume one interval apart (no burst: Slack's bucket is empty).
        self._next[channel] = max(self._next.get(channel, 0.0), until + (self.burst - 1) * self.interval)
        self._slots = {job: kept for job, kept in self._slots.items() if kept[0] != channel}

    def _hand_back(self, job: Job) -> None:
        if not self.may_have_posted(job):
            self._remember_unsent(job)

    def _remember_unsent(self, job: Job) -> None:
        if len(self._unsent) >= MAX_UNSENT:
            self._unsent.clear()
        self._unsent.add(job.id)


class RateLimited(RetryLater):
    """Slack answered 429: the call was not applied; retry after Retry-After."""
