"""Erasing a contact (docs/compliance.md rule 9): `/sms erase` with its confirm button on
Slack, Discord and the CLI. What a teammate sees, what the chat fakes and the Twilio fake
received, and what is left in every table of the database."""

from __future__ import annotations

import io
from typing import Any

import pytest

from bridge.erase_cli import erase_contact
from bridge.inbox.models import Base
from tests.harness import CHANNEL, CUSTOMER, DISCORD_ANA, DISCORD_BEN, FORUM, OTHER_CUSTOMER, Harness

SECRET = "my card ends 4242"  # the customer's words: must vanish everywhere
NOTE = "She is moving to Denver"  # a teammate's note about her
REPLY = "Thanks, we will call you"
NATIONAL = "555-0101"  # the customer's number in any format


async def rows_mentioning(h: Harness, *needles: str) -> list[str]:
    """Every row of every table (the models' tables) whose text contains a needle."""
    found = []
    for table in Base.metadata.sorted_tables:
        for row in await h.rows(f"SELECT * FROM {table.name}"):
            text = " | ".join(str(v) for v in row)
            digits = text.replace("-", "").replace(" ", "").replace("(", "").replace(")", "")
            if any(n in text or n.replace("-", "") in digits for n in needles):
                found.append(f"{table.name}: {text[:300]}")
    return found


def button(blocks: list[dict[str, Any]], action: str) -> dict[str, Any]:
    for block in blocks:
        for element in block.get("elements", []):
            if element.get("action_id") == f"smsbridge.{action}":
                return {**element, "block_id": block.get("block_id", "")}
    raise AssertionError(f"no {action} button in {blocks}")


async def slack_history(h: Harness, *also: str) -> str:
    """A customer who texted, a note, a reply that went out (and `also`, typed in the
    thread), then STOP: returns the thread."""
    await h.text_in(SECRET)
    root = await h.first_thread()
    await h.drain()
    await h.teammate(root, NOTE)
    await h.teammate(root, f"!r {REPLY}")
    for line in also:
        await h.teammate(root, line)
    await h.drain()
    await h.text_in("STOP")
    await h.drain()
    assert h.sms_sent()[0]["Body"] == REPLY
    return root


async def test_rule_9_erasing_a_contact_keeps_their_suppression(databases: Any) -> None:
    h = Harness(databases, admins=["slack:UANA"])
    await h.start()
    try:
        root = await slack_history(h, "!later in 3 hours Remember the appointment")
        teammate = h.slack.user_message(CHANNEL, "UBEN", "I'll handle it", thread_ts=root)
        await h.slack_event(h.teammate_event(root, "I'll handle it", "UBEN", ts=teammate["ts"]))
        await h.drain()
        assert await rows_mentioning(h, SECRET)  # the words are stored before
        sent_before = len(h.sms_sent())

        asked = await h.sms_command(f"erase {CUSTOMER}")
        assert asked["response_type"] == "ephemeral"
        assert asked["text"].startswith("Erase *(415) 555-0101*? This deletes the contact, 1 conversation, 4 messages, 2 notes, 0 files, 1 scheduled item")
        answer = await h.click(button(asked["blocks"], "erase_contact"), "UANA", ephemeral=True)
        assert answer["text"].startswith("🗑️ Erased (415) 555-0101: 1 conversation, 4 messages, 2 notes, 0 files, 1 scheduled item")
        assert "Kept under a hash of the number: 1 opt-out and 1 consent record" in answer["text"]
        assert "Teammates' own messages in a Slack thread cannot be deleted by a bot" in answer["text"]
        assert answer["replace_original"] is True
        await h.drain()

        # Slack: the card and every post of smsbridge in the thread are gone; the teammate's stays.
        left = h.slack.all_messages(CHANNEL)
        assert [m["text"] for m in left] == ["I'll handle it"]
        assert {p["ts"] for p in h.slack.posts} >= {root}
        # Nothing in any table names the number or holds the words.
        assert await rows_mentioning(h, CUSTOMER, NATIONAL, SECRET, NOTE, REPLY, "Remember the appointment") == []
        found = await h.sms_command("search 4242")
        assert found["text"].startswith("Nothing found")
        audit = await h.rows("SELECT actor, detail FROM audit_events WHERE action = 'contact_erased'")
        assert len(audit) == 1 and audit[0][0] == "slack:UANA"
        assert '"messages": 4' in str(audit[0][1]) or "'messages': 4" in str(audit[0][1])
        kept = await h.rows("SELECT phone, action FROM consent_events")
        assert [(p.startswith("hmac:"), a) for p, a in kept] == [(True, "opt_out")]

        # The erased number opted out: neither `/sms new` nor a reply reaches it.
        started = await h.sms_command(f"new {CUSTOMER} Hello again")
        assert started["text"].startswith("Not sent (opted_out)")
        await h.text_in("hi, it's me again")
        await h.drain()
        new_root = str(h.roots()[-1]["ts"])
        await h.teammate(new_root, "!r Welcome back")
        await h.drain()
        assert len(h.sms_sent()) == sent_before
        assert any("opted out" in str(m["text"]).lower() for m in h.thread(new_root))
    finally:
        await h.stop()


