"""WhatsApp as a channel: an inbox with a WhatsApp sender receives `From=whatsapp:+…`
(with ProfileName/WaId, as Twilio posts it), says WhatsApp on the card, answers from the
WhatsApp sender to `whatsapp:+…`, takes numbers as WhatsApp gives them, shows location
messages, and refuses free text outside the 24-hour customer-service window."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from bridge.config import InboxConfig
from bridge.inbox.models import Conversation, utcnow
from tests.harness import CHANNEL, CUSTOMER, NUMBER, PUBLIC_URL, Harness

SENDER = "whatsapp:+14155550100"  # the inbox's WhatsApp sender (the same number, WhatsApp-enabled)
INDIA = "whatsapp:+919900000000"
BRAZIL = "whatsapp:+558282136275"  # as Twilio gives it: no mobile 9


@pytest.fixture
async def wa(databases) -> AsyncIterator[Harness]:  # type: ignore[no-untyped-def]
    h = Harness(databases, smsbridge_number=SENDER)
    await h.start()
    yield h
    await h.stop()


async def whatsapp_in(
    h: Harness, body: str, sender: str = INDIA, media: list[tuple[str, str]] = (), to: str = SENDER, **extra: str  # type: ignore[assignment]
) -> None:
    wa_id = sender.split("+", 1)[1]
    fields = {"ProfileName": "Priya", "WaId": wa_id, "MessageType": "text", **extra}
    params = h.inbound_params(body, sender, to=to, media=media, **fields)
    status, reason = await h.twilio_post("/twilio/sms", params)
    assert status == 200, reason


def whispers(h: Harness, user: str = "UANA") -> list[str]:
    return [e["text"] for e in h.slack.ephemerals if e["user"] == user]


async def test_whatsapp_customer_is_answered_on_whatsapp(wa: Harness) -> None:
    await whatsapp_in(wa, "Is my order ready?")
    root = await wa.first_thread()
    await wa.drain()
    card = wa.roots()[0]
    assert "WhatsApp" in str(card["blocks"]) or "WhatsApp" in card["text"]
    assert "Priya" in str(card["blocks"])  # the WhatsApp ProfileName names the new contact
    assert [m["text"] for m in wa.thread(root)] == ["Is my order ready?"]
    await wa.teammate(root, "!r Yes, come by")
    await wa.drain()
    [sent] = wa.sms_sent()
    assert (sent["From"], sent["To"], sent["Body"]) == (SENDER, INDIA, "Yes, come by")
    await wa.slack.wait_for(
        lambda: any("WhatsApp by Ana" in m["text"] for m in wa.thread(root)), message="the status line naming WhatsApp"
    )


async def test_brazilian_whatsapp_number_as_twilio_gives_it_is_textable(wa: Harness) -> None:
    await whatsapp_in(wa, "Olá", sender=BRAZIL)
    root = await wa.first_thread()
    await wa.teammate(root, "!r Olá! Como posso ajudar?")
    await wa.drain()
    [sent] = wa.sms_sent()
    assert sent["To"] == BRAZIL and sent["From"] == SENDER
    assert not any("not a phone number" in m["text"] for m in wa.slack.messages(CHANNEL) + wa.thread(root))


async def test_location_message_is_shown_with_a_map_link(wa: Harness) -> None:
    await whatsapp_in(
        wa, "", Latitude="37.7749", Longitude="-122.4194", Address="1 Market St, San Francisco", Label="Acme Bikes", MessageType="location"
    )
    root = await wa.first_thread()
    await wa.drain()
    [shown] = [m["text"] for m in wa.thread(root)]
    assert "📍 Location: Acme Bikes, 1 Market St, San Francisco" in shown
    assert "37.7749" in shown and "-122.4194" in shown and "maps" in shown
    assert "(empty message)" not in shown


async def test_free_text_outside_the_24_hour_window_is_refused(wa: Harness) -> None:
    await whatsapp_in(wa, "hello")
    root = await wa.first_thread()
    async with wa.bridge.db.sessions.begin() as session:  # type: ignore[union-attr]
        await session.execute(update(Conversation).values(last_inbound_at=utcnow() - timedelta(hours=25)))
    await wa.teammate(root, "!r Sorry for the wait")
    await wa.drain()
    assert wa.sms_sent() == []
    [said] = whispers(wa)
    assert "24 hours" in said and "WhatsApp" in said
    assert await wa.rows("SELECT id FROM messages WHERE direction = 'out'") == []


async def test_sms_customers_of_the_same_inbox_still_get_sms(databases) -> None:  # type: ignore[no-untyped-def]
    h = Harness(databases)
    await h.start()
    try:
        await h.text_in("plain sms")
        root = await h.first_thread()
        await h.teammate(root, "!r plain answer")
        await h.drain()
        [sent] = h.sms_sent()
        assert not sent["To"].startswith("whatsapp:") and not sent["From"].startswith("whatsapp:")
        assert "SMS" in str(h.roots()[0]["blocks"])
    finally:
        await h.stop()


TEMPLATE = {"name": "follow_up", "content_sid": "HX" + "b" * 32, "variables": 2, "text": "Hi {{1}}, your order {{2}} is ready."}


@pytest.fixture
async def wa_templates(databases) -> AsyncIterator[Harness]:  # type: ignore[no-untyped-def]
    h = Harness(databases, smsbridge_number=SENDER, whatsapp_template=[TEMPLATE])
    await h.start()
    yield h
    await h.stop()


async def test_template_goes_outside_the_window_with_its_variables(wa_templates: Harness) -> None:
    h = wa_templates
    listed = await h.sms_command("templates")
    assert "follow_up" in str(listed)
    await whatsapp_in(h, "hello")
    root = await h.first_thread()
    async with h.bridge.db.sessions.begin() as session:  # type: ignore[union-attr]
        await session.execute(update(Conversation).values(last_inbound_at=utcnow() - timedelta(hours=30)))
    await h.teammate(root, "!template follow_up Priya")  # a value missing
    await h.drain()
    assert h.sms_sent() == [] and "missing {{2}}" in whispers(h)[-1]
    await h.teammate(root, '!template follow_up Priya "A-1042"')
    await h.drain()
    [sent] = h.sms_sent()
    assert (sent["From"], sent["To"], sent["ContentSid"]) == (SENDER, INDIA, TEMPLATE["content_sid"])
    assert json.loads(sent["ContentVariables"]) == {"1": "Priya", "2": "A-1042"} and "Body" not in sent
    assert [tuple(r) for r in await h.rows("SELECT body FROM messages WHERE direction = 'out'")] == [("Hi Priya, your order A-1042 is ready.",)]


def on_whatsapp(h: Harness) -> list[tuple[str, str, str]]:
    return [(m["From"], m["To"], m.get("Body", "")) for m in h.sms_sent()]


async def test_stop_help_and_start_are_answered_on_whatsapp(wa: Harness) -> None:
    """The keyword answers go back on the channel the keyword came in on, and a STOP on
    WhatsApp blocks the person, whichever channel a reply would take."""
    await whatsapp_in(wa, "HELP")
    root = await wa.first_thread()
    await wa.drain()
    [(frm, to, body)] = on_whatsapp(wa)
    assert (frm, to) == (SENDER, INDIA) and body.startswith("Acme Bikes")
    await whatsapp_in(wa, "STOP")
    await wa.drain()
    assert [(f, t) for f, t, _ in on_whatsapp(wa)] == [(SENDER, INDIA)] * 2 and "unsubscribed" in on_whatsapp(wa)[1][2]
    assert [tuple(r) for r in await wa.rows("SELECT phone FROM suppressions")] == [("+919900000000",)]
    await wa.teammate(root, "!r Are you sure?")
    await wa.drain()
    assert len(wa.sms_sent()) == 2  # blocked
    await whatsapp_in(wa, "START")
    await wa.drain()
    assert [(f, t) for f, t, _ in on_whatsapp(wa)] == [(SENDER, INDIA)] * 3
    await wa.teammate(root, "!r Welcome back")
    await wa.drain()
    assert on_whatsapp(wa)[-1] == (SENDER, INDIA, "Welcome back")
    assert all(not m["To"].startswith("+") for m in wa.sms_sent())  # nothing went by SMS


async def test_automatic_texts_answer_a_whatsapp_customer_on_whatsapp(databases) -> None:  # type: ignore[no-untyped-def]
    """Auto-replies, a rule's snippet and a scheduled `!later` use the conversation's
    channel: from the WhatsApp sender to `whatsapp:+…`."""
    from bridge.inbox.clock import ManualClock

    h = Harness(
        databases, smsbridge_number=SENDER, smsbridge_hours="mon-fri 09:00-17:00", smsbridge_after_hours_reply="We open {next_open}.",
        rule=[{"name": "Price", "keyword": "price", "snippet": "prices"}], admins=["UANA"],
    )
    await h.start()
    try:
        await h.sms_command("snippet add prices A tune-up is $60.")
        await h.restart()
        assert h.bridge is not None
        clock = ManualClock(datetime(2026, 12, 1, 6, 0, tzinfo=UTC))  # Tuesday 06:00 UTC (11:30 in India): closed
        h.bridge.use_clock(clock)
        await whatsapp_in(h, "what is the price of a tune-up?")
        root = await h.first_thread()
        await h.drain()
        assert sorted(on_whatsapp(h)) == [(SENDER, INDIA, "A tune-up is $60."), (SENDER, INDIA, "We open Tuesday 9:00 AM.")]
        await h.teammate(root, "!later in 2 hours Your bike is ready")
        await h.drain()
        await h.advance(clock, timedelta(hours=2))
        await h.twilio.wait_for(lambda: len(h.sms_sent()) == 3, message="the scheduled text")
        assert on_whatsapp(h)[-1] == (SENDER, INDIA, "Your bike is ready")
        await h.slack.wait_for(
            lambda: any("Scheduled WhatsApp by Ana" in m["text"] and "Your bike is ready" in m["text"] for m in h.thread(root)),
            message="the scheduled text's status line",
        )
        rows = await h.rows("SELECT kind, from_number, to_number FROM messages WHERE direction = 'out' ORDER BY id")
        assert {tuple(r)[1:] for r in rows} == {(SENDER, INDIA)} and {r[0] for r in rows} == {"automated", "scheduled"}
    finally:
        await h.stop()


async def test_a_template_whose_answer_was_lost_is_not_sent_twice(wa_templates: Harness) -> None:
    """Twilio renders a template itself (its body is the approved text, not our copy), so
    the retry after a lost answer finds the template it accepted by sender, recipient and
    time, leaving out our other messages: each template leaves exactly once."""
    h = wa_templates
    h.twilio.content_templates[TEMPLATE["content_sid"]] = "Hello {{1}}! Order {{2}} is ready for pickup."
    await whatsapp_in(h, "hello")
    root = await h.first_thread()
    await h.drain()
    await h.teammate(root, '!template follow_up Priya "A-1"')
    await h.drain()
    h.twilio.lose_answer_next()
    await h.teammate(root, '!template follow_up Priya "A-1"')
    await h.drain()
    sent = h.sms_sent()
    assert [m["ContentSid"] for m in sent] == [TEMPLATE["content_sid"]] * 2
    assert h.twilio.get_message(sent[1]["sid"])["body"] == "Hello Priya! Order A-1 is ready for pickup."
    rows = await h.rows("SELECT provider_sid, status FROM messages WHERE direction = 'out' ORDER BY id")
    assert [r[0] for r in rows] == [m["sid"] for m in sent] and {r[1] for r in rows} <= {"queued", "sent", "delivered"}


async def _age_window(h: Harness, hours: int) -> None:
    async with h.bridge.db.sessions.begin() as session:  # type: ignore[union-attr]
        await session.execute(update(Conversation).values(last_inbound_at=utcnow() - timedelta(hours=hours)))


async def test_a_draft_is_checked_again_when_it_is_approved(databases) -> None:  # type: ignore[no-untyped-def]
    """WhatsApp's 24-hour window is judged when the draft is approved, not when it was
    written: an approval after the window closed sends nothing and keeps the draft; once
    the customer writes again it goes, on WhatsApp, with the quiet-hours warning a `!r`
    gets (the harness judges live replies at 18:00 UTC: 23:30 in India)."""
    h = Harness(databases, smsbridge_number=SENDER, admins=["UBEN"], smsbridge_approval_role="agent")
    await h.start()
    try:
        await whatsapp_in(h, "Where is my order?")
        root = await h.first_thread()
        await h.teammate(root, "!r It ships today")
        await h.drain()
        [draft] = [m for m in h.thread(root) if "Draft by Ana" in m["text"]]
        approve = next(
            el for b in draft["blocks"] if b["type"] == "actions" for el in b["elements"] if el["action_id"] == "smsbridge.approve"
        )
        await _age_window(h, 25)
        answer = await h.click(approve, "UBEN", message_ts=draft["ts"])
        assert "24 hours" in answer["text"] and "still waiting" in answer["text"]
        await h.drain()
        assert h.sms_sent() == []
        assert [tuple(r) for r in await h.rows("SELECT status FROM messages WHERE kind = 'reply'")] == [("draft",)]

        await whatsapp_in(h, "Hello?")  # the window opens again
        await h.drain()
        answer = await h.click(approve, "UBEN", message_ts=draft["ts"])
        assert answer["text"].endswith("Sending.")
        await h.drain()
        assert on_whatsapp(h) == [(SENDER, INDIA, "It ships today")]
        await h.slack.wait_for(
            lambda: any("outside 08:00–21:00 their time" in m["text"] for m in h.thread(root)), message="the quiet-hours warning"
        )
    finally:
        await h.stop()


async def test_a_reply_whose_window_closes_before_it_leaves_is_not_sent(databases) -> None:  # type: ignore[no-untyped-def]
    """The window is checked again when the send job runs (here: it closed during the
    undo window); the status line says why, and Twilio is never asked."""
    h = Harness(databases, smsbridge_number=SENDER, undo_seconds=2)
    await h.start()
    try:
        await whatsapp_in(h, "hi")
        root = await h.first_thread()
        await h.teammate(root, "!r Sorry, we were out")
        await h.slack.wait_for(lambda: any("Sending in" in m["text"] for m in h.thread(root)), message="the undo window")
        await _age_window(h, 25)
        await h.drain()
        assert h.sms_sent() == []
        await h.slack.wait_for(
            lambda: any("Not sent" in m["text"] and "24 hours" in m["text"] for m in h.thread(root)), message="the status line"
        )
        assert [tuple(r) for r in await h.rows("SELECT status FROM messages WHERE kind = 'reply'")] == [("blocked",)]
    finally:
        await h.stop()


async def test_discord_draft_approval_checks_the_window_again(databases) -> None:  # type: ignore[no-untyped-def]
    from tests.harness import DISCORD_ANA, DISCORD_BEN

    h = Harness(databases, discord=True, smsbridge_slack_channel=None, smsbridge_number=SENDER)
    await h.start()
    try:
        assert h.discord is not None
        await whatsapp_in(h, "Where is my order?")
        post = await h.first_post()
        await h.discord.user_message(post["id"], DISCORD_ANA, "!draft It ships today")

        def drafts() -> list[dict]:  # type: ignore[type-arg]
            return [m for m in h.post_messages(post["id"]) if "Draft by" in m["content"]]

        await h.discord.wait_for(lambda: bool(drafts()), message="the draft")
        [draft] = drafts()
        ids = {c["custom_id"].split(":")[1]: c["custom_id"] for row in draft["components"] for c in row["components"]}
        await _age_window(h, 30)
        iid = await h.discord.click_button(int(draft["id"]), ids["approve"], DISCORD_BEN)
        await h.discord.wait_for(lambda: bool(h.discord.followups(iid)), message="the answer")  # type: ignore[union-attr]
        said = str(h.discord.followups(iid)[0]["content"])
        assert "24 hours" in said and "still waiting" in said
        await h.drain()
        assert h.sms_sent() == []
    finally:
        await h.stop()


async def test_whatsapp_picture_and_contact_card_are_shown_in_the_thread(wa: Harness) -> None:
    """WhatsApp media and contact messages arrive as Twilio gives them (MediaUrl0 with
    image/jpeg, or text/vcard for a shared contact) and are uploaded into the thread."""
    photo = b"\xff\xd8\xff\xe0" + b"0" * 1024
    card = b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ravi Kumar\r\nTEL:+919811111111\r\nEND:VCARD\r\n"
    photo_url = wa.twilio.add_media(photo, "image/jpeg")
    card_url = wa.twilio.add_media(card, "text/vcard")
    await whatsapp_in(wa, "my bike", media=[(photo_url, "image/jpeg")], MessageType="image")
    root = await wa.first_thread()
    await whatsapp_in(wa, "", media=[(card_url, "text/vcard")], MessageType="contacts")
    await wa.drain()
    await wa.slack.wait_for(lambda: len(wa.slack.files) == 2, message="both files in the thread")
    assert [f["bytes"] for f in wa.slack.files] == [photo, card]
    assert all(f["thread_ts"] == root for f in wa.slack.files)
    texts = [m["text"] for m in wa.thread(root)]
    # Each text, then its file (an upload into the thread has no text of its own).
    assert texts == ["my bike", "", "_(sent 1 attachment)_", ""]


async def test_a_later_beyond_the_window_is_warned_and_not_sent_on_free_text(wa: Harness) -> None:
    """`!later` past WhatsApp's 24-hour window is confirmed with a warning; at its time
    the window is judged again and the text is not sent, the thread says why."""
    from bridge.inbox.clock import ManualClock

    assert wa.bridge is not None
    clock = ManualClock(datetime(2026, 12, 1, 6, 0, tzinfo=UTC))  # 11:30 in India, and two days later too
    wa.bridge.use_clock(clock)
    await whatsapp_in(wa, "hi")
    root = await wa.first_thread()
    await wa.drain()
    await wa.teammate(root, "!later in 2 days Still interested?")
    await wa.slack.wait_for(lambda: bool(whispers(wa)), message="the confirmation")
    assert "24 hours" in whispers(wa)[-1] and "Scheduled for" in whispers(wa)[-1]
    await _age_window(wa, 49)  # two days pass without a word from the customer
    await wa.advance(clock, timedelta(days=2, minutes=1))
    await wa.slack.wait_for(
        lambda: any("Scheduled WhatsApp by Ana" in m["text"] and "24 hours" in m["text"] for m in wa.thread(root)),
        message="the status line saying why",
    )
    assert wa.sms_sent() == []


async def test_files_on_a_whatsapp_reply_meet_whatsapps_limits(wa: Harness) -> None:
    """WhatsApp carries one file per message (JPEG/PNG, audio, MP4, PDF, contact card,
    16 MB): two pictures or a GIF are refused with the reason, one JPEG goes on WhatsApp."""
    from tests.test_mms_out import file_share

    jpeg = b"\xff\xd8\xff\xe0" + b"0" * 2048
    await whatsapp_in(wa, "photos?")
    root = await wa.first_thread()
    await wa.drain()
    two = [wa.slack.user_file(f"{n}.jpg", jpeg, "image/jpeg") for n in ("a", "b")]
    await wa.slack_event(file_share(wa, root, "!r here", *two))
    await wa.drain()
    assert wa.sms_sent() == [] and "a WhatsApp message carries one" in whispers(wa)[-1]
    await wa.slack_event(file_share(wa, root, "!r here", wa.slack.user_file("fun.gif", b"GIF89a" + b"0" * 64, "image/gif")))
    await wa.drain()
    assert wa.sms_sent() == [] and "cannot be sent on WhatsApp" in whispers(wa)[-1]
    await wa.slack_event(file_share(wa, root, "!r here", wa.slack.user_file("bike.jpg", jpeg, "image/jpeg")))
    await wa.drain()
    [sent] = wa.sms_sent()
    assert (sent["From"], sent["To"], len(sent["MediaUrl"])) == (SENDER, INDIA, 1)
    assert wa.twilio.fetched_media[sent["sid"]] == [(200, "image/jpeg", jpeg)]
    await wa.slack.wait_for(
        lambda: any("WhatsApp by Ana" in m["text"] and "1 attachment" in m["text"] and "MMS" not in m["text"] for m in wa.thread(root)),
        message="the status line",
    )


async def test_a_stop_on_whatsapp_blocks_a_waiting_draft_and_a_reply_in_its_undo_window(databases) -> None:  # type: ignore[no-untyped-def]
    """Consent is kept per person (the bare number), so the send-time and approval-time
    checks see a WhatsApp STOP although the message is addressed to `whatsapp:+…`."""
    h = Harness(databases, smsbridge_number=SENDER, undo_seconds=3)
    await h.start()
    try:
        await whatsapp_in(h, "hi")
        root = await h.first_thread()
        await h.teammate(root, "!draft Our offer")
        await h.teammate(root, "!r See you soon")
        await h.slack.wait_for(lambda: any("Sending in" in m["text"] for m in h.thread(root)), message="the undo window")
        await whatsapp_in(h, "STOP")
        await h.drain()
        [draft] = [m for m in h.thread(root) if "Draft by Ana" in m["text"]]
        approve = next(
            el for b in draft["blocks"] if b["type"] == "actions" for el in b["elements"] if el["action_id"] == "smsbridge.approve"
        )
        answer = await h.click(approve, "UANA", message_ts=draft["ts"])
        assert answer["text"].endswith("Not sent: the customer has opted out since.")
        await h.drain()
        [(frm, to, body)] = on_whatsapp(h)  # only the STOP confirmation, on WhatsApp
        assert (frm, to) == (SENDER, INDIA) and "unsubscribed" in body
        rows = await h.rows("SELECT body, status FROM messages WHERE kind = 'reply' ORDER BY id")
        assert [tuple(r) for r in rows] == [("Our offer", "blocked"), ("See you soon", "blocked")]
    finally:
        await h.stop()


# -- a WhatsApp sender of its own (SMSBRIDGE_WHATSAPP_NUMBER, `whatsapp_number`) ---------

OWN_SENDER = "whatsapp:+14155550177"  # the default inbox's WhatsApp sender: another number than its SMS one


async def test_a_whatsapp_sender_of_its_own_answers_on_whatsapp_and_the_sms_number_on_sms(databases) -> None:  # type: ignore[no-untyped-def]
    """With `SMSBRIDGE_WHATSAPP_NUMBER` the inbox's WhatsApp customers write to, and are
    answered from, that sender (replies, the first-contact auto-reply, HELP, templates);
    its SMS customers are answered from `SMSBRIDGE_NUMBER`."""
    h = Harness(
        databases, smsbridge_number=NUMBER, smsbridge_whatsapp_number="+1 415 555 0177",
        smsbridge_first_contact_reply="Thanks, {business} will answer soon.", whatsapp_template=[TEMPLATE],
    )
    await h.start()
    try:
        await whatsapp_in(h, "Is my order ready?", to=OWN_SENDER)
        root = await h.first_thread()
        await h.drain()
        assert on_whatsapp(h) == [(OWN_SENDER, INDIA, "Thanks, Acme Bikes will answer soon.")]
        assert "WhatsApp" in str(h.roots()[0]["blocks"])
        await h.teammate(root, "!r Yes, come by")
        await h.drain()
        assert on_whatsapp(h)[-1] == (OWN_SENDER, INDIA, "Yes, come by")
        await whatsapp_in(h, "HELP", to=OWN_SENDER)
        await h.drain()
        assert on_whatsapp(h)[-1][:2] == (OWN_SENDER, INDIA) and on_whatsapp(h)[-1][2].startswith("Acme Bikes")
        async with h.bridge.db.sessions.begin() as session:  # type: ignore[union-attr]
            await session.execute(update(Conversation).values(last_inbound_at=utcnow() - timedelta(hours=30)))
        await h.teammate(root, '!template follow_up Priya "A-1042"')
        await h.drain()
        assert (h.sms_sent()[-1]["From"], h.sms_sent()[-1]["To"], h.sms_sent()[-1]["ContentSid"]) == (OWN_SENDER, INDIA, TEMPLATE["content_sid"])
        assert len(h.sms_sent()) == 4

        await h.text_in("plain sms")  # an SMS customer of the same inbox, to its SMS number
        await h.slack.wait_for(lambda: len(h.roots()) == 2, message="the SMS customer's card")
        await h.drain()
        sms_root = str(h.roots()[1]["ts"])
        await h.teammate(sms_root, "!r plain answer")
        await h.drain()
        assert on_whatsapp(h)[4:] == [(NUMBER, CUSTOMER, "Thanks, Acme Bikes will answer soon."), (NUMBER, CUSTOMER, "plain answer")]
        rows = await h.rows("SELECT from_number, to_number FROM messages WHERE direction = 'out' ORDER BY id")
        assert [tuple(r) for r in rows] == [(OWN_SENDER, INDIA)] * 4 + [(NUMBER, CUSTOMER)] * 2
    finally:
        await h.stop()


SALES = "C0SALES"
SALES_NUMBER = "+14155550199"
SALES_WHATSAPP = "whatsapp:+14155550188"


async def test_a_whatsapp_message_finds_the_inbox_whose_whatsapp_number_it_went_to(databases) -> None:  # type: ignore[no-untyped-def]
    """`To=whatsapp:+W` routes to the `[[inbox]]` with `whatsapp_number = "+W"`, whose
    channel gets the thread; the reply leaves from `whatsapp:+W`. The default inbox, whose
    number is itself its WhatsApp sender (`whatsapp:+N`), keeps answering from it."""
    h = Harness(
        databases, smsbridge_number=SENDER,
        inbox=[InboxConfig(name="sales", number=SALES_NUMBER, whatsapp_number=SALES_WHATSAPP, slack_channel=SALES)],
    )
    h.slack.set_channel(SALES, "sales")
    h.twilio.add_number(SALES_NUMBER, sms_url=f"{PUBLIC_URL}/twilio/sms")
    await h.start()
    try:
        await whatsapp_in(h, "Do you sell e-bikes?", to=SALES_WHATSAPP)
        await h.slack.wait_for(lambda: len(h.slack.messages(SALES)) == 1, message="the sales card")
        await h.drain()
        assert h.roots() == []  # not the default inbox's channel
        sales_root = str(h.slack.messages(SALES)[0]["ts"])
        await h.slack_event({**h.teammate_event(sales_root, "!r We do: come try one"), "channel": SALES})
        await h.drain()
        assert on_whatsapp(h) == [(SALES_WHATSAPP, INDIA, "We do: come try one")]

        await whatsapp_in(h, "And repairs?", sender=BRAZIL)  # to the default inbox's whatsapp:+N
        root = await h.first_thread()
        await h.teammate(root, "!r Yes, repairs too")
        await h.drain()
        assert on_whatsapp(h)[-1] == (SENDER, BRAZIL, "Yes, repairs too")
        await h.text_in("sms to sales", to=SALES_NUMBER)  # SMS to the sales number still routes there
        await h.slack.wait_for(lambda: len(h.slack.messages(SALES)) == 2, message="the SMS card in sales")
    finally:
        await h.stop()
