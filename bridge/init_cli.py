"""`smsbridge init`: a few questions (or flags), a `.env`, and what to paste where.

It writes the settings `smsbridge run` reads, then prints the webhook URL to paste into
Twilio, the Slack app manifest with the request URLs filled in, and the Discord invite
link with the permissions the bot needs. It never overwrites a `.env` without `--force`.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

MANIFEST = Path(__file__).resolve().parent.parent / "manifests" / "slack-app.yaml"

# (flag, setting, question, secret): asked in this order when a terminal is attached.
QUESTIONS: tuple[tuple[str, str, str, bool], ...] = (
    ("public_url", "PUBLIC_URL", "The public HTTPS address smsbridge will be reached at", False),
    ("number", "SMSBRIDGE_NUMBER", "Your SMS number (E.164, e.g. +14155550100)", False),
    ("business_name", "SMSBRIDGE_BUSINESS_NAME", "Your business name (said in HELP/STOP answers)", False),
    ("twilio_account_sid", "TWILIO_ACCOUNT_SID", "Twilio Account SID (AC...)", False),
    ("twilio_auth_token", "TWILIO_AUTH_TOKEN", "Twilio Auth Token", True),
    ("slack_channel", "SMSBRIDGE_SLACK_CHANNEL", "Slack channel id for the inbox (C..., blank: no Slack)", False),
    ("slack_bot_token", "SLACK_BOT_TOKEN", "Slack bot token (xoxb-..., blank: fill in later)", True),
    ("slack_signing_secret", "SLACK_SIGNING_SECRET", "Slack signing secret", True),
    ("discord_channel", "SMSBRIDGE_DISCORD_CHANNEL", "Discord forum channel id (blank: no Discord)", False),
    ("discord_token", "DISCORD_TOKEN", "Discord bot token", True),
    ("admins", "ADMINS", "Admins (e.g. slack:U0123,discord:1234; blank: workspace owners/admins)", False),
)


@dataclass
class InitAnswers:
    values: dict[str, str] = field(default_factory=dict)  # setting name -> value

    def get(self, setting: str) -> str:
        return self.values.get(setting, "")


class InitError(Exception):
    """A wrong answer or a file that must not be overwritten: the message says which."""


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    init = commands.add_parser("init", help="write .env and print the Twilio, Slack and Discord setup")
    for flag, setting, question, _secret in QUESTIONS:
        init.add_argument(f"--{flag.replace('_', '-')}", dest=flag, default=None, help=f"{question} ({setting})")
    init.add_argument("--discord-app-id", default=None, help="Discord application id (read from the token when left out)")
    init.add_argument("--dir", type=Path, default=Path("."), help="where to write .env (default: here)")
    init.add_argument("--force", action="store_true", help="overwrite an existing .env")
    init.add_argument("--non-interactive", "-y", action="store_true", help="ask nothing; use the flags only")


def collect(args: argparse.Namespace, ask: Callable[[str, bool], str] | None) -> InitAnswers:
    """The flags, then (with `ask`) a question for each setting no flag gave."""
    answers = InitAnswers()
    for flag, setting, question, secret in QUESTIONS:
        value = getattr(args, flag, None)
        if value is None and ask is not None:
            value = ask(question, secret)
        if value:
            answers.values[setting] = value.strip()
    _validate(answers)
    return answers


def _validate(answers: InitAnswers) -> None:
    url = answers.get("PUBLIC_URL")
    if not url:
        raise InitError("PUBLIC_URL is needed: e.g. --public-url https://sms.example.com")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InitError(f"PUBLIC_URL {url!r} is not an address: e.g. --public-url https://sms.example.com")
    answers.values["PUBLIC_URL"] = url.rstrip("/")
    number = answers.get("SMSBRIDGE_NUMBER")
    if number:
        from bridge.config import e164_number

        try:
            answers.values["SMSBRIDGE_NUMBER"] = e164_number(number) or number
        except ValueError as exc:
            raise InitError(f"SMSBRIDGE_NUMBER: {exc}; e.g. --number +14155550100") from None


def env_text(answers: InitAnswers) -> str:
    lines = ["# Written by `smsbridge init`; README.md lists every setting."]
    for _flag, setting, _question, _secret in QUESTIONS:
        value = answers.get(setting)
        if value:
            quoted = f'"{value}"' if any(c in value for c in " #'\"") else value
            lines.append(f"{setting}={quoted}")
        else:
            lines.append(f"# {setting}=")
    return "\n".join(lines) + "\n"


def write_env(directory: Path, answers: InitAnswers, force: bool) -> Path:
    path = directory / ".env"
    if path.exists() and not force:
        raise InitError(f"{path} exists; nothing written (--force overwrites it)")
    directory.mkdir(parents=True, exist_ok=True)
    path.write_text(env_text(answers), encoding="utf-8")
    path.chmod(0o600)  # it holds secrets
    return path


def slack_manifest(public_url: str) -> str:
    host = urlsplit(public_url).netloc
    base = public_url.rstrip("/")
    text = MANIFEST.read_text(encoding="utf-8")
    return text.replace("https://YOUR-HOST", base).replace("YOUR-HOST", host)


def discord_app_id(token: str) -> str | None:
    """A bot token's first part is its application's id, base64-encoded."""
    head = token.split(".", 1)[0]
    try:
        decoded = base64.b64decode(head + "=" * (-len(head) % 4), validate=False).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded if decoded.isdigit() else None


def discord_invite(app_id: str) -> str:
    from bridge.adapters.discord_bot.gateway import bot_permissions

    query = urlencode({"client_id": app_id, "scope": "bot applications.commands", "permissions": bot_permissions().value})
    return f"https://discord.com/oauth2/authorize?{query}"


def instructions(answers: InitAnswers, app_id: str | None) -> str:
    base = answers.get("PUBLIC_URL")
    out = [
        "Twilio (Console → Phone Numbers → your number, or your Messaging Service → Integration):",
        f"  A MESSAGE COMES IN → Webhook, HTTP POST: {base}/twilio/sms",
        f"  (delivery callbacks go to {base}/twilio/status; smsbridge sets that on each text it sends)",
        "",
        "Slack (https://api.slack.com/apps → Create New App → From a manifest), paste:",
        "",
        slack_manifest(base),
        "Then install it, copy the bot token and signing secret into .env, and /invite @smsbridge in the inbox channel.",
        "",
    ]
    if app_id:
        out += [
            "Discord: invite the bot with the permissions it needs:",
            f"  {discord_invite(app_id)}",
            "  then run `smsbridge discord sync` once.",
        ]
    else:
        out += ["Discord: give --discord-token or --discord-app-id to get the invite link."]
    out += ["", "Next: `smsbridge check`, then `smsbridge run`."]
    return "\n".join(out)


def _ask(question: str, secret: bool) -> str:
    if secret:
        import getpass

        return getpass.getpass(f"{question}: ")
    return input(f"{question}: ")


def run(args: argparse.Namespace) -> int:
    interactive = not args.non_interactive and sys.stdin.isatty()
    try:
        answers = collect(args, _ask if interactive else None)
        path = write_env(args.dir, answers, args.force)
    except InitError as exc:
        print(f"smsbridge init: {exc}", file=sys.stderr)
        return 2
    except (EOFError, KeyboardInterrupt):
        print("\nsmsbridge init: stopped; nothing written", file=sys.stderr)
        return 1
    app_id = args.discord_app_id or discord_app_id(answers.get("DISCORD_TOKEN"))
    print(f"smsbridge: wrote {path}\n")
    print(instructions(answers, app_id))
    return 0
