"""Edits and deletions of teammates' thread messages, through slack-bolt's
message_changed / message_deleted events and discord.py's raw edit and delete events:
a note takes its new text (and search follows) or goes; a `!r` still in its undo window
changes what is sent; once it has left, the edit is not re-sent and its author is told."""

from __future__ import annotations

import time
from typing import Any

from tests.harness import CHANNEL, DISCORD_ANA, Harness


def edited(h: Harness, original: dict[str, Any], text: str) -> dict[str, Any]:
    """Slack's message_changed event for a thread reply, as Events API delivers it."""
    now = f"{time.time():.6f}"
    message = {**original, "text": text, "edited": {"user": original["user"], "ts": now}}
    message.pop("channel", None)
    return {
        "type": "message", "subtype": "message_changed", "hidden": True, "channel": CHANNEL,
        "ts": now, "event_ts": now, "message": message, "previous_message": {k: v for k, v in original.items() if k != "channel"},
    }


def deleted(original: dict[str, Any]) -> dict[str, Any]:
    now = f"{time.time():.6f}"
    return {
        "type": "message", "subtype": "message_deleted", "hidden": True, "channel": CHANNEL, "ts": now, "event_ts": now,
        "deleted_ts": original["ts"], "previous_message": {k: v for k, v in original.items() if k != "channel"},
    }


def whispers(h: Harness, user: str = "UANA") -> list[str]:
    return [e["text"] for e in h.slack.ephemerals if e["user"] == user]


async def search(h: Harness, words: str) -> str:
    return str(await h.sms_command(f"search {words}"))


async def test_edited_note_is_stored_and_found_by_its_new_text(harness: Harness) -> None:
    await harness.text_in("hello")
    root = await harness.first_thread()
    note = harness.teammate_event(root, "customer wants the green bike")
    await harness.slack_event(note)
    await harness.slack_event(edited(harness, note, "customer wants the purple bike"))
    await harness.drain()
    assert [tuple(r) for r in await harness.rows("SELECT body FROM notes")] == [("customer wants the purple bike",)]
    assert "1 conversation" in await search(harness, "purple")
    assert "Nothing found" in await search(harness, "green")
    # An unfurl or a re-delivery with the same text changes nothing and says nothing.
    await harness.slack_event(edited(harness, note, "customer wants the purple bike"))
    await harness.drain()
    assert whispers(harness) == [] and harness.sms_sent() == []


async def test_deleted_note_leaves_storage_and_search(harness: Harness) -> None:
    await harness.text_in("hello")
    root = await harness.first_thread()
    note = harness.teammate_event(root, "secret discount code ZEBRA")
    await harness.slack_event(note)
    await harness.drain()
    assert "1 conversation" in await search(harness, "ZEBRA")
    await harness.slack_event(deleted(note))
    await harness.drain()
    assert await harness.rows("SELECT id FROM notes") == []
    assert "Nothing found" in await search(harness, "ZEBRA")


async def test_edit_within_the_undo_window_changes_what_is_sent(databases) -> None:  # type: ignore[no-untyped-def]
    h = Harness(databases, undo_seconds=2)
    await h.start()
    try:
        await h.text_in("when do you open?")
        root = await h.first_thread()
        reply = h.teammate_event(root, "!r We open at 8")
        await h.slack_event(reply)
        await h.slack_event(edited(h, reply, "!r We open at 9 :sunny:"))
        await h.twilio.wait_for(lambda: h.sms_sent(), timeout=10, message="the reply sent")
        await h.drain()
        assert [m["Body"] for m in h.sms_sent()] == ["We open at 9 ☀️"]
        [line] = [m for m in h.thread(root) if "SMS by Ana" in m["text"]]
        assert "(Unicode)" in line["text"]  # its segments were counted again for the new text
        assert whispers(h) == []
    finally:
        await h.stop()


async def test_edit_after_the_reply_left_is_not_resent(harness: Harness) -> None:
    await harness.text_in("when do you open?")
    root = await harness.first_thread()
    reply = harness.teammate_event(root, "!r We open at 8")
    await harness.slack_event(reply)
    await harness.drain()
    await harness.slack_event(edited(harness, reply, "!r We open at 9"))
    await harness.drain()
    assert [m["Body"] for m in harness.sms_sent()] == ["We open at 8"]
    assert whispers(harness) == []
    # Said in the thread for everyone, quoting what the customer got.
    [said] = [m["text"] for m in harness.thread(root) if "already sent" in m["text"]]
    assert "Ana edited a reply" in said and "not sent" in said and "We open at 8" in said
    assert [tuple(r) for r in await harness.rows("SELECT body FROM messages WHERE direction = 'out'")] == [("We open at 8",)]


async def test_discord_edits_and_deletions_of_notes_and_replies(databases) -> None:  # type: ignore[no-untyped-def]
    dh = Harness(databases, discord=True, smsbridge_slack_channel=None)
    await dh.start()
    try:
        assert dh.discord is not None
        await dh.text_in("hello")
        post = await dh.first_post()
        note = await dh.discord.user_message(post["id"], DISCORD_ANA, "call back after lunch")
        await dh.discord.wait_for(lambda: dh.rows("SELECT 1 FROM notes"), message="the note")
        await dh.discord.user_edit(note, "call back after 3pm")
        await dh.discord.wait_for(lambda: dh.rows("SELECT 1 FROM notes WHERE body = 'call back after 3pm'"), message="the edit")
        await dh.discord.user_delete(note)
        await dh.discord.wait_for(lambda: _none(dh, "SELECT 1 FROM notes"), message="the deletion")

        reply = await dh.discord.user_message(post["id"], DISCORD_ANA, "!r See you at 3")
        await dh.discord.wait_for(lambda: len(dh.sms_sent()) == 1, message="the SMS")
        await dh.drain()
        await dh.discord.user_edit(reply, "!r See you at 4")
        await dh.discord.wait_for(
            lambda: any("already sent" in m["content"] for m in dh.post_messages(post["id"])), message="the notice"
        )
        assert [m["Body"] for m in dh.sms_sent()] == ["See you at 3"]
    finally:
        await dh.stop()


async def _none(h: Harness, sql: str) -> bool:
    return not await h.rows(sql)


async def test_edit_of_an_undone_reply_says_it_was_never_sent(databases) -> None:  # type: ignore[no-untyped-def]
    """An undone reply was never sent: its edit changes nothing, only its author is told,
    and the thread is not told that the customer has it."""
    h = Harness(databases, undo_seconds=30)
    await h.start()
    try:
        await h.text_in("when do you open?")
        root = await h.first_thread()
        reply = h.teammate_event(root, "!r We open at 8")
        await h.slack_event(reply)
        await h.slack.wait_for(lambda: any("Sending in" in m["text"] for m in h.thread(root)), message="the undo window")
        [line] = [m for m in h.thread(root) if "Sending in" in m["text"]]
        undo = next(el for b in line["blocks"] if b["type"] == "actions" for el in b["elements"])
        assert "Undone" in (await h.click(undo, "UANA", message_ts=line["ts"]))["text"]
        await h.slack_event(edited(h, reply, "!r We open at 9"))
        await h.slack.wait_for(lambda: bool(whispers(h)), message="the answer to the edit")
        assert "was not sent (undone)" in whispers(h)[-1]
        assert not any("already sent" in m["text"] for m in h.thread(root))
        assert h.sms_sent() == []
    finally:
        await h.stop()
