"""The smsbridge command: check explains, run serves, secrets stay out of logs."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from bridge.checks import run_checks
from bridge.logs import RedactSecrets
from tests.harness import CHANNEL, NUMBER, PUBLIC_URL, Harness

ROOT = Path(__file__).resolve().parent.parent


async def test_check_reports_what_works_and_what_to_paste(harness: Harness) -> None:
    assert harness.settings is not None
    out = io.StringIO()
    code = await run_checks(harness.settings, out)
    text = out.getvalue()
    assert code == 0, text
    assert f"{PUBLIC_URL}/twilio/sms" in text and f"{PUBLIC_URL}/slack/events" in text
    assert "✓ Twilio account reachable" in text
    assert f"✓ {NUMBER} belongs to the account and points here" in text
    assert "✓ Bot is in #support" in text


async def test_check_says_exactly_what_is_wrong(harness: Harness) -> None:
    harness.slack.set_channel(CHANNEL, "support", is_member=False)
    harness.twilio.numbers[0]["sms_url"] = "https://old.example.com/sms"
    settings = harness.make_settings(twilio_auth_token="wrong-token")
    out = io.StringIO()
    assert await run_checks(settings, out) == 1
    text = out.getvalue()
    assert "✗ Twilio refused" in text and "TWILIO_AUTH_TOKEN" in text
    assert "✗ Bot is not in #support" in text and "/invite @smsbridge" in text

    settings = harness.make_settings()
    out = io.StringIO()
    await run_checks(settings, out)
    assert f"Set it to {PUBLIC_URL}/twilio/sms" in out.getvalue()


def _cli(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TWILIO_", "SMSBRIDGE_", "DATABASE_URL", "PUBLIC_URL"))}
    full_env.update({"PYTHONPATH": str(ROOT), "SMSBRIDGE_CONFIG": str(cwd / "smsbridge.toml")})
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "bridge", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=60)


def test_check_with_nothing_configured_explains_without_a_traceback(tmp_path: Path) -> None:
    result = _cli(["check"], tmp_path, {"SLACK_API_URL": "http://127.0.0.1:9/api/", "TWILIO_API_URL": "http://127.0.0.1:9"})
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert "No inbox configured" in result.stdout
    assert "Twilio credentials missing" in result.stdout


def test_bad_configuration_is_one_clear_message(tmp_path: Path) -> None:
    result = _cli(["migrate"], tmp_path, {"PORT": "not-a-port"})
    assert result.returncode == 2
    assert "PORT" in result.stderr and "Traceback" not in result.stderr
    (tmp_path / "smsbridge.toml").write_text("this is [not toml")
    result = _cli(["migrate"], tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_inboxes_come_from_smsbridge_toml(tmp_path: Path) -> None:
    (tmp_path / "smsbridge.toml").write_text(
        '[[inbox]]\nname = "sales"\nnumber = "+14155550199"\nslack_channel = "C0SALES"\n'
    )
    result = _cli(["migrate"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "smsbridge.db").exists()


def test_run_serves_health_on_a_fresh_sqlite_file(tmp_path: Path) -> None:
    async def scenario() -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TWILIO_", "SMSBRIDGE_"))}
        env.update({"PYTHONPATH": str(ROOT), "SMSBRIDGE_CONFIG": str(tmp_path / "none.toml"), "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/run.db"})
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bridge", "run", "--host", "127.0.0.1", "--port", "0",
            cwd=tmp_path, env=env, stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stderr is not None
        port = None
        try:
            for _ in range(200):
                line = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
                if "serving on http://" in line:
                    port = int(line.split(":")[-1].split()[0])
                    break
            assert port, "smsbridge run never said where it serves"
            import aiohttp

            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    assert response.status == 200
        finally:
            proc.terminate()
            assert await asyncio.wait_for(proc.wait(), 30) == 0

    asyncio.run(scenario())


def test_secrets_never_reach_a_log_line() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets(["xoxb-very-secret-token", "twilio-auth-123"]))
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    logger.error("calling with %s and %s", "Bearer xoxb-very-secret-token", {"auth": "twilio-auth-123"})
    assert "secret" not in stream.getvalue() and "twilio-auth-123" not in stream.getvalue()
    assert "***" in stream.getvalue()


def test_inbox_number_and_approval_role_are_checked_at_load(tmp_path: Path) -> None:
    for command in ("check", "run"):
        result = _cli([command], tmp_path, {"SMSBRIDGE_NUMBER": "415 555 0100", "SMSBRIDGE_APPROVAL_ROLE": "boss"})
        assert result.returncode == 2 and "Traceback" not in result.stderr
        lines = result.stderr.strip().splitlines()
        assert lines == [
            "smsbridge: configuration error: SMSBRIDGE_NUMBER: '415 555 0100' is not a phone number in E.164 form (e.g. +14155550100)",
            "smsbridge: configuration error: SMSBRIDGE_APPROVAL_ROLE: 'boss' is not a role; use one of viewer, agent, admin",
        ]
    (tmp_path / "smsbridge.toml").write_text('[[inbox]]\nname = "sales"\nnumber = "+1415"\n')
    result = _cli(["check"], tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == "smsbridge: configuration error: inbox[0].number: '+1415' is not a phone number in E.164 form (e.g. +14155550100)"


async def test_check_names_each_whatsapp_senders_webhook_and_refuses_one_two_inboxes_share(harness: Harness) -> None:
    from bridge.config import InboxConfig

    own = harness.make_settings(smsbridge_whatsapp_number="+14155550177")
    out = io.StringIO()
    assert await run_checks(own, out) == 0, out.getvalue()
    assert f"    WhatsApp sender +14155550177 → 'Webhook URL for incoming messages': {PUBLIC_URL}/twilio/sms (HTTP POST)" in out.getvalue()
    shared = harness.make_settings(
        smsbridge_whatsapp_number="+14155550177",
        inbox=[InboxConfig(name="sales", number=NUMBER.replace("0100", "0199"), whatsapp_number="whatsapp:+14155550177", slack_channel=CHANNEL)],
    )
    out = io.StringIO()
    assert await run_checks(shared, out) == 1
    assert "✗ Inbox sales: WhatsApp sender +14155550177 is also inbox default's" in out.getvalue()
    assert "give each inbox its own whatsapp_number" in out.getvalue()


def test_a_whatsapp_number_not_in_e164_form_stops_check_and_run(tmp_path: Path) -> None:
    result = _cli(["check"], tmp_path, {"SMSBRIDGE_NUMBER": "+14155550100", "SMSBRIDGE_WHATSAPP_NUMBER": "415 555 0177"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        "smsbridge: configuration error: SMSBRIDGE_WHATSAPP_NUMBER: '415 555 0177' is not a phone number in E.164 form (e.g. +14155550100)"
    )
    (tmp_path / "smsbridge.toml").write_text('[[inbox]]\nname = "sales"\nnumber = "+14155550199"\nwhatsapp_number = "+1415"\n')
    result = _cli(["run"], tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        "smsbridge: configuration error: inbox[0].whatsapp_number: '+1415' is not a phone number in E.164 form (e.g. +14155550100)"
    )


def test_a_typo_in_an_inbox_or_template_table_stops_check_and_run_naming_the_table_and_key(tmp_path: Path) -> None:
    """A misspelt key in a TOML table is an error, as in `[[rule]]`; it is never silently
    ignored (here `slack_chanel` would have left the inbox without its channel)."""
    (tmp_path / "smsbridge.toml").write_text(
        '[[inbox]]\nname = "sales"\nnumber = "+14155550199"\nslack_chanel = "C0SALES"\n\n'
        '[[whatsapp_template]]\nname = "follow_up"\ncontent_sid = "HX' + "b" * 32 + '"\nvariable = 2\n'
    )
    for command in ("check", "run"):
        result = _cli([command], tmp_path)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert result.stderr.strip().splitlines() == [
            "smsbridge: configuration error: inbox[0]: [[inbox]] 'sales': unknown key 'slack_chanel'; did you mean 'slack_channel'?",
            "smsbridge: configuration error: whatsapp_template[0]: [[whatsapp_template]] 'follow_up': unknown key 'variable'; did you mean 'variables'?",
        ]
    # Environment variables smsbridge does not know stay ignored: other software sets them.
    (tmp_path / "smsbridge.toml").write_text('[[inbox]]\nname = "sales"\nnumber = "+14155550199"\nslack_channel = "C0SALES"\n')
    result = _cli(["migrate"], tmp_path, {"SMSBRIDGE_NOT_A_SETTING": "1", "SOME_OTHER_APP_TOKEN": "x"})
    assert result.returncode == 0, result.stderr


def test_an_unknown_inbox_key_without_a_name_close_to_it_lists_the_keys() -> None:
    from bridge.config import Settings

    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, inbox=[{"name": "north", "number": "+14155550199", "colour": "blue"}])  # type: ignore[call-arg]
    said = str(caught.value)
    assert "[[inbox]] 'north': unknown key 'colour'; the keys are " in said and "slack_channel" in said


def test_tokens_are_hidden_in_the_settings_object() -> None:
    from bridge.config import Settings

    settings = Settings(_env_file=None, slack_bot_token="xoxb-very-secret-token", smsbridge_number="+1 (415) 555-0100")  # type: ignore[call-arg]
    assert "xoxb-very-secret-token" not in repr(settings) and "xoxb-very-secret-token" not in str(settings.model_dump())
    assert settings.smsbridge_number == "+14155550100"
