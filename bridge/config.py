"""Settings: environment, then `.env`, then `smsbridge.toml` (the environment wins).

Names are a public interface (README "Configuration"); a deployment depends on them.
Tokens are `SecretStr`, so a settings object printed or logged shows `**********`;
`reveal()` hands the value to the one client that needs it. Inbox numbers and roles
are checked here, so a typo stops `smsbridge run` with the field's name.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar

import phonenumbers
from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bridge.inbox.autotext import check_template
from bridge.inbox.durations import parse_duration
from bridge.inbox.hours import BusinessHours, load_zone, parse_holidays, parse_hours

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///smsbridge.db"
# The roles of bridge.inbox.agents.ROLES (not imported: settings load before the core).
ROLES = ("viewer", "agent", "admin")
_WHATSAPP = "whatsapp:"


def reveal(secret: SecretStr | None) -> str | None:
    """The plain value of a secret setting, for the client that needs it."""
    return secret.get_secret_value() if secret is not None else None


def e164_number(value: str | None) -> str | None:
    """An inbox number in E.164 form (`+14155550100`, or `whatsapp:+14155550100`)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    prefix = _WHATSAPP if text.lower().startswith(_WHATSAPP) else ""
    digits = text[len(prefix) :].strip()
    try:
        parsed = phonenumbers.parse(digits, None)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not digits.startswith("+") or not phonenumbers.is_possible_number(parsed):
        raise ValueError(f"{value!r} is not a phone number in E.164 form (e.g. +14155550100)")
    return prefix + phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def whatsapp_number_setting(value: str | None) -> str | None:
    """A WhatsApp sender's number in E.164 form, `+14155550177` (`whatsapp:+…` works too);
    kept without the prefix: the channel is the setting's."""
    number = e164_number(value)
    return number[len(_WHATSAPP) :] if number is not None and number.startswith(_WHATSAPP) else number


def auto_reply_setting(value: str | None) -> str | None:
    """An auto-reply template once its braces are `{variable}`s and it fits an SMS."""
    if value is None:
        return None
    check_template(value)
    return value


def hours_setting(value: str | None) -> str | None:
    """Business hours as written, once they parse (`"mon-fri 09:00-17:00; sat 10:00-13:00"`)."""
    if value is not None:
        parse_hours(value)
    return value


def timezone_setting(value: str | None) -> str | None:
    """An IANA zone name (`America/Chicago`); blank means the default (UTC)."""
    if value is None or not value.strip():
        return None
    load_zone(value)
    return value.strip()


def holidays_setting(value: str | list[str] | None) -> str | None:
    """Holidays as ISO dates, a comma-separated string or a TOML list."""
    if isinstance(value, list):
        value = ",".join(str(item) for item in value)
    if value is not None:
        parse_holidays(value)
    return value


def duration_setting(value: object) -> timedelta | None:
    """`"20s"`, `"15m"`, `"4h"`, `"2d"`, `"1h30m"`; unset or blank means none."""
    if value is None or isinstance(value, timedelta):
        return value
    text = str(value)
    return parse_duration(text) if text.strip() else None


SLA_CLOCKS = ("first_reply", "next_reply", "resolution")
SLA_PRIORITIES = ("low", "normal", "high", "urgent")


