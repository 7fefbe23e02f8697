"""Compliance exports (docs/compliance.md rule 16): `smsbridge export` and `/sms export`
carry every send with its agent, numbers, provider id and final status, the audit
events, consent records and conversations; role refusals and exports are audited."""

from __future__ import annotations

import argparse
import csv
import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from bridge import export_cli
from bridge.inbox import audit
from bridge.inbox.models import utcnow
from tests.harness import CHANNEL, CUSTOMER, DISCORD_ANA, DISCORD_BEN, FORUM, NUMBER, Harness


@asynccontextmanager
async def _slack(databases: Any) -> AsyncIterator[Harness]:
    """Slack, Ana an admin and Ben an agent."""
    h = Harness(databases, admins=["UANA"])
    await h.start()
    try:
        yield h
    finally:
        await h.stop()


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    export_cli.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["export", *argv])


async def _export(h: Harness, *argv: str) -> str:
    """`smsbridge export ARGV` against the harness's database; its standard output."""
    assert h.bridge is not None
    out, err = io.StringIO(), io.StringIO()
    assert await export_cli.run(h.bridge.db, _args(*argv), out, err) == 0, err.getvalue()
    return out.getvalue()


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


async def _delivered_reply(h: Harness) -> str:
    """A customer writes, Ana answers `!r` and the provider says delivered; the provider id."""
    await h.text_in("Is my bike ready?")
    root = await h.first_thread()
    await h.drain()
    await h.teammate(root, "!claim")
    await h.teammate(root, "!r Ready at 5")
    await h.twilio.wait_for(lambda: len(h.sms_sent()) == 1, message="the SMS")
    await h.drain()
    [sent] = h.sms_sent()
    await h.status_callback(sent["sid"], "delivered")
    await h.drain()
    return str(sent["sid"])


async def test_every_send_is_on_record_rule_16_agent_time_numbers_provider_id_and_final_status(harness: Harness) -> None:
    sid = await _delivered_reply(harness)

    rows = _csv(await _export(harness, "audit"))
    [send] = [r for r in rows if r["record"] == "send"]
    assert (send["actor"], send["author_name"], send["from_number"], send["to_number"], send["provider_sid"], send["status"]) == (
        "slack:UANA", "Ana", NUMBER, CUSTOMER, sid, "delivered",
    )
    assert send["error_code"] == "" and send["time"].endswith("Z") and send["inbox"] == "default"
    assert "body" not in rows[0] and "Ready at 5" not in json.dumps(rows)  # the customer's words stay out
    events = {r["action"]: r for r in rows if r["record"] == "event"}
    assert events["claimed"]["actor"] == "slack:UANA" and json.loads(events["claimed"]["detail"])["after"] == "Ana"
    assert "reply_queued" in events
    times = [r["time"] for r in rows]
    assert times == sorted(times)  # sends and events merged in time order

    [as_json] = [r for r in _jsonl(await _export(harness, "audit", "--format", "json")) if r["record"] == "send"]
    assert (as_json["actor"], as_json["provider_sid"], as_json["status"], as_json["error_code"]) == ("slack:UANA", sid, "delivered", None)
    # Both exports are themselves on the audit trail, with their row counts.
    exported = await harness.rows("SELECT actor, detail FROM audit_events WHERE action = 'exported' ORDER BY id")
    assert len(exported) == 2 and exported[0][0].startswith("cli")
    detail = exported[0][1] if isinstance(exported[0][1], dict) else json.loads(exported[0][1])
    assert (detail["export"], detail["rows"], detail["format"], detail["since"]) == ("audit", len(rows), "csv", None)


async def test_a_failed_send_is_exported_with_its_error_code(harness: Harness) -> None:
    await harness.text_in("hello")
    root = await harness.first_thread()
    await harness.drain()
    await harness.teammate(root, "!r Are you there?")
    await harness.drain()
    [sent] = harness.sms_sent()
    await harness.status_callback(sent["sid"], "undelivered", error_code="30003")
    await harness.drain()
    [send] = [r for r in _jsonl(await _export(harness, "audit", "--format", "json")) if r["record"] == "send"]
    assert (send["status"], send["error_code"], send["provider_sid"]) == ("undelivered", "30003", sent["sid"])