async def started_with_a_secret(databases: Any) -> Harness:
    """Ana is an admin; the customer has texted SECRET and its thread is posted."""
    h = Harness(databases, admins=["slack:UANA"])
    await h.start()
    await h.text_in(SECRET)
    await h.first_thread()
    await h.drain()
    return h


async def test_erase_is_for_admins_and_cancel_erases_nothing(databases: Any) -> None:
    h = await started_with_a_secret(databases)
    try:
        refused = await h.sms_command(f"erase {CUSTOMER}", user="UBEN")
        assert refused["text"].startswith("Erasing a contact needs the admin role; you are agent.")
        asked = await h.sms_command(f"erase {CUSTOMER}")
        erase = button(asked["blocks"], "erase_contact")
        # The admin's button, pressed by someone else, still checks their role.
        stolen = await h.click(erase, "UBEN", ephemeral=True)
        assert stolen["text"].startswith("Erasing a contact needs the admin role")
        canceled = await h.click(button(asked["blocks"], "erase_cancel"), "UANA", ephemeral=True)
        assert canceled["text"] == "Canceled: nothing was erased."
        await h.drain()
        assert await rows_mentioning(h, SECRET)
        assert len(h.roots()) == 1
        assert await h.rows("SELECT id FROM audit_events WHERE action = 'contact_erased'") == []
        # Erase, then the same button again: nothing more to do.
        assert (await h.click(erase, "UANA", ephemeral=True))["text"].startswith("🗑️ Erased")
        again = await h.click(erase, "UANA", ephemeral=True)
        assert again["text"] == "That contact no longer exists (already erased?): nothing changed."
    finally:
        await h.stop()


async def test_erasing_an_unknown_number_says_so_and_changes_nothing(databases: Any) -> None:
    h = await started_with_a_secret(databases)
    try:
        answer = await h.sms_command("erase +1 415 555 0177")
        assert answer["text"] == (
            "smsbridge has nothing on (415) 555-0177: no contact, no messages, no consent records. Nothing was erased."
        )
        assert "smsbridge.erase_contact" not in str(answer["blocks"])
        usage = await h.sms_command("erase")
        assert "/sms erase +14155550123" in usage["text"]
        assert await h.rows("SELECT name FROM install_secrets") == []
        assert len(await h.rows("SELECT id FROM messages")) == 1
    finally:
        await h.stop()


async def test_discord_erase_deletes_the_forum_post_with_a_button_that_survives_a_restart(databases: Any) -> None:
    from bridge.adapters.discord_bot.commands import sync_commands

    h = Harness(databases, discord=True, smsbridge_slack_channel=None, admins=[f"discord:{DISCORD_ANA}"])
    await h.start()
    try:
        discord = h.discord
        assert discord is not None
        await sync_commands(discord.token, discord.guild_id)
        await h.text_in(SECRET)
        post = await h.first_post()
        await discord.user_message(post["id"], DISCORD_BEN, NOTE)
        await h.drain()

        refused = await discord.slash_command("sms", {"number": CUSTOMER}, user_id=DISCORD_BEN, channel_id=FORUM, subcommand="erase")
        await discord.wait_for(lambda: bool(discord.followups(refused)), message="the refusal")
        assert discord.followups(refused)[0]["content"].startswith("Erasing a contact needs the admin role; you are agent.")

        iid = await discord.slash_command("sms", {"number": CUSTOMER}, user_id=DISCORD_ANA, channel_id=FORUM, subcommand="erase")
        await discord.wait_for(lambda: bool(discord.followups(iid)), message="the question")
        asked = discord.followups(iid)[0]
        assert asked["flags"] & 64 and asked["content"].startswith("Erase **(415) 555-0101**?")
        [erase] = [c["custom_id"] for row in asked["components"] for c in row["components"] if "erase_contact" in c["custom_id"]]

        await h.restart()  # the button is a DynamicItem: it works in the next process too
        await h.discord_ready(h.bridge)  # type: ignore[arg-type]
        click = await discord.click_button(int(asked["id"]), erase, DISCORD_ANA)
        await discord.wait_for(lambda: bool(discord.followups(click)), message="the result")
        assert discord.followups(click)[0]["content"].startswith("🗑️ Erased (415) 555-0101: 1 conversation, 1 message, 1 note")
        await h.drain()
        await discord.wait_for(lambda: post["id"] not in {p["id"] for p in h.posts()}, message="the forum post deleted")
        assert await rows_mentioning(h, CUSTOMER, NATIONAL, SECRET, NOTE) == []
    finally:
        await h.stop()


