"""Automatic assignment as the team sees it: round-robin and least-busy with caps and away
teammates, the card's "assigned by", the thread's notice and the audit log, through the
real slack-bolt and discord.py against the fakes, on both databases; and two
conversations starting at once never both going to the same teammate by a race."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import ValidationError

from bridge.config import Settings
from bridge.inbox.assignment_policy import Strategy
from bridge.inbox.models import Conversation
from bridge.inbox.phone import parse_phone
from tests.harness import CHANNEL, CUSTOMER, DISCORD_ANA, DISCORD_BEN, FORUM, OTHER_CUSTOMER, Harness

THIRD = "+14155550103"


async def _team(h: Harness, *users: str) -> None:
    """Teammates become known to smsbridge the first time they use it."""
    for user in users:
        await h.sms_command("back", user=user)


async def _new_conversation(h: Harness, sender: str, body: str = "hello") -> dict[str, Any]:
    """A customer's first text; returns its card once the thread shows what became of it."""
    before = len(h.roots())
    await h.text_in(body, sender=sender)
    await h.slack.wait_for(lambda: len(h.roots()) == before + 1, message="the new conversation's card")
    await h.drain()
    card = next(c for c in h.roots() if sender[-4:] in str(c["blocks"]))
    return h.slack.get(CHANNEL, str(card["ts"])) or card


def _facts(card: dict[str, Any]) -> str:
    return str(card["blocks"][1]["elements"][0]["text"])


def _thread_texts(h: Harness, card: dict[str, Any]) -> list[str]:
    return [str(m.get("text")) for m in h.thread(str(card["ts"]))]


async def _audit(h: Harness, action: str) -> list[Any]:
    rows = await h.rows("SELECT actor, conversation_id, detail FROM audit_events WHERE action = :a ORDER BY id", a=action)
    return [(actor, conv, json.loads(d) if isinstance(d, str) else d) for actor, conv, d in rows]


@pytest.fixture
async def rr(databases: Any) -> AsyncIterator[Harness]:
    h = Harness(databases, smsbridge_assign="round-robin")
    await h.start()
    yield h
    await h.stop()


async def test_round_robin_takes_turns_and_the_card_and_thread_say_so(rr: Harness) -> None:
    await _team(rr, "UANA", "UBEN")
    first = await _new_conversation(rr, CUSTOMER)
    assert "*Assignee:* Ana (assigned by round-robin)" in _facts(first)
    assert "🤖 Assigned to <@UANA> by round-robin (next in turn)." in _thread_texts(rr, first)
    second = await _new_conversation(rr, OTHER_CUSTOMER)
    assert "*Assignee:* Ben (assigned by round-robin)" in _facts(second)
    third = await _new_conversation(rr, THIRD)
    assert "*Assignee:* Ana (assigned by round-robin)" in _facts(third)

    audited = await _audit(rr, "auto_assigned")
    assert [(actor, detail["after"], detail["by"]) for actor, _c, detail in audited] == [
        ("smsbridge", "Ana", "round-robin"), ("smsbridge", "Ben", "round-robin"), ("smsbridge", "Ana", "round-robin")
    ]
    # A teammate taking it over clears "assigned by": the card shows a person's choice.
    await rr.teammate(str(third["ts"]), "!assign Ben")
    await rr.drain()
    card = rr.slack.get(CHANNEL, str(third["ts"]))
    assert card is not None and "*Assignee:* Ben  ·" in _facts(card)
    assert "assigned by" not in _facts(card)


