"""Messaging compliance as a customer and a teammate see it (docs/compliance.md rules 1-7,
12, 13, 15): keywords, confirmations, blocked replies, provider opt-outs, inbox scope,
and webhooks that must be signed before they change anything."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bridge.config import InboxConfig
from tests.fakes.signing import twilio_signature
from tests.harness import BUSINESS, CHANNEL, CUSTOMER, NUMBER, PUBLIC_URL, Harness

SALES_NUMBER = "+14155550199"
SALES_CHANNEL = "C0SALES"
UNCONFIGURED_NUMBER = "+14155550188"

STOP_VARIANTS = ["STOP", "Stop.", " stop ", "UNSUBSCRIBE", "cancel", "QUIT!"]


# -- helpers --------------------------------------------------------------------


async def open_thread(h: Harness, body: str = "hello") -> str:
    """The customer writes first; returns the thread (card ts) once everything is posted."""
    await h.text_in(body)
    root = await h.first_thread()
    await h.drain()
    return root


def thread_texts(h: Harness, root: str, channel: str = CHANNEL) -> list[str]:
    return [str(m["text"]) for m in h.slack.thread(channel, root)]


def card(h: Harness, root: str, channel: str = CHANNEL) -> str:
    message = h.slack.get(channel, root)
    assert message is not None, "the conversation card is gone"
    return str(message.get("blocks"))


def sends_attempted(h: Harness) -> int:
    """POSTs to Twilio's Messages endpoint, accepted or not."""
    return sum(1 for method, path in h.twilio.requests if method == "POST" and path.endswith("/Messages.json"))


async def consent_events(h: Harness) -> list[tuple[Any, ...]]:
    rows = await h.rows("SELECT phone, action, source, raw_text FROM consent_events ORDER BY id")
    return [tuple(r) for r in rows]


def sales_harness(databases: Any, **overrides: Any) -> Harness:
    h = Harness(
        databases,
        inbox=[InboxConfig(name="sales", number=SALES_NUMBER, slack_channel=SALES_CHANNEL)],
        **overrides,
    )
    h.slack.set_channel(SALES_CHANNEL, "sales")
    h.twilio.add_number(SALES_NUMBER, sms_url=f"{PUBLIC_URL}/twilio/sms")
    return h


async def open_sales_thread(h: Harness, body: str = "hi sales") -> str:
    await h.text_in(body, to=SALES_NUMBER)
    await h.slack.wait_for(lambda: len(h.slack.messages(SALES_CHANNEL)) >= 1, message="no sales card")
    await h.drain()
    return str(h.slack.messages(SALES_CHANNEL)[0]["ts"])


async def sales_teammate(h: Harness, root: str, text: str, user: str = "UANA") -> None:
    await h.slack_event(
        {
            "type": "message",
            "channel": SALES_CHANNEL,
            "channel_type": "channel",
            "user": user,
            "text": text,
            "ts": f"{time.time():.6f}",
            "thread_ts": root,
            "team": h.slack.team_id,
        }
    )


# -- rules 2 and 3: STOP is recorded at once and confirmed exactly once -------------


async def test_a_retried_stop_webhook_is_recorded_and_confirmed_once(harness: Harness) -> None:
    await open_thread(harness)
    sid = "SM" + "5" * 32
    await harness.text_in("STOP", sid=sid)
    await harness.text_in("STOP", sid=sid)  # Twilio retried the webhook
    await harness.drain()
    assert len(harness.sms_sent()) == 1
    assert len(await consent_events(harness)) == 1


@pytest.mark.parametrize("body", STOP_VARIANTS)
async def test_stop_records_opt_out_and_confirms_exactly_once(harness: Harness, body: str) -> None:
    root = await open_thread(harness)

    await harness.text_in(body)
    await harness.drain()

    [confirmation] = harness.sms_sent()
    assert confirmation["To"] == CUSTOMER and confirmation["From"] == NUMBER
    assert BUSINESS in confirmation["Body"]
    assert "unsubscribed" in confirmation["Body"] and "START" in confirmation["Body"]
    assert await consent_events(harness) == [(CUSTOMER, "opt_out", "keyword", body)]
    assert [tuple(r) for r in await harness.rows("SELECT phone, scope FROM suppressions")] == [(CUSTOMER, "inbox:1")]

    # The thread says so, and the card (the root message, updated in place) shows it.
    keyword = "".join(ch for ch in body if ch.isalnum()).upper()
    assert any("opted out" in t and f"({keyword})" in t for t in thread_texts(harness, root))
    assert any(call.get("ts") == root for call in harness.slack.calls_to("chat.update"))
    assert "Opted out" in card(harness, root)
    assert len(harness.roots()) == 1

    # A second STOP: still opted out, nothing more reaches the customer.
    await harness.text_in("STOP")
    await harness.drain()
    assert len(harness.sms_sent()) == 1
    assert "Opted out" in card(harness, root)


