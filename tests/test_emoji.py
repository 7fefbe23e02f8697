"""Text as the teammate wrote it: Slack shortcodes reach the customer as Unicode emoji,
taken from the message's rich_text block (as Slack sends it) or, without blocks, from
the emoji library's names; a custom workspace emoji is left out with a word to the sender."""

from __future__ import annotations

from typing import Any

from bridge.adapters.slack.emoji import unicode_emoji
from tests.harness import Harness


def rich_text(*elements: dict[str, Any]) -> list[dict[str, Any]]:
    """The rich_text block a Slack client attaches to a typed message."""
    return [{"type": "rich_text", "block_id": "Xy1", "elements": [{"type": "rich_text_section", "elements": list(elements)}]}]


def typed(h: Harness, root: str, text: str, blocks: list[dict[str, Any]] | None) -> dict[str, Any]:
    event = h.teammate_event(root, text)
    if blocks is not None:
        event["blocks"] = blocks
    return event


def whispers(h: Harness, user: str = "UANA") -> list[str]:
    return [e["text"] for e in h.slack.ephemerals if e["user"] == user]


async def test_shortcode_from_rich_text_block_reaches_the_customer_as_unicode(harness: Harness) -> None:
    await harness.text_in("thank you so much")
    root = await harness.first_thread()
    blocks = rich_text(
        {"type": "text", "text": "!r Thanks "},
        {"type": "emoji", "name": "bow", "unicode": "1f647"},
        {"type": "text", "text": " see you "},
        {"type": "emoji", "name": "+1", "unicode": "1f44d-1f3fd", "skin_tone": 4},
    )
    await harness.slack_event(typed(harness, root, "!r Thanks :bow: see you :+1::skin-tone-4:", blocks))
    await harness.drain()
    assert [m["Body"] for m in harness.sms_sent()] == ["Thanks 🙇 see you 👍🏽"]
    assert whispers(harness) == []


async def test_shortcode_without_blocks_uses_the_emoji_library(harness: Harness) -> None:
    await harness.text_in("hi")
    root = await harness.first_thread()
    await harness.slack_event(typed(harness, root, "!r Done :white_check_mark: at 10:30:00 :tada:", None))
    await harness.drain()
    assert [m["Body"] for m in harness.sms_sent()] == ["Done ✅ at 10:30:00 🎉"]


async def test_custom_workspace_emoji_is_left_out_and_the_sender_told(harness: Harness) -> None:
    await harness.text_in("hi")
    root = await harness.first_thread()
    blocks = rich_text(
        {"type": "text", "text": "!r Great news "},
        {"type": "emoji", "name": "partyparrot"},
        {"type": "text", "text": " your bike is ready"},
    )
    await harness.slack_event(typed(harness, root, "!r Great news :partyparrot: your bike is ready", blocks))
    await harness.drain()
    assert [m["Body"] for m in harness.sms_sent()] == ["Great news your bike is ready"]
    [said] = whispers(harness)
    assert "Left out :partyparrot:" in said and "custom emoji" in said


async def test_a_reply_of_only_custom_emoji_sends_nothing(harness: Harness) -> None:
    await harness.text_in("hi")
    root = await harness.first_thread()
    await harness.slack_event(typed(harness, root, "!r :partyparrot:", rich_text({"type": "text", "text": "!r "}, {"type": "emoji", "name": "partyparrot"})))
    await harness.drain()
    assert harness.sms_sent() == []
    [said] = whispers(harness)
    assert "Left out :partyparrot:" in said and "Nothing else to send" in said


async def test_notes_keep_the_emoji_readable(harness: Harness) -> None:
    await harness.text_in("hi")
    root = await harness.first_thread()
    await harness.slack_event(typed(harness, root, "waiting on parts :hourglass:", rich_text({"type": "emoji", "name": "hourglass", "unicode": "231b"})))
    await harness.drain()
    assert [tuple(r) for r in await harness.rows("SELECT body FROM notes")] == [("waiting on parts ⌛",)]


def test_unicode_emoji_leaves_times_and_unknown_words_alone() -> None:
    assert unicode_emoji("at 10:30:45 :not_an_emoji_name:").text == "at 10:30:45 :not_an_emoji_name:"
    assert unicode_emoji("bad :x:", [{"type": "emoji", "name": "x", "unicode": "zz"}]).text == "bad :x:"
