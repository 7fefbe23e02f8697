"""`smsbridge check` compares what the platforms hold with this version: the Slack
token's scopes with manifests/slack-app.yaml, Discord's app commands with the ones
smsbridge declares, and the database's schema with the newest migration."""

from __future__ import annotations

import io
from typing import Any

import pytest
from sqlalchemy import text

from bridge.checks import run_checks
from bridge.checks_sync import manifest_scopes
from tests.harness import Harness


async def _report(h: Harness) -> str:
    assert h.settings is not None
    out = io.StringIO()
    await run_checks(h.settings, out)
    return out.getvalue()


def _sqlite_only(h: Harness) -> None:
    # `check` opens DATABASE_URL itself; a PostgreSQL test's own schema is not on that URL.
    if h.databases.backend != "sqlite":
        pytest.skip("the migration check reads DATABASE_URL's default schema, not the test's own")


async def test_slack_scopes_and_migrations_are_checked(harness: Harness) -> None:
    report = await _report(harness)
    assert "✓ Slack: the bot token has every scope of manifests/slack-app.yaml" in report
    if harness.databases.backend == "sqlite":
        assert "✓ Database: migrations current (revision 0017)" in report

    harness.slack.scopes = [s for s in manifest_scopes() if s not in ("files:write", "users:read")]
    report = await _report(harness)
    assert "✗ Slack: the bot token lacks the scopes files:write, users:read" in report
    assert "then reinstall the app to the workspace" in report


async def test_a_database_behind_this_version_is_named(harness: Harness) -> None:
    _sqlite_only(harness)
    assert harness.bridge is not None
    async with harness.bridge.db.engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '0009'"))
    report = await _report(harness)
    assert "✗ Database: schema at revision 0009, this version needs 0017" in report
    assert "Run `smsbridge migrate`" in report


async def test_discord_commands_must_be_synced(databases: Any) -> None:
    h = Harness(databases, discord=True)
    await h.start()
    try:
        assert h.discord is not None
        report = await _report(h)
        assert "✗ Discord: the app commands in all servers (global) are not this version's (missing /" in report
        assert "Run `smsbridge discord sync`." in report
        from bridge.adapters.discord_bot.commands import manifest, sync_commands

        await sync_commands(h.discord.token)
        report = await _report(h)
        assert f"✓ Discord: the {len(manifest())} app commands in all servers (global) are synced" in report
    finally:
        await h.stop()


async def test_a_messaging_services_inbound_url_is_checked(databases: Any) -> None:
    from tests.harness import PUBLIC_URL

    h = Harness(databases, smsbridge_number=None, smsbridge_messaging_service_sid="MG0001")
    await h.start()
    try:
        h.twilio.add_service("MG0001", inbound_request_url="https://old.example.com/sms")
        report = await _report(h)
        assert "✗ Messaging Service MG0001: its inbound URL is https://old.example.com/sms" in report
        assert f"'Send a webhook': {PUBLIC_URL}/twilio/sms (HTTP POST)" in report

        h.twilio.services["MG0001"]["inbound_request_url"] = f"{PUBLIC_URL}/twilio/sms"
        assert "✓ Messaging Service MG0001 sends incoming texts here" in await _report(h)
        h.twilio.services["MG0001"]["use_inbound_webhook_on_number"] = True
        assert "! Messaging Service MG0001 defers to each number's webhook" in await _report(h)
        h.twilio.services.clear()
        assert "✗ Messaging Service MG0001: Unable to fetch record" in await _report(h)
    finally:
        await h.stop()


async def _report_with(h: Harness, **changes: Any) -> str:
    assert h.settings is not None
    out = io.StringIO()
    await run_checks(h.settings.model_copy(update=changes), out)
    return out.getvalue()


async def test_slack_event_subscriptions_are_read_from_the_apps_manifest_with_a_configuration_token(harness: Harness) -> None:
    import yaml
    from pydantic import SecretStr

    from bridge.init_cli import slack_manifest
    from tests.harness import PUBLIC_URL

    # Without a configuration token a bot token cannot read them: check says so and how to.
    report = await _report(harness)
    assert "! Slack: event subscriptions not checked (a bot token cannot read them)" in report
    assert "or set SLACK_CONFIG_TOKEN" in report

    token = SecretStr(harness.slack.config_token)
    harness.slack.app_manifest = yaml.safe_load(slack_manifest(PUBLIC_URL))
    report = await _report_with(harness, slack_config_token=token)
    assert "✓ Slack: the app's event subscriptions and request URLs match manifests/slack-app.yaml" in report
    assert [p["app_id"] for _m, p in harness.slack.calls if _m == "apps.manifest.export"] == [harness.slack.app_id]

    # An app that lost an event, and whose interactivity points elsewhere.
    harness.slack.app_manifest["settings"]["event_subscriptions"]["bot_events"].remove("message.groups")
    harness.slack.app_manifest["settings"]["interactivity"]["request_url"] = "https://old.example.com/slack/events"
    report = await _report_with(harness, slack_config_token=token)
    assert "✗ Slack: the app's configuration differs from manifests/slack-app.yaml: it is not subscribed to message.groups" in report
    assert f"Interactivity → Request URL is https://old.example.com/slack/events, not {PUBLIC_URL}/slack/events" in report
    assert "App Manifest: paste what `smsbridge init` prints" in report

    # Socket Mode on in the app but no SLACK_APP_TOKEN here.
    harness.slack.app_manifest = yaml.safe_load(slack_manifest(PUBLIC_URL))
    harness.slack.app_manifest["settings"]["socket_mode_enabled"] = True
    report = await _report_with(harness, slack_config_token=token)
    assert "differs from manifests/slack-app.yaml: Socket Mode is on but SLACK_APP_TOKEN is not set" in report

    # Configuration tokens expire after 12 hours; a wrong kind of token is named.
    harness.slack.config_token_expired = True
    report = await _report_with(harness, slack_config_token=token)
    assert "! Slack refused SLACK_CONFIG_TOKEN: token_expired" in report
    assert "Configuration tokens last 12 hours" in report
    report = await _report_with(harness, slack_config_token=SecretStr("xoxb-not-a-config-token"))
    assert "✗ SLACK_CONFIG_TOKEN is not an app configuration token (xoxe.xoxp-…)" in report


async def test_a_number_of_another_account_is_named(harness: Harness) -> None:
    from tests.harness import NUMBER

    harness.twilio.numbers.clear()
    assert f"✗ {NUMBER} is not a number of this Twilio account" in await _report(harness)
