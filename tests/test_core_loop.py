"""The core loop as a user sees it: a text becomes a thread, `!r` replies go out by SMS."""

from __future__ import annotations

from tests.harness import BUSINESS, CHANNEL, CUSTOMER, NUMBER, OTHER_CUSTOMER, Harness


async def test_customer_text_opens_a_thread_with_card_and_text(harness: Harness) -> None:
    await harness.text_in("Hi, is my bike ready?")
    root = await harness.first_thread()
    await harness.slack.wait_for(lambda: len(harness.thread(root)) == 1)

    card = harness.roots()[0]
    card_text = str(card["blocks"])
    assert "(415) 555-0101" in card_text
    assert "New" in card_text
    reply = harness.thread(root)[0]
    assert reply["text"] == "Hi, is my bike ready?"
    assert reply["username"] == "(415) 555-0101"


async def test_later_texts_join_the_same_thread_and_other_numbers_get_their_own(harness: Harness) -> None:
    await harness.text_in("first")
    await harness.text_in("second")
    await harness.text_in("someone else", sender=OTHER_CUSTOMER)
    await harness.text_in("third")
    await harness.drain()

    roots = harness.roots()
    assert len(roots) == 2
    # Two conversations post independently: their threads may start in either order.
    threads = sorted(([m["text"] for m in harness.thread(root["ts"])] for root in roots), key=len)
    assert threads == [["someone else"], ["first", "second", "third"]]


async def test_customer_text_cannot_ping_the_channel(harness: Harness) -> None:
    await harness.text_in("<!channel> hello <@UANA> & co")
    root = await harness.first_thread()
    await harness.slack.wait_for(lambda: len(harness.thread(root)) == 1)
    assert harness.thread(root)[0]["text"] == "&lt;!channel&gt; hello &lt;@UANA&gt; &amp; co"


async def test_note_stays_internal_and_reply_goes_out(harness: Harness) -> None:
    await harness.text_in("Can I pick it up at 5?")
    root = await harness.first_thread()

    await harness.teammate(root, "checking with the workshop")
    await harness.drain()
    assert harness.sms_sent() == []
    notes = await harness.rows("SELECT body, author_name FROM notes")
    assert [tuple(n) for n in notes] == [("checking with the workshop", "Ana")]

    await harness.teammate(root, "!r Yes, see you at 5 &amp; bring the receipt")
    await harness.drain()
    sent = harness.sms_sent()
    assert len(sent) == 1
    assert sent[0]["Body"] == "Yes, see you at 5 & bring the receipt"
    assert sent[0]["To"] == CUSTOMER
    assert sent[0]["From"] == NUMBER
    assert sent[0]["StatusCallback"].startswith("https://sms.example.com/twilio/status?m=")
    author = await harness.rows("SELECT author_id, author_name FROM messages WHERE direction = 'out'")
    assert [tuple(a) for a in author] == [("UANA", "Ana")]


async def test_reply_prefix_is_case_insensitive_and_has_a_long_form(harness: Harness) -> None:
    await harness.text_in("hello")
    root = await harness.first_thread()
    await harness.teammate(root, "!R one")
    await harness.teammate(root, "!Reply two")
    await harness.teammate(root, "!REPLY\nthree")
    await harness.drain()
    assert [m["Body"] for m in harness.sms_sent()] == ["one", "two", "three"]


async def test_reply_status_line_moves_forward_and_counts_segments(harness: Harness) -> None:
    await harness.text_in("hello")
    root = await harness.first_thread()
    await harness.teammate(root, "!r " + "x" * 200)
    await harness.drain()
    [sent] = harness.sms_sent()
    status_lines = [m for m in harness.thread(root) if m["text"].startswith(("⏳", "📤", "✅"))]
    assert len(status_lines) == 1
    assert "Queued" in status_lines[0]["text"] and "2 segments" in status_lines[0]["text"]
    assert "Ana" in status_lines[0]["text"]

    message_id = int(sent["StatusCallback"].rsplit("=", 1)[1])
    await harness.status_callback(sent["sid"], "delivered", message_id=message_id)
    await harness.status_callback(sent["sid"], "sent", message_id=message_id)  # late, out of order
    await harness.drain()
    line = harness.slack.get(CHANNEL, status_lines[0]["ts"])
    assert line is not None and line["text"].startswith("✅") and "Delivered" in line["text"]
    assert [tuple(r) for r in await harness.rows("SELECT status FROM messages WHERE direction='out'")] == [("delivered",)]


async def test_failed_delivery_shows_the_reason_in_words(harness: Harness) -> None:
    await harness.text_in("hello")
    root = await harness.first_thread()
    await harness.teammate(root, "!r are you there?")
    await harness.drain()
    [sent] = harness.sms_sent()
    await harness.status_callback(sent["sid"], "undelivered", error_code="30003")
    await harness.drain()
    line = next(m for m in harness.thread(root) if "SMS by" in m["text"])
    assert "Not delivered" in line["text"]
    assert "unreachable" in line["text"] and "30003" in line["text"]


