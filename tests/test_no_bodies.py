"""No-bodies mode (docs/compliance.md rule 14) as the team sees it.

The real smsbridge with slack-bolt and discord.py against the loopback fakes, on SQLite
and PostgreSQL: a customer's words and pictures never reach a chat post, a notification
or a search answer; `!show` and the Show button read them to the one teammate who asks,
and every reading is audited.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bridge.checks import _inbox_findings
from bridge.config import InboxConfig, Settings
from bridge.sandbox import Sandbox, start_sandbox
from tests.conftest import discord_harness
from tests.fakes.loopback import wait_until
from tests.harness import CHANNEL, CUSTOMER, DISCORD_ANA, NUMBER, OTHER_CUSTOMER, Harness

WORDS = "My test results came back positive"  # 34 characters
PICTURE = b"\x89PNG\r\n\x1a\n" + b"x" * 512


@pytest.fixture
async def both(databases: Any) -> AsyncIterator[Harness]:
    """One inbox in Slack and Discord at once, in no-bodies mode."""
    h = Harness(databases, discord=True, collision_seconds=0, smsbridge_no_bodies=True)
    await h.start()
    yield h
    await h.stop()


@pytest.fixture
async def slack(databases: Any) -> AsyncIterator[Harness]:
    h = Harness(databases, smsbridge_no_bodies=True, viewers=["UVIC"])
    await h.start()
    yield h
    await h.stop()


def slack_public(h: Harness) -> str:
    """Everything smsbridge sent Slack that others can see: every Web API call but the
    ephemeral ones, as text (text fallbacks, blocks, file uploads, usernames)."""
    return json.dumps([params for method, params in h.slack.calls if method != "chat.postEphemeral"], default=str)


def discord_public(h: Harness) -> str:
    """Every Discord API call smsbridge made, but ephemeral interaction answers."""
    assert h.discord is not None
    shown = []
    for method, path, body in h.discord.calls:
        flags = (body or {}).get("flags", 0) if isinstance(body, dict) else 0
        data = (body or {}).get("data") if isinstance(body, dict) else None
        if isinstance(data, dict):
            flags |= data.get("flags", 0) or 0
        if flags & 64:
            continue
        shown.append((method, path, body))
    return json.dumps(shown, default=str)


async def customer_texts_words_and_picture(h: Harness, sender: str = CUSTOMER, to: str = NUMBER) -> str:
    url = h.twilio.add_media(PICTURE, "image/png")
    await h.text_in(WORDS, sender=sender, media=[(url, "image/png")], to=to)
    await h.drain()
    return url


async def audits(h: Harness) -> list[tuple[str, int, dict[str, Any]]]:
    rows = await h.rows("SELECT actor, conversation_id, detail FROM audit_events WHERE action = 'body_viewed' ORDER BY id")
    return [(r[0], r[1], r[2] if isinstance(r[2], dict) else json.loads(r[2])) for r in rows]


async def test_rule_14_no_bodies_in_chat(both: Harness) -> None:
    """Rule 14: a customer's text shows who sent it, its length and its media count in
    Slack and Discord, never its words or its picture (posts, text fallbacks, blocks,
    embeds, forum titles, uploads)."""
    assert both.discord is not None
    url = await customer_texts_words_and_picture(both)
    root = await both.first_thread()
    post = await both.first_post()
    await both.drain()

    slack_seen, discord_seen = slack_public(both), discord_public(both)
    for seen in (slack_seen, discord_seen):
        assert WORDS not in seen and "positive" not in seen
        assert url not in seen
    assert both.slack.files == [] and both.discord.files == []  # no picture uploaded anywhere

    [line] = both.thread(root)
    assert "(415) 555-0101" in line["text"] and "34 characters" in line["text"] and "1 picture" in line["text"]
    assert "!show" in line["text"]
    assert [e["text"]["text"] for b in line["blocks"] if b["type"] == "actions" for e in b["elements"]] == ["Show"]
    assert WORDS not in json.dumps(both.roots())

    assert post["name"] == "(415) 555-0101"
    messages = both.post_messages(post["id"])
    starter, *rest = messages
    assert WORDS not in json.dumps(starter["embeds"]) and url not in json.dumps(starter["embeds"])
    [shown] = [m for m in rest if "characters" in m["content"]]
    assert "34 characters" in shown["content"] and "1 picture" in shown["content"]
    assert all(WORDS not in json.dumps(m) for m in messages)


async def test_bang_show_answers_privately_and_is_audited(slack: Harness) -> None:
    url = await customer_texts_words_and_picture(slack)
    await slack.text_in("and the date of birth is 1980-01-02")
    await slack.drain()
    root = await slack.first_thread()

    await slack.teammate(root, "!show")
    await slack.slack.wait_for(lambda: bool(slack.slack.ephemerals), message="the private answer")
    [answer] = slack.slack.ephemerals
    assert answer["user"] == "UANA" and answer["thread_ts"] == root
    assert WORDS in answer["text"] and "1980-01-02" in answer["text"] and url in answer["text"]
    assert WORDS not in slack_public(slack) and "1980-01-02" not in slack_public(slack)

    [(actor, conversation, detail)] = await audits(slack)
    ids = [r[0] for r in await slack.rows("SELECT id FROM messages WHERE direction = 'in' ORDER BY id")]
    assert actor == "slack:UANA" and detail["message_ids"] == ids and detail["via"] == "!show"
    assert conversation == (await slack.rows("SELECT conversation_id FROM messages"))[0][0]

    # `!show 1` reads only the newest; a viewer may not read at all.
    await slack.teammate(root, "!show 1")
    await slack.slack.wait_for(lambda: len(slack.slack.ephemerals) == 2, message="the second answer")
    assert "1980-01-02" in slack.slack.ephemerals[1]["text"] and WORDS not in slack.slack.ephemerals[1]["text"]
    await slack.teammate(root, "!show", user="UVIC")
    await slack.slack.wait_for(lambda: len(slack.slack.ephemerals) == 3, message="the refusal")
    assert "agent" in slack.slack.ephemerals[2]["text"] and WORDS not in slack.slack.ephemerals[2]["text"]
    assert len(await audits(slack)) == 2


async def test_show_button_answers_only_the_clicker_and_is_audited(slack: Harness) -> None:
    await customer_texts_words_and_picture(slack)
    root = await slack.first_thread()
    [line] = slack.thread(root)
    [button] = [{**e, "block_id": b.get("block_id", "")} for b in line["blocks"] if b["type"] == "actions" for e in b["elements"]]
    answer = await slack.click(button, user="UBEN", message_ts=line["ts"])
    assert answer["response_type"] == "ephemeral" and WORDS in answer["text"]
    [(actor, _conversation, detail)] = await audits(slack)
    message_id = (await slack.rows("SELECT id FROM messages WHERE direction = 'in'"))[0][0]
    assert actor == "slack:UBEN" and detail == {"message_ids": [message_id], "via": "button"}
    assert WORDS not in slack_public(slack)


async def test_search_finds_the_conversation_but_shows_no_body(slack: Harness) -> None:
    await customer_texts_words_and_picture(slack)
    answer = await slack.sms_command("search positive")
    shown = json.dumps(answer)
    assert "(415) 555-0101" in shown and "a text matches" in shown
    assert WORDS not in shown and "results came back" not in shown


async def test_status_lines_quote_no_reply(both: Harness) -> None:
    """A reply's status line, posted in the other chat too, says how long it was, not what it said."""
    assert both.discord is not None
    await customer_texts_words_and_picture(both)
    root = await both.first_thread()
    post = await both.first_post()
    await both.teammate(root, "!r Your results are fine, call us")
    await both.discord.wait_for(lambda: len(both.sms_sent()) == 1, message="the SMS")
    await both.drain()
    assert both.sms_sent()[0]["Body"] == "Your results are fine, call us"
    status = [m for m in both.post_messages(post["id"]) if "SMS by Ana" in m["content"]]
    assert status and all("Your results" not in m["content"] for m in status)
    assert "30 characters" in status[-1]["content"]
    assert "Your results are fine" not in discord_public(both)