def sla_priority_setting(value: object) -> dict[str, dict[str, timedelta]] | None:
    """SLA targets of one priority that differ from the inbox's: a TOML table
    (`urgent = {first_reply = "5m"}`), JSON, or `urgent: first_reply=5m resolution=4h;
    high: first_reply=10m` in the environment. Unset or blank means none."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if text.startswith("{"):
            value = json.loads(text)
        else:
            parsed: dict[str, dict[str, str]] = {}
            for part in filter(None, (p.strip() for p in text.split(";"))):
                level, colon, targets = part.partition(":")
                if not colon:
                    raise ValueError(f"{part!r} is not `priority: clock=duration …`; e.g. \"urgent: first_reply=5m resolution=4h\"")
                pairs = [t.partition("=") for t in targets.split()]
                if not pairs or any(not eq for _k, eq, _v in pairs):
                    raise ValueError(f"{part!r} is not `priority: clock=duration …`; e.g. \"urgent: first_reply=5m resolution=4h\"")
                parsed[level.strip()] = {k: v for k, _eq, v in pairs}
            value = parsed
    if not isinstance(value, dict):
        raise ValueError("write the targets per priority, e.g. \"urgent: first_reply=5m; high: first_reply=10m\"")
    found: dict[str, dict[str, timedelta]] = {}
    for level, targets in value.items():
        name = str(level).strip().lower()
        if name not in SLA_PRIORITIES:
            raise ValueError(f"{level!r} is not a priority; use {', '.join(SLA_PRIORITIES)}")
        if not isinstance(targets, dict):
            raise ValueError(f"the targets of {name} are clock = duration pairs, e.g. {name} = {{first_reply = \"5m\"}}")
        for clock, duration in targets.items():
            if str(clock) not in SLA_CLOCKS:
                raise ValueError(f"{clock!r} (priority {name}) is not an SLA clock; use {', '.join(SLA_CLOCKS)}")
            parsed_duration = duration_setting(duration)
            if parsed_duration is not None:
                found.setdefault(name, {})[str(clock)] = parsed_duration
    return found or None


ASSIGN_STRATEGIES = ("none", "round-robin", "least-busy")
_AGENT_PLATFORMS = ("slack", "discord")


def assign_setting(value: str | None) -> str | None:
    """How new conversations find an owner: none, round-robin or least-busy."""
    if value is None or not value.strip():
        return None
    strategy = value.strip().lower().replace("_", "-")
    if strategy not in ASSIGN_STRATEGIES:
        raise ValueError(f"{value!r} is not an assignment strategy; use one of {', '.join(ASSIGN_STRATEGIES)} (e.g. round-robin)")
    return strategy


def agents_setting(value: object) -> list[str] | None:
    """Teammates who take conversations: platform user ids, `U0123`, `slack:U0123` or
    `discord:1234`, comma-separated or a TOML list; unset means every agent and admin."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            value = json.loads(text)
        else:
            value = [part for part in text.split(",")]
    if not isinstance(value, list):
        raise ValueError("write the teammates as a list of user ids, e.g. \"slack:U0123,discord:1234\"")
    found: list[str] = []
    for item in value:
        entry = str(item).strip()
        platform, _, user = entry.rpartition(":")
        if not entry or (platform and (platform.lower() not in _AGENT_PLATFORMS or not user.strip())):
            raise ValueError(f"{entry!r} is not a teammate's user id; write slack:U0123 or discord:1234 (or the bare id)")
        found.append(f"{platform.lower()}:{user.strip()}" if platform else entry)
    return found or None


def digest_setting(value: str | None) -> str | None:
    """`"daily 08:30"` or `"mon 08:30"` once it parses; blank means no digest."""
    if value is None or not value.strip():
        return None
    from bridge.inbox.digest import DigestSchedule

    DigestSchedule.parse(value)
    return value.strip()


def database_url_setting(value: str) -> str:
    """`postgres://…` and `postgresql://…`, as Heroku, Render and others hand them out,
    are read with asyncpg, the driver smsbridge uses."""
    for scheme in ("postgres://", "postgresql://"):
        if value.startswith(scheme):
            return "postgresql+asyncpg://" + value[len(scheme) :]
    return value