async def test_unknown_command_gets_help_and_sends_nothing(harness: Harness) -> None:
    await harness.text_in("hello")
    root = await harness.first_thread()
    await harness.teammate(root, "!rply oops typo")
    await harness.teammate(root, "!r")
    await harness.teammate(root, "!help")
    await harness.drain()
    assert harness.sms_sent() == []
    ephemerals = [e for e in harness.slack.ephemerals if e.get("user") == "UANA"]
    assert len(ephemerals) == 3
    assert "`!rply` is not a command" in ephemerals[0]["text"]
    assert "Nothing to send" in ephemerals[1]["text"]
    assert "!r your text" in ephemerals[2]["text"]
    assert all(e.get("thread_ts") == root for e in ephemerals)


async def test_custom_reply_prefix(databases) -> None:  # type: ignore[no-untyped-def]
    h = Harness(databases, reply_prefix="!sms")
    await h.start()
    try:
        await h.text_in("hello")
        root = await h.first_thread()
        await h.teammate(root, "!r not a send with a custom prefix")
        await h.teammate(root, "!SMS hello there")
        await h.drain()
        assert [m["Body"] for m in h.sms_sent()] == ["hello there"]
    finally:
        await h.stop()


async def test_mms_media_is_uploaded_into_the_thread(harness: Harness) -> None:
    picture = b"\x89PNG\r\n\x1a\n" + b"0" * 2048
    url = harness.twilio.add_media(picture, "image/png")
    await harness.text_in("", media=[(url, "image/png")])
    root = await harness.first_thread()
    await harness.drain()
    assert harness.thread(root)[0]["text"] == "_(sent 1 attachment)_"
    assert len(harness.slack.files) == 1
    uploaded = harness.slack.files[0]
    assert uploaded["bytes"] == picture
    assert uploaded["thread_ts"] == root and uploaded["channel"] == CHANNEL


async def test_missing_media_is_reported_not_dropped(harness: Harness) -> None:
    missing = harness.twilio.url + f"/2010-04-01/Accounts/{harness.twilio.account_sid}/Messages/MMx/Media/MEgone"
    await harness.text_in("see photo", media=[(missing, "image/jpeg")])
    root = await harness.first_thread()
    await harness.drain()
    texts = [m["text"] for m in harness.thread(root)]
    assert texts[0] == "see photo"
    assert any("could not be shown" in t and "MEgone" in t for t in texts)


async def test_each_inbox_answers_in_its_own_business_name(databases) -> None:  # type: ignore[no-untyped-def]
    from bridge.config import InboxConfig

    sales = "+14155550199"
    h = Harness(databases, inbox=[InboxConfig(name="sales", number=sales, slack_channel="C0SALES", business_name="Acme Sales")])
    h.slack.set_channel("C0SALES", "sales")
    h.twilio.add_number(sales)
    await h.start()
    try:
        await h.text_in("HELP")
        await h.text_in("HELP", sender=OTHER_CUSTOMER, to=sales)
        await h.drain()
        answers = {m["From"]: m["Body"] for m in h.sms_sent()}
        assert answers[NUMBER].startswith(f"{BUSINESS}: ")
        assert answers[sales].startswith("Acme Sales: ")
    finally:
        await h.stop()


async def test_sender_that_is_not_a_phone_number_is_kept_and_flagged(harness: Harness) -> None:
    await harness.text_in("Your code is 123456", sender="ACMEBANK")
    root = await harness.first_thread()
    await harness.drain()
    texts = [m["text"] for m in harness.thread(root)]
    assert texts[0] == "Your code is 123456"
    assert any("not a phone number" in t for t in texts)
    assert "Not a phone number" in str(harness.roots()[0]["blocks"])
    await harness.teammate(root, "!r can we reply?")
    await harness.drain()
    assert harness.sms_sent() == []
    assert any("Not sent" in m["text"] and "ACMEBANK" in m["text"] for m in harness.thread(root))
    assert [tuple(r) for r in await harness.rows("SELECT phone, phone_valid FROM contacts")] == [("ACMEBANK", False)]


async def test_reply_longer_than_an_sms_can_carry_is_refused(harness: Harness) -> None:
    await harness.text_in("hello")
    root = await harness.first_thread()
    await harness.teammate(root, "!r " + "y" * 1601)
    await harness.drain()
    assert harness.sms_sent() == []
    assert any("1601 characters" in e["text"] for e in harness.slack.ephemerals)


async def test_a_text_on_a_closed_conversation_reopens_it(harness: Harness) -> None:
    await harness.text_in("hello")
    await harness.drain()
    async with harness.bridge.db.engine.begin() as conn:  # type: ignore[union-attr]
        from sqlalchemy import text

        await conn.execute(text("UPDATE conversations SET status = 'closed'"))
    await harness.text_in("me again")
    await harness.drain()
    assert [tuple(r) for r in await harness.rows("SELECT status FROM conversations")] == [("open",)]
    assert "Open" in str(harness.roots()[0]["blocks"])
