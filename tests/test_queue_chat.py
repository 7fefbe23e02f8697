"""The queue as teammates see it: `/sms queue` on Slack and Discord, and Slack's App Home
tab, through the real slack-bolt and discord.py against the fakes, on both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from bridge.inbox.models import utcnow
from tests.conftest import discord_harness
from tests.harness import (
    CHANNEL,
    CUSTOMER,
    DISCORD_ANA,
    DISCORD_BEN,
    FORUM,
    OTHER_CUSTOMER,
    Harness,
)

THIRD = "+14155550103"


async def _three_customers(h: Harness) -> None:
    """Three customers text, oldest wait first; the first one wrote two hours ago."""
    for sender, body in ((CUSTOMER, "Is my bike ready?"), (OTHER_CUSTOMER, "Do you rent tandems?"), (THIRD, "hello")):
        await h.text_in(body, sender=sender)
    await h.slack.wait_for(lambda: len(h.roots()) == 3, message="three conversation cards")
    await h.drain()
    await _backdate(h, CUSTOMER, timedelta(hours=2))


async def _backdate(h: Harness, phone: str, by: timedelta) -> None:
    """As if `phone` had written `by` ago (the service stamps texts with the real time)."""
    assert h.bridge is not None
    async with h.bridge.db.engine.begin() as conn:
        from sqlalchemy import text

        await conn.execute(
            text(
                "UPDATE messages SET created_at = :at WHERE direction = 'in' AND conversation_id IN "
                "(SELECT c.id FROM conversations c JOIN contacts p ON p.id = c.contact_id WHERE p.phone = :phone)"
            ),
            {"at": (utcnow() - by).replace(tzinfo=None), "phone": phone},
        )


def _card_of(h: Harness, shown: str) -> str:
    """The ts of the card of the contact shown as `shown` (cards post in any order)."""
    return next(str(c["ts"]) for c in h.roots() if shown in str(c["blocks"]))


def _link_to(ts: str) -> str:
    return f"https://fake.slack.com/archives/{CHANNEL}/p{ts.replace('.', '')}"


def _rows(blocks: list[dict[str, Any]]) -> list[str]:
    """The conversation lines of a listing: a section each when they have buttons, else
    lines of one section."""
    lines = [line for b in blocks if b["type"] == "section" for line in b["text"]["text"].split("\n")]
    return [line for line in lines if line.startswith("• ")]


def _claims(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Claim buttons beside conversations, as a click sends them (with their block id)."""
    return [{**b["accessory"], "block_id": b["block_id"]} for b in blocks if "accessory" in b]


async def test_slack_queue_lists_waiting_customers_and_a_claim_moves_one_to_mine(harness: Harness) -> None:
    await _three_customers(harness)
    first = _card_of(harness, "(415) 555-0101")

    answer = await harness.sms_command("queue")
    assert answer["response_type"] == "ephemeral"
    assert answer["text"] == "*Unassigned* — 3, longest wait first:"
    rows = _rows(answer["blocks"])
    assert len(rows) == 3
    assert rows[0] == f"• <{_link_to(first)}|(415) 555-0101> — 🆕 New · unassigned · waiting 2 h"
    assert "(415) 555-0102" in rows[1]
    assert all("waiting under a minute" in r for r in rows[1:])
    claims = _claims(answer["blocks"])
    assert [c["text"]["text"] for c in claims] == ["Claim"] * 3

    # Ana presses Claim on the first row of her queue listing: it stays listed, she owns it.
    said = await harness.click(claims[0], ephemeral=True)
    assert said["text"] == "It's yours."
    assert said["replace_original"] is False
    await harness.drain()
    card = harness.slack.get(CHANNEL, first)
    assert card is not None and "*Assignee:* Ana" in str(card["blocks"])

    unassigned = await harness.sms_command("queue unassigned")
    assert unassigned["text"] == "*Unassigned* — 2, longest wait first:"
    assert "0101" not in str(unassigned["blocks"])
    mine = await harness.sms_command("queue mine")
    assert mine["text"] == "*Yours* — 1, longest wait first:"
    [row] = _rows(mine["blocks"])
    assert row.endswith("· Ana · waiting 2 h") and _claims(mine["blocks"]) == []  # claimed: no button
    assert (await harness.sms_command("queue mine", user="UBEN"))["text"] == "Nothing assigned to you."
    everything = await harness.sms_command("queue ALL")
    assert everything["text"] == "*Open conversations* — 3, longest wait first:"
    assert len(_claims(everything["blocks"])) == 2

    # Ben presses the stale Claim button of his own earlier listing: refused, not stolen.
    late = await harness.click(claims[0], user="UBEN", ephemeral=True)
    assert late["text"].startswith("Ana already claimed this conversation.")


