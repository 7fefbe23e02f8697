"""Consent you can see and change (docs/compliance.md rule 8), as teammates meet it
through the real slack-bolt and discord.py: the card's consent line, `!consent`,
`!optout` / `!optin`, the contacts import's consent columns, and `/sms new`'s "I have
consent" confirmation. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from bridge.inbox.contacts_csv import import_contacts
from tests.harness import CHANNEL, CUSTOMER, DISCORD_ANA, DISCORD_BEN, FORUM, Harness

FRESH = "+14155550177"  # never texted the inbox


def _whispers(h: Harness, user: str = "UANA") -> list[str]:
    return [e["text"] for e in h.slack.ephemerals if e["user"] == user]


def _card(h: Harness, root: str) -> str:
    message = h.slack.get(CHANNEL, root)
    assert message is not None
    return str(message.get("blocks"))


def _thread_texts(h: Harness, root: str) -> list[str]:
    return [str(m["text"]) for m in h.thread(root)]


def _sends_attempted(h: Harness) -> int:
    return sum(1 for method, path in h.twilio.requests if method == "POST" and path.endswith("/Messages.json"))


def _buttons(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {el["action_id"]: el for b in answer.get("blocks") or [] if b["type"] == "actions" for el in b["elements"]}


async def _events(h: Harness) -> list[tuple[Any, ...]]:
    rows = await h.rows("SELECT phone, action, source, actor, detail FROM consent_events ORDER BY id")
    return [tuple(r) for r in rows]


async def _open(h: Harness, body: str = "Hi, is my bike ready?") -> str:
    await h.text_in(body)
    root = await h.first_thread()
    await h.drain()
    return root


# -- the card -----------------------------------------------------------------------


async def test_card_shows_the_consent_state_and_its_changes(harness: Harness) -> None:
    root = await _open(harness)
    assert "Consent: they texted in" in _card(harness, root)
    assert "Opted out" not in _card(harness, root)

    await harness.teammate(root, "!optout moved to another shop")
    await harness.drain()
    card = _card(harness, root)
    assert "Opted out (teammate moved to another shop)" in card and "replies are blocked" in card
    assert "<!date^" in card  # when, in each reader's own time

    await harness.teammate(root, "!optin she called today to get texts again")
    await harness.drain()
    card = _card(harness, root)
    assert "Opted out" not in card
    assert "Consent on record (teammate she called today to get texts again)" in card


async def test_a_confirmed_sms_new_shows_consent_on_record_on_its_card(harness: Harness) -> None:
    answer = await harness.sms_command(f"new {FRESH} Your order shipped")
    await harness.click(_buttons(answer)["smsbridge.confirm_consent"], ephemeral=True)
    await harness.drain()
    root = str(harness.roots()[0]["ts"])
    assert "Consent on record (teammate confirmed having consent before /sms new)" in _card(harness, root)


async def test_discord_card_shows_the_consent_line(dh_admin: Harness) -> None:
    assert dh_admin.discord is not None
    await dh_admin.text_in("hello")
    post = await dh_admin.first_post()

    def description() -> str:
        embed = dh_admin.post_messages(post["id"])[0]["embeds"][0]
        return str(embed.get("description", ""))

    assert "Consent: they texted in" in description()
    await dh_admin.discord.user_message(post["id"], DISCORD_ANA, "!optout asked on the phone")
    await dh_admin.discord.wait_for(lambda: "Opted out (teammate asked on the phone)" in description(), message="the card")
    assert "replies are blocked" in description()
    assert dh_admin.sms_sent() == []


# -- !consent ---------------------------------------------------------------------------


async def test_consent_history_shows_what_when_how_and_who_newest_first(harness: Harness) -> None:
    root = await _open(harness)
    await harness.text_in("STOP")
    await harness.drain()
    await harness.text_in("START")
    await harness.drain()
    await harness.teammate(root, "!optout wrong person, says the customer", user="UBEN")
    await harness.drain()
    await harness.teammate(root, "!consent")
    await harness.drain()
    [history] = [w for w in _whispers(harness) if "Consent of" in w]
    assert "opted out" in history.splitlines()[0]
    lines = [line for line in history.splitlines() if line.startswith("•")]
    assert len(lines) == 3
    assert "opted out of this inbox" in lines[0] and "teammate" in lines[0] and "by Ben (slack)" in lines[0]
    assert "wrong person, says the customer" in lines[0]
    assert "opted back in" in lines[1] and "keyword" in lines[1] and "by the contact" in lines[1] and "START" in lines[1]
    assert "opted out of this inbox" in lines[2] and "by the contact" in lines[2] and "STOP" in lines[2]
    assert "UTC" in lines[0]
    # Only the asker sees it: nothing in the thread itself.
    assert not any("Consent of" in t for t in _thread_texts(harness, root))


async def test_consent_history_is_bounded(harness: Harness) -> None:
    root = await _open(harness)
    for n in range(9):
        await harness.teammate(root, f"!optout round {n}")
        await harness.teammate(root, f"!optin round {n} renewed by phone")
    await harness.drain()
    await harness.teammate(root, "!consent")
    await harness.drain()
    [history] = [w for w in _whispers(harness) if "Consent of" in w]
    assert len([line for line in history.splitlines() if line.startswith("•")]) == 15
    assert "…and 3 older." in history
    assert "round 8 renewed by phone" in history and "round 0 renewed" not in history


# -- !optout / !optin ---------------------------------------------------------------------


async def test_teammate_optout_texts_nothing_and_blocks_the_next_reply(harness: Harness) -> None:
    root = await _open(harness)
    await harness.teammate(root, "!optout asked us by email")
    await harness.drain()
    assert _sends_attempted(harness) == 0  # no confirmation text for a teammate's opt-out
    assert any("Ana recorded an opt-out: asked us by email" in t for t in _thread_texts(harness, root))

    await harness.teammate(root, "!r Are you sure?")
    await harness.drain()
    assert _sends_attempted(harness) == 0
    assert any("Not sent" in t and "opted out" in t for t in _thread_texts(harness, root))
    rows = await harness.rows("SELECT status FROM messages WHERE direction = 'out'")
    assert [r[0] for r in rows] == ["blocked"]
    assert await _events(harness) == [(CUSTOMER, "opt_out", "teammate", "slack:UANA", "asked us by email")]

    await harness.teammate(root, "!optout again")
    await harness.drain()
    assert "They had already opted out; nothing changed." in _whispers(harness)
    assert len(await _events(harness)) == 1


async def test_viewers_can_read_consent_but_not_change_it(databases: Any) -> None:
    h = Harness(databases, viewers=["UCAT"])
    await h.start()
    try:
        h.slack.add_user("UCAT", "Cat")
        root = await _open(h)
        await h.teammate(root, "!optout no", user="UCAT")
        await h.teammate(root, "!consent", user="UCAT")
        await h.drain()
        said = _whispers(h, "UCAT")
        assert any("Recording an opt-out needs the agent role" in w for w in said)
        assert any("Consent of" in w and "Nothing recorded yet" in w for w in said)
        assert await _events(h) == []
    finally:
        await h.stop()


async def test_optin_after_a_keyword_stop_needs_how_they_renewed_consent(harness: Harness) -> None:
    root = await _open(harness)
    await harness.text_in("STOP")
    await harness.drain()
    assert len(harness.sms_sent()) == 1  # the one opt-out confirmation (rule 3)

    await harness.teammate(root, "!optin")
    await harness.drain()
    [refused] = [w for w in _whispers(harness) if "Lift it only with their renewed consent" in w]
    assert "keyword STOP" in refused
    await harness.teammate(root, "!r still there?")
    await harness.drain()
    assert len(harness.sms_sent()) == 1

    await harness.teammate(root, "!optin she asked by phone on Monday to get texts again")
    await harness.drain()
    assert any(
        "Ana recorded the customer's renewed consent: she asked by phone on Monday to get texts again" in t
        for t in _thread_texts(harness, root)
    )
    assert len(harness.sms_sent()) == 1  # a teammate's opt-in texts the customer nothing
    await harness.teammate(root, "!r Welcome back!")
    await harness.drain()
    assert [m["Body"] for m in harness.sms_sent()][-1] == "Welcome back!"
    assert (await _events(harness))[-1] == (
        CUSTOMER, "opt_in", "teammate", "slack:UANA", "she asked by phone on Monday to get texts again"
    )


async def test_discord_optout_and_optin_name_the_teammate(dh_admin: Harness) -> None:
    assert dh_admin.discord is not None
    await dh_admin.text_in("hello")
    post = await dh_admin.first_post()

    def said(text: str) -> list[str]:
        return [m["content"] for m in dh_admin.post_messages(post["id"]) if text in m["content"]]

    await dh_admin.discord.user_message(post["id"], DISCORD_BEN, "!optout customer asked")
    await dh_admin.discord.wait_for(lambda: bool(said("recorded an opt-out")), message="the notice")
    await dh_admin.discord.user_message(post["id"], DISCORD_ANA, "!r hi")
    await dh_admin.discord.wait_for(lambda: bool(said("Not sent")), message="the blocked reply")
    await dh_admin.discord.user_message(post["id"], DISCORD_ANA, "!optin renewed on the phone")
    await dh_admin.discord.wait_for(lambda: bool(said("recorded the customer's renewed consent")), message="the opt-in")
    await dh_admin.drain()
    assert dh_admin.sms_sent() == []
    events = await _events(dh_admin)
    assert [(e[1], e[3]) for e in events] == [("opt_out", f"discord:{DISCORD_BEN}"), ("opt_in", f"discord:{DISCORD_ANA}")]


# -- the contacts import ---------------------------------------------------------------------


async def test_import_reads_opted_out_and_consent_columns_as_consent_events(harness: Harness, tmp_path: Path) -> None:
    assert harness.bridge is not None
    sheet = tmp_path / "leads.csv"
    sheet.write_text(
        "phone,name,Opted_Out,consent,company\n"
        "+14155550171,Ana,yes,,Acme\n"
        "+14155550172,Ben,no,2024-05-01 web form,\n"
        "+14155550173,Cleo,,yes,\n"
        "+14155550174,Dee,maybe,,\n"
        "+14155550175,Eve,0,no,\n",
        encoding="utf-8",
    )
    report = await import_contacts(harness.bridge.db, sheet)
    assert (report.imported, report.opted_out, report.consented) == (4, 1, 2)
    assert [(s.line, s.reason) for s in report.skipped] == [(5, "opted_out is 'maybe'; write yes or no")]
    assert report.summary().endswith("; consent records: 1 opted out, 2 consented")
    assert await _events(harness) == [
        ("+14155550171", "opt_out_all", "import", "import:leads.csv", "line 2"),
        ("+14155550172", "consent", "import", "import:leads.csv", "2024-05-01 web form"),
        ("+14155550173", "consent", "import", "import:leads.csv", None),
    ]
    properties = {r[0]: r[1] for r in await harness.rows("SELECT phone, properties FROM contacts")}
    assert "opted" not in str(properties).lower() and "consent" not in str(properties)
    assert "Acme" in str(properties["+14155550171"])
    assert [tuple(r) for r in await harness.rows("SELECT phone, scope, source FROM suppressions")] == [
        ("+14155550171", "all", "import")
    ]

    again = await import_contacts(harness.bridge.db, sheet)  # the same file twice records nothing twice
    assert (again.opted_out, again.consented) == (0, 0)
    assert len(await _events(harness)) == 3

    # Consent on record: /sms new goes straight through. Opted out: never texted.
    answer = await harness.sms_command("new +14155550172 Your quote is ready")
    assert answer["text"].startswith("Texting:")
    await harness.sms_command("new +14155550171 Hello")
    await harness.drain()
    assert [(m["To"], m["Body"]) for m in harness.sms_sent()] == [("+14155550172", "Your quote is ready")]


# -- /sms new and consent ---------------------------------------------------------------------


async def test_sms_new_without_consent_asks_first_and_records_the_confirmation(harness: Harness) -> None:
    answer = await harness.sms_command(f"new {FRESH} Your order shipped")
    assert answer["text"].startswith("Not sent yet: (415) 555-0177 has never texted")
    buttons = _buttons(answer)
    assert set(buttons) == {"smsbridge.confirm_consent", "smsbridge.cancel_consent"}
    assert buttons["smsbridge.confirm_consent"]["text"]["text"] == "I have consent to text this number"
    await harness.drain()
    assert _sends_attempted(harness) == 0 and harness.roots() == []  # nothing sent, no conversation
    assert await _events(harness) == []

    # Only its author may confirm.
    other = await harness.click(buttons["smsbridge.confirm_consent"], user="UBEN", ephemeral=True)
    assert "no longer waiting" in other["text"]

    done = await harness.click(buttons["smsbridge.confirm_consent"], ephemeral=True)
    assert done["text"].startswith("Texting: (415) 555-0177") and done["replace_original"] is True
    await harness.drain()
    assert [(m["To"], m["Body"]) for m in harness.sms_sent()] == [(FRESH, "Your order shipped")]
    assert await _events(harness) == [
        (FRESH, "consent", "teammate", "slack:UANA", "confirmed having consent before /sms new")
    ]
    twice = await harness.click(buttons["smsbridge.confirm_consent"], ephemeral=True)
    assert "no longer waiting" in twice["text"]
    await harness.drain()
    assert len(harness.sms_sent()) == 1

    # Consent is on record now: the next /sms new goes straight through.
    assert (await harness.sms_command(f"new {FRESH} Tracking: 1Z999"))["text"].startswith("Texting:")
    await harness.drain()
    assert len(harness.sms_sent()) == 2


async def test_sms_new_cancel_sends_nothing_and_records_nothing(harness: Harness) -> None:
    answer = await harness.sms_command(f"new {FRESH} Special offer!")
    canceled = await harness.click(_buttons(answer)["smsbridge.cancel_consent"], ephemeral=True)
    assert canceled["text"] == "Canceled: nothing was sent."
    late = await harness.click(_buttons(answer)["smsbridge.confirm_consent"], ephemeral=True)
    assert "no longer waiting" in late["text"]
    await harness.drain()
    assert _sends_attempted(harness) == 0 and harness.roots() == []
    assert await _events(harness) == []


async def test_sms_new_to_a_number_that_texted_in_goes_straight_through(harness: Harness) -> None:
    await _open(harness)
    answer = await harness.sms_command(f"new {CUSTOMER} Following up")
    assert answer["text"].startswith("Texting:")
    await harness.drain()
    assert [m["Body"] for m in harness.sms_sent()] == ["Following up"]
    assert await _events(harness) == []


async def test_discord_sms_new_confirm_button_survives_a_restart(dh_admin: Harness) -> None:
    discord = dh_admin.discord
    assert discord is not None and dh_admin.bridge is not None
    iid = await discord.slash_command("sms", {"number": "(415) 555-0177", "text": "Your bike is ready"},
                                      user_id=DISCORD_ANA, channel_id=FORUM, subcommand="new")
    await discord.wait_for(lambda: bool(discord.followups(iid)), message="the answer")
    [prompt] = discord.followups(iid)
    assert prompt["flags"] & 64 and prompt["content"].startswith("Not sent yet")
    ids = {c["custom_id"].split(":")[1]: c["custom_id"] for row in prompt["components"] for c in row["components"]}
    assert set(ids) == {"confirm_consent", "cancel_consent"}
    await dh_admin.drain()
    assert dh_admin.sms_sent() == []

    await dh_admin.restart()
    await dh_admin.discord_ready(dh_admin.bridge)
    click = await discord.click_button(int(prompt["id"]), ids["confirm_consent"], DISCORD_ANA)
    await discord.wait_for(lambda: bool(discord.followups(click)), message="the answer to the click")
    assert discord.followups(click)[0]["content"].startswith("Texting: (415) 555-0177")
    await dh_admin.drain()
    assert [m["Body"] for m in dh_admin.sms_sent()] == ["Your bike is ready"]
    assert [(e[1], e[3]) for e in await _events(dh_admin)] == [("consent", f"discord:{DISCORD_ANA}")]


# -- rule 8 --------------------------------------------------------------------------------------


async def test_every_consent_change_is_recorded_and_can_be_read(harness: Harness, tmp_path: Path) -> None:
    """Rule 8: each change says what, when, the source, who recorded it and why, and a
    teammate can read it in the thread."""
    assert harness.bridge is not None
    root = await _open(harness)
    await harness.text_in("STOP")
    await harness.drain()
    await harness.text_in("START")
    await harness.drain()
    await harness.teammate(root, "!optout asked in person")
    await harness.teammate(root, "!optin signed the form again")
    sheet = tmp_path / "crm.csv"
    sheet.write_text("phone,opted_out,consent\n+14155550181,yes,\n+14155550182,,trade show 2026\n", encoding="utf-8")
    await import_contacts(harness.bridge.db, sheet)
    answer = await harness.sms_command(f"new {FRESH} hello")
    await harness.click(_buttons(answer)["smsbridge.confirm_consent"], ephemeral=True)
    await harness.drain()
    harness.twilio.opted_out.add(FRESH)  # the carrier says they replied STOP to it (21610)
    await harness.sms_command(f"new {FRESH} hello again")
    await harness.drain()

    rows = await harness.rows("SELECT phone, action, source, actor, detail, raw_text, created_at FROM consent_events ORDER BY id")
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        (CUSTOMER, "opt_out", "keyword", "contact"),
        (CUSTOMER, "opt_in", "keyword", "contact"),
        (CUSTOMER, "opt_out", "teammate", "slack:UANA"),
        (CUSTOMER, "opt_in", "teammate", "slack:UANA"),
        ("+14155550181", "opt_out_all", "import", "import:crm.csv"),
        ("+14155550182", "consent", "import", "import:crm.csv"),
        (FRESH, "consent", "teammate", "slack:UANA"),
        (FRESH, "opt_out", "provider", "provider"),
    ]
    assert [r[5] for r in rows[:2]] == ["STOP", "START"]
    assert [r[4] for r in rows[2:4]] == ["asked in person", "signed the form again"]
    assert all(r[6] is not None for r in rows)

    await harness.teammate(root, "!consent")
    await harness.drain()
    [history] = [w for w in _whispers(harness) if "Consent of" in w]
    lines = [line for line in history.splitlines() if line.startswith("•")]
    assert len(lines) == 4  # this contact's own history, newest first
    assert "opted back in" in lines[0] and "by Ana (slack)" in lines[0] and "signed the form again" in lines[0]
    assert "STOP" in lines[3] and "by the contact" in lines[3]


# -- the web chat (sandbox) ---------------------------------------------------------------------


async def test_web_chat_sms_new_asks_for_consent_and_the_card_shows_it(tmp_path: Path) -> None:
    import aiohttp

    from bridge.sandbox import start_sandbox
    from tests.fakes.loopback import wait_until

    sandbox = await start_sandbox(0, tmp_path, undo_seconds=0)
    phone = "+14155550187"  # one of the sandbox's phones; it never texted
    try:
        async with aiohttp.ClientSession() as http:

            async def state() -> dict[str, Any]:
                async with http.get(sandbox.url + "api/state", params={"user": "ana"}) as response:
                    return dict(await response.json())

            await http.post(sandbox.url + "api/channel", json={"user": "ana", "text": f"/sms new {phone} Hello from the shop"})
            answer = (await state())["channel"][-1]
            assert "Not sent yet" in "".join(s["v"] for s in answer["rich"])
            by_action = {b["action"]: b for b in answer["buttons"]}
            assert set(by_action) == {"confirm_consent", "cancel_consent"}
            assert (await state())["phones"][phone] == []

            confirm = by_action["confirm_consent"]
            await http.post(sandbox.url + "api/click", json={"user": "ana", "action": confirm["action"], "value": confirm["value"]})

            async def delivered() -> bool:
                return any(m["body"] == "Hello from the shop" for m in (await state())["phones"][phone])

            await wait_until(delivered, timeout=30, message="the text on the phone")

            async def card_shows_consent() -> bool:
                cards = [m for t in (await state())["threads"] for m in t["messages"] if m.get("part") == "card"]
                return any(str(m["facts"].get("consent", "")).startswith("Consent on record (teammate") for m in cards)

            await wait_until(card_shows_consent, timeout=30, message="the card's consent line")
    finally:
        await sandbox.stop()


async def test_a_consent_prompt_a_day_old_sends_nothing(harness: Harness) -> None:
    from sqlalchemy import text

    assert harness.bridge is not None
    answer = await harness.sms_command(f"new {FRESH} Yesterday's news")
    async with harness.bridge.db.sessions.begin() as session:
        await session.execute(text("UPDATE consent_prompts SET created_at = :then"), {"then": datetime(2020, 1, 1)})
    late = await harness.click(_buttons(answer)["smsbridge.confirm_consent"], ephemeral=True)
    assert "a day old" in late["text"]
    await harness.drain()
    assert _sends_attempted(harness) == 0 and await _events(harness) == []
