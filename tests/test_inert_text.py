"""A customer's name and text can neither ping anyone nor break formatting, on Slack
or Discord: every value is escaped by the chat adapter that renders it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.inbox.contacts_csv import import_contacts
from tests.harness import CUSTOMER, DISCORD_ANA, DISCORD_BEN, Harness

NAME = "<!channel> *Bob* @everyone"
TEXT = f"<!here> @everyone <@U123> **x** <@{DISCORD_BEN}> _y_"
# What would notify someone in Slack mrkdwn: special mentions and user mentions.
SLACK_PINGS = re.compile(r"<!(channel|here|everyone)|<@U")


@pytest.fixture
async def both(databases: Any, tmp_path: Path) -> AsyncIterator[Harness]:
    h = Harness(databases, discord=True, collision_seconds=0)
    await h.start()
    assert h.bridge is not None
    sheet = tmp_path / "contacts.csv"
    sheet.write_text(f'Phone,Name\n{CUSTOMER},"{NAME}"\n', encoding="utf-8")
    await import_contacts(h.bridge.db, sheet)
    yield h
    await h.stop()


def _mrkdwn(params: dict[str, Any]) -> Iterator[str]:
    """Every piece of a Slack call that Slack reads as mrkdwn."""
    if params.get("mrkdwn") not in (False, "false", "0"):
        yield str(params.get("text") or "")
    for block in params.get("blocks") or []:
        texts = [block.get("text")] + list(block.get("elements") or [])
        for item in texts:
            if isinstance(item, dict) and item.get("type") == "mrkdwn":
                yield str(item["text"])


async def test_names_and_texts_reach_slack_and_discord_as_inert_text(both: Harness) -> None:
    assert both.discord is not None
    await both.text_in(TEXT)
    root = await both.first_thread()
    post = await both.first_post()
    await both.teammate(root, "!r Thanks, we're on it")
    await both.discord.user_message(post["id"], DISCORD_ANA, "!r And from Discord")
    await both.discord.wait_for(lambda: len(both.sms_sent()) == 2, message="both replies sent")
    await both.drain()

    # Slack: the customer's words as typed (no markup read in them), nothing that pings.
    calls = [*both.slack.posts, *both.slack.calls_to("chat.update"), *both.slack.ephemerals]
    assert calls
    for params in calls:
        assert not params.get("link_names") and params.get("parse") not in ("full", "client")
        for text in _mrkdwn(params):
            assert not SLACK_PINGS.search(text), text
            assert "*Bob*" not in text and "**x**" not in text, text
    [customer] = [m for m in both.thread(root) if m.get("username")]
    assert customer["text"] == f"&lt;!here&gt; @everyone &lt;@U123&gt; **x** &lt;@{DISCORD_BEN}&gt; _y_"
    assert next(p for p in both.slack.posts if p.get("username"))["mrkdwn"] in (False, "false", "0")
    card = both.roots()[0]
    assert "Bob" in card["text"] and "&lt;!channel&gt;" in card["text"]
    lines = [m["text"] for m in both.thread(root) if "SMS by" in m["text"]]
    assert len(lines) == 2 and all("&lt;!channel&gt; ∗Bob∗ @everyone" in line for line in lines)

    # Discord: no message notifies anyone, and no markdown of theirs is read.
    messages = both.post_messages(post["id"])
    for message in messages:
        assert both.discord.pinged(int(message["id"])) == {"everyone": False, "users": [], "roles": []}, message["content"]
        assert not re.search(r"(?<!\\)\*\*x\*\*|(?<![\\])\*Bob\*", message["content"]), message["content"]
    [customer_post] = [m for m in messages if "**x**" in m["content"].replace("\\", "")]
    assert customer_post["content"].replace("\\", "").replace("\u200b", "") == f"💬 **{NAME}**\n{TEXT}"
    assert messages[0]["embeds"][0]["title"].startswith("📱 <!channel> \\*Bob\\* @everyone · ")  # no ping in an embed
    discord_lines = [m["content"] for m in messages if "SMS by" in m["content"]]
    assert len(discord_lines) == 2
    assert all("\\*Bob\\*" in line and "@\u200beveryone" in line for line in discord_lines)


async def test_an_assignment_pings_only_the_teammate_assigned(both: Harness) -> None:
    """The one mention smsbridge means to make still notifies, and only that person."""
    assert both.discord is not None
    await both.text_in("hello")
    root = await both.first_thread()
    post = await both.first_post()
    await both.discord.user_message(post["id"], DISCORD_ANA, f"!assign <@{DISCORD_BEN}>")
    await both.discord.wait_for(
        lambda: any(m["content"].startswith("👉") for m in both.post_messages(post["id"])), message="the assignment notice"
    )
    await both.drain()
    [notice] = [m for m in both.post_messages(post["id"]) if m["content"].startswith("👉")]
    assert notice["content"].startswith(f"👉 Assigned to <@{DISCORD_BEN}> by ana")
    assert both.discord.pinged(int(notice["id"])) == {"everyone": False, "users": [DISCORD_BEN], "roles": []}
    [slack_notice] = [m for m in both.thread(root) if m["text"].startswith("👉")]
    assert slack_notice["text"].startswith("👉 Assigned to @ben by ana")