async def test_away_teammates_and_caps_are_skipped_and_the_thread_is_told_once(databases: Any) -> None:
    h = Harness(databases, smsbridge_assign="round-robin", smsbridge_max_open=1)
    await h.start()
    try:
        await _team(h, "UANA", "UBEN")
        await h.sms_command("away", user="UBEN")
        first = await _new_conversation(h, CUSTOMER)
        assert "Ana (assigned by round-robin)" in _facts(first)
        # Ana is at her cap of one and Ben is away: nobody can take the next one.
        second = await _new_conversation(h, OTHER_CUSTOMER)
        assert "*Assignee:* nobody yet" in _facts(second)
        told = [t for t in _thread_texts(h, second) if t.startswith("⚠️ Nobody could take")]
        assert told == [
            "⚠️ Nobody could take this conversation by round-robin: everyone is away or has 1 open "
            "(SMSBRIDGE_MAX_OPEN). It stays unassigned; `!claim` takes it."
        ]
        # More texts of the same conversation do not tell the channel again.
        await h.text_in("anyone there?", sender=OTHER_CUSTOMER)
        await h.slack.wait_for(lambda: "anyone there?" in _thread_texts(h, second), message="the second text")
        await h.drain()
        assert sum(t.startswith("⚠️ Nobody could take") for t in _thread_texts(h, second)) == 1
        [(actor, _conv, detail)] = await _audit(h, "auto_assign_failed")
        assert actor == "smsbridge" and "SMSBRIDGE_MAX_OPEN" in detail["reason"]

        # Ben is back: the next new conversation is his; Ana closes hers, a reopen keeps her.
        await h.sms_command("back", user="UBEN")
        third = await _new_conversation(h, THIRD)
        assert "Ben (assigned by round-robin)" in _facts(third)
        await h.teammate(str(first["ts"]), "!close")
        await h.drain()
        await h.text_in("one more thing", sender=CUSTOMER)
        await h.slack.wait_for(lambda: "one more thing" in _thread_texts(h, first), message="the reopening text")
        await h.drain()
        assert len(await _audit(h, "auto_assigned")) == 2  # Ana kept it: not assigned again
    finally:
        await h.stop()


async def test_least_busy_picks_the_teammate_with_fewest_open_among_the_listed(databases: Any) -> None:
    h = Harness(databases, smsbridge_assign="least-busy")
    await h.start()
    try:
        await _team(h, "UANA", "UBEN")
        first = await _new_conversation(h, CUSTOMER)
        assert "Ana (assigned by least-busy)" in _facts(first)
        assert "🤖 Assigned to <@UANA> by least-busy (0 open)." in _thread_texts(h, first)
        await h.teammate(str(first["ts"]), "!assign Ana")
        second = await _new_conversation(h, OTHER_CUSTOMER)
        assert "Ben (assigned by least-busy)" in _facts(second)
        # Ben closes his: he has none open, Ana one, so Ben again.
        await h.teammate(str(second["ts"]), "!close")
        await h.drain()
        third = await _new_conversation(h, THIRD)
        assert "Ben (assigned by least-busy)" in _facts(third)
    finally:
        await h.stop()


async def test_smsbridge_agents_limits_who_takes_conversations(databases: Any) -> None:
    """Only Ana is listed: she takes both, though Ben has fewer open."""
    h = Harness(databases, smsbridge_assign="least-busy", smsbridge_agents="slack:UANA")
    await h.start()
    try:
        await _team(h, "UANA", "UBEN")
        for sender in (CUSTOMER, OTHER_CUSTOMER):
            card = await _new_conversation(h, sender)
            assert "Ana (assigned by least-busy)" in _facts(card)
    finally:
        await h.stop()


async def test_two_conversations_starting_at_once_go_to_two_teammates(databases: Any) -> None:
    """Least-busy with a cap of one: without the lock both would see two free teammates
    and could pick the same one."""
    h = Harness(databases, smsbridge_assign="least-busy", smsbridge_max_open=1)
    await h.start()
    try:
        await _team(h, "UANA", "UBEN")
        await asyncio.gather(h.text_in("first", sender=CUSTOMER), h.text_in("second", sender=OTHER_CUSTOMER))
        await h.slack.wait_for(lambda: len(h.roots()) == 2, message="two cards")
        await h.drain()
        owners = sorted(str(row[0]) for row in await h.rows("SELECT a.name FROM conversations c JOIN agents a ON a.id = c.assignee_id"))
        assert owners == ["Ana", "Ben"]
    finally:
        await h.stop()


async def test_the_lock_makes_a_second_chooser_wait_for_the_first(harness: Harness) -> None:
    """Two transactions choosing at once (two processes on PostgreSQL, two tasks on SQLite's
    one connection): the second waits for the first to commit, then sees its choice."""
    await _team(harness, "UANA", "UBEN")
    bridge = harness.bridge
    assert bridge is not None
    service = bridge.service
    inbox = bridge.directory.all()[0]
    policy_inbox = type(inbox)(**{**inbox.__dict__, "assignment": type(inbox.assignment)(Strategy.LEAST_BUSY, (), 1)})
    async with bridge.db.sessions.begin() as session:
        convs = [(await service.conversations.find_or_create(session, inbox.id, parse_phone(p)))[0].id for p in (CUSTOMER, OTHER_CUSTOMER)]

    first_chose = asyncio.Event()
    release = asyncio.Event()

    async def chooser(conv_id: int, hold: bool) -> str | None:
        async with bridge.db.sessions.begin() as session:
            conv = await session.get_one(Conversation, conv_id)
            choice = await service.assigner.conversation_started(session, policy_inbox, conv)
            if hold:
                first_chose.set()
                await release.wait()  # still holding the lock
            return choice.agent.name if choice and choice.agent else None

    first = asyncio.create_task(chooser(convs[0], hold=True))
    await first_chose.wait()
    second = asyncio.create_task(chooser(convs[1], hold=False))
    await asyncio.sleep(0)  # let the second start and block on the lock
    assert not second.done()
    release.set()
    assert sorted([await first, await second]) == ["Ana", "Ben"]  # type: ignore[type-var]


