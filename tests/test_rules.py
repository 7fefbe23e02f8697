"""Rules as the team sees them: each condition and action through slack-bolt (and a Discord
post), the thread naming the rule, the first terminal match winning, `/sms rules`, and a
broken rule stopping settings with the rule and field named; on both databases."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from bridge.checks import run_checks
from bridge.config import Settings
from bridge.inbox.clock import ManualClock
from tests.harness import CHANNEL, CUSTOMER, FORUM, OTHER_CUSTOMER, Harness

UK = "+447400123456"
RULES: list[dict[str, Any]] = [
    {"name": "Refunds", "regex": "(?i)refund|money back", "priority": "urgent", "add_tags": ["refund"], "terminal": False},
    {"name": "VIP", "tag": "vip", "assign": "slack:UBEN", "priority": "high"},
    {"name": "Abroad", "country": "GB", "first_message": True, "add_tags": "abroad", "assign": "round-robin"},
    {"name": "Closed hours", "hours": "outside", "status": "pending"},
    {"name": "Sales", "keyword": ["price", "quote"], "inbox": "default", "status": "escalated"},
    {"name": "Never", "keyword": "price", "add_tags": "unreachable"},
]


@pytest.fixture
async def ruled(databases: Any) -> AsyncIterator[Harness]:
    h = Harness(databases, rule=RULES)
    await h.start()
    await h.sms_command("back", user="UANA")
    await h.sms_command("back", user="UBEN")
    yield h
    await h.stop()


async def _text(h: Harness, body: str, sender: str = CUSTOMER) -> tuple[str, list[str], str]:
    """The conversation's card facts and thread after the customer's text."""
    await h.text_in(body, sender=sender)
    await h.slack.wait_for(lambda: any(sender[-4:] in str(c["blocks"]) for c in h.roots()), message="the card")
    await h.drain()
    card = next(c for c in h.roots() if sender[-4:] in str(c["blocks"]))
    ts = str(card["ts"])
    fresh = h.slack.get(CHANNEL, ts) or card
    return str(fresh["blocks"][1]["elements"][0]["text"]), [str(m.get("text")) for m in h.thread(ts)], ts


def _rules_said(thread: list[str]) -> list[str]:
    return [t for t in thread if t.startswith("📏")]


async def test_keyword_inbox_and_the_first_terminal_match_wins(ruled: Harness) -> None:
    facts, thread, _ = await _text(ruled, "What's the PRICE of a tandem?")
    assert _rules_said(thread) == ["📏 Rule Sales: status escalated."]  # "Never" comes after a terminal match
    assert "Escalated" in facts
    audited = await ruled.rows("SELECT detail FROM audit_events WHERE action = 'rule_applied'")
    assert [json.loads(d) if isinstance(d, str) else d for (d,) in audited] == [{"rule": "Sales", "actions": ["status escalated"]}]


async def test_regex_non_terminal_then_tag_assigns_a_person(ruled: Harness) -> None:
    _, _, ts = await _text(ruled, "hello")
    await ruled.teammate(ts, "!tag +vip")
    await ruled.drain()
    facts, thread, _ = await _text(ruled, "I want my money back")
    assert _rules_said(thread) == ["📏 Rule Refunds: tags +refund; priority urgent.", "📏 Rule VIP: assigned to Ben; priority high."]
    assert "🤖 Assigned to <@UBEN> by rule VIP (named by the rule)." in thread
    assert "*Assignee:* Ben (assigned by rule VIP)" in facts and "High" in facts
    assert "`refund`" in facts and "`vip`" in facts


async def test_country_and_first_message_assign_by_strategy(ruled: Harness) -> None:
    facts, thread, _ = await _text(ruled, "hi from London", sender=UK)
    assert _rules_said(thread) == ["📏 Rule Abroad: assigned to Ana; tags +abroad."]
    assert "Ana (assigned by rule Abroad)" in facts
    facts, thread, _ = await _text(ruled, "hi again", sender=UK)
    assert len(_rules_said(thread)) == 1  # not the first message any more


async def test_outside_business_hours(databases: Any) -> None:
    h = Harness(databases, rule=RULES, smsbridge_hours="mon-fri 00:00-00:01; sat 00:00-00:01", smsbridge_timezone="Pacific/Kiritimati")
    await h.start()
    try:
        facts, thread, _ = await _text(h, "anyone?", sender=OTHER_CUSTOMER)
        assert _rules_said(thread) == ["📏 Rule Closed hours: status pending."]
        assert "Pending" in facts
    finally:
        await h.stop()


async def test_sms_rules_lists_them_in_order(ruled: Harness) -> None:
    answer = await ruled.sms_command("rules")
    lines = answer["text"].split("\n")
    assert lines[0] == "*Rules*, in the order they run (the first matching rule that stops wins):"
    assert lines[1] == "1. Refunds: when text matches /(?i)refund|money back/ → priority urgent, tags +refund (continues)".replace(
        "priority urgent, tags +refund", "tags +refund, priority urgent"
    )
    assert lines[2] == "2. VIP: when tag vip → assign slack:UBEN, priority high (stops)"
    assert len(lines) == 7


async def test_no_rules(harness: Harness) -> None:
    assert (await harness.sms_command("rules"))["text"].startswith("No rules: add `[[rule]]` tables")


@pytest.mark.parametrize(
    ("rule", "named"),
    [
        ({"name": "Broken", "regex": "(", "status": "open"}, "rule 'Broken', regex: '(' does not compile"),
        ({"name": "Typo", "keyword": "x", "priority": "huge"}, "rule 'Typo', priority: 'huge' is not one of"),
        ({"name": "Idle", "keyword": "x"}, "rule 'Idle', actions: it does nothing"),
        ({"name": "Where", "inbox": "sales", "status": "open"}, "rule[1] 'Where', inbox: no inbox is called 'sales'"),
        ({"name": "Who", "assign": "teams:U1", "status": "open"}, "rule 'Who', assign:"),
        ({"name": "Hm", "hours": "sometimes", "status": "open"}, "rule 'Hm', hours:"),
        ({"name": "Typo2", "keywords": "x", "status": "open"}, "keywords\n  Extra inputs are not permitted"),
        ({"name": "Tell", "notify": "#escalations"}, "rule 'Tell', notify: '#escalations' is not a channel; write slack:C0123"),
        ({"name": "Tell", "notify": "discord:general"}, "rule 'Tell', notify: 'discord:general' is not a channel"),
        ({"name": "Tell", "notify": "discord:1234"}, "rule[1] 'Tell', notify: 'discord:1234' is on Discord, which is not configured (DISCORD_TOKEN)"),
    ],
)
def test_a_broken_rule_stops_settings_naming_rule_and_field(rule: dict[str, Any], named: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, smsbridge_number="+14155550100", rule=[RULES[0], rule])  # type: ignore[call-arg]
    assert named in str(caught.value)


async def test_discord_post_names_the_rule(databases: Any) -> None:
    h = Harness(databases, discord=True, smsbridge_slack_channel=None, rule=RULES)
    await h.start()
    try:
        assert h.discord is not None
        await h.text_in("Can I get a quote?")
        post = await h.first_post()
        await h.discord.wait_for(
            lambda: "📏 Rule Sales: status escalated." in [m["content"] for m in h.post_messages(post["id"])], message="the rule's note"
        )
    finally:
        await h.stop()


async def test_a_rule_sends_a_snippet_and_a_missing_one_disables_the_rules(databases: Any) -> None:
    rules = [
        {"name": "Hours", "keyword": "open", "snippet": "hours", "terminal": False},
        {"name": "Plain", "keyword": "open", "snippet": "hours2"},
    ]
    h = Harness(databases, rule=rules, admins=["UANA"])
    await h.start()
    try:
        from bridge.checks import _rule_findings

        assert h.bridge is not None and h.settings is not None
        found = await _rule_findings(h.settings, h.bridge.db)
        assert [f.level for f in found] == ["fail", "fail"]
        assert found[0].title == "[[rule]] rule 'Hours', snippet: no snippet 'hours' (known: none)"
        _, thread, _ = await _text(h, "are you open today?")
        assert _rules_said(thread) == []  # no rule runs while one is broken
        await h.sms_command("snippet add hours We are open 9-5, {name}.")
        await h.sms_command("snippet add hours2 We are open 9-5.")
        await h.restart()
        h.bridge.use_clock(ManualClock(_utc(2, 18)))  # 10:00 in Los Angeles: outside quiet hours
        assert await _rule_findings(h.settings, h.bridge.db) == []
        _, thread, _ = await _text(h, "are you OPEN on sunday?", sender=OTHER_CUSTOMER)
        assert _rules_said(thread) == [
            "📏 Rule Hours: snippet hours not sent: Not sent: snippet hours needs {name}, which this contact does not have. "
            "Set it first (!contact name … or !prop key=value).",
            "📏 Rule Plain: sent snippet hours2.",
        ]
        await h.twilio.wait_for(lambda: any(m.get("Body") == "We are open 9-5." for m in h.sms_sent()), message="the snippet texted")
    finally:
        await h.stop()


FLORIDA = "+13055550123"  # Miami: 08:00-20:00 Eastern, three automated texts a day


def _utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


@pytest.fixture
async def snippet_rule(databases: Any) -> AsyncIterator[tuple[Harness, ManualClock]]:
    h = Harness(databases, rule=[{"name": "Hours", "keyword": "open", "snippet": "hours"}], admins=["UANA"], smsbridge_timezone="America/Chicago")
    await h.start()
    await h.sms_command("snippet add hours We are open 9-5.")
    await h.restart()  # the rules run once the snippet they name exists
    assert h.bridge is not None
    clock = ManualClock(_utc(2, 6, 30))  # Tue Dec 1, 22:30 in Los Angeles (CUSTOMER)
    h.bridge.use_clock(clock)
    yield h, clock
    await h.stop()


async def _at(h: Harness, clock: ManualClock, when: datetime) -> None:
    assert h.bridge is not None
    clock.set(when)
    await h.bridge.scheduler.settle()
    await h.drain()


def _snippets_to(h: Harness, to: str) -> list[str]:
    return [m["Body"] for m in h.sms_sent() if m["To"] == to and m["Body"] == "We are open 9-5."]


async def test_a_rules_snippet_waits_for_the_customers_quiet_hours(snippet_rule: tuple[Harness, ManualClock]) -> None:
    h, clock = snippet_rule
    _, thread, _ = await _text(h, "are you open tomorrow?")
    assert _rules_said(thread) == [
        "📏 Rule Hours: snippet hours held by quiet hours; it leaves Wed Dec 2, 8:00 AM for the customer (America/Los_Angeles)"
        " · Wed Dec 2, 10:00 AM team time (America/Chicago)."
    ]
    await _at(h, clock, _utc(2, 15, 59))
    assert _snippets_to(h, CUSTOMER) == []
    await _at(h, clock, _utc(2, 16))  # 08:00 in Los Angeles
    await h.twilio.wait_for(lambda: _snippets_to(h, CUSTOMER) == ["We are open 9-5."], message="the held snippet sent in the morning")


async def test_a_rules_snippet_counts_toward_floridas_three_a_day(snippet_rule: tuple[Harness, ManualClock]) -> None:
    h, clock = snippet_rule
    await _at(h, clock, _utc(2, 14))  # 09:00 in Miami
    for n in range(3):
        await _text(h, f"open today? ({n})", sender=FLORIDA)
    await h.twilio.wait_for(lambda: len(_snippets_to(h, FLORIDA)) == 3, message="three snippets")
    _, thread, _ = await _text(h, "still open?", sender=FLORIDA)
    assert _rules_said(thread)[-1] == (
        "📏 Rule Hours: snippet hours held by the Florida limit, 3 automated texts in 24 hours; it leaves Thu Dec 3, 9:00 AM"
        " for the customer (America/New_York) · Thu Dec 3, 8:00 AM team time (America/Chicago)."
    )
    await _at(h, clock, _utc(3, 13, 59))
    assert len(_snippets_to(h, FLORIDA)) == 3
    await _at(h, clock, _utc(3, 14))
    await h.twilio.wait_for(lambda: len(_snippets_to(h, FLORIDA)) == 4, message="the fourth, a day later")


async def test_a_rules_snippet_never_goes_to_an_opted_out_contact(snippet_rule: tuple[Harness, ManualClock]) -> None:
    h, clock = snippet_rule
    await _at(h, clock, _utc(2, 18))  # 10:00 in Los Angeles
    await h.text_in("STOP")
    await h.drain()
    _, thread, _ = await _text(h, "are you open?")
    assert _rules_said(thread)[-1] == "📏 Rule Hours: snippet hours not sent: the customer opted out."
    assert _snippets_to(h, CUSTOMER) == []
    assert await h.rows("SELECT id FROM messages WHERE body = 'We are open 9-5.'") == []


ESCALATIONS = "CESCAL"
DISCORD_ESCALATIONS = 1300000000000000077


async def test_a_rule_posts_a_notice_in_another_slack_channel_linking_to_the_thread(databases: Any) -> None:
    h = Harness(databases, rule=[{"name": "Urgent", "keyword": "urgent", "notify": f"slack:{ESCALATIONS}", "priority": "urgent"}])
    await h.start()
    try:
        h.slack.set_channel(ESCALATIONS, "escalations")
        _, thread, ts = await _text(h, "This is URGENT, the bike is stuck")
        assert _rules_said(thread) == [f"📏 Rule Urgent: priority urgent; notice posted to slack:{ESCALATIONS}."]
        await h.slack.wait_for(lambda: h.slack.messages(ESCALATIONS), message="the notice in #escalations")
        [notice] = h.slack.messages(ESCALATIONS)
        assert notice.get("thread_ts") is None  # a message of the channel, not of a thread
        assert notice["text"] == (
            f"📣 Rule Urgent: (415) 555-0101 texted default. <https://fake.slack.com/archives/{CHANNEL}/p{ts.replace('.', '')}|Open the thread>"
        )
        assert (await h.sms_command("rules"))["text"].split("\n")[1] == f"1. Urgent: when keyword urgent → priority urgent, notify slack:{ESCALATIONS} (stops)"
    finally:
        await h.stop()


async def test_a_rule_posts_a_notice_in_another_discord_channel(databases: Any) -> None:
    rules = [{"name": "Urgent", "keyword": "urgent", "notify": [f"discord:{DISCORD_ESCALATIONS}"], "add_tags": "urgent"}]
    h = Harness(databases, discord=True, smsbridge_slack_channel=None, rule=rules)
    await h.start()
    try:
        assert h.discord is not None
        h.discord.add_text_channel(DISCORD_ESCALATIONS, "escalations")
        await h.text_in("urgent: where is my order?")
        post = await h.first_post()
        await h.discord.wait_for(
            lambda: f"📏 Rule Urgent: tags +urgent; notice posted to discord:{DISCORD_ESCALATIONS}." in [m["content"] for m in h.post_messages(post["id"])],
            message="the rule's note",
        )
        await h.discord.wait_for(lambda: h.discord is not None and h.discord.messages(DISCORD_ESCALATIONS), message="the notice")
        [notice] = h.discord.messages(DISCORD_ESCALATIONS)
        assert notice["content"] == f"📣 Rule Urgent: (415) 555-0101 texted default. <#{post['id']}>"
    finally:
        await h.stop()


async def test_check_finds_the_channels_rules_notify(databases: Any) -> None:
    rules = [
        {"name": "Urgent", "keyword": "urgent", "notify": [f"slack:{ESCALATIONS}", "slack:CGONE"]},
        {"name": "Loud", "keyword": "loud", "notify": [f"discord:{DISCORD_ESCALATIONS}", f"discord:{FORUM}", "discord:1300000000000000999"]},
        {"name": "Team", "keyword": "team", "notify": "slack:CTEAM"},
    ]
    h = Harness(databases, discord=True, rule=rules)
    await h.start()
    try:
        assert h.settings is not None and h.discord is not None
        h.slack.set_channel(ESCALATIONS, "escalations", is_member=False)
        h.slack.set_channel("CTEAM", "team")
        h.discord.add_text_channel(DISCORD_ESCALATIONS, "escalations")
        out = io.StringIO()
        assert await run_checks(h.settings, out) == 1
        report = out.getvalue()
        assert f"✗ [[rule]] rule 'Urgent', notify: slack:{ESCALATIONS}: the bot is not in #escalations" in report
        assert "✗ [[rule]] rule 'Urgent', notify: slack:CGONE: channel_not_found" in report
        assert "✓ Rule 'Team' notifies #team (CTEAM)" in report
        assert f"✓ Rule 'Loud' notifies #escalations ({DISCORD_ESCALATIONS})" in report
        assert f"✗ [[rule]] rule 'Loud', notify: discord:{FORUM}: #sms-inbox is not a text channel" in report
        assert "✗ [[rule]] rule 'Loud', notify: discord:1300000000000000999: the channel does not exist" in report
    finally:
        await h.stop()


async def test_inside_business_hours(databases: Any) -> None:
    h = Harness(databases, rule=[{"name": "Daytime", "hours": "inside", "add_tags": "daytime"}])  # no hours: always open
    await h.start()
    try:
        facts, thread, _ = await _text(h, "hello")
        assert _rules_said(thread) == ["📏 Rule Daytime: tags +daytime."]
        assert "`daytime`" in facts
    finally:
        await h.stop()