async def test_consent_export_lists_the_opt_out_and_its_suppression(harness: Harness) -> None:
    await harness.text_in("STOP")
    await harness.drain()
    rows = _csv(await _export(harness, "consent"))
    by_record = {r["record"]: r for r in rows}
    assert set(by_record) == {"consent_event", "suppression"}
    event = by_record["consent_event"]
    assert (event["phone"], event["action"], event["source"], event["raw_text"], event["inbox"]) == (
        CUSTOMER, "opt_out", "keyword", "STOP", "default",
    )
    assert (by_record["suppression"]["phone"], by_record["suppression"]["inbox"]) == (CUSTOMER, "default")
    as_json = _jsonl(await _export(harness, "consent", "--format", "json"))
    assert [r["record"] for r in as_json] == [r["record"] for r in rows]


async def test_conversations_export_has_contact_inbox_status_assignee_and_counts(harness: Harness) -> None:
    await _delivered_reply(harness)
    [conv] = _csv(await _export(harness, "conversations"))
    assert (conv["contact_phone"], conv["inbox"], conv["status"], conv["assignee"]) == (CUSTOMER, "default", "open", "Ana")
    assert (conv["messages_in"], conv["messages_out"], conv["notes"]) == ("1", "1", "0")
    assert conv["created_at"].endswith("Z")
    [as_json] = _jsonl(await _export(harness, "conversations", "--format", "json", "--inbox", "DEFAULT"))
    assert (as_json["messages_in"], as_json["messages_out"], as_json["assignee"]) == (1, 1, "Ana")


async def test_days_keeps_only_the_recent_rows(harness: Harness) -> None:
    assert harness.bridge is not None
    await _delivered_reply(harness)
    async with harness.bridge.db.sessions.begin() as session:
        old = audit.AuditEvent(actor="slack:UBEN", action="role_changed", detail={}, created_at=utcnow() - timedelta(days=40))
        session.add(old)
    everything = _csv(await _export(harness, "audit"))
    recent = _csv(await _export(harness, "audit", "--days", "30"))
    assert "role_changed" in {r["action"] for r in everything}
    assert "role_changed" not in {r["action"] for r in recent}
    assert len(recent) == len(everything) - 1 + 1  # the first export's own audit event is recent
    assert any(r["record"] == "send" for r in recent)


async def test_the_cli_writes_a_file_and_refuses_an_unknown_inbox(harness: Harness, tmp_path: Any) -> None:
    assert harness.bridge is not None
    await _delivered_reply(harness)
    target = tmp_path / "audit.csv"
    assert await _export(harness, "audit", "--out", str(target)) == ""
    assert any(r["record"] == "send" for r in _csv(target.read_text()))
    err = io.StringIO()
    assert await export_cli.run(harness.bridge.db, _args("audit", "--inbox", "sales"), io.StringIO(), err) == 2
    assert err.getvalue() == "smsbridge: unknown inbox 'sales'; inboxes: default\n"


async def test_slack_export_goes_to_the_asker_alone_once(databases: Any) -> None:
    async with _slack(databases) as h:
        sid = await _delivered_reply(h)
        channel_before = len(h.slack.messages(CHANNEL))
        h.slack.lose_answer_next("files.completeUploadExternal")  # the upload is retried, not doubled

        answer = await h.sms_command("export audit 7")
        await h.drain()

        assert answer["text"] == (
            "Exporting audit records of the last 7 days as CSV; the file will come to you alone, "
            "in a direct message from smsbridge, with its row count."
        )
        [upload] = h.slack.files
        assert upload["channel"] == h.slack.direct_channels["UANA"] and upload["filename"].endswith(".csv")
        assert len(h.slack.messages(CHANNEL)) == channel_before  # nothing in the channel the team shares
        rows = _csv(upload["bytes"].decode())
        [send] = [r for r in rows if r["record"] == "send"]
        assert (send["actor"], send["from_number"], send["to_number"], send["provider_sid"], send["status"]) == (
            "slack:UANA", NUMBER, CUSTOMER, sid, "delivered",
        )
        assert upload["title"].startswith(f"Audit export: {len(rows)} rows, ")
        audited = await h.rows("SELECT actor, action FROM audit_events WHERE action LIKE 'export%' ORDER BY id")
        assert audited == [("slack:UANA", "export_requested"), ("slack:UANA", "exported")]