async def test_stop_as_first_message_opens_an_opted_out_thread(harness: Harness) -> None:
    await harness.text_in("STOP")
    root = await harness.first_thread()
    await harness.drain()
    assert len(harness.sms_sent()) == 1
    assert "Opted out" in card(harness, root)
    texts = thread_texts(harness, root)
    assert texts[0] == "STOP"
    assert any("opted out" in t for t in texts)
    assert any("Automatic reply" in t and "unsubscribed" in t for t in texts)


async def test_free_text_with_stop_in_it_is_not_a_keyword_opt_out(harness: Harness) -> None:
    await open_thread(harness)
    await harness.text_in("Don't stop the repair, I'll pay tomorrow")
    await harness.drain()
    assert harness.sms_sent() == []
    assert await consent_events(harness) == []


# -- rule 1: a send to an opted-out contact never reaches the provider --------------


async def test_reply_after_stop_never_reaches_twilio_and_is_explained_and_audited(harness: Harness) -> None:
    root = await open_thread(harness)
    await harness.text_in("STOP")
    await harness.drain()
    before = list(harness.twilio.messages)
    attempts = sends_attempted(harness)

    await harness.teammate(root, "!r Your bike is ready!")
    await harness.drain()

    assert harness.twilio.messages == before
    assert sends_attempted(harness) == attempts
    blocked = [t for t in thread_texts(harness, root) if "Not sent" in t]
    assert len(blocked) == 1
    assert "opted out" in blocked[0] and "(415) 555-0101" in blocked[0]
    audit = await harness.rows("SELECT actor, action FROM audit_events WHERE action = 'send_blocked_opt_out'")
    assert [tuple(a) for a in audit] == [("slack:UANA", "send_blocked_opt_out")]
    kept = await harness.rows("SELECT body, status, author_id FROM messages WHERE kind = 'reply'")
    assert [tuple(k) for k in kept] == [("Your bike is ready!", "blocked", "UANA")]


async def test_reply_queued_during_outage_is_not_sent_once_the_customer_stops(harness: Harness) -> None:
    root = await open_thread(harness)
    harness.twilio.outage = True
    await harness.teammate(root, "!r We'll call you back")
    await harness.slack.wait_for(lambda: sends_attempted(harness) >= 1, message="a send attempt during the outage")

    await harness.text_in("STOP")
    await harness.slack.wait_for(
        lambda: any("opted out" in t for t in thread_texts(harness, root)), message="the opt-out notice"
    )
    harness.twilio.outage = False
    await harness.drain()

    assert [m["Body"] for m in harness.sms_sent()] == [
        f"{BUSINESS}: You are unsubscribed and will receive no more messages. Reply START to resubscribe."
    ]
    line = [t for t in thread_texts(harness, root) if t.startswith("🚫 SMS by Ana")]
    assert len(line) == 1
    assert "Not sent" in line[0] and "opted out" in line[0]
    status = await harness.rows("SELECT status FROM messages WHERE kind = 'reply'")
    assert [tuple(s) for s in status] == [("blocked",)]


# -- rule 3: Twilio Advanced Opt-Out and who sends the confirmation ----------------


async def test_advanced_opt_out_stop_is_confirmed_by_the_provider_not_us(harness: Harness) -> None:
    root = await open_thread(harness)
    await harness.text_in("STOP", OptOutType="STOP")
    await harness.drain()

    assert harness.sms_sent() == []
    assert await consent_events(harness) == [(CUSTOMER, "opt_out", "keyword", "STOP")]
    assert "Opted out" in card(harness, root)

    await harness.teammate(root, "!r still there?")
    await harness.drain()
    assert harness.sms_sent() == [] and sends_attempted(harness) == 0
    assert any("Not sent" in t for t in thread_texts(harness, root))

    # START through Advanced Opt-Out: the provider confirms it too; replies flow again.
    await harness.text_in("START", OptOutType="START")
    await harness.drain()
    assert harness.sms_sent() == []
    assert "Opted out" not in card(harness, root)
    await harness.teammate(root, "!r welcome back")
    await harness.drain()
    assert [m["Body"] for m in harness.sms_sent()] == ["welcome back"]