async def test_cli_erase_asks_on_a_terminal_and_needs_yes_in_a_script(databases: Any) -> None:
    h = Harness(databases)
    await h.start()
    try:
        root = await slack_history(h)
        assert h.settings is not None
        out = io.StringIO()
        # Not a terminal and no --yes: nothing happens.
        code = await erase_contact(h.settings, CUSTOMER, yes=False, stdin=io.StringIO("erase\n"), out=out, db=h.databases.reopen())
        assert code == 2 and "add --yes" in out.getvalue()
        assert await rows_mentioning(h, SECRET)

        class Terminal(io.StringIO):
            def isatty(self) -> bool:
                return True

        out = io.StringIO()
        code = await erase_contact(h.settings, CUSTOMER, yes=False, stdin=Terminal("no\n"), out=out, db=h.databases.reopen())
        assert code == 1 and "This deletes the contact" in out.getvalue() and "nothing was erased" in out.getvalue()

        out = io.StringIO()
        code = await erase_contact(h.settings, "(415) 555-0101", yes=False, stdin=Terminal("erase\n"), out=out, db=h.databases.reopen())
        assert code == 0, out.getvalue()
        assert "Erased (415) 555-0101: 1 conversation, 4 messages, 1 note" in out.getvalue()
        assert h.bridge is not None
        h.bridge.outbox.wake()  # a running smsbridge picks the chat deletions up (PostgreSQL: at once)
        await h.slack.wait_for(lambda: h.slack.get(CHANNEL, root) is None, message="the card deleted")
        assert await rows_mentioning(h, CUSTOMER, NATIONAL, SECRET, NOTE, REPLY) == []
        actors = await h.rows("SELECT actor FROM audit_events WHERE action = 'contact_erased'")
        assert [a[0].startswith("cli") for a in actors] == [True]

        out = io.StringIO()
        code = await erase_contact(h.settings, CUSTOMER, yes=True, out=out, db=h.databases.reopen())
        assert code == 1 and "Nothing was erased" in out.getvalue()
    finally:
        await h.stop()


async def test_sandbox_web_chat_erase_removes_the_thread(tmp_path: Any) -> None:
    import aiohttp

    from bridge.sandbox import start_sandbox
    from tests.fakes.loopback import wait_until

    sandbox = await start_sandbox(0, tmp_path, undo_seconds=0)
    customer = "+14155550123"
    try:
        async with aiohttp.ClientSession() as http:

            async def state() -> dict[str, Any]:
                async with http.get(sandbox.url + "api/state", params={"user": "ana"}) as response:
                    return dict(await response.json())

            async def threads() -> list[dict[str, Any]]:
                return list((await state())["threads"])

            await http.post(sandbox.url + "api/phone", json={"from": customer, "text": SECRET})
            await wait_until(lambda: _has_thread(threads), timeout=30, message="the thread")
            await http.post(sandbox.url + "api/channel", json={"user": "ana", "text": f"/sms erase {customer}"})
            answer = (await state())["channel"][-1]
            assert "".join(s["v"] for s in answer["rich"]).startswith("Erase (415) 555-0123?")
            erase = next(b for b in answer["buttons"] if b["action"] == "erase_contact")
            async with http.post(sandbox.url + "api/click", json={"user": "ana", "action": "erase_contact", "value": erase["value"]}) as response:
                assert (await response.json())["ok"] is True
            await wait_until(lambda: _no_thread(threads), timeout=30, message="the thread removed")
            said = "".join(s["v"] for s in (await state())["channel"][-1]["rich"])
            assert said.startswith("🗑️ Erased (415) 555-0123: 1 conversation, 1 message")
            # The sandbox's phones keep no copy of their own: the provider's job is done at once.
            await sandbox.bridge.worker.drain(30)
    finally:
        await sandbox.stop()


async def _has_thread(threads: Any) -> bool:
    return bool(await threads())


async def _no_thread(threads: Any) -> bool:
    return not await threads()


