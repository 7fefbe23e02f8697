"""Teamwork in the thread, driven through the real slack-bolt: ownership, statuses,
snippets, contacts, new conversations, collisions, undo, drafts and roles."""

from __future__ import annotations

import asyncio

from tests.harness import CHANNEL, Harness


async def _conversation(h: Harness) -> str:
    await h.text_in("Hi, is my bike ready?")
    root = await h.first_thread()
    await h.drain()
    return root


def _card(h: Harness, root: str) -> str:
    card = h.slack.get(CHANNEL, root)
    assert card is not None
    return str(card["blocks"])


def _whispers(h: Harness, user: str) -> list[str]:
    return [e["text"] for e in h.slack.ephemerals if e["user"] == user]


async def _audit(h: Harness, action: str) -> list[tuple]:  # type: ignore[type-arg]
    return [tuple(r) for r in await h.rows("SELECT actor, detail FROM audit_events WHERE action = :a ORDER BY id", a=action)]


async def test_claim_assign_unassign_show_on_the_card_and_notify(harness: Harness) -> None:
    root = await _conversation(harness)
    await harness.teammate(root, "!claim")
    await harness.drain()
    assert "*Assignee:* Ana" in _card(harness, root)
    assert any("Ana claimed" in m["text"] for m in harness.thread(root))

    await harness.teammate(root, "!claim", user="UBEN")
    await harness.drain()
    assert any("Ana already claimed" in t for t in _whispers(harness, "UBEN"))

    await harness.teammate(root, "!assign <@UBEN>")
    await harness.drain()
    assert "*Assignee:* Ben" in _card(harness, root)
    notice = [m["text"] for m in harness.thread(root) if "Assigned to" in m["text"]][-1]
    assert notice == "👉 Assigned to <@UBEN> by Ana (was Ana)."

    await harness.teammate(root, "!unassign", user="UBEN")
    await harness.drain()
    assert "nobody yet" in _card(harness, root)
    assert [a for a, _ in await _audit(harness, "assigned")] == ["slack:UANA"]
    [(_, detail)] = await _audit(harness, "unassigned")
    assert '"before": "Ben"' in str(detail).replace("'", '"')


async def test_assign_by_name_and_its_mistakes(harness: Harness) -> None:
    root = await _conversation(harness)
    await harness.teammate(root, "hello from Ben", user="UBEN")  # Ben becomes a known teammate
    await harness.teammate(root, "!assign ben")
    await harness.teammate(root, "!assign nobody-here")
    await harness.teammate(root, "!assign")
    await harness.drain()
    assert "*Assignee:* Ben" in _card(harness, root)
    whispers = _whispers(harness, "UANA")
    assert any("No teammate called `nobody-here`" in w for w in whispers)
    assert "Usage: `!assign @name` — gives it to a teammate, who is mentioned (notified) in the thread." in whispers
    assert harness.sms_sent() == []


async def test_simultaneous_claims_exactly_one_wins(harness: Harness) -> None:
    root = await _conversation(harness)
    claim = harness.card_action("claim", root)
    answers = await asyncio.gather(
        harness.click(claim, "UANA", message_ts=root), harness.click(claim, "UBEN", message_ts=root)
    )
    by_name = {"Ana": answers[0]["text"], "Ben": answers[1]["text"]}
    [winner] = [name for name, text in by_name.items() if text == "It's yours."]
    [loser] = set(by_name) - {winner}
    assert by_name[loser] == f"{winner} already claimed this conversation. `!assign @you` takes it over."
    await harness.drain()
    assignees = await harness.rows("SELECT a.name FROM conversations c JOIN agents a ON a.id = c.assignee_id")
    assert [tuple(a) for a in assignees] == [(winner,)]
    assert f"*Assignee:* {winner}" in _card(harness, root)
    assert len(await _audit(harness, "claimed")) == 1


async def test_statuses_by_command_and_button(harness: Harness) -> None:
    root = await _conversation(harness)
    await harness.teammate(root, "!status pending")
    await harness.drain()
    assert "Pending" in _card(harness, root)
    await harness.teammate(root, "!status bogus")
    await harness.drain()
    assert any("`!status` takes one of" in w for w in _whispers(harness, "UANA"))

    answer = await harness.click(harness.card_action("close", root), message_ts=root)
    assert answer["text"] == "Status set to closed."
    await harness.drain()
    assert "Closed" in _card(harness, root)
    await harness.click(harness.card_action("reopen", root), message_ts=root)
    await harness.drain()
    assert "Open" in _card(harness, root)
    await harness.teammate(root, "!close")
    await harness.text_in("one more question")
    await harness.drain()
    assert "Open" in _card(harness, root)
    statuses = [tuple(r) for r in await harness.rows("SELECT status FROM conversations")]
    assert statuses == [("open",)]