async def test_compliance_replies_smsbridge_confirms_even_with_advanced_opt_out(databases: Any) -> None:
    h = Harness(databases, compliance_replies="smsbridge")
    await h.start()
    try:
        await open_thread(h)
        await h.text_in("STOP", OptOutType="STOP")
        await h.text_in("STOP", OptOutType="STOP")
        await h.drain()
        [confirmation] = h.sms_sent()
        assert BUSINESS in confirmation["Body"] and "unsubscribed" in confirmation["Body"]
    finally:
        await h.stop()


async def test_compliance_replies_provider_never_sends_keyword_answers(databases: Any) -> None:
    h = Harness(databases, compliance_replies="provider")
    await h.start()
    try:
        root = await open_thread(h)
        await h.text_in("STOP")  # no OptOutType: still the provider's job
        await h.drain()
        assert h.sms_sent() == []
        assert await consent_events(h) == [(CUSTOMER, "opt_out", "keyword", "STOP")]
        await h.teammate(root, "!r hello?")
        await h.drain()
        assert h.sms_sent() == [] and sends_attempted(h) == 0

        await h.text_in("START")
        await h.text_in("HELP")
        await h.drain()
        assert h.sms_sent() == []
    finally:
        await h.stop()


# -- rule 4: START / YES / UNSTOP ------------------------------------------------


@pytest.mark.parametrize("body", ["START", "yes", "Unstop!"])
async def test_opt_in_after_stop_is_confirmed_once_and_replies_go_out_again(harness: Harness, body: str) -> None:
    root = await open_thread(harness)
    await harness.text_in("STOP")
    await harness.drain()

    await harness.text_in(body)
    await harness.drain()
    assert len(harness.sms_sent()) == 2
    opt_in = harness.sms_sent()[1]
    assert opt_in["To"] == CUSTOMER and opt_in["From"] == NUMBER
    assert BUSINESS in opt_in["Body"] and "resubscribed" in opt_in["Body"]
    assert [e[1:3] for e in await consent_events(harness)] == [("opt_out", "keyword"), ("opt_in", "keyword")]
    assert await harness.rows("SELECT id FROM suppressions") == []
    assert "Opted out" not in card(harness, root)
    assert any("opted back in" in t for t in thread_texts(harness, root))

    await harness.text_in(body)  # already subscribed: no second confirmation
    await harness.drain()
    assert len(harness.sms_sent()) == 2

    await harness.teammate(root, "!r Welcome back!")
    await harness.drain()
    assert [m["Body"] for m in harness.sms_sent()][2:] == ["Welcome back!"]


async def test_start_when_not_opted_out_sends_no_confirmation(harness: Harness) -> None:
    root = await open_thread(harness)
    await harness.text_in("START")
    await harness.drain()
    assert harness.sms_sent() == []
    await harness.teammate(root, "!r hi")
    await harness.drain()
    assert [m["Body"] for m in harness.sms_sent()] == ["hi"]


# -- rule 5: HELP / INFO -----------------------------------------------------------


@pytest.mark.parametrize("body", ["HELP", "info?"])
async def test_help_gets_business_name_how_to_get_help_and_how_to_stop(harness: Harness, body: str) -> None:
    root = await open_thread(harness)
    await harness.text_in(body)
    await harness.drain()
    [answer] = harness.sms_sent()
    assert answer["To"] == CUSTOMER and answer["From"] == NUMBER
    assert answer["Body"].startswith(BUSINESS)
    assert "STOP" in answer["Body"]
    assert "team member will answer" in answer["Body"]
    assert await consent_events(harness) == []

    await harness.teammate(root, "!r Happy to help")  # HELP is not an opt-out
    await harness.drain()
    assert [m["Body"] for m in harness.sms_sent()][1:] == ["Happy to help"]


async def test_help_text_is_configurable(databases: Any) -> None:
    h = Harness(databases, smsbridge_help_text="Call us at (415) 555-0100.")
    await h.start()
    try:
        await h.text_in("HELP")
        await h.drain()
        [answer] = h.sms_sent()
        assert BUSINESS in answer["Body"] and "STOP" in answer["Body"] and "(415) 555-0100" in answer["Body"]
    finally:
        await h.stop()


