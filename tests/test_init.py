"""`smsbridge init`: flags (or answers) become a `.env` that `smsbridge run` reads, then
the Twilio webhook URL, the Slack manifest with the request URLs filled in and the
Discord invite link with the bot's permissions are printed."""

from __future__ import annotations

import argparse
import base64
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from bridge import init_cli
from bridge.cli import main
from bridge.config import Settings

APP_ID = "1234567890123456789"
TOKEN = base64.b64encode(APP_ID.encode()).decode().rstrip("=") + ".GxYz12.abcdefghijklmnopqrstuvwxyz0123456789AB"


def _flags(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "init", "--non-interactive", "--dir", str(tmp_path),
        "--public-url", "https://sms.acme.test/",
        "--number", "+1 415 555 0100",
        "--business-name", "Acme Bikes",
        "--twilio-account-sid", "AC0123", "--twilio-auth-token", "secret-token",
        "--slack-channel", "C0SUPPORT", "--slack-bot-token", "xoxb-1", "--slack-signing-secret", "sign",
        "--discord-channel", "1300000000000000001", "--discord-token", TOKEN,
        *extra,
    ]


def test_init_writes_a_env_that_run_reads_and_prints_what_to_paste(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_flags(tmp_path)) == 0
    out = capsys.readouterr().out

    env = tmp_path / ".env"
    assert env.stat().st_mode & 0o777 == 0o600
    settings = Settings(_env_file=env)  # type: ignore[call-arg]
    assert settings.public_url == "https://sms.acme.test"
    assert settings.smsbridge_number == "+14155550100"
    assert settings.smsbridge_business_name == "Acme Bikes"
    assert settings.twilio_auth_token is not None and settings.twilio_auth_token.get_secret_value() == "secret-token"
    assert settings.smsbridge_slack_channel == "C0SUPPORT" and settings.smsbridge_discord_channel == "1300000000000000001"
    assert "# ADMINS=" in env.read_text()  # unset: workspace owners/admins are admins

    assert "A MESSAGE COMES IN → Webhook, HTTP POST: https://sms.acme.test/twilio/sms" in out
    manifest_text = out.split("paste:\n\n", 1)[1].split("\nThen install it", 1)[0]
    manifest = yaml.safe_load(manifest_text)
    assert manifest["settings"]["event_subscriptions"]["request_url"] == "https://sms.acme.test/slack/events"
    assert manifest["settings"]["interactivity"]["request_url"] == "https://sms.acme.test/slack/events"
    assert manifest["features"]["slash_commands"][0]["url"] == "https://sms.acme.test/slack/events"
    assert "YOUR-HOST" not in manifest_text

    [invite] = [line.strip() for line in out.splitlines() if "discord.com/oauth2/authorize" in line]
    query = parse_qs(urlsplit(invite).query)
    from bridge.adapters.discord_bot.gateway import bot_permissions

    assert query["client_id"] == [APP_ID]
    assert query["scope"] == ["bot applications.commands"]
    assert query["permissions"] == [str(bot_permissions().value)]
    assert "secret-token" not in out and TOKEN not in out  # secrets go to the file only


def test_init_never_overwrites_a_env_without_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / ".env").write_text("TWILIO_AUTH_TOKEN=the-real-one\n")
    assert main(_flags(tmp_path)) == 2
    assert "exists; nothing written (--force overwrites it)" in capsys.readouterr().err
    assert (tmp_path / ".env").read_text() == "TWILIO_AUTH_TOKEN=the-real-one\n"
    assert main(_flags(tmp_path, "--force")) == 0


def test_init_names_a_bad_answer_with_an_example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--non-interactive", "--dir", str(tmp_path)]) == 2
    assert "PUBLIC_URL is needed: e.g. --public-url https://sms.example.com" in capsys.readouterr().err
    assert main(["init", "-y", "--dir", str(tmp_path), "--public-url", "https://x.test", "--number", "12"]) == 2
    assert "SMSBRIDGE_NUMBER: '12' is not a phone number in E.164 form" in capsys.readouterr().err
    assert not (tmp_path / ".env").exists()


def test_init_asks_what_no_flag_gave() -> None:
    asked: list[str] = []

    def ask(question: str, secret: bool) -> str:
        asked.append(question)
        return "https://sms.acme.test" if question.startswith("The public") else ""

    args = argparse.Namespace(**{flag: None for flag, *_ in init_cli.QUESTIONS})
    args.number = "+14155550100"
    answers = init_cli.collect(args, ask)
    assert answers.values == {"PUBLIC_URL": "https://sms.acme.test", "SMSBRIDGE_NUMBER": "+14155550100"}
    assert len(asked) == len(init_cli.QUESTIONS) - 1  # not the number: its flag answered it