async def test_snippets_need_admin_to_manage_and_fill_variables(databases) -> None:  # type: ignore[no-untyped-def]
    h = Harness(databases, admins=["UBEN"])
    await h.start()
    try:
        root = await _conversation(h)
        refused = await h.sms_command("snippet add greet Hi {first_name}, {agent} here from {business}.")
        assert refused["text"] == (
            "Managing snippets needs the admin role; you are agent."
            " Admins are listed in the `ADMINS` setting; ask one of them, or add `slack:UANA` to it."
        )
        saved = await h.sms_command("snippet add greet Hi {first_name}, {agent} here from {business}.", user="UBEN")
        assert saved["text"] == "Snippet `greet` saved."
        listed = await h.sms_command("snippets")
        assert "`greet`" in listed["text"]

        await h.teammate(root, "!s greet")
        await h.drain()
        assert h.sms_sent() == []
        assert any("needs `{first_name}`" in w for w in _whispers(h, "UANA"))

        await h.teammate(root, "!contact name Jane Doe")
        await h.teammate(root, "!s greet")
        await h.teammate(root, "!s nope")
        await h.drain()
        assert [m["Body"] for m in h.sms_sent()] == ["Hi Jane, Ana here from Acme Bikes."]
        assert any("No snippet `nope`. Known: greet." in w for w in _whispers(h, "UANA"))
        assert "Jane Doe" in _card(h, root)

        picked = h.card_action("snippet", root)
        answer = await h.click({**picked, "selected_option": picked["options"][0]}, message_ts=root)
        assert answer["text"] == "Sending snippet `greet`."
        await h.drain()
        assert len(h.sms_sent()) == 2
        assert (await _audit(h, "snippet_saved"))[0][0] == "slack:UBEN"
    finally:
        await h.stop()


async def test_contact_details_show_on_the_card(harness: Harness) -> None:
    root = await _conversation(harness)
    for text in ("!tag +vip +lead", "!tag -lead", "!prop stage=trial", "!tz chicago", "!contact note prefers texts", "!priority high"):
        await harness.teammate(root, text)
    await harness.teammate(root, "!tz Mars/Olympus")
    await harness.drain()
    card = _card(harness, root)
    assert "`vip`" in card and "`lead`" not in card
    assert "*stage:* trial" in card
    assert "America/Chicago" in card
    assert "prefers texts" in card
    assert "High" in card
    assert any("`Mars/Olympus` is not a time zone" in w for w in _whispers(harness, "UANA"))
    tags = await harness.rows("SELECT tags FROM contacts")
    assert "vip" in str(tags[0][0])


async def test_sms_new_opens_or_reuses_the_thread_and_sends(harness: Harness) -> None:
    await harness.give_consent("+14155550103")  # else /sms new asks first (test_consent.py)
    answer = await harness.sms_command("new (415) 555-0103 Hi, your order is ready")
    assert answer["text"].startswith("Texting: (415) 555-0103")
    await harness.drain()
    assert [(m["To"], m["Body"]) for m in harness.sms_sent()] == [("+14155550103", "Hi, your order is ready")]
    assert len(harness.roots()) == 1
    assert "its thread appears in a moment" in str(answer["blocks"])

    again = await harness.sms_command("new +1 415-555-0103 Second one")
    await harness.drain()
    assert "existing conversation" in str(again["blocks"])
    assert f"fake.slack.com/archives/{CHANNEL}/p{harness.roots()[0]['ts'].replace('.', '')}" in str(again["blocks"])
    assert len(harness.roots()) == 1 and len(harness.sms_sent()) == 2

    bad = await harness.sms_command("new 12 hi")
    # What was wrong and how to write it; nothing sent.
    assert "`12` does not start with a phone number" in bad["text"]
    assert "`/sms new +14155550123 text`" in bad["text"]
    await harness.drain()
    assert len(harness.sms_sent()) == 2
    assert (await harness.sms_command("frobnicate"))["text"].startswith("`/sms frobnicate` is not a command")