# -- rule 7: provider error 21610 --------------------------------------------------


async def test_provider_21610_marks_the_contact_opted_out(harness: Harness) -> None:
    harness.twilio.opted_out.add(CUSTOMER)
    root = await open_thread(harness)

    await harness.teammate(root, "!r Your bike is ready")
    await harness.drain()
    assert harness.sms_sent() == []
    assert sends_attempted(harness) == 1  # one attempt; 21610 is never retried
    line = [t for t in thread_texts(harness, root) if t.startswith(("❌", "🚫")) and "SMS by Ana" in t]
    assert len(line) == 1
    assert "opted out" in line[0] and "21610" in line[0]
    assert await consent_events(harness) == [(CUSTOMER, "opt_out", "provider", None)]
    assert "Opted out" in card(harness, root)

    await harness.teammate(root, "!r Hello again?")
    await harness.drain()
    assert sends_attempted(harness) == 1
    assert any(t.startswith("🚫 Not sent") for t in thread_texts(harness, root))
    audit = await harness.rows("SELECT action FROM audit_events WHERE action LIKE 'send_%'")
    assert [tuple(a) for a in audit] == [("send_blocked_opt_out",)]


async def test_21610_in_a_status_callback_marks_the_contact_opted_out(harness: Harness) -> None:
    root = await open_thread(harness)
    await harness.teammate(root, "!r first")
    await harness.drain()
    [sent] = harness.sms_sent()

    status, _ = await harness.status_callback(sent["sid"], "failed", error_code="21610")
    assert status == 200
    await harness.drain()
    line = [t for t in thread_texts(harness, root) if "SMS by Ana" in t]
    assert len(line) == 1 and "opted out" in line[0] and "21610" in line[0]
    assert await consent_events(harness) == [(CUSTOMER, "opt_out", "provider", None)]
    assert "Opted out" in card(harness, root)

    await harness.teammate(root, "!r second")
    await harness.drain()
    assert sends_attempted(harness) == 1


# -- rule 12: per-inbox opt-out, STOPALL covers every inbox ------------------------


async def test_stopall_blocks_replies_from_every_inbox(databases: Any) -> None:
    h = sales_harness(databases)
    await h.start()
    try:
        await open_thread(h)
        sales_root = await open_sales_thread(h)

        await h.text_in("STOPALL")
        await h.drain()
        [confirmation] = h.sms_sent()
        assert confirmation["From"] == NUMBER and BUSINESS in confirmation["Body"]
        assert [e[:3] for e in await consent_events(h)] == [(CUSTOMER, "opt_out_all", "keyword")]

        await sales_teammate(h, sales_root, "!r Any news on the quote?")
        await h.drain()
        assert len(h.sms_sent()) == 1 and sends_attempted(h) == 1
        assert any("Not sent" in t for t in thread_texts(h, sales_root, SALES_CHANNEL))
        # The sales card must not keep looking textable.
        assert "Opted out" in card(h, sales_root, SALES_CHANNEL)
    finally:
        await h.stop()


async def test_stopall_after_stop_extends_the_opt_out_to_every_inbox(databases: Any) -> None:
    h = sales_harness(databases)
    await h.start()
    try:
        await open_thread(h)
        sales_root = await open_sales_thread(h)
        await h.text_in("STOP")
        await h.text_in("STOPALL")
        await h.drain()
        assert len(h.sms_sent()) == 1  # one confirmation: they were already unsubscribed here
        assert [e[1] for e in await consent_events(h)] == ["opt_out", "opt_out_all"]
        assert "Opted out" in card(h, sales_root, SALES_CHANNEL)

        await sales_teammate(h, sales_root, "!r quote?")
        await h.drain()
        assert len(h.sms_sent()) == 1 and sends_attempted(h) == 1
    finally:
        await h.stop()


async def test_plain_stop_only_covers_the_inbox_it_was_sent_to(databases: Any) -> None:
    h = sales_harness(databases)
    await h.start()
    try:
        root = await open_thread(h)
        sales_root = await open_sales_thread(h)

        await h.text_in("STOP")
        await h.drain()
        assert len(h.sms_sent()) == 1

        await sales_teammate(h, sales_root, "!r Your quote is attached")
        await h.teammate(root, "!r Support here")
        await h.drain()
        sent = h.sms_sent()
        assert [(m["From"], m["Body"]) for m in sent[1:]] == [(SALES_NUMBER, "Your quote is attached")]
        assert any("Not sent" in t for t in thread_texts(h, root))
        assert "Opted out" not in card(h, sales_root, SALES_CHANNEL)
    finally:
        await h.stop()