async def test_discord_show_is_ephemeral(databases: Any) -> None:
    async with discord_harness(databases, smsbridge_no_bodies=True) as dh:
        assert dh.discord is not None
        url = await customer_texts_words_and_picture(dh)
        post = await dh.first_post()
        await dh.drain()
        line = next(m for m in dh.post_messages(post["id"]) if "characters" in m["content"])
        show = next(c["custom_id"] for row in line["components"] for c in row["components"])
        assert show.startswith("smsbridge:show:")

        iid = await dh.discord.click_button(int(line["id"]), show, DISCORD_ANA)
        await dh.discord.wait_for(lambda: bool(dh.discord.followups(iid)), message="the answer")  # type: ignore[union-attr]
        answer = dh.discord.followups(iid)[0]
        assert answer["flags"] & 64 and WORDS in answer["content"] and url in answer["content"]

        # `/show` answers ephemerally too; a typed `!show` in the post, which everyone in
        # it could read, offers the Show button instead of the words.
        iid = await dh.discord.slash_command("show", {}, user_id=DISCORD_ANA, channel_id=post["id"])
        await dh.discord.wait_for(lambda: bool(dh.discord.followups(iid)), message="the answer")  # type: ignore[union-attr]
        assert dh.discord.followups(iid)[0]["flags"] & 64 and WORDS in dh.discord.followups(iid)[0]["content"]
        await dh.discord.user_message(post["id"], DISCORD_ANA, "!show")
        await dh.discord.wait_for(
            lambda: any("Press Show" in m["content"] for m in dh.post_messages(post["id"])), message="the whisper"
        )
        await dh.drain()
        assert WORDS not in discord_public(dh) and url not in discord_public(dh)
        assert [(a, d["via"]) for a, _c, d in await audits(dh)] == [(f"discord:{DISCORD_ANA}", "button"), (f"discord:{DISCORD_ANA}", "!show")]