async def test_slack_export_without_the_dm_scope_tells_the_asker_and_shares_nothing(databases: Any) -> None:
    async with _slack(databases) as h:
        from bridge.checks_sync import manifest_scopes

        h.slack.scopes = [s for s in manifest_scopes() if s != "im:write"]  # an app installed before im:write
        await h.sms_command("export consent")
        await h.drain()
        assert h.slack.files == []
        [told] = [e for e in h.slack.ephemerals if "export was not sent" in e["text"]]
        assert told["user"] == "UANA" and told["channel"] == CHANNEL
        assert "im:write" in told["text"] and "reinstall" in told["text"]


async def test_slack_export_takes_days_written_as_a_report_period(databases: Any) -> None:
    """`/sms export audit 90d` as `/sms report 7d` writes a period; `90` still works."""
    async with _slack(databases) as h:
        answer = await h.sms_command("export audit 90d json")
        assert answer["text"].startswith("Exporting audit records of the last 90 days as JSON Lines")
        await h.drain()
        [upload] = h.slack.files
        assert upload["filename"].endswith(".jsonl")
        [(detail,)] = await h.rows("SELECT detail FROM audit_events WHERE action = 'export_requested'")
        detail = detail if isinstance(detail, dict) else json.loads(detail)
        assert detail["export"] == "audit" and detail["format"] == "json"
        assert (utcnow() - timedelta(days=90) - datetime.fromisoformat(detail["since"]).replace(tzinfo=UTC)) < timedelta(minutes=5)
        answer = await h.sms_command("export consent 90D")
        assert answer["text"].startswith("Exporting consent records of the last 90 days as CSV")
        for bad in ("0d", "9999d"):
            answer = await h.sms_command(f"export audit {bad}")
            assert f"`{bad}` is not a number of days from 1 to 3650 (e.g. `90` or `90d`)." in answer["text"]
        await h.drain()
        assert len(h.slack.files) == 2


async def test_slack_non_admin_export_is_refused_and_audited(databases: Any) -> None:
    async with _slack(databases) as h:
        answer = await h.sms_command("export consent", user="UBEN")
        await h.drain()
        assert answer["text"].startswith("Exporting records needs the admin role; you are agent.")
        assert h.slack.files == []
        [(actor, detail)] = await h.rows("SELECT actor, detail FROM audit_events WHERE action = 'command_refused'")
        detail = detail if isinstance(detail, dict) else json.loads(detail)
        assert actor == "slack:UBEN" and (detail["command"], detail["needed"], detail["role"]) == ("export", "admin", "agent")
        assert await h.rows("SELECT id FROM audit_events WHERE action LIKE 'export%'") == []


async def test_every_role_refusal_is_audited_thread_commands_too(databases: Any) -> None:
    async with _slack(databases) as h:
        await h.text_in("hello")
        root = await h.first_thread()
        await h.drain()
        await h.sms_command("snippet add hi Hello!", user="UBEN")
        await h.sms_command("role @Ben viewer")  # Ana, an admin
        await h.teammate(root, "!claim", user="UBEN")
        await h.drain()
        refused = await h.rows("SELECT actor, conversation_id, detail FROM audit_events WHERE action = 'command_refused' ORDER BY id")
        details = [d if isinstance(d, dict) else json.loads(d) for _a, _c, d in refused]
        assert [(d["command"], d["needed"]) for d in details] == [("snippet add", "admin"), ("claim", "agent")]
        assert refused[0][1] is None and refused[1][1] is not None  # the thread's conversation