async def test_collision_holds_a_reply_until_the_author_decides(harness: Harness) -> None:
    root = await _conversation(harness)
    await harness.teammate(root, "!r On it — Ben", user="UBEN")
    await harness.teammate(root, "!r Checking now — Ana")
    await harness.drain()
    assert [m["Body"] for m in harness.sms_sent()] == ["On it — Ben"]
    [held] = [e for e in harness.slack.ephemerals if e["user"] == "UANA"]
    assert "Ben already replied" in held["text"] and "On it — Ben" in held["text"]
    buttons = {el["action_id"]: el for b in held["blocks"] if b["type"] == "actions" for el in b["elements"]}
    assert set(buttons) == {"smsbridge.send_anyway", "smsbridge.discard"}

    answer = await harness.click(buttons["smsbridge.send_anyway"], ephemeral=True)
    assert answer["text"] == "Sending." and answer["replace_original"] is True
    await harness.drain()
    assert [m["Body"] for m in harness.sms_sent()] == ["On it — Ben", "Checking now — Ana"]

    await harness.teammate(root, "!r third, also held")
    await harness.drain()
    held = [e for e in harness.slack.ephemerals if e["user"] == "UANA"][-1]
    discard = next(el for b in held["blocks"] if b["type"] == "actions" for el in b["elements"] if el["action_id"] == "smsbridge.discard")
    assert (await harness.click(discard, ephemeral=True))["text"] == "Discarded."
    await harness.drain()
    assert len(harness.sms_sent()) == 2


async def test_a_customer_text_clears_the_collision(harness: Harness) -> None:
    root = await _conversation(harness)
    await harness.teammate(root, "!r first answer", user="UBEN")
    await harness.drain()
    await harness.text_in("thanks, and another question")
    await harness.drain()  # the teammate answers what they see in the thread
    await harness.teammate(root, "!r my answer to the new question")
    await harness.drain()
    assert len(harness.sms_sent()) == 2


async def test_undo_within_the_window_sends_nothing(databases) -> None:  # type: ignore[no-untyped-def]
    h = Harness(databases, undo_seconds=2)
    await h.start()
    try:
        root = await _conversation(h)
        await h.teammate(root, "!r oops, wrong customer")
        await h.slack.wait_for(lambda: any("Sending in" in m["text"] for m in h.thread(root)))
        line = next(m for m in h.thread(root) if "Sending in" in m["text"])
        undo = next(el for b in line["blocks"] if b["type"] == "actions" for el in b["elements"])
        assert undo["action_id"] == "smsbridge.undo"
        assert (await h.click(undo, message_ts=line["ts"]))["text"] == "Undone: nothing was sent."
        await h.teammate(root, "!r the right answer")
        # It leaves when its own undo window is over; the first, queued before it, never does.
        await h.twilio.wait_for(lambda: h.sms_sent(), timeout=10, message="the second reply sent")
        await h.drain()
        assert [m["Body"] for m in h.sms_sent()] == ["the right answer"]
        canceled = h.slack.get(CHANNEL, line["ts"])
        assert canceled is not None and "Canceled" in canceled["text"]
        late = await h.click(undo, message_ts=line["ts"])
        assert late["text"] == "Already undone: nothing was sent."
        assert not any("Draft by" in m["text"] for m in h.thread(root))  # it was never a draft
    finally:
        await h.stop()


async def test_drafts_need_approval_and_can_be_edited(databases) -> None:  # type: ignore[no-untyped-def]
    h = Harness(databases, admins=["UBEN"], smsbridge_approval_role="agent")
    await h.start()
    try:
        root = await _conversation(h)
        await h.teammate(root, "!r Refund approved!")
        await h.drain()
        assert h.sms_sent() == []
        [draft] = [m for m in h.thread(root) if m["text"].startswith("📝 *Draft by Ana*")]
        buttons = {el["action_id"]: el for b in draft["blocks"] if b["type"] == "actions" for el in b["elements"]}

        refused = await h.click(buttons["smsbridge.approve"], "UANA", message_ts=draft["ts"])
        assert refused["text"].startswith("Approving drafts in this inbox needs the admin role; you are agent.")

        await h.click(buttons["smsbridge.edit"], "UANA", message_ts=draft["ts"])
        modal = h.slack.views[-1]["view"]
        assert modal["blocks"][0]["element"]["initial_value"] == "Refund approved!"
        status, _ = await h.submit_view(modal, {"draft": {"text": {"type": "plain_text_input", "value": "Refund approved: 3-5 days."}}})
        assert status == 200
        await h.drain()

        answer = await h.click(buttons["smsbridge.approve"], "UBEN", message_ts=draft["ts"])
        assert answer["text"].startswith("Approved by Ben")
        await h.drain()
        assert [m["Body"] for m in h.sms_sent()] == ["Refund approved: 3-5 days."]
        approved = h.slack.get(CHANNEL, draft["ts"])
        assert approved is not None and "approved" in approved["text"]
        assert "actions" not in str(approved["blocks"])
    finally:
        await h.stop()