async def test_chat_deletions_wait_out_a_slack_outage(databases: Any) -> None:
    h = Harness(databases, admins=["slack:UANA"])
    await h.start()
    try:
        root = await slack_history(h)
        h.slack.fail_next("conversations.replies", 2)
        h.slack.fail_next("chat.delete", 2)
        h.slack.lose_answer_next("chat.delete")  # deleted, but the answer is lost: the retry finds it gone
        asked = await h.sms_command(f"erase {CUSTOMER}")
        answer = await h.click(button(asked["blocks"], "erase_contact"), "UANA", ephemeral=True)
        assert answer["text"].startswith("🗑️ Erased")
        await h.slack.wait_for(lambda: h.slack.all_messages(CHANNEL) == [], message="every post deleted")
        await h.drain()
        assert await h.rows("SELECT kind, state FROM outbox_jobs") == []
        assert h.slack.get(CHANNEL, root) is None
    finally:
        await h.stop()


PICTURE = b"\x89PNG" + b"9" * 64


@pytest.mark.parametrize("refusal", [500, 403], ids=["twilio-down", "key-without-permission"])
async def test_erasure_deletes_the_contacts_texts_at_twilio_after_an_outage(databases: Any, refusal: int) -> None:
    h = Harness(databases, admins=["slack:UANA"])
    await h.start()
    try:
        first = await h.text_in_kept(SECRET, picture=PICTURE)
        root = await h.first_thread()
        await h.drain()
        await h.teammate(root, f"!r {REPLY}")
        await h.drain()
        [reply] = [m["sid"] for m in h.sms_sent()]
        other = await h.text_in_kept("a neighbour's own words", OTHER_CUSTOMER, picture=PICTURE)
        await h.drain()
        assert [m["sid"] for m in h.twilio.held(CUSTOMER)] == [first, reply]
        [picture] = h.twilio.media_of(first)

        h.twilio.refuse_cleanup(refusal)  # Twilio is down, or the key lacks the permission: the erasure still happens at once
        asked = await h.sms_command(f"erase {CUSTOMER}")
        answer = await h.click(button(asked["blocks"], "erase_contact"), "UANA", ephemeral=True)
        assert answer["text"].startswith("🗑️ Erased (415) 555-0101: 1 conversation, 2 messages")
        assert "The SMS provider's copies of 2 texts are being deleted too." in answer["text"]
        await h.twilio.wait_for(lambda: len(h.twilio.refused_cleanups) >= 2, message="a refused deletion, retried")
        assert len(h.twilio.held(CUSTOMER)) == 2  # delayed, not lost
        # The waiting job carries the sids, never the number or the words.
        assert await rows_mentioning(h, CUSTOMER, NATIONAL, SECRET, REPLY) == []
        assert any(kind == "sms.erase" for kind, in await h.rows("SELECT kind FROM outbox_jobs"))

        h.twilio.refuse_cleanup(None)
        await h.drain()
        assert h.twilio.held(CUSTOMER) == []
        assert sorted(h.twilio.deleted_messages) == sorted([first, reply])
        assert h.twilio.deleted_media == [picture]  # deleted first (SignalWire keeps a message's media)
        # Nothing else touched: the other customer's text and picture stay.
        assert [(m["sid"], m["body"]) for m in h.twilio.held(OTHER_CUSTOMER)] == [(other, "a neighbour's own words")]
        assert len(h.twilio.media_of(other)) == 1
        assert h.twilio.redacted_messages == []
        assert await h.rows("SELECT kind FROM outbox_jobs") == []
    finally:
        await h.stop()


async def test_a_reply_twilio_is_still_delivering_is_redacted_then_deleted_once_final(databases: Any) -> None:
    h = Harness(databases, admins=["slack:UANA"])
    await h.start()
    try:
        await h.text_in_kept(SECRET)
        root = await h.first_thread()
        await h.drain()
        await h.teammate(root, f"!r {REPLY}")
        await h.drain()
        [reply] = [m["sid"] for m in h.sms_sent()]
        h.twilio.hold_delivery(reply)

        asked = await h.sms_command(f"erase {CUSTOMER}")
        assert (await h.click(button(asked["blocks"], "erase_contact"), "UANA", ephemeral=True))["text"].startswith("🗑️ Erased")
        await h.twilio.wait_for(lambda: reply in h.twilio.redacted_messages, message="the delivering reply redacted")
        [left] = h.twilio.held(CUSTOMER)
        assert (left["sid"], left["body"]) == (reply, "")  # its words are gone at once
        assert ("DELETE", f"/2010-04-01/Accounts/{h.twilio.account_sid}/Messages/{reply}.json", 20009) in h.twilio.refused_cleanups

        h.twilio.set_status(reply, "delivered")  # the carrier's receipt: now it can go
        await h.drain()
        assert h.twilio.held(CUSTOMER) == []
        assert reply in h.twilio.deleted_messages
    finally:
        await h.stop()