async def test_discord_export_comes_to_the_asker_alone(dh_admin: Harness) -> None:
    h = dh_admin
    assert h.discord is not None
    await h.text_in("hello")
    await h.first_post()
    await h.drain()
    h.discord.lose_answer_next("POST /channels/")  # the direct message is sent again, not twice
    iid = await h.discord.slash_command("sms", {"kind": "consent", "days": "30d", "format": "json"}, user_id=DISCORD_ANA,
                                        channel_id=FORUM, subcommand="export")
    await h.discord.wait_for(lambda: bool(h.discord.followups(iid)), message="the answer")  # type: ignore[union-attr]
    await h.drain()
    assert h.discord.followups(iid)[0]["content"].startswith(
        "Exporting consent records of the last 30 days as JSON Lines; the file will come to you alone, in a direct message"
    )
    assert [p["name"] for p in h.posts()] == [h.posts()[0]["name"]]  # no post in the forum the team shares
    [sent] = h.discord.direct_messages(DISCORD_ANA)
    assert sent["content"].startswith("Consent export: 0 rows, ")
    [attachment] = sent["attachments"]
    assert attachment["filename"].endswith(".jsonl")
    async with aiohttp.ClientSession() as session, session.get(attachment["url"]) as response:
        assert await response.read() == b""  # no consent changes yet: an empty JSON Lines file

    refused = await h.discord.slash_command("sms", {"kind": "audit"}, user_id=DISCORD_BEN, channel_id=FORUM, subcommand="export")
    await h.discord.wait_for(lambda: bool(h.discord.followups(refused)), message="the refusal")  # type: ignore[union-attr]
    assert h.discord.followups(refused)[0]["content"].startswith("Exporting records needs the admin role; you are agent.")
    [(actor,)] = await h.rows("SELECT actor FROM audit_events WHERE action = 'command_refused'")
    assert actor == f"discord:{DISCORD_BEN}"


