"""`/sms report` uploads its charts as PNG into the channel where it was asked, through
the outbox: once, even when the chat loses the answer to the upload; none for a quiet period."""

from __future__ import annotations

import re
import struct

import aiohttp

from tests.harness import CHANNEL, DISCORD_ANA, FORUM, Harness

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk (the first one)."""
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


async def test_slack_report_uploads_two_charts_once_into_the_asking_channel(harness: Harness) -> None:
    await harness.text_in("Hi, is my bike ready?")
    await harness.first_thread()
    await harness.drain()
    harness.slack.lose_answer_next("files.completeUploadExternal")

    answer = await harness.sms_command("report 7d")
    await harness.drain()

    assert "Report, last 7d" in answer["text"] and "No traffic" not in answer["text"]
    files = harness.slack.files
    assert [f["title"] for f in files] == ["Busiest times", "Daily volume and first response"]
    assert all(f["channel"] == CHANNEL and f["thread_ts"] is None for f in files)
    assert [_png_size(f["bytes"]) for f in files] == [(720, 450), (720, 450)]


async def test_slack_report_of_a_quiet_period_uploads_nothing(harness: Harness) -> None:
    answer = await harness.sms_command("report 7d")
    await harness.drain()
    assert "No traffic in this period" in answer["text"]
    assert harness.slack.files == []


async def test_discord_report_attaches_two_charts_once(dh_admin: Harness) -> None:
    assert dh_admin.discord is not None
    await dh_admin.text_in("hello")
    await dh_admin.first_post()
    dh_admin.discord.lose_answer_next("/messages")  # the charts: posted, answer lost, discord.py resends
    iid = await dh_admin.discord.slash_command("sms", {"period": "7d"}, user_id=DISCORD_ANA, channel_id=FORUM, subcommand="report")
    await dh_admin.discord.wait_for(lambda: bool(dh_admin.discord.followups(iid)), message="the answer")  # type: ignore[union-attr]
    await dh_admin.drain()

    charts = [p for p in dh_admin.posts() if p["name"].startswith("Report charts")]
    assert len(charts) == 1
    sent = charts[0]["messages"]
    assert len(sent) == 2 and sent[0]["content"] == charts[0]["name"]
    attachments = sent[1]["attachments"]
    assert [re.sub(r"-\d{8}-\d{6}-\d+\.png$", "", a["filename"]) for a in attachments] == ["busiest-times", "daily-volume"]
    async with aiohttp.ClientSession() as session:
        for attachment in attachments:
            async with session.get(attachment["url"]) as response:
                assert _png_size(await response.read()) == (720, 450)


async def test_discord_report_of_a_quiet_period_attaches_nothing(dh_admin: Harness) -> None:
    assert dh_admin.discord is not None
    iid = await dh_admin.discord.slash_command("sms", {"period": "7d"}, user_id=DISCORD_ANA, channel_id=FORUM, subcommand="report")
    await dh_admin.discord.wait_for(lambda: bool(dh_admin.discord.followups(iid)), message="the answer")  # type: ignore[union-attr]
    await dh_admin.drain()
    assert not [p for p in dh_admin.posts() if p["name"].startswith("Report charts")]