# -- rule 13: only configured numbers ----------------------------------------------


async def test_inbound_to_an_unconfigured_number_is_refused_and_changes_nothing(harness: Harness) -> None:
    status, _ = await harness.twilio_post("/twilio/sms", harness.inbound_params("STOP", to=UNCONFIGURED_NUMBER))
    assert status == 404
    await harness.drain()
    assert harness.slack.posts == [] and harness.roots() == []
    for table in ("messages", "contacts", "conversations", "consent_events", "suppressions"):
        assert await harness.rows(f"SELECT id FROM {table}") == [], table
    assert harness.sms_sent() == []


async def test_every_send_goes_out_from_its_own_inbox_number(databases: Any) -> None:
    h = sales_harness(databases)
    await h.start()
    try:
        root = await open_thread(h)
        sales_root = await open_sales_thread(h)
        await h.teammate(root, "!r from support")
        await sales_teammate(h, sales_root, "!r from sales")
        await h.text_in("HELP", to=SALES_NUMBER)
        await h.drain()
        by_body = {m["Body"]: m["From"] for m in h.sms_sent()}
        assert by_body.pop("from support") == NUMBER
        assert by_body.pop("from sales") == SALES_NUMBER
        [(help_body, help_from)] = by_body.items()
        assert "STOP" in help_body and help_from == SALES_NUMBER
        stored = await h.rows("SELECT DISTINCT from_number FROM messages WHERE direction = 'out'")
        assert {r[0] for r in stored} <= {NUMBER, SALES_NUMBER}
    finally:
        await h.stop()


# -- rule 15: signatures first -------------------------------------------------------


@pytest.mark.parametrize("forgery", ["missing", "garbage", "wrong_token", "other_params", "other_url"])
async def test_unsigned_or_forged_stop_changes_nothing(harness: Harness, forgery: str) -> None:
    root = await open_thread(harness)
    params = harness.inbound_params("STOP")
    token = harness.twilio.auth_token
    signature: str | None = {
        "missing": None,
        "garbage": "bm90IGEgc2lnbmF0dXJl",
        "wrong_token": twilio_signature("not-the-token", PUBLIC_URL + "/twilio/sms", params),
        "other_params": twilio_signature(token, PUBLIC_URL + "/twilio/sms", harness.inbound_params("hello")),
        "other_url": twilio_signature(token, "https://evil.example.com/twilio/sms", params),
    }[forgery]
    if signature is None:
        status, _ = await harness.twilio_post("/twilio/sms", params, sign=False)
    else:
        status, _ = await harness.twilio_post("/twilio/sms", params, signature=signature)
    assert status == 403
    await harness.drain()

    assert await consent_events(harness) == []
    assert await harness.rows("SELECT id FROM suppressions") == []
    assert [tuple(r) for r in await harness.rows("SELECT body FROM messages")] == [("hello",)]
    assert harness.sms_sent() == []
    assert thread_texts(harness, root) == ["hello"]

    await harness.teammate(root, "!r still here")
    await harness.drain()
    assert [m["Body"] for m in harness.sms_sent()] == ["still here"]


async def test_start_after_stopall_resubscribes_only_the_number_texted(databases) -> None:  # type: ignore[no-untyped-def]
    from bridge.config import InboxConfig

    h = Harness(databases, inbox=[InboxConfig(name="sales", number="+14155550199", slack_channel="C0SALES")])
    h.slack.set_channel("C0SALES", "sales")
    await h.start()
    h.twilio.add_number("+14155550199")
    try:
        await h.text_in("hello")
        await h.text_in("hello sales", to="+14155550199")
        await h.text_in("STOPALL")
        await h.text_in("START")  # to the support number only
        await h.drain()
        before = len(h.sms_sent())
        support_root = h.roots()[0]["ts"]
        sales_root = h.slack.messages("C0SALES")[0]["ts"]
        await h.teammate(support_root, "!r support can text again")
        await h.slack_event({**h.teammate_event(sales_root, "!r sales still cannot"), "channel": "C0SALES"})
        await h.drain()
        assert [m["Body"] for m in h.sms_sent()[before:]] == ["support can text again"]
    finally:
        await h.stop()