async def test_closed_and_answered_conversations(harness: Harness) -> None:
    await _three_customers(harness)
    await harness.teammate(_card_of(harness, "(415) 555-0102"), "!close")
    answered = _card_of(harness, "(415) 555-0103")
    await harness.teammate(answered, "!r We do, from $40 a day.")
    await harness.drain()
    everything = await harness.sms_command("queue all")
    rows = _rows(everything["blocks"])
    assert len(rows) == 2  # the closed one is gone
    assert rows[0].endswith("waiting 2 h")
    assert rows[1].endswith("· answered")  # the team had the last word: last, not waiting


async def test_empty_queue_overdue_without_sla_and_a_wrong_view(harness: Harness) -> None:
    assert (await harness.sms_command("queue"))["text"] == "Nothing unassigned — nice."
    assert (await harness.sms_command("queue all"))["text"] == "No open conversations — nice."
    overdue = (await harness.sms_command("queue overdue"))["text"]
    assert overdue.startswith("No SLA is configured (SMSBRIDGE_SLA_FIRST_REPLY, …), so nothing counts as overdue.")
    wrong = (await harness.sms_command("queue later"))["text"]
    assert wrong == "`/sms queue` takes one of: unassigned, mine, overdue, all. `/sms queue [unassigned|mine|overdue|all]` — open conversations, longest wait first, with links and Claim buttons (default unassigned)."


async def test_a_long_queue_is_capped_with_how_many_more(harness: Harness) -> None:
    for n in range(12):
        await harness.text_in(f"hi {n}", sender=f"+1415555{2000 + n}")
    await harness.slack.wait_for(lambda: len(harness.roots()) == 12, timeout=20, message="twelve cards")
    await harness.drain()
    answer = await harness.sms_command("queue")
    assert answer["text"] == "*Unassigned* — 12, longest wait first:"
    assert len(_rows(answer["blocks"])) == 10
    assert answer["blocks"][-1]["text"]["text"] == "…and 2 more."


# -- Slack's App Home tab -------------------------------------------------------------


def _home_texts(view: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in view["blocks"] if b["type"] in ("section", "header")] + [
        e["text"] for b in view["blocks"] if b["type"] == "context" for e in b["elements"]
    ]


async def test_home_tab_shows_the_openers_queue_and_its_claim_buttons_work(harness: Harness) -> None:
    await _three_customers(harness)
    first = _card_of(harness, "(415) 555-0101")
    await harness.click(harness.card_action("claim", first), message_ts=first)
    await harness.drain()

    home = await harness.open_home("UANA")
    assert home["type"] == "home"
    texts = _home_texts(home)
    assert texts[0] == "Your SMS queue"
    assert "*Yours* — 1, longest wait first:" in texts
    assert "*Unassigned* — 2, longest wait first:" in texts
    assert any(t.startswith("No SLA is configured") for t in texts)
    yours = next(t for t in texts if "0101" in t)
    assert yours.startswith(f"• <{_link_to(first)}|(415) 555-0101> — ")
    claims = _claims(home["blocks"])
    assert len(claims) == 2

    # Pressing Claim in the tab claims it and republishes the tab with the outcome.
    home = await harness.click_home(claims[0], "UANA")
    texts = _home_texts(home)
    assert "It's yours." in texts
    assert "*Yours* — 2, longest wait first:" in texts
    assert "*Unassigned* — 1, longest wait first:" in texts
    await harness.drain()
    assert sum("Assignee:* Ana" in str(card["blocks"]) for card in harness.roots()) == 2

    # Ben's tab is his own: nothing assigned to him, one unassigned.
    ben = _home_texts(await harness.open_home("UBEN"))
    assert "Nothing assigned to you." in ben
    assert "*Unassigned* — 1, longest wait first:" in ben