def approval_role(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    role = value.strip().lower()
    if role not in ROLES:
        raise ValueError(f"{value!r} is not a role; use one of {', '.join(ROLES)}")
    return role


def unknown_keys(table: str, fields: Any, data: object) -> None:
    """A TOML table's keys must be its model's fields: a typo (`numbr`) is an error naming
    the table and the key, never silently ignored (environment settings, read from a
    shared environment, keep ignoring names they do not know)."""
    if not isinstance(data, dict):
        return
    known = set(fields)
    for key in data:
        if key in known:
            continue
        name = data.get("name")
        where = f"{table} {name!r}" if isinstance(name, str) and name.strip() else table
        close = difflib.get_close_matches(str(key), sorted(known), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"the keys are {', '.join(sorted(known))}"
        raise ValueError(f"{where}: unknown key {key!r}; {hint}")


class TomlTable(BaseModel):
    """A table of `smsbridge.toml` (`[[inbox]]`, `[[whatsapp_template]]`): a key its
    model does not know is an error naming the table and the key (`unknown_keys`)."""

    model_config = {"extra": "forbid"}
    table: ClassVar[str]

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: object) -> object:
        unknown_keys(cls.table, cls.model_fields, data)
        return data


class InboxConfig(TomlTable):
    """One shared number (or Messaging Service) and where its conversations go."""

    table: ClassVar[str] = "[[inbox]]"

    name: str = "default"
    number: str | None = None
    messaging_service_sid: str | None = None
    # The inbox's WhatsApp sender when it is not `number` itself (README "WhatsApp"):
    # a WhatsApp message to `whatsapp:+W` comes here and is answered from it.
    whatsapp_number: str | None = None
    slack_channel: str | None = None
    discord_channel: str | None = None
    # The built-in web chat's channel (set by `smsbridge sandbox`, not by operators).
    web_channel: str | None = None
    business_name: str | None = None
    help_text: str | None = None
    # Replies by agents of this role wait for an admin's approval (e.g. "agent").
    approval_role: str | None = None
    # Business hours (docs/scheduling.md); unset keys take the SMSBRIDGE_* values, and
    # `hours = ""` makes this inbox always open whatever SMSBRIDGE_HOURS says.
    timezone: str | None = None
    hours: str | None = None
    holidays: str | None = None
    # Auto-replies (docs/scheduling.md); unset keys take the SMSBRIDGE_* values, and
    # `after_hours_reply = ""` turns one off for this inbox.
    after_hours_reply: str | None = None
    first_contact_reply: str | None = None

    @field_validator("after_hours_reply", "first_contact_reply")
    @classmethod
    def _auto_reply(cls, value: str | None) -> str | None:
        return auto_reply_setting(value)

    # Automatic assignment (README "Assignment"); unset keys take the SMSBRIDGE_* values.
    assign: str | None = None
    agents: list[str] | None = None
    max_open: int | None = Field(default=None, ge=1)
    # SLA targets (docs/scheduling.md "SLA clocks"); unset keys take SMSBRIDGE_SLA_*.
    sla_first_reply: timedelta | None = None
    sla_next_reply: timedelta | None = None
    sla_resolution: timedelta | None = None
    # Targets of one priority that differ, e.g. {urgent = {first_reply = "5m"}}; merged
    # over SMSBRIDGE_SLA_PRIORITY clock by clock.
    sla_priority: dict[str, dict[str, timedelta]] | None = None

    @field_validator("sla_first_reply", "sla_next_reply", "sla_resolution", mode="before")
    @classmethod
    def _duration(cls, value: object) -> timedelta | None:
        return duration_setting(value)

    @field_validator("sla_priority", mode="before")
    @classmethod
    def _sla_priority(cls, value: object) -> dict[str, dict[str, timedelta]] | None:
        return sla_priority_setting(value)

    @field_validator("assign")
    @classmethod
    def _assign(cls, value: str | None) -> str | None:
        return assign_setting(value)

    @field_validator("agents", mode="before")
    @classmethod
    def _agents(cls, value: object) -> list[str] | None:
        return agents_setting(value)

    # The digest (docs/reports.md): unset takes SMSBRIDGE_DIGEST; "" turns it off here.
    digest: str | None = None
    # No-bodies mode (docs/compliance.md rule 14): threads say a text arrived, not what
    # it says; unset takes SMSBRIDGE_NO_BODIES, `no_bodies = false` turns it off here.
    no_bodies: bool | None = None
    # Retention (docs/compliance.md "Retention"): days a message body and its media are
    # kept; unset takes SMSBRIDGE_RETENTION_DAYS.
    retention_days: int | None = None

    @field_validator("digest")
    @classmethod
    def _digest(cls, value: str | None) -> str | None:
        return value if value is not None and not value.strip() else digest_setting(value)

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str | None) -> str | None:
        return hours_setting(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return timezone_setting(value)

    @field_validator("holidays", mode="before")
    @classmethod
    def _holidays(cls, value: str | list[str] | None) -> str | None:
        return holidays_setting(value)

    def business_hours(self) -> BusinessHours:
        return BusinessHours.parse(self.hours, timezone=self.timezone, holidays=self.holidays)

    @field_validator("number")
    @classmethod
    def _number(cls, value: str | None) -> str | None:
        return e164_number(value)

    @field_validator("whatsapp_number")
    @classmethod
    def _whatsapp_number(cls, value: str | None) -> str | None:
        return whatsapp_number_setting(value)

    @field_validator("approval_role")
    @classmethod
    def _role(cls, value: str | None) -> str | None:
        return approval_role(value)


class WhatsAppTemplate(TomlTable):
    """An approved WhatsApp template (Twilio Content API): what `!template NAME` sends
    outside the 24-hour window. `text` shows it in the thread, `{{1}}`… filled."""

    table: ClassVar[str] = "[[whatsapp_template]]"

    name: str
    content_sid: str
    variables: int = Field(default=0, ge=0, le=20)
    text: str | None = None

    @field_validator("content_sid")
    @classmethod
    def _sid(cls, value: str) -> str:
        if not value.startswith("HX") or len(value) != 34:
            raise ValueError(f"{value!r} is not a Content SID (HX followed by 32 characters, from Twilio's Content Template Builder)")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return value.strip().lower()


_RULE_HOURS = ("inside", "outside")
_PRIORITIES = ("low", "normal", "high", "urgent")
_STATUSES = ("open", "pending", "escalated", "closed")


class RuleConfig(BaseModel):
    """One `[[rule]]`: conditions (all must hold) and actions (docs/rules.md)."""

    model_config = {"extra": "forbid"}

    name: str
    keyword: list[str] | None = None
    regex: str | None = None
    tag: str | None = None
    country: str | None = None
    inbox: str | None = None
    hours: str | None = None
    first_message: bool | None = None
    assign: str | None = None
    add_tags: list[str] | None = None
    priority: str | None = None
    status: str | None = None
    snippet: str | None = None
    # Channels told with a notice that links to the thread: "slack:C0123", "discord:1234".
    notify: list[str] | None = None
    terminal: bool = True

    @field_validator("keyword", "add_tags", "notify", mode="before")
    @classmethod
    def _words(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check(self) -> RuleConfig:
        def bad(field_name: str, why: str) -> ValueError:
            return ValueError(f"rule {self.name!r}, {field_name}: {why}")

        if not self.name.strip():
            raise ValueError('every rule needs a name, e.g. name = "VIP"')
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise bad("regex", f"{self.regex!r} does not compile ({exc}); e.g. regex = \"(?i)refund|broken\"") from exc
        if self.hours is not None and self.hours not in _RULE_HOURS:
            raise bad("hours", f"{self.hours!r} is neither inside nor outside")
        if self.country is not None and not re.fullmatch(r"[A-Z]{2}", self.country):
            raise bad("country", f"{self.country!r} is not a two-letter country code such as US or GB")
        if self.priority is not None and self.priority.lower() not in _PRIORITIES:
            raise bad("priority", f"{self.priority!r} is not one of {', '.join(_PRIORITIES)}")
        if self.status is not None and self.status.lower() not in _STATUSES:
            raise bad("status", f"{self.status!r} is not one of {', '.join(_STATUSES)}")
        if self.assign is not None and assign_setting_or_none(self.assign) in (None, "none"):
            try:
                agents_setting([self.assign])
            except ValueError as exc:
                raise bad("assign", f"{exc}; or a strategy, round-robin or least-busy") from exc
        for target in self.notify or ():
            platform, _, channel = target.strip().partition(":")
            if platform.lower() not in _AGENT_PLATFORMS or not channel.strip() or (platform.lower() == "discord" and not channel.strip().isdigit()):
                raise bad("notify", f"{target!r} is not a channel; write slack:C0123 (a Slack channel id) or discord:1234 (a Discord channel id)")
        actions = (self.assign, self.add_tags, self.priority, self.status, self.snippet, self.notify)
        if all(a is None for a in actions):
            raise bad("actions", "it does nothing; give it assign, add_tags, priority, status, snippet or notify")
        return self


def assign_setting_or_none(value: str) -> str | None:
    try:
        return assign_setting(value)
    except ValueError:
        return None


def config_file() -> Path:
    return Path(os.environ.get("SMSBRIDGE_CONFIG", "smsbridge.toml"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        populate_by_name=True,
        # Each setting's docstring is its description: README's configuration table is
        # generated from them (`python -m bridge.config_docs`).
        use_attribute_docstrings=True,
    )

    database_url: str = DEFAULT_DATABASE_URL
    """the database: this SQLite file, or `postgresql+asyncpg://user:pass@host/db` (a `postgres://` URL as hosting platforms give it works too)"""
    database_pool_size: int = Field(default=10, ge=1)
    """PostgreSQL: connections each process keeps, and as many again in a burst (see *Scaling on PostgreSQL*)"""
    public_url: str | None = None
    """the base URL providers call (`https://sms.example.com`); Twilio signatures are checked on it"""
    host: str = "0.0.0.0"
    """where `smsbridge run` listens (`--host` overrides)"""
    port: int = 8080
    """the port `smsbridge run` listens on (`--port` overrides)"""

    slack_bot_token: SecretStr | None = None
    """the Slack app's Bot User OAuth Token (`xoxb-…`)"""
    slack_signing_secret: SecretStr | None = None
    """the Slack app's Signing Secret: Slack over HTTP (Events API at `/slack/events`)"""
    slack_app_token: SecretStr | None = None
    """an app-level token (`xapp-…`, `connections:write`): when set, Slack over Socket Mode"""
    slack_config_token: SecretStr | None = None
    """optional: an app configuration token (`xoxe.xoxp-…`, api.slack.com/apps → *Your App Configuration Tokens*) with which `smsbridge check` reads the app's manifest and compares its event subscriptions; it expires after 12 hours, so set it only to check"""
    slack_api_url: str = "https://slack.com/api/"
    """Slack Web API base (GovSlack, tests)"""
    slack_timeout: float = 30.0
    """seconds a Slack API call may take before it counts as failed and is retried"""
    slack_post_interval: float = 1.0
    """posts per Slack channel are paced to one per this many seconds (0 = off), after a burst of `SLACK_POST_BURST`"""
    slack_post_burst: int = 2
    """posts a Slack channel may take at once after a quiet spell"""

    discord_token: SecretStr | None = None
    """the Discord bot token (see *Discord bot*)"""
    discord_api_url: str | None = None
    """Discord REST base (…/api/v10; tests, proxies); unset: discord.com"""
    discord_gateway_url: str | None = None
    """Discord gateway URL (tests, proxies); unset: the one Discord names"""
    discord_guild_id: int | None = None
    """`smsbridge discord sync` uploads the app commands to this server only (instant) instead of globally"""
    discord_lease_seconds: float = 30.0
    """only the process holding the gateway lease connects to Discord; a dead holder's lease runs out after this"""
    discord_ready_timeout: float = 1.0
    """seconds to wait after the last server arrives before the bot counts as ready (discord.py's `guild_ready_timeout`)"""

    twilio_account_sid: str | None = None
    """the provider account (`AC…`; a SignalWire project id)"""
    twilio_auth_token: SecretStr | None = None
    """the account's auth token (a SignalWire API token); Twilio signs its webhooks with it"""
    twilio_api_url: str = "https://api.twilio.com"
    """REST base; a SignalWire space's `…/api/laml` works"""
    signalwire_signing_key: SecretStr | None = None
    """SignalWire only: the project's Signing Key (`PSK_…`), which signs its webhooks"""

    smsbridge_number: str | None = None
    """the default inbox's shared number (E.164, e.g. `+14155550100`; checked when settings load), or a WhatsApp sender `whatsapp:+14155550100` (SMS customers are answered from `+14155550100`, WhatsApp ones from `whatsapp:+14155550100`)"""
    smsbridge_messaging_service_sid: str | None = None
    """or the default inbox's Twilio Messaging Service (`MG…`)"""
    smsbridge_whatsapp_number: str | None = None
    """the default inbox's WhatsApp sender when it is another number than `SMSBRIDGE_NUMBER` (E.164, e.g. `+14155550177`; `whatsapp_number` in `[[inbox]]`): WhatsApp messages to `whatsapp:+14155550177` come to this inbox and are answered from it, SMS customers from the SMS number; see *WhatsApp*"""
    smsbridge_slack_channel: str | None = None
    """the Slack channel id the default inbox's conversations go to (`C0123ABCD`)"""
    smsbridge_discord_channel: str | None = None
    """the Discord forum channel id the default inbox's conversations go to"""
    smsbridge_business_name: str = "Our team"
    """named in STOP/START/HELP answers"""
    smsbridge_help_text: str | None = None
    """the HELP answer's help part; unset: "Reply here and a team member will answer." """
    smsbridge_timezone: str | None = None
    """the inbox's IANA time zone (`America/Chicago`), in which its hours and holidays are read; unset: UTC"""
    smsbridge_hours: str | None = None
    """business hours, `"mon-fri 09:00-17:00; sat 10:00-13:00"` (24-hour; overnight is `fri 22:00-24:00; sat 00:00-02:00`); unset: always open; `/sms hours` shows them"""
    smsbridge_holidays: str | None = None
    """closed days, `"2026-12-25,2027-01-01"` (a TOML list of dates works too); without `SMSBRIDGE_HOURS` the inbox is open around the clock except on them (`hours = ""` in an `[[inbox]]` is always open, holidays or not)"""
    smsbridge_after_hours_reply: str | None = None
    """texted once per closed period per conversation when a customer writes while the inbox is closed: `"Thanks! We're closed and open {next_open}."`; `{next_open}` reads "Monday 9:00 AM" in the inbox's zone, and the snippet variables (`{first_name}`, `{name}`, `{business}`, `{number}`, contact properties) work, an unknown one left out; unset: off"""
    smsbridge_first_contact_reply: str | None = None
    """texted once to a number that never wrote to this inbox before, same variables; unset: off"""
    smsbridge_sla_first_reply: timedelta | None = None
    """SLA target for the first reply (`20s`, `15m`, `4h`, `2d`, `1h30m`), counted in business hours when the inbox has them; see *SLA clocks*"""
    smsbridge_sla_next_reply: timedelta | None = None
    """SLA target for each next reply, the same way"""
    smsbridge_sla_resolution: timedelta | None = None
    """SLA target for closing a conversation, the same way"""
    smsbridge_sla_priority: Annotated[dict[str, dict[str, timedelta]] | None, NoDecode] = None
    """per priority, the SLA targets that differ: `"urgent: first_reply=5m resolution=4h; high: first_reply=10m"` (a TOML table or JSON works too; `sla_priority` in `[[inbox]]`, merged clock by clock); a rule or `!priority` sets a conversation's priority"""
    smsbridge_pending_remind: timedelta | None = None
    """a conversation a teammate set pending this long (`2d`, `4h`) pings its assignee in the thread once (`!snooze` excepted); unset: never"""
    smsbridge_assign: str = "none"
    """automatic assignment of new and reopened conversations: `none`, `round-robin`, `least-busy` (`assign` in `[[inbox]]`)"""
    smsbridge_agents: Annotated[list[str] | None, NoDecode] = None
    """who takes conversations: `slack:U0123,discord:1234` (or bare ids; a TOML list works too), in round-robin order (`agents` in `[[inbox]]`); unset: every agent and admin"""
    smsbridge_max_open: int | None = Field(default=None, ge=1)
    """a teammate with this many open conversations gets no more automatically (`max_open` in `[[inbox]]`); unset: no cap"""

    smsbridge_digest: str | None = None
    """post each inbox's report of the last day or week to its channel by itself: `"daily 08:30"` or `"mon 08:30"`, in the inbox's time zone (`digest` in `[[inbox]]`, `""` turns it off there); see [docs/reports.md](docs/reports.md)"""
    smsbridge_no_bodies: bool = False
    """no-bodies mode (health or financial data, docs/compliance.md rule 14): threads show that a text arrived, from whom, its length and media count, never its words or pictures; `!show` reads them to you alone and the view is audited (`no_bodies` in `[[inbox]]`, `false` there turns it off); see *No-bodies mode*"""
    smsbridge_agent_daily_minimum: int | None = Field(default=None, ge=1)
    """conversations each teammate should handle a day; the digest names those below it"""

    smsbridge_retention_days: int | None = None
    """message bodies and media older than this many days are removed by a daily job at 03:00 UTC, smsbridge's chat posts showing them are edited to say so, and the provider's copies are redacted (pictures deleted); consent records, suppressions and notes stay (`retention_days` in `[[inbox]]`); `check` refuses less than 1 or more than `SMSBRIDGE_CONSENT_RETENTION_DAYS`; unset: kept; see [docs/compliance.md](docs/compliance.md#retention)"""
    smsbridge_consent_retention_days: int = 1461
    """how long your policy keeps consent records, in days (4 years; smsbridge itself never deletes them); `check` refuses less than 4 years, since TCPA claims can come that late, and no message is kept longer"""

    reply_prefix: str = "!r"
    """reply prefix, case-insensitive (`!reply` also works with the default)"""
    admins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """user ids with the admin role (`U0123…` or `slack:U0123…`, `discord:1234…`; comma-separated or a JSON list); everyone else is an agent. While unset, Slack workspace owners/admins and Discord members with Manage Server are admins"""
    viewers: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """user ids with the viewer role (read and write notes, never text customers), written as `ADMINS`"""
    smsbridge_approval_role: str | None = None
    """replies by this role (`viewer`, `agent` or `admin`) in the default inbox need an admin's approval"""
    undo_seconds: float = 5
    """a reply waits this long with an Undo button (0 = off)"""
    collision_seconds: float = 120
    """hold a reply if a teammate answered the customer within this window"""

    compliance_replies: str = "auto"
    """who answers STOP/START/HELP: `auto` (smsbridge, unless the provider's webhook says it already did, as Twilio Advanced Opt-Out does), `smsbridge`, `provider`"""

    outbox_retry_base: float = 2.0
    """first retry delay in seconds (exponential, jittered)"""
    outbox_retry_max: float = 300.0
    """longest retry delay in seconds"""
    outbox_workers: int = 8
    """chat posts, SMS sends and card updates run at once per process; 4 times as many texts are filed at once (in one transaction)"""
    sms_give_up_seconds: float = 86400.0
    """a reply the provider keeps refusing shows "Retrying (Twilio 500), attempt 3" until then, then "Failed" with the reason"""
    log_level: str = "INFO"
    """secrets are redacted from every log line, tracebacks included; below `DEBUG` no message text is logged and phone numbers are masked (`+1415•••0101`), by smsbridge and the libraries it drives; **`DEBUG` shows numbers, texts and SQL parameters**: use it only to troubleshoot"""
    log_format: str = "text"
    """`text`, or `json`: one JSON object per line (`time`, `level`, `logger`, `message`, `exception`, and `job_id`, `job_kind`, `conversation_id`, `message_id` of the job being run), cleaned as above: no secrets, masked numbers"""
    metrics_token: SecretStr | None = None
    """when set, `GET /metrics` needs `Authorization: Bearer <token>`"""

    inbox: list[InboxConfig] = Field(default_factory=list)
    """more inboxes, each with its number or Messaging Service and channels (`smsbridge.toml` only; see below)"""
    whatsapp_template: list[WhatsAppTemplate] = Field(default_factory=list)
    """approved WhatsApp templates `!template` sends (`smsbridge.toml` only; see *WhatsApp*)"""
    rule: list[RuleConfig] = Field(default_factory=list)
    """rules acting on each customer's text (`smsbridge.toml` only; see [docs/rules.md](docs/rules.md))"""

    @model_validator(mode="after")
    def _rules_name_known_inboxes(self) -> Settings:
        names = {inbox.name for inbox in self.inboxes()}
        for index, rule in enumerate(self.rule):
            if rule.inbox is not None and rule.inbox not in names:
                raise ValueError(
                    f"rule[{index}] {rule.name!r}, inbox: no inbox is called {rule.inbox!r} (there are {', '.join(sorted(names)) or 'none'})"
                )
            for target in rule.notify or ():
                platform = target.partition(":")[0].strip().lower()
                configured = self.slack_enabled if platform == "slack" else bool(self.discord_token and self.discord_token.get_secret_value())
                if not configured:
                    needs = "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN)" if platform == "slack" else "DISCORD_TOKEN"
                    raise ValueError(f"rule[{index}] {rule.name!r}, notify: {target!r} is on {platform.capitalize()}, which is not configured ({needs})")
        return self

    @field_validator("admins", "viewers", mode="before")
    @classmethod
    def _id_list(cls, value: Any) -> Any:
        # ADMINS=U1,U2 in the environment as well as a TOML/JSON list.
        if isinstance(value, str):
            if value.strip().startswith("["):
                return json.loads(value)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return database_url_setting(value)

    @field_validator("smsbridge_number")
    @classmethod
    def _number(cls, value: str | None) -> str | None:
        return e164_number(value)

    @field_validator("smsbridge_whatsapp_number")
    @classmethod
    def _whatsapp_number(cls, value: str | None) -> str | None:
        return whatsapp_number_setting(value)

    @field_validator("smsbridge_after_hours_reply", "smsbridge_first_contact_reply")
    @classmethod
    def _auto_reply(cls, value: str | None) -> str | None:
        return auto_reply_setting(value)

    @field_validator("smsbridge_hours")
    @classmethod
    def _hours(cls, value: str | None) -> str | None:
        return hours_setting(value)

    @field_validator("smsbridge_timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return timezone_setting(value)

    @field_validator("smsbridge_holidays", mode="before")
    @classmethod
    def _holidays(cls, value: str | list[str] | None) -> str | None:
        return holidays_setting(value)

    @field_validator(
        "smsbridge_sla_first_reply", "smsbridge_sla_next_reply", "smsbridge_sla_resolution", "smsbridge_pending_remind", mode="before"
    )
    @classmethod
    def _duration(cls, value: object) -> timedelta | None:
        return duration_setting(value)

    @field_validator("smsbridge_sla_priority", mode="before")
    @classmethod
    def _sla_priority(cls, value: object) -> dict[str, dict[str, timedelta]] | None:
        return sla_priority_setting(value)

    @field_validator("smsbridge_assign")
    @classmethod
    def _assign(cls, value: str) -> str:
        return assign_setting(value) or "none"

    @field_validator("smsbridge_agents", mode="before")
    @classmethod
    def _agents(cls, value: object) -> list[str] | None:
        return agents_setting(value)

    @field_validator("smsbridge_digest")
    @classmethod
    def _digest(cls, value: str | None) -> str | None:
        return digest_setting(value)

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in {"text", "json"}:
            raise ValueError(f"{value!r} is not a log format; use LOG_FORMAT=text or LOG_FORMAT=json")
        return value

    @field_validator("smsbridge_approval_role")
    @classmethod
    def _role(cls, value: str | None) -> str | None:
        return approval_role(value)

    @field_validator("reply_prefix")
    @classmethod
    def _prefix_not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("REPLY_PREFIX must not be empty")
        return value

    @field_validator("compliance_replies")
    @classmethod
    def _compliance_mode(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in {"auto", "smsbridge", "provider"}:
            raise ValueError("COMPLIANCE_REPLIES must be auto, smsbridge or provider")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_file())
        return (init_settings, env_settings, dotenv_settings, toml, file_secret_settings)

    def inboxes(self) -> list[InboxConfig]:
        """The default inbox from SMSBRIDGE_* plus every [[inbox]] table."""
        found: list[InboxConfig] = []
        if self.smsbridge_number or self.smsbridge_messaging_service_sid or self.smsbridge_whatsapp_number:
            found.append(
                InboxConfig(
                    name="default",
                    number=self.smsbridge_number,
                    messaging_service_sid=self.smsbridge_messaging_service_sid,
                    whatsapp_number=self.smsbridge_whatsapp_number,
                    slack_channel=self.smsbridge_slack_channel,
                    discord_channel=self.smsbridge_discord_channel,
                    approval_role=self.smsbridge_approval_role,
                )
            )
        found.extend(self.inbox)
        for item in found:
            item.business_name = item.business_name or self.smsbridge_business_name
            item.help_text = item.help_text or self.smsbridge_help_text
            item.timezone = item.timezone or self.smsbridge_timezone
            item.hours = self.smsbridge_hours if item.hours is None else item.hours
            item.holidays = self.smsbridge_holidays if item.holidays is None else item.holidays
            if item.after_hours_reply is None:
                item.after_hours_reply = self.smsbridge_after_hours_reply
            if item.first_contact_reply is None:
                item.first_contact_reply = self.smsbridge_first_contact_reply
            item.assign = item.assign or self.smsbridge_assign
            item.agents = self.smsbridge_agents if item.agents is None else item.agents
            item.max_open = self.smsbridge_max_open if item.max_open is None else item.max_open
            item.digest = self.smsbridge_digest if item.digest is None else (item.digest.strip() or None)
            item.no_bodies = self.smsbridge_no_bodies if item.no_bodies is None else item.no_bodies
            item.retention_days = self.smsbridge_retention_days if item.retention_days is None else item.retention_days
            item.sla_first_reply = item.sla_first_reply or self.smsbridge_sla_first_reply
            item.sla_next_reply = item.sla_next_reply or self.smsbridge_sla_next_reply
            item.sla_resolution = item.sla_resolution or self.smsbridge_sla_resolution
            merged = {level: dict(targets) for level, targets in (self.smsbridge_sla_priority or {}).items()}
            for level, targets in (item.sla_priority or {}).items():
                merged.setdefault(level, {}).update(targets)
            item.sla_priority = merged or None
        return found

    def role_for(self, platform: str, user_id: str) -> str | None:
        """The role configuration gives this identity, if any."""
        for role, ids in (("admin", self.admins), ("viewer", self.viewers)):
            if user_id in ids or f"{platform}:{user_id}" in ids:
                return role
        return None

    def reply_prefixes(self) -> tuple[str, ...]:
        """The configured prefix, plus the long `!reply` form of the default."""
        prefixes = [self.reply_prefix.lower()]
        if self.reply_prefix.lower() == "!r":
            prefixes.append("!reply")
        return tuple(sorted(prefixes, key=len, reverse=True))

    def secrets(self) -> list[str]:
        """Values that must never appear in a log line."""
        values = [
            self.slack_bot_token,
            self.slack_signing_secret,
            self.slack_app_token,
            self.slack_config_token,
            self.discord_token,
            self.twilio_auth_token,
            self.signalwire_signing_key,
            self.metrics_token,
        ]
        return [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token and (self.slack_signing_secret or self.slack_app_token))

    @property
    def signalwire(self) -> bool:
        """The provider API is a SignalWire space's Twilio-compatible LaML API."""
        return ".signalwire.com" in self.twilio_api_url.lower()

    def webhook_signing_key(self) -> str | None:
        """The key provider webhooks are signed with: SignalWire's Signing Key when
        set, else the Twilio auth token (Twilio signs with it)."""
        return reveal(self.signalwire_signing_key) or reveal(self.twilio_auth_token)

    @property
    def twilio_enabled(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token)


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
