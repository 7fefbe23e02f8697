"""`/sms report [today|7d|30d|FROM..TO] [inbox] [@agent]` as teammates type it on Slack and
pick it on Discord: the words in any order, and a private answer naming what is valid."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.harness import DISCORD_ANA, FORUM, Harness


@pytest.fixture
async def dh(databases: Any) -> AsyncIterator[Harness]:
    from bridge.adapters.discord_bot.commands import sync_commands

    h = Harness(databases, discord=True, smsbridge_slack_channel=None, admins=[f"discord:{DISCORD_ANA}"])
    await h.start()
    assert h.discord is not None
    await sync_commands(h.discord.token, h.discord.guild_id)
    yield h
    await h.stop()


async def _answered_by_ana(h: Harness) -> None:
    await h.text_in("Hi, is my bike ready?")
    root = await h.first_thread()
    await h.drain()
    await h.teammate(root, "!claim")
    await h.teammate(root, "!r Yes, come by at 5")
    await h.drain()


async def test_slack_report_for_one_inbox_and_one_teammate(harness: Harness) -> None:
    await _answered_by_ana(harness)

    answer = (await harness.sms_command("report 30d default <@UANA>"))["text"]
    assert "Report, last 30d" in answer and "inbox default · Ana's conversations" in answer
    assert "Texts in: 1 · out: 1 (replies 1)" in answer
    assert "Ana: 1 · 1 ·" in answer

    # Any order; the inbox's name in any case.
    again = (await harness.sms_command("report DEFAULT today"))["text"]
    assert "Report, today" in again and "inbox default" in again and "Ana's" not in again


async def test_slack_report_refuses_unknown_words_listing_what_is_valid(harness: Harness) -> None:
    unknown = (await harness.sms_command("report yesterday"))["text"]
    assert "`yesterday` is neither a period nor an inbox" in unknown
    assert "today, 24h, 7d, 30d, 2w or FROM..TO" in unknown and "Inboxes: default" in unknown
    assert "/sms report [today|7d|30d|FROM..TO] [INBOX] [@name]" in unknown

    bad_range = (await harness.sms_command("report 2026-12-01..2026-11-01"))["text"]
    assert "FROM must be before TO" in bad_range

    nobody = (await harness.sms_command("report 7d @zed"))["text"]
    assert "`@zed` is not a teammate smsbridge knows" in nobody and "Teammates: Ana" in nobody
    assert harness.slack.files == []


async def test_discord_report_options_period_inbox_and_teammate(dh: Harness) -> None:
    assert dh.discord is not None
    await dh.text_in("hello")
    await dh.first_post()
    await dh.drain()
    iid = await dh.discord.slash_command(
        "sms", {"period": "7d", "inbox": "default"}, user_id=DISCORD_ANA, channel_id=FORUM, subcommand="report"
    )
    await dh.discord.wait_for(lambda: bool(dh.discord.followups(iid)), message="the answer")  # type: ignore[union-attr]
    [answer] = dh.discord.followups(iid)
    assert "Report, last 7d" in answer["content"] and "inbox default" in answer["content"]

    iid = await dh.discord.slash_command("sms", {"inbox": "nowhere"}, user_id=DISCORD_ANA, channel_id=FORUM, subcommand="report")
    await dh.discord.wait_for(lambda: bool(dh.discord.followups(iid)), message="the refusal")  # type: ignore[union-attr]
    [refusal] = dh.discord.followups(iid)
    assert "`nowhere` is neither a period nor an inbox" in refusal["content"] and "Inboxes: default" in refusal["content"]