async def test_free_text_opt_out_is_flagged_with_one_click_to_record_it(harness: Harness) -> None:
    """Rule 6: "please stop texting me" is not a keyword, but a teammate records it in one click."""
    await harness.text_in("Hi")
    root = await harness.first_thread()
    await harness.text_in("please stop texting me")
    await harness.text_in("I can't stop smiling, thanks!")
    await harness.drain()
    flags = [m for m in harness.thread(root) if "reads like a request to stop texting" in m["text"]]
    assert len(flags) == 1
    button = next(el for b in flags[0]["blocks"] if b["type"] == "actions" for el in b["elements"])
    assert harness.sms_sent() == []  # a flag alone changes nothing

    answer = await harness.click(button, message_ts=flags[0]["ts"])
    assert answer["text"] == "Opt-out recorded."
    await harness.drain()
    assert await consent_events(harness) == [(CUSTOMER, "opt_out", "teammate", None)]
    [confirmation] = harness.sms_sent()
    assert BUSINESS in confirmation["Body"]
    await harness.teammate(root, "!r one more thing")
    await harness.drain()
    assert len(harness.sms_sent()) == 1
    assert (await harness.click(button, message_ts=flags[0]["ts"]))["text"] == "They had already opted out."


# -- rule 2 (at once), rule 1 (at release), rule 16 (the record of every send) ---------


async def test_stop_is_on_record_when_the_webhook_is_answered(harness: Harness) -> None:
    await open_thread(harness)
    await harness.text_in("STOP")  # returns once smsbridge answered Twilio's webhook
    assert [tuple(r) for r in await harness.rows("SELECT phone, scope FROM suppressions")] == [(CUSTOMER, "inbox:1")]
    assert await consent_events(harness) == [(CUSTOMER, "opt_out", "keyword", "STOP")]
    [(inbox_id, at)] = await harness.rows("SELECT inbox_id, created_at FROM consent_events")
    assert inbox_id == 1 and at is not None


async def test_stop_works_while_slack_is_down(harness: Harness) -> None:
    root = await open_thread(harness)
    harness.slack.outage = True
    await harness.text_in("STOP")
    await harness.twilio.wait_for(lambda: harness.sms_sent(), message="the confirmation")
    assert "unsubscribed" in harness.sms_sent()[0]["Body"]
    assert await consent_events(harness) == [(CUSTOMER, "opt_out", "keyword", "STOP")]
    harness.slack.outage = False
    await harness.drain()
    assert any("opted out" in t for t in thread_texts(harness, root))


async def test_a_draft_approved_after_stop_is_not_sent(databases: Any) -> None:
    h = Harness(databases, admins=["UBEN"], smsbridge_approval_role="agent")
    await h.start()
    try:
        root = await open_thread(h)
        await h.teammate(root, "!r Your refund is on its way")
        await h.drain()
        [draft] = [m for m in h.thread(root) if "Draft by Ana" in m["text"]]
        await h.text_in("STOP")
        await h.drain()
        approve = next(
            el for b in draft["blocks"] if b["type"] == "actions" for el in b["elements"] if el["action_id"] == "smsbridge.approve"
        )
        answer = await h.click(approve, "UBEN", message_ts=draft["ts"])
        assert answer["text"].endswith("Not sent: the customer has opted out since.")
        await h.drain()
        assert [m["Body"] for m in h.sms_sent()] == [
            f"{BUSINESS}: You are unsubscribed and will receive no more messages. Reply START to resubscribe."
        ]
        assert [tuple(r) for r in await h.rows("SELECT status FROM messages WHERE kind = 'reply'")] == [("blocked",)]
    finally:
        await h.stop()


async def test_every_send_records_who_when_from_which_number_to_whom_and_its_final_status(harness: Harness) -> None:
    root = await open_thread(harness)
    await harness.teammate(root, "!r Ready at 5")
    await harness.drain()
    [sent] = harness.sms_sent()
    await harness.status_callback(sent["sid"], "delivered")
    await harness.drain()
    rows = await harness.rows(
        "SELECT author_platform, author_id, author_name, from_number, to_number, provider_sid, status, created_at"
        " FROM messages WHERE direction = 'out'"
    )
    [(platform, agent, name, from_number, to_number, sid, status, created_at)] = rows
    assert (platform, agent, name, from_number, to_number, sid, status) == ("slack", "UANA", "Ana", NUMBER, CUSTOMER, sent["sid"], "delivered")
    assert created_at is not None
