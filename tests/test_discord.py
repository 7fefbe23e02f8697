"""Discord as a user sees it: each conversation is a forum post (issue 4).

The real smsbridge and the real discord.py against the loopback FakeDiscord,
on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bridge.adapters.discord_bot.gateway import LEASE_NAME
from bridge.inbox.models import Lease, utcnow
from tests.fakes.discord_api import Perms
from tests.harness import CUSTOMER, DISCORD_ANA, DISCORD_BEN, FORUM, NUMBER, Harness


@pytest.fixture
async def dh(databases: Any) -> AsyncIterator[Harness]:
    """Discord only: the default inbox is bound to the forum, not to a Slack channel."""
    h = Harness(databases, discord=True, smsbridge_slack_channel=None)
    await h.start()
    yield h
    await h.stop()


@pytest.fixture
async def both(databases: Any) -> AsyncIterator[Harness]:
    """Slack and Discord bound to the same inbox (no collision hold between teammates)."""
    h = Harness(databases, discord=True, collision_seconds=0)
    await h.start()
    yield h
    await h.stop()


def card(h: Harness, post: dict[str, Any]) -> dict[str, Any]:
    return h.post_messages(post["id"])[0]


def card_fields(h: Harness, post_id: int) -> dict[str, str]:
    assert h.discord is not None
    embed = h.discord.message(post_id)["embeds"][0]  # type: ignore[index]
    return {f["name"]: f["value"] for f in embed.get("fields", [])}


async def test_inbound_text_opens_a_forum_post_with_card_and_new_tag(dh: Harness) -> None:
    await dh.text_in("Hi, is my bike ready?")
    post = await dh.first_post()
    await dh.drain()

    assert post["name"] == "(415) 555-0101"
    starter = card(dh, post)
    embed = starter["embeds"][0]
    assert "(415) 555-0101" in embed["title"]
    fields = card_fields(dh, post["id"])
    assert "New" in fields["Status"] and fields["Assignee"] == "nobody yet"
    assert fields["Customer wrote"].startswith("<t:") and fields["Customer wrote"].endswith(":R>")
    custom_ids = {c["custom_id"] for row in starter["components"] for c in row["components"]}
    conv_id = embed["footer"]["text"].rsplit(" ", 1)[1]
    assert {f"smsbridge:claim:{conv_id}", f"smsbridge:close:{conv_id}"} <= custom_ids
    assert dh.post_tags(post["id"]) == ["New"]
    assert {t["name"] for t in dh.discord.forum_tags(FORUM)} >= {"New", "Open", "Pending", "Escalated", "Closed"}  # type: ignore[union-attr]
    texts = [m["content"] for m in dh.post_messages(post["id"])[1:]]
    assert texts == ["💬 **(415) 555-0101**\nHi, is my bike ready?"]

    await dh.text_in("second text")
    await dh.drain()
    assert len(dh.posts()) == 1
    assert dh.post_messages(post["id"])[-1]["content"].endswith("second text")


async def conv_id_of(h: Harness, post_id: int) -> str:
    assert h.discord is not None
    return h.discord.message(post_id)["embeds"][0]["footer"]["text"].rsplit(" ", 1)[1]  # type: ignore[index]


async def test_note_stays_internal_and_bang_r_sends(dh: Harness) -> None:
    assert dh.discord is not None
    await dh.text_in("Can I pick it up at 5?")
    post = await dh.first_post()
    await dh.drain()

    await dh.discord.user_message(post["id"], DISCORD_ANA, "checking with the workshop")
    await dh.discord.wait_for(lambda: dh.rows("SELECT body FROM notes"), message="the note")
    await dh.drain()
    assert dh.sms_sent() == []
    assert [tuple(r) for r in await dh.rows("SELECT body, author_name FROM notes")] == [("checking with the workshop", "ana")]

    await dh.discord.user_message(post["id"], DISCORD_ANA, "!r Yes, see you at 5")
    await dh.discord.wait_for(lambda: len(dh.sms_sent()) == 1, message="the SMS")
    await dh.drain()
    [sent] = dh.sms_sent()
    assert sent["Body"] == "Yes, see you at 5" and sent["To"] == CUSTOMER and sent["From"] == NUMBER
    assert [tuple(r) for r in await dh.rows("SELECT author_platform, author_id, author_name FROM messages WHERE direction='out'")] == [
        ("discord", str(DISCORD_ANA), "ana")
    ]
    status = [m for m in dh.post_messages(post["id"]) if "SMS by ana" in m["content"]]
    assert len(status) == 1 and "> Yes, see you at 5" in status[0]["content"]
    # The conversation is now open: card and tag follow.
    assert dh.post_tags(post["id"]) == ["Open"]
    # The same gateway event delivered twice (a RESUME replay) is one note, not two.
    mid = await dh.discord.user_message(post["id"], DISCORD_BEN, "one note")
    await dh.discord.wait_for(lambda: dh.rows("SELECT 1 FROM notes WHERE body = 'one note'"), message="the note")
    msg = dh.discord.message(mid)
    assert msg is not None
    await dh.discord._dispatch("MESSAGE_CREATE", msg)
    await dh.drain()
    assert len(await dh.rows("SELECT 1 FROM notes WHERE body = 'one note'")) == 1
    assert len(dh.sms_sent()) == 1


async def test_unknown_command_whispers_to_its_author_only(dh: Harness) -> None:
    assert dh.discord is not None
    await dh.text_in("hello")
    post = await dh.first_post()
    await dh.discord.user_message(post["id"], DISCORD_ANA, "!rply oops")
    await dh.discord.wait_for(
        lambda: any("is not a command" in m["content"] for m in dh.post_messages(post["id"])), message="the whisper"
    )
    whisper = next(m for m in dh.post_messages(post["id"]) if "is not a command" in m["content"])
    assert whisper["content"].startswith(f"<@{DISCORD_ANA}>")
    assert [int(u["id"]) for u in whisper["mentions"]] == [DISCORD_ANA]
    assert dh.sms_sent() == []


async def test_slash_reply_sends_and_answers_ephemerally(dh: Harness) -> None:
    from bridge.adapters.discord_bot.commands import sync_commands

    assert dh.discord is not None
    names = await sync_commands(dh.discord.token)
    assert {"reply", "claim", "assign", "snippet", "close", "status", "sms", "report"} <= set(names)
    await dh.text_in("are you open today?")
    post = await dh.first_post()
    await dh.drain()

    iid = await dh.discord.slash_command("reply", {"text": "Yes, until 6pm"}, user_id=DISCORD_ANA, channel_id=post["id"])
    first = await dh.discord.wait_response(iid)
    assert first["type"] == 5 and first["data"]["flags"] & 64  # deferred, ephemeral
    await dh.discord.wait_for(lambda: bool(dh.discord.followups(iid)), message="the answer")  # type: ignore[union-attr]
    await dh.drain()
    assert [m["Body"] for m in dh.sms_sent()] == ["Yes, until 6pm"]
    answer = dh.discord.followups(iid)[0]
    assert answer["flags"] & 64
    # /reply's text is not in the post: the status line quotes it.
    assert any("> Yes, until 6pm" in m["content"] for m in dh.post_messages(post["id"]))

    iid = await dh.discord.slash_command("status", {"status": "pending"}, user_id=DISCORD_ANA, channel_id=post["id"])
    await dh.discord.wait_for(lambda: bool(dh.discord.followups(iid)), message="the answer")  # type: ignore[union-attr]
    await dh.drain()
    assert dh.post_tags(post["id"]) == ["Pending"]

    iid = await dh.discord.slash_command("assign", {"user": DISCORD_BEN}, user_id=DISCORD_ANA, channel_id=post["id"])
    await dh.discord.wait_for(lambda: bool(dh.discord.followups(iid)), message="the answer")  # type: ignore[union-attr]
    await dh.drain()
    assert "Assigned to ben" in dh.discord.followups(iid)[0]["content"]
    assert card_fields(dh, post["id"])["Assignee"] == "ben"


async def test_claim_button_updates_card_and_close_changes_the_tag(dh: Harness) -> None:
    assert dh.discord is not None
    await dh.text_in("hello")
    post = await dh.first_post()
    await dh.drain()
    conv = await conv_id_of(dh, post["id"])

    iid = await dh.discord.click_button(post["id"], f"smsbridge:claim:{conv}", DISCORD_ANA)
    response = await dh.discord.wait_response(iid)
    assert response["type"] == 5 and response["data"]["flags"] & 64
    await dh.discord.wait_for(lambda: bool(dh.discord.followups(iid)), message="the answer")  # type: ignore[union-attr]
    await dh.drain()
    assert dh.discord.followups(iid)[0]["content"] == "It's yours."
    assert card_fields(dh, post["id"])["Assignee"] == "ana"
    custom_ids = {c["custom_id"] for row in card(dh, post)["components"] for c in row["components"]}
    assert f"smsbridge:claim:{conv}" not in custom_ids  # claimed: no Claim button
    assert any("ana claimed" in m["content"] for m in dh.post_messages(post["id"]))

    await dh.discord.user_message(post["id"], DISCORD_ANA, "!close")
    await dh.discord.wait_for(lambda: dh.post_tags(post["id"]) == ["Closed"], message="the Closed tag")
    assert "Closed" in card_fields(dh, post["id"])["Status"]
    custom_ids = {c["custom_id"] for row in card(dh, post)["components"] for c in row["components"]}
    assert f"smsbridge:reopen:{conv}" in custom_ids

    await dh.text_in("one more thing")  # the customer writes again: reopened
    await dh.discord.wait_for(lambda: dh.post_tags(post["id"]) == ["Open"], message="the Open tag")


async def test_long_text_is_split_never_cut(dh: Harness) -> None:
    body = ("word " * 900).strip()  # 4499 characters
    await dh.text_in(body)
    post = await dh.first_post()
    await dh.drain()
    parts = [m["content"] for m in dh.post_messages(post["id"])[1:]]
    assert len(parts) == 3 and all(len(p) <= 2000 for p in parts)
    assert "".join(p.split("\n", 1)[1] for p in parts) == body


async def test_mms_picture_is_an_attachment(dh: Harness) -> None:
    assert dh.discord is not None
    picture = b"\x89PNG\r\n\x1a\n" + b"0" * 1024
    url = dh.twilio.add_media(picture, "image/png")
    await dh.text_in("", media=[(url, "image/png")])
    post = await dh.first_post()
    await dh.drain()
    assert [f["data"] for f in dh.discord.files] == [picture]
    assert dh.discord.files[0]["channel_id"] == post["id"]


async def test_deleted_post_next_text_opens_a_new_one(dh: Harness) -> None:
    assert dh.discord is not None
    await dh.text_in("first")
    post = await dh.first_post()
    await dh.drain()
    await dh.discord.delete_thread(post["id"])

    await dh.text_in("after the deletion")
    await dh.discord.wait_for(lambda: len(dh.posts()) == 1 and dh.posts()[0]["id"] != post["id"], message="a new post")
    await dh.drain()
    new = dh.posts()[0]
    messages = dh.post_messages(new["id"])
    assert "continues it" in messages[0]["content"] and messages[0]["embeds"]
    assert messages[-1]["content"].endswith("after the deletion")
    linked = await dh.rows("SELECT thread_id FROM thread_links WHERE platform = 'discord'")
    assert [r[0] for r in linked] == [str(new["id"])]
    assert len(await dh.rows("SELECT 1 FROM outbox_jobs WHERE state = 'dead'")) == 0


async def test_only_one_process_holds_the_gateway(databases: Any) -> None:
    from bridge.app import SmsBridge

    # A lease long enough that a busy machine never misses a renewal (renewed every
    # second, lost after three), short enough for the takeover to be quick.
    h = Harness(databases, discord=True, smsbridge_slack_channel=None, discord_lease_seconds=3.0)
    await h.start()
    assert h.discord is not None and h.bridge is not None and h.settings is not None
    second = SmsBridge(h.settings, db=databases.reopen())
    third: SmsBridge | None = None
    try:
        await second.start("127.0.0.1", 0)
        await h.discord.wait_gateway_ready(1)
        # Observe the second process's tries at the lease: after a refused retry (not
        # only its first try at start) it must still be waiting.
        refused = 0
        attempt = second.discord_gateway.lease.try_acquire

        async def counted_attempt() -> bool:
            nonlocal refused
            held = bool(await attempt())
            refused += not held
            return held

        second.discord_gateway.lease.try_acquire = counted_attempt
        await h.discord.wait_for(lambda: refused >= 1, message="a refused retry by the second process")
        assert h.discord.active_gateways == 1
        assert second.discord_gateway.client is None

        # Both processes run outbox jobs; events are handled once, by the holder.
        await h.text_in("hello")
        post = await h.first_post()
        await h.discord.user_message(post["id"], DISCORD_ANA, "!r hi there")
        await h.discord.wait_for(lambda: len(h.sms_sent()) == 1, message="the SMS")

        # The holder dies (no release): the lease runs out and the second process takes over.
        await h.bridge.discord_gateway.stop(release=False)
        await h.discord.wait_for(lambda: h.discord.active_gateways == 0, message="the first gateway closed")  # type: ignore[union-attr]
        await h.discord_ready(second, timeout=8)  # the lease (3 s) runs out, then a poll
        assert h.discord.active_gateways == 1
        await h.discord.user_message(post["id"], DISCORD_ANA, "!r second process here")
        await h.discord.wait_for(lambda: len(h.sms_sent()) == 2, message="the SMS via the second process")

        # A graceful stop hands over at once (no waiting for expiry).
        third = SmsBridge(h.settings, db=databases.reopen())
        await third.start("127.0.0.1", 0)
        assert second.discord_gateway is not None
        leaving = second.discord_gateway.lease.holder
        await second.stop()
        # Stopping gave the lease up at once: with 3 s still to run it reads expired, or
        # the third process has taken it already.
        async with h.bridge.db.sessions() as session:
            lease = await session.get_one(Lease, LEASE_NAME)
        assert lease.holder != leaving or lease.expires_at <= utcnow()
        await h.discord_ready(third, timeout=10.0)
        assert h.discord.active_gateways == 1
    finally:
        if third is not None:
            await third.stop()
        await second.stop()
        await h.stop()


async def test_slack_and_discord_on_one_inbox_mirror_notes_and_quote_replies(both: Harness) -> None:
    assert both.discord is not None
    await both.text_in("Is the blue bike in stock?")
    root = await both.first_thread()
    post = await both.first_post()
    await both.drain()

    # A Slack note shows in the Discord post, labelled with its author.
    await both.teammate(root, "checking the stock room")
    await both.drain()
    assert any(m["content"] == "💬 **Ana** (Slack): checking the stock room" for m in both.post_messages(post["id"]))

    # A Discord note shows in the Slack thread.
    await both.discord.user_message(post["id"], DISCORD_BEN, "it's in the back")
    await both.discord.wait_for(lambda: both.rows("SELECT 1 FROM notes WHERE body = 'it''s in the back'"), message="note")
    await both.drain()
    assert any("it's in the back" in m["text"] and "ben" in m["text"] for m in both.thread(root))

    # A Discord `!r` shows, quoted, in the Slack thread's status line.
    await both.discord.user_message(post["id"], DISCORD_ANA, "!r Yes, come by today")
    await both.discord.wait_for(lambda: len(both.sms_sent()) == 1, message="the SMS")
    await both.drain()
    lines = [m for m in both.thread(root) if "SMS by ana" in m["text"]]
    assert len(lines) == 1 and "&gt; Yes, come by today" not in lines[0]["text"]
    assert "> Yes, come by today" in lines[0]["text"]

    # A Slack `!r` shows, quoted and attributed, in the Discord post's status line.
    await both.teammate(root, "!r See you soon", user="UBEN")
    await both.drain()
    discord_lines = [m["content"] for m in both.post_messages(post["id"]) if "SMS by Ben" in m["content"]]
    assert len(discord_lines) == 1 and "(from Slack)" in discord_lines[0] and "> See you soon" in discord_lines[0]
    assert len(both.roots()) == 1 and len(both.posts()) == 1  # one conversation, one thread on each side


async def test_missing_message_content_intent_is_reported_and_slack_keeps_working(databases: Any) -> None:
    import io

    from bridge.checks import run_checks

    h = Harness(databases, discord=True)
    assert h.discord is not None
    h.discord.message_content_allowed = False
    await h.start()
    try:
        assert h.bridge is not None and h.settings is not None
        assert h.bridge.discord_gateway.message_content is False  # fell back after 4014

        out = io.StringIO()
        await run_checks(h.settings, out)
        report = out.getvalue()
        assert "✗ Discord: the MESSAGE_CONTENT intent is not enabled" in report

        # Slack still works, and so do Discord buttons.
        await h.text_in("hello")
        root = await h.first_thread()
        await h.teammate(root, "!r hi from Slack")
        await h.drain()
        assert [m["Body"] for m in h.sms_sent()] == ["hi from Slack"]
        post = await h.first_post()
        conv = await conv_id_of(h, post["id"])
        iid = await h.discord.click_button(post["id"], f"smsbridge:close:{conv}", DISCORD_ANA)
        await h.discord.wait_for(lambda: bool(h.discord.followups(iid)), message="the answer")  # type: ignore[union-attr]
        await h.drain()
        assert h.post_tags(post["id"]) == ["Closed"]
    finally:
        await h.stop()


async def test_check_names_missing_permissions(databases: Any) -> None:
    import io

    from bridge.checks import run_checks

    h = Harness(databases, discord=True)
    assert h.discord is not None
    await h.start()
    try:
        assert h.settings is not None
        out = io.StringIO()
        await run_checks(h.settings, out)
        assert "✓ Discord token works" in out.getvalue()
        assert f"✓ Discord forum #sms-inbox ({FORUM})" in out.getvalue()

        await h.discord.set_bot_permissions(Perms.VIEW_CHANNEL | Perms.SEND_MESSAGES | Perms.READ_MESSAGE_HISTORY)
        out = io.StringIO()
        await run_checks(h.settings, out)
        report = out.getvalue()
        # (@everyone still grants Send Messages in Threads, History and Reactions.)
        assert "✗ Discord: the bot lacks Create Public Threads, Manage Threads, Embed Links, Attach Files in #sms-inbox" in report
        assert "! Discord: no Manage Channels in #sms-inbox" in report
    finally:
        await h.stop()


def test_commands_manifest_is_current() -> None:
    import json

    from bridge.adapters.discord_bot.commands import MANIFEST, manifest

    assert json.loads(MANIFEST.read_text(encoding="utf-8")) == manifest(), (
        "manifests/discord-commands.json is stale: python -c 'from bridge.adapters.discord_bot.commands "
        "import write_manifest; write_manifest()'"
    )


async def test_discord_sync_command(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from bridge.adapters.discord_bot.commands import manifest
    from bridge.cli import main
    from tests.fakes.discord_api import FakeDiscord

    async with FakeDiscord(guild_id=1200000000000000001) as fake:
        monkeypatch.setenv("DISCORD_TOKEN", fake.token)
        monkeypatch.setenv("DISCORD_API_URL", fake.api_base)
        monkeypatch.setenv("DISCORD_GUILD_ID", str(fake.guild_id))
        code = await asyncio.to_thread(main, ["discord", "sync"])  # its own event loop, as from a shell
        names = [c["name"] for c in fake.guild_commands.get(fake.guild_id, [])]
    assert code == 0
    expected = [c["name"] for c in manifest()]
    assert names == expected and {"reply", "claim", "assign", "snippet", "close", "status", "report", "sms"} <= set(names)
    assert f"synced {len(expected)} Discord commands to server" in capsys.readouterr().out


async def test_snippet_autocomplete_and_snippet_menu(dh_admin: Harness) -> None:
    dh = dh_admin
    assert dh.discord is not None
    for name, body in (("hours", "We're open 9-6."), ("thanks", "Thanks {first_name}!")):
        added = await dh.discord.slash_command(
            "sms", {"name": name, "text": body}, user_id=DISCORD_ANA, channel_id=FORUM, group="snippet", subcommand="add"
        )
        await dh.discord.wait_for(lambda i=added: bool(dh.discord.followups(i)), message="the answer")  # type: ignore[misc, union-attr]
        assert dh.discord.followups(added)[0]["content"] == f"Snippet `{name}` saved."
    await dh.text_in("when are you open?")
    post = await dh.first_post()
    await dh.drain()

    iid = await dh.discord.autocomplete("snippet", {"name": "ho"}, focused="name", user_id=DISCORD_ANA, channel_id=post["id"])
    answer = await dh.discord.wait_response(iid)
    assert answer == {"type": 8, "data": {"choices": [{"name": "hours", "value": "hours"}]}}

    conv = await conv_id_of(dh, post["id"])
    iid = await dh.discord.select(post["id"], f"smsbridge:snippet:{conv}", ["hours"], DISCORD_ANA)
    await dh.discord.wait_for(lambda: bool(dh.discord.followups(iid)), message="the answer")  # type: ignore[union-attr]
    await dh.drain()
    assert [m["Body"] for m in dh.sms_sent()] == ["We're open 9-6."]


async def test_retried_posts_are_found_not_duplicated(dh: Harness) -> None:
    """A job whose earlier attempt may have posted (crash before it was recorded) finds
    that post instead of posting again: the card by its footer, a text by its content."""
    from sqlalchemy import text

    assert dh.discord is not None and dh.bridge is not None
    await dh.text_in("only once please")
    post = await dh.first_post()
    await dh.drain()
    conv = int(await conv_id_of(dh, post["id"]))
    [(message_id,)] = await dh.rows("SELECT id FROM messages")
    before = len(dh.post_messages(post["id"]))

    # As if both jobs had run, posted, and crashed before recording it.
    async with dh.bridge.db.engine.begin() as conn:
        await conn.execute(text("DELETE FROM thread_links"))
        await conn.execute(text("DELETE FROM chat_refs"))
    async with dh.bridge.db.sessions.begin() as session:
        for kind, payload in (("discord.card", {}), ("discord.message", {"message_id": message_id})):
            await dh.bridge.outbox.enqueue(
                session, queue=f"discord:conv:{conv}", kind=kind,
                payload={**payload, "conversation_id": conv, "channel": str(FORUM), "inbox_id": 1}, delay=600,
            )
    async with dh.bridge.db.engine.begin() as conn:
        await conn.execute(text("UPDATE outbox_jobs SET attempts = 1, run_after = created_at"))
    dh.bridge.outbox.wake()
    await dh.drain()

    assert len(dh.posts()) == 1
    assert len(dh.post_messages(post["id"])) == before
    assert [r[0] for r in await dh.rows("SELECT thread_id FROM thread_links")] == [str(post["id"])]
    assert len(await dh.rows("SELECT 1 FROM chat_refs WHERE purpose = 'message'")) == 1


async def test_a_post_whose_answer_was_lost_is_not_duplicated(dh: Harness) -> None:
    """Discord posted the customer's text but the answer never came back: discord.py sends
    the request again with the same nonce and `enforce_nonce`, and gets the first message."""
    assert dh.discord is not None
    await dh.text_in("first")
    post = await dh.first_post()
    await dh.drain()
    dh.discord.lose_answer_next(f"POST /channels/{post['id']}/messages")
    await dh.text_in("said only once")
    await dh.drain()
    creates = [body for method, path, body in dh.discord.calls if method == "POST" and path == f"/channels/{post['id']}/messages"]
    retried = [b for b in creates if "said only once" in (b or {}).get("content", "")]
    assert len(retried) == 2 and retried[0]["nonce"] == retried[1]["nonce"] and retried[1]["enforce_nonce"] is True
    texts = [m["content"] for m in dh.post_messages(post["id"]) if "said only once" in m["content"]]
    assert texts == ["💬 **(415) 555-0101**\nsaid only once"]


async def test_buttons_and_pickers_work_after_a_restart(databases: Any) -> None:
    """Card and reply components are matched by their custom_id (discord.py DynamicItems),
    so a click on a post made by an earlier process still works."""
    h = Harness(databases, discord=True, smsbridge_slack_channel=None, undo_seconds=30, admins=[f"discord:{DISCORD_BEN}"])
    await h.start()
    try:
        assert h.discord is not None and h.bridge is not None
        await h.text_in("hello")
        post = await h.first_post()
        conv = await conv_id_of(h, post["id"])
        await h.discord.user_message(post["id"], DISCORD_ANA, "!r on my way")
        await h.discord.wait_for(lambda: any("Sending in" in m["content"] for m in h.post_messages(post["id"])), message="undo")
        [line] = [m for m in h.post_messages(post["id"]) if "Sending in" in m["content"]]

        await h.restart()
        await h.discord_ready(h.bridge)

        async def answer(iid: int) -> str:
            # (no drain: the undone reply's job waits out its 30 s window)
            await h.discord.wait_for(lambda: bool(h.discord.followups(iid)), message="the answer")  # type: ignore[union-attr]
            return str(h.discord.followups(iid)[0]["content"])  # type: ignore[union-attr]

        [(reply_id,)] = await h.rows("SELECT id FROM messages WHERE direction = 'out'")
        undo = f"smsbridge:undo:{reply_id}"
        # A double click: both land before the line loses its button (the undo edits it).
        first = await h.discord.click_button(int(line["id"]), undo, DISCORD_ANA)
        second = await h.discord.click_button(int(line["id"]), undo, DISCORD_ANA)
        assert sorted([await answer(first), await answer(second)]) == [
            "Already undone: nothing was sent.",
            "Undone: nothing was sent.",
        ]
        assert h.sms_sent() == []

        said = await answer(await h.discord.select(post["id"], f"smsbridge:assign:{conv}", [str(DISCORD_BEN)], DISCORD_ANA))
        assert said == "Assigned to ben."
        await h.discord.wait_for(lambda: card_fields(h, post["id"])["Assignee"] == "ben", message="the card")

        # A draft: Edit opens the editor, its text is saved, Approve sends it.
        await h.discord.user_message(post["id"], DISCORD_ANA, "!draft see you at 5")
        def drafts() -> list[dict[str, Any]]:
            return [m for m in h.post_messages(post["id"]) if "Draft by" in m["content"]]

        await h.discord.wait_for(lambda: bool(drafts()), message="the draft")
        [draft] = drafts()
        ids = {c["custom_id"].split(":")[1]: c["custom_id"] for row in draft["components"] for c in row["components"]}
        iid = await h.discord.click_button(int(draft["id"]), ids["edit"], DISCORD_ANA)
        modal = await h.discord.wait_response(iid)
        assert modal["type"] == 9  # a modal
        iid = await h.discord.submit_modal(modal["data"]["custom_id"], {"text": "see you at 6"}, DISCORD_ANA, post["id"])
        assert await answer(iid) == "Draft updated."
        said = await answer(await h.discord.click_button(int(draft["id"]), ids["approve"], DISCORD_BEN))
        assert said.startswith("Approved by ben")
        # Approved with the edited text; it leaves after the 30 s undo window.
        rows = await h.rows("SELECT body, status FROM messages WHERE body LIKE 'see you%'")
        assert [tuple(r) for r in rows] == [("see you at 6", "pending")]
    finally:
        await h.stop()