def test_bad_assignment_settings_name_the_setting() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, smsbridge_assign="random")  # type: ignore[call-arg]
    assert "smsbridge_assign" in str(caught.value) and "round-robin" in str(caught.value)
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, smsbridge_agents="teams:U1")  # type: ignore[call-arg]
    assert "smsbridge_agents" in str(caught.value) and "slack:U0123" in str(caught.value)
    settings = Settings(_env_file=None, smsbridge_assign="Least_Busy", smsbridge_agents="slack:U1, 1234")  # type: ignore[call-arg]
    assert settings.smsbridge_assign == "least-busy" and settings.smsbridge_agents == ["slack:U1", "1234"]


async def test_check_warns_about_listed_agents_nobody_knows(harness: Harness) -> None:
    from bridge.checks import _agent_findings

    await _team(harness, "UANA")
    assert harness.bridge is not None and harness.settings is not None
    settings = harness.make_settings(smsbridge_agents="slack:UANA,slack:UNOBODY")
    [finding] = await _agent_findings(settings, harness.bridge.db)
    assert finding.level == "warn"
    assert finding.title == "SMSBRIDGE_AGENTS: slack:UNOBODY is not a teammate smsbridge knows (inbox default)"


# -- Discord ----------------------------------------------------------------------------


async def test_discord_round_robin_card_and_notice(databases: Any) -> None:
    h = Harness(databases, discord=True, smsbridge_slack_channel=None, smsbridge_assign="round-robin")
    await h.start()
    assert h.discord is not None
    try:
        from bridge.adapters.discord_bot.commands import sync_commands

        await sync_commands(h.discord.token, h.discord.guild_id)
        for user in (DISCORD_ANA, DISCORD_BEN):
            iid = await h.discord.slash_command("sms", {}, user_id=user, channel_id=FORUM, subcommand="back")
            await h.discord.wait_for(lambda iid=iid: bool(h.discord.followups(iid)), message="back")  # type: ignore[union-attr]
        for n, sender in enumerate((CUSTOMER, OTHER_CUSTOMER)):
            await h.text_in("hello", sender=sender)
            await h.discord.wait_for(lambda n=n: len(h.posts()) == n + 1, message="a forum post")
            await h.drain()
        for post, name, user in zip(h.posts(), ("ana", "ben"), (DISCORD_ANA, DISCORD_BEN), strict=True):
            messages = h.post_messages(post["id"])
            fields = {f["name"]: f["value"] for f in messages[0]["embeds"][0]["fields"]}
            assert fields["Assignee"] == f"{name} (assigned by round-robin)"
            assert f"🤖 Assigned to <@{user}> by round-robin (next in turn)." in [m["content"] for m in messages]
    finally:
        await h.stop()


async def test_a_reopened_conversation_finds_an_owner_when_its_own_is_away(rr: Harness) -> None:
    await _team(rr, "UANA", "UBEN")
    first = await _new_conversation(rr, CUSTOMER)
    assert "Ana (assigned by round-robin)" in _facts(first)
    await rr.teammate(str(first["ts"]), "!close")
    await rr.sms_command("away", user="UANA")
    await rr.drain()
    await rr.text_in("it broke again", sender=CUSTOMER)
    await rr.slack.wait_for(lambda: "🤖 Assigned to <@UBEN> by round-robin (next in turn)." in _thread_texts(rr, first), message="reassigned")
    await rr.drain()
    assert "Ben (assigned by round-robin)" in _facts(rr.slack.get(CHANNEL, str(first["ts"])) or first)
    assert [d["after"] for _a, _c, d in await _audit(rr, "auto_assigned")] == ["Ana", "Ben"]