async def test_explicit_draft_by_anyone_and_discard(harness: Harness) -> None:
    root = await _conversation(harness)
    await harness.teammate(root, "!draft maybe say this?")
    await harness.drain()
    [draft] = [m for m in harness.thread(root) if "Draft by Ana" in m["text"]]
    discard = next(el for b in draft["blocks"] if b["type"] == "actions" for el in b["elements"] if el["action_id"] == "smsbridge.discard")
    assert (await harness.click(discard, message_ts=draft["ts"]))["text"] == "Discarded."
    await harness.drain()
    assert harness.sms_sent() == []
    assert "discarded" in (harness.slack.get(CHANNEL, draft["ts"]) or {})["text"]


async def test_viewers_write_notes_but_cannot_send(databases) -> None:  # type: ignore[no-untyped-def]
    h = Harness(databases, viewers=["UBEN"], admins=["UANA"])
    await h.start()
    try:
        root = await _conversation(h)
        await h.teammate(root, "looks like a warranty case", user="UBEN")
        await h.teammate(root, "!r can I send?", user="UBEN")
        await h.teammate(root, "!claim", user="UBEN")
        await h.drain()
        assert h.sms_sent() == []
        whispers = _whispers(h, "UBEN")
        grant = " Admins are listed in the `ADMINS` setting; ask one of them, or add `slack:UBEN` to it."
        assert "Texting the customer needs the agent role; you are viewer." + grant in whispers
        assert "Claiming needs the agent role; you are viewer." + grant in whispers
        assert [tuple(r) for r in await h.rows("SELECT body FROM notes")] == [("looks like a warranty case",)]

        h.slack.add_user("UCAT", "Cat")
        answer = await h.sms_command("role <@UCAT|cat> viewer")
        assert answer["text"] == "Cat is now viewer (was agent)."
        refused = await h.sms_command("role <@UANA|ana> viewer", user="UCAT")
        assert refused["text"] == "Changing roles needs the admin role; you are viewer. Ask an admin (Ana) to run `/sms role @Cat admin`."
    finally:
        await h.stop()


async def test_away_is_shown_when_assigning(harness: Harness) -> None:
    root = await _conversation(harness)
    assert (await harness.sms_command("away", user="UBEN"))["text"].startswith("You are away")
    await harness.teammate(root, "!assign <@UBEN>")
    await harness.drain()
    assert any("Ben is away" in w for w in _whispers(harness, "UANA"))
    assert (await harness.sms_command("back", user="UBEN"))["text"] == "Welcome back."


async def test_assign_picker_on_the_card(harness: Harness) -> None:
    root = await _conversation(harness)
    picker = harness.card_action("assign", root)
    answer = await harness.click({**picker, "selected_user": "UBEN"}, message_ts=root)
    assert answer["text"] == "Assigned to Ben."
    await harness.drain()
    assert "*Assignee:* Ben" in _card(harness, root)
    assert "👉 Assigned to <@UBEN> by Ana." in [m["text"] for m in harness.thread(root)]


async def test_report_counts_the_period(harness: Harness) -> None:
    root = await _conversation(harness)
    await harness.teammate(root, "!r ready at 5")
    await harness.drain()
    [sent] = harness.sms_sent()
    await harness.status_callback(sent["sid"], "delivered")
    await harness.drain()
    report = await harness.sms_command("report 7d")
    text = report["text"]
    assert "Texts in: 1 · out: 1 (replies 1)" in text and "New conversations: 1 ·" in text
    assert "Delivered: 1 (100%) · not delivered: 0" in text
    assert "• Ana: 1 · 1 · " in text  # conversations, replies, median first response, open now
    assert "First response: median " in text and "unanswered 0" in text
    await harness.sms_command("away", user="UBEN")
    assert "Away now: Ben" in (await harness.sms_command("report 24h"))["text"]
    assert "is neither a period nor an inbox" in (await harness.sms_command("report forever"))["text"]


async def test_search_finds_conversations_and_links_their_threads(harness: Harness) -> None:
    root = await _conversation(harness)
    await harness.teammate(root, "customer wants a refund for the blue bike")
    await harness.text_in("hello, other question", sender="+14155550102")
    await harness.drain()
    found = await harness.sms_command("search refund")
    assert found["text"] == "1 conversation(s) for “refund”, newest first:"
    assert f"fake.slack.com/archives/{CHANNEL}/p{root.replace('.', '')}" in str(found["blocks"])
    by_number = await harness.sms_command("search (415) 555-0101")
    assert "(415) 555-0101" in str(by_number["blocks"])
    assert (await harness.sms_command("search nothing-like-this"))["text"] == "Nothing found for “nothing-like-this”."
    assert (await harness.sms_command('search "NEAR( *'))["text"].startswith("Nothing found")
