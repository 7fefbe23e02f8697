"""Texts that arrive together are filed together (one transaction for a batch of them,
bridge/inbox/inbound.py), and each still reaches its own thread once, whatever the
others in its batch do."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.harness import CUSTOMER, OTHER_CUSTOMER, Harness

SENDERS = [f"+1415555{n:04d}" for n in range(201, 221)]  # valid, new, distinct


def _posted(h: Harness) -> dict[str, list[str]]:
    """Each sender's card (by the last 4 digits it shows) and the texts in its thread."""
    found: dict[str, list[str]] = {}
    for root in h.roots():
        blocks = str(root.get("blocks"))
        for sender in [*SENDERS, CUSTOMER, OTHER_CUSTOMER]:
            if sender[-4:] in blocks:
                found.setdefault(sender, []).extend(str(m.get("text")) for m in h.thread(str(root["ts"])))
    return found


async def _burst(h: Harness, texts: list[tuple[str, str, str | None]]) -> None:
    statuses = await asyncio.gather(
        *(h.twilio_post("/twilio/sms", h.inbound_params(body, sender, sid=sid)) for body, sender, sid in texts)
    )
    assert [status for status, _ in statuses] == [200] * len(texts)


async def test_a_burst_from_new_and_known_senders_with_a_repeat_posts_each_text_once(databases: Any) -> None:
    h = Harness(databases)
    await h.start()
    try:
        # A known customer, and a text whose webhook Twilio will send again later.
        await h.text_in("first from a known customer", sender=CUSTOMER, sid="SMrepeat0001")
        await h.drain()
        burst = [(f"hello from {sender}", sender, None) for sender in SENDERS]
        burst.insert(10, ("first from a known customer", CUSTOMER, "SMrepeat0001"))  # the retried webhook
        burst.append(("another new one", OTHER_CUSTOMER, None))
        await _burst(h, burst)
        await h.drain(30)
        await _burst(h, [("the known customer again", CUSTOMER, None)])
        await h.drain(30)
        posted = _posted(h)
        for sender in SENDERS:
            assert posted[sender].count(f"hello from {sender}") == 1, posted[sender]
        assert posted[CUSTOMER].count("first from a known customer") == 1
        assert posted[CUSTOMER].count("the known customer again") == 1
        assert posted[OTHER_CUSTOMER].count("another new one") == 1
        # One contact, one conversation and one message per text: nothing filed twice.
        assert (await h.rows("SELECT count(*) FROM messages WHERE direction = 'in'"))[0][0] == len(SENDERS) + 3
        assert (await h.rows("SELECT count(*) FROM conversations"))[0][0] == len(SENDERS) + 2
        assert (await h.rows("SELECT count(*) FROM contacts"))[0][0] == len(SENDERS) + 2
    finally:
        await h.stop()


async def test_one_text_that_cannot_be_filed_does_not_hold_back_the_others(databases: Any) -> None:
    h = Harness(databases)
    await h.start()
    try:
        assert h.bridge is not None
        inbound = h.bridge.service.inbound
        run_rules = inbound.rules.run

        async def rules_that_break_on_one_text(session: Any, inbox: Any, conv: Any, body: str, **kwargs: Any) -> None:
            if body == "poison":
                raise RuntimeError("a bug that only this text meets")
            await run_rules(session, inbox, conv, body, **kwargs)

        inbound.rules.run = rules_that_break_on_one_text  # type: ignore[method-assign]
        burst: list[tuple[str, str, str | None]] = [(f"hello from {sender}", sender, None) for sender in SENDERS[:10]]
        burst.insert(5, ("poison", SENDERS[10], None))
        await _burst(h, burst)
        await h.slack.wait_for(
            lambda: all(f"hello from {s}" in _posted(h).get(s, []) for s in SENDERS[:10]), message="the ten good texts", timeout=30
        )
        posted = _posted(h)
        for sender in SENDERS[:10]:
            assert posted[sender].count(f"hello from {sender}") == 1
        assert SENDERS[10] not in posted  # not filed: its job waits to be tried again
        waiting = await h.rows("SELECT state, last_error FROM outbox_jobs WHERE kind = 'sms.inbound'")
        assert len(waiting) == 1 and waiting[0][0] in ("pending", "running") and "only this text meets" in waiting[0][1]
        assert (await h.rows("SELECT count(*) FROM messages WHERE direction = 'in'"))[0][0] == 10
        inbound.rules.run = run_rules  # type: ignore[method-assign]
    finally:
        await h.stop()