async def test_per_inbox_setting_hides_one_inbox_and_not_the_other(databases: Any) -> None:
    sales = "+14155550199"
    h = Harness(databases, inbox=[InboxConfig(name="clinic", number=sales, slack_channel="C0CLINIC", no_bodies=True)])
    await h.start()
    try:
        h.slack.set_channel("C0CLINIC", "clinic")
        h.twilio.add_number(sales, sms_url="https://sms.example.com/twilio/sms")
        await h.text_in("open words", sender=OTHER_CUSTOMER)
        await h.text_in(WORDS, to=sales)
        await h.drain()
        [support_root] = h.slack.messages(CHANNEL)
        [clinic_root] = h.slack.messages("C0CLINIC")
        assert [m["text"] for m in h.slack.thread(CHANNEL, support_root["ts"])] == ["open words"]
        [hidden] = h.slack.thread("C0CLINIC", clinic_root["ts"])
        assert WORDS not in json.dumps(hidden) and "34 characters" in hidden["text"]
    finally:
        await h.stop()


def test_setting_is_read_per_inbox_and_reported_by_check() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        smsbridge_number=NUMBER, smsbridge_slack_channel=CHANNEL,
        inbox=[InboxConfig(name="clinic", number="+14155550199", slack_channel="C0CLINIC", no_bodies=True)],
    )
    assert [(i.name, i.no_bodies) for i in settings.inboxes()] == [("default", False), ("clinic", True)]
    [finding] = [f for f in _inbox_findings(settings) if "No-bodies" in f.title]
    assert "inbox clinic" in finding.title and "no_bodies" in finding.title

    everywhere = Settings(_env_file=None, smsbridge_number=NUMBER, smsbridge_no_bodies="true",  # type: ignore[call-arg]
                          inbox=[InboxConfig(name="open", number="+14155550199", no_bodies=False)])
    assert [(i.name, i.no_bodies) for i in everywhere.inboxes()] == [("default", True), ("open", False)]
    assert any("SMSBRIDGE_NO_BODIES" in f.title for f in _inbox_findings(everywhere))


async def test_web_chat_shows_no_body_and_show_answers_only_the_asker(tmp_path: Any) -> None:
    sandbox: Sandbox = await start_sandbox(0, tmp_path, undo_seconds=0, smsbridge_no_bodies=True)
    try:
        async with aiohttp.ClientSession() as http:
            async def state(user: str) -> dict[str, Any]:
                async with http.get(sandbox.url + "api/state", params={"user": user}) as response:
                    return dict(await response.json())

            phone = next(iter((await state("ana"))["phones"]))
            await http.post(sandbox.url + "api/phone", json={"from": phone, "text": WORDS})

            async def thread_text(user: str) -> str:
                return json.dumps((await state(user))["threads"])

            await wait_until(lambda: _has(thread_text("ana"), "34 characters"), timeout=30, message="the thread")
            assert WORDS not in await thread_text("ana")
            thread = (await state("ana"))["threads"][0]
            await http.post(sandbox.url + "api/thread", json={"user": "ana", "thread": thread["id"], "text": "!show"})
            await wait_until(lambda: _has(thread_text("ana"), WORDS), timeout=30, message="the private answer")
            assert WORDS not in await thread_text("ben")
    finally:
        await sandbox.stop()


async def _has(text: Any, part: str) -> bool:
    return part in await text


async def test_auto_reply_status_line_quotes_no_text(databases: Any) -> None:
    """Texts smsbridge sends by itself (here the first-contact reply) show their length too."""
    h = Harness(databases, smsbridge_no_bodies=True, smsbridge_first_contact_reply="Thanks! A nurse will call you back today.")
    await h.start()
    try:
        await h.text_in(WORDS)
        await h.slack.wait_for(lambda: len(h.sms_sent()) == 1, message="the auto-reply")
        await h.drain()
        assert h.sms_sent()[0]["Body"] == "Thanks! A nurse will call you back today."
        root = await h.first_thread()
        lines = [m["text"] for m in h.thread(root)]
        assert any("Automatic reply by smsbridge" in t and "41 characters" in t for t in lines), lines
        assert "nurse" not in slack_public(h) and WORDS not in slack_public(h)
    finally:
        await h.stop()