async def test_home_tab_when_nothing_waits(harness: Harness) -> None:
    texts = _home_texts(await harness.open_home("UBEN"))
    assert texts == [
        "Your SMS queue",
        "Nothing assigned to you.",
        "Nothing unassigned — nice.",
        texts[-1],
    ]
    assert texts[-1].startswith("No SLA is configured")
    # The Messages tab (or anything but the Home tab) publishes nothing.
    calls = len(harness.slack.calls_to("views.publish"))
    await harness.slack_event({**harness.slack.home_opened("UBEN"), "tab": "messages"})
    assert len(harness.slack.calls_to("views.publish")) == calls


# -- Discord ----------------------------------------------------------------------------


@pytest.fixture
async def dh(databases: Any) -> AsyncIterator[Harness]:
    async with discord_harness(databases) as h:
        yield h


async def _queue(h: Harness, view: str | None = None, user: int = DISCORD_ANA) -> dict[str, Any]:
    assert h.discord is not None
    iid = await h.discord.slash_command("sms", {"view": view} if view else {}, user_id=user, channel_id=FORUM, subcommand="queue")
    await h.discord.wait_for(lambda: bool(h.discord.followups(iid)), message="the queue")  # type: ignore[union-attr]
    answer = h.discord.followups(iid)[0]
    assert answer["flags"] & 64  # only the asker sees it
    return answer


def _buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for row in message.get("components") or [] for c in row["components"]]


async def test_discord_queue_links_posts_and_its_claim_button_works(dh: Harness) -> None:
    assert dh.discord is not None
    await dh.text_in("Is my bike ready?")
    await dh.text_in("Do you rent tandems?", sender=OTHER_CUSTOMER)
    await dh.discord.wait_for(lambda: len(dh.posts()) == 2, message="two forum posts")
    await dh.drain()
    await _backdate(dh, CUSTOMER, timedelta(minutes=45))
    post = next(p for p in dh.posts() if p["name"] == "(415) 555-0101")

    answer = await _queue(dh)
    lines = answer["content"].split("\n")
    assert lines[0] == "**Unassigned** — 2, longest wait first:"
    assert lines[1].startswith(f"• [(415) 555-0101](<https://discord.com/channels/{dh.discord.guild_id}/{post['id']}>)")
    assert lines[1].endswith("🆕 New · unassigned · waiting 45 min")
    buttons = _buttons(answer)
    assert [b["label"] for b in buttons] == ["Claim · (415) 555-0101", "Claim · (415) 555-0102"]

    iid = await dh.discord.click_button(int(answer["id"]), buttons[0]["custom_id"], DISCORD_ANA, channel_id=FORUM)
    await dh.discord.wait_for(lambda: bool(dh.discord.followups(iid)), message="the claim's answer")  # type: ignore[union-attr]
    await dh.drain()
    assert dh.discord.followups(iid)[0]["content"] == "It's yours."

    mine = await _queue(dh, "mine")
    assert mine["content"].split("\n")[0] == "**Yours** — 1, longest wait first:"
    assert "· ana · waiting 45 min" in mine["content"]
    assert _buttons(mine) == []
    assert (await _queue(dh, "mine", user=DISCORD_BEN))["content"] == "Nothing assigned to you."
    assert (await _queue(dh, "unassigned"))["content"].startswith("**Unassigned** — 1,")