async def test_discord_export_to_an_admin_refusing_direct_messages_is_given_up_and_logged(
    dh_admin: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    h = dh_admin
    assert h.discord is not None
    await h.text_in("hello")
    await h.first_post()
    await h.drain()
    h.discord.fail_next("POST /channels/", 403, code=50007, message="Cannot send messages to this user")
    iid = await h.discord.slash_command("sms", {"kind": "consent"}, user_id=DISCORD_ANA, channel_id=FORUM, subcommand="export")
    await h.discord.wait_for(lambda: bool(h.discord.followups(iid)), message="the answer")  # type: ignore[union-attr]
    await h.drain()
    assert "allow direct messages from this server's members" in h.discord.followups(iid)[0]["content"]
    assert h.discord.direct_messages(DISCORD_ANA) == [] and len(h.posts()) == 1  # nothing anywhere else either
    assert any("do not accept direct messages" in r.getMessage() for r in caplog.records)
    assert await h.rows("SELECT state FROM outbox_jobs WHERE state NOT IN ('done', 'dead')") == []  # given up, not retried forever


async def test_discord_audit_export_carries_the_send(dh_admin: Harness) -> None:
    h = dh_admin
    assert h.discord is not None
    await h.text_in("hello")
    post = await h.first_post()
    await h.drain()
    await h.discord.user_message(int(post["id"]), DISCORD_ANA, "!r On my way")
    await h.discord.wait_for(lambda: len(h.sms_sent()) == 1, message="the SMS")
    await h.drain()
    [sent] = h.sms_sent()
    await h.status_callback(sent["sid"], "delivered")
    await h.drain()
    iid = await h.discord.slash_command("sms", {"kind": "audit"}, user_id=DISCORD_ANA, channel_id=FORUM, subcommand="export")
    await h.discord.wait_for(lambda: bool(h.discord.followups(iid)), message="the answer")  # type: ignore[union-attr]
    await h.drain()
    [sent_to_ana] = h.discord.direct_messages(DISCORD_ANA)
    [attachment] = sent_to_ana["attachments"]
    async with aiohttp.ClientSession() as session, session.get(attachment["url"]) as response:
        rows = _csv((await response.read()).decode())
    [send] = [r for r in rows if r["record"] == "send"]
    assert (send["actor"], send["to_number"], send["provider_sid"], send["status"]) == (
        f"discord:{DISCORD_ANA}", CUSTOMER, sent["sid"], "delivered",
    )


async def test_rule_16_the_audit_trail_covers_assignments_status_changes_settings_and_exports(databases: Any) -> None:
    h = Harness(databases, admins=["UANA"], smsbridge_assign="round-robin")
    await h.start()
    try:
        await h.sms_command("snippet add hi Hello!")  # Ana and Ben become known teammates
        await h.sms_command("role <@UBEN> agent")
        await h.text_in("hello")
        root = await h.first_thread()
        await h.drain()
        await h.teammate(root, "!unassign")
        await h.teammate(root, "!claim")
        await h.teammate(root, "!close")
        await h.drain()
        await h.text_in("one more thing")  # reopens it: a status change nobody typed
        await h.drain()
        await h.restart(smsbridge_hours="mon-fri 09:00-17:00")  # an edited configuration
        await h.sms_command("export audit 1")
        await h.drain()

        rows = _csv(await _export(h, "audit"))
        actions = [(r["actor"], r["action"]) for r in rows if r["record"] == "event"]
        for expected in [
            ("slack:UANA", "snippet_saved"), ("slack:UANA", "role_changed"), ("smsbridge", "auto_assigned"),
            ("slack:UANA", "unassigned"), ("slack:UANA", "claimed"), ("slack:UANA", "status_changed"),
            ("smsbridge", "status_changed"), ("config", "settings_changed"), ("slack:UANA", "export_requested"),
            ("slack:UANA", "exported"),
        ]:
            assert expected in actions, expected
        reopened = [json.loads(r["detail"]) for r in rows if r["actor"] == "smsbridge" and r["action"] == "status_changed"]
        assert reopened == [{"before": "closed", "after": "open", "reason": "customer_texted"}]
        settings = [json.loads(r["detail"]) for r in rows if r["action"] == "settings_changed"]
        assert len(settings) == 2 and settings[0]["before"] is None  # the first start, then the edit
        assert settings[1]["changed"] == ["inbox:default"]
        assert settings[1]["after"]["inbox:default"]["hours"]["week"] != settings[1]["before"]["inbox:default"]["hours"]["week"]
    finally:
        await h.stop()


async def test_a_restart_with_the_same_settings_records_nothing(harness: Harness) -> None:
    await harness.restart()
    assert len(await harness.rows("SELECT id FROM audit_events WHERE action = 'settings_changed'")) == 1


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


async def test_a_progress_bar_only_on_a_terminal(harness: Harness, tmp_path: Any) -> None:
    assert harness.bridge is not None
    await _delivered_reply(harness)
    target = tmp_path / "audit.jsonl"
    watched = _Terminal()
    assert await export_cli.run(harness.bridge.db, _args("audit", "--format", "json", "--out", str(target)), io.StringIO(), watched) == 0
    assert "audit export" in watched.getvalue()  # the bar, drawn on the terminal
    piped = io.StringIO()  # cron, CI, a pipe: only the closing line
    assert await export_cli.run(harness.bridge.db, _args("audit", "--out", str(target)), io.StringIO(), piped) == 0
    assert piped.getvalue().startswith("smsbridge: exported ") and piped.getvalue().count("\n") == 1
    on_screen = _Terminal()  # rows printed on the terminal itself: no bar over them
    assert await export_cli.run(harness.bridge.db, _args("audit"), _Terminal(), on_screen) == 0
    assert on_screen.getvalue().startswith("smsbridge: exported ")


def test_columns_follow_the_models_so_a_new_column_is_exported_by_itself() -> None:
    from bridge.inbox import exports
    from bridge.inbox.models import AuditEvent, ConsentEvent, Conversation, Message, Suppression

    for kind, models in (("audit", (Message, AuditEvent)), ("consent", (ConsentEvent, Suppression)), ("conversations", (Conversation,))):
        header = exports.columns(kind)
        for model in models:
            for column in model.__table__.columns:
                if column.name in ("body", "media", "content_variables"):
                    assert column.name not in header
                elif not (column.name == "created_at" and kind != "conversations"):  # that one is `time`
                    assert column.name in header, (kind, column.name)


async def test_days_must_be_a_whole_number_of_days(harness: Harness) -> None:
    assert harness.bridge is not None
    err = io.StringIO()
    assert await export_cli.run(harness.bridge.db, _args("consent", "--days", "0"), io.StringIO(), err) == 2
    assert err.getvalue() == "smsbridge: --days takes a whole number of days, 1 or more\n"


# -- large exports: compressed, then split, every row once -----------------------------


async def _many_events(h: Harness, count: int) -> set[str]:
    """`count` audit events whose details do not compress much; their ids."""
    import random

    from bridge.inbox.models import AuditEvent

    assert h.bridge is not None
    rng = random.Random(16)
    async with h.bridge.db.sessions.begin() as session:
        events = [AuditEvent(actor="slack:UANA", action="setting_changed", detail={"token": f"{rng.getrandbits(128):032x}"})
                  for _ in range(count)]
        session.add_all(events)
    return {str(event.id) for event in events}


def _unpacked(name: str, data: bytes) -> str:
    import gzip

    return (gzip.decompress(data) if name.endswith(".gz") else data).decode()


async def test_discord_export_over_the_upload_limit_is_compressed_then_split_every_row_once(
    dh_admin: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bridge.adapters.discord_bot import poster

    h = dh_admin
    assert h.discord is not None
    h.discord.upload_limit = 12_000  # as Discord's, smaller
    monkeypatch.setattr(poster, "DM_UPLOAD_LIMIT", 12_000)
    await h.text_in("hello")
    await h.first_post()
    await h.drain()
    ids = await _many_events(h, 1500)
    h.discord.lose_answer_next("POST /channels/")  # a part's answer lost: the job runs again, sends what is missing

    iid = await h.discord.slash_command("sms", {"kind": "audit"}, user_id=DISCORD_ANA, channel_id=FORUM, subcommand="export")
    await h.discord.wait_for(lambda: bool(h.discord.followups(iid)), message="the answer")  # type: ignore[union-attr]
    await h.drain()

    sent = h.discord.direct_messages(DISCORD_ANA)
    assert len(sent) >= 3 and h.discord.refused_uploads == []  # split before sending, nothing refused
    exported: list[str] = []
    async with aiohttp.ClientSession() as session:
        for number, message in enumerate(sent, start=1):
            assert message["content"].startswith(f"Audit export, part {number} of {len(sent)}: rows ")
            [attachment] = message["attachments"]
            assert attachment["filename"].endswith(f"-part{number}of{len(sent)}.csv.gz") and attachment["size"] <= 12_000
            async with session.get(attachment["url"]) as response:
                rows = _csv(_unpacked(attachment["filename"], await response.read()))  # its own header
            exported += [r["id"] for r in rows if r["record"] == "event" and r["action"] == "setting_changed"]
    assert sorted(exported) == sorted(ids)  # every row, exactly once across the parts
    [(detail,)] = await h.rows("SELECT detail FROM audit_events WHERE action = 'exported'")  # audited once
    detail = detail if isinstance(detail, dict) else json.loads(detail)
    assert detail["rows"] >= 1500


async def test_discord_refusing_a_file_as_too_large_gets_it_split_smaller(
    dh_admin: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Discord's limit lower than the bot thought (413, code 40005): split again, smaller."""
    from bridge.adapters.discord_bot import poster

    h = dh_admin
    assert h.discord is not None
    h.discord.upload_limit = 10_000
    monkeypatch.setattr(poster, "MIN_UPLOAD_LIMIT", 1_000)
    await h.text_in("hello")
    await h.first_post()
    await h.drain()
    await _many_events(h, 1000)

    iid = await h.discord.slash_command("sms", {"kind": "audit", "format": "json"}, user_id=DISCORD_ANA, channel_id=FORUM,
                                        subcommand="export")
    await h.discord.wait_for(lambda: bool(h.discord.followups(iid)), message="the answer")  # type: ignore[union-attr]
    await h.drain()

    sent = h.discord.direct_messages(DISCORD_ANA)
    assert h.discord.refused_uploads and len(sent) >= 2
    lines: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as session:
        for number, message in enumerate(sent, start=1):
            assert f"part {number} of {len(sent)}" in message["content"]
            [attachment] = message["attachments"]
            async with session.get(attachment["url"]) as response:
                lines += _jsonl(_unpacked(attachment["filename"], await response.read()))  # whole lines
    assert len({(r["record"], r["id"]) for r in lines}) == len(lines) == int(sent[0]["content"].split(" of ")[-1].split(",")[0])


async def test_slack_export_over_the_limit_arrives_in_parts_each_once(databases: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from bridge.adapters.slack import poster

    monkeypatch.setattr(poster, "UPLOAD_LIMIT", 20_000)
    async with _slack(databases) as h:
        ids = await _many_events(h, 1500)
        h.slack.lose_answer_next("files.completeUploadExternal")  # part 1 shared, its answer lost: not shared twice

        await h.sms_command("export audit 7 json")
        await h.drain()

        files = h.slack.files
        assert len(files) >= 2 and {f["channel"] for f in files} == {h.slack.direct_channels["UANA"]}
        assert [f["filename"].rsplit("-", 1)[1] for f in files] == [
            f"part{n}of{len(files)}.jsonl.gz" for n in range(1, len(files) + 1)
        ]
        assert all(f["title"].startswith(f"Audit export, part {n} of {len(files)}: rows ") for n, f in enumerate(files, start=1))
        lines = [line for f in files for line in _jsonl(_unpacked(f["filename"], f["bytes"]))]
        assert sorted(str(r["id"]) for r in lines if r["action"] == "setting_changed") == sorted(ids)


async def test_slack_export_under_the_limit_but_large_is_one_compressed_file(databases: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from bridge.adapters.slack import poster

    async with _slack(databases) as h:
        ids = await _many_events(h, 1500)
        await h.sms_command("export audit")  # whole, as it fits
        await h.drain()
        [whole] = h.slack.files
        monkeypatch.setattr(poster, "UPLOAD_LIMIT", len(whole["bytes"]) - 1)
        await h.sms_command("export audit")
        await h.drain()
        [_, packed] = h.slack.files
        assert packed["filename"].endswith(".csv.gz") and "(CSV, gzip-compressed)" in packed["title"]
        assert packed["title"].startswith("Audit export: 15") and " rows, " in packed["title"]
        rows = _csv(_unpacked(packed["filename"], packed["bytes"]))
        assert {r["id"] for r in rows if r["action"] == "setting_changed"} == ids


async def test_the_spooled_files_are_deleted_and_a_row_too_large_for_the_limit_fails_loudly(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    import tempfile

    from bridge.inbox import exports

    assert harness.bridge is not None
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    await _many_events(harness, 300)
    request = exports.ExportRequest("audit", until=utcnow() + timedelta(seconds=1))
    build = dict(actor="cli:test", via="cli", once_key="spool-test", filename="audit.csv")
    with await exports.build_file(harness.bridge.db.sessions, request, "csv", limit=4_000, **build) as built:  # type: ignore[arg-type]
        assert len(built.parts) > 1 and all(p.path.exists() and p.size <= 4_000 for p in built.parts)
        assert sum(p.rows for p in built.parts) == built.rows >= 300
    assert list(spool.iterdir()) == []  # deleted once sent
    with pytest.raises(exports.ExportTooLarge):
        await exports.build_file(harness.bridge.db.sessions, request, "csv", limit=40, **build)  # type: ignore[arg-type]
    assert list(spool.iterdir()) == []
