"""Settings: environment, then `.env`, then `smsbridge.toml` (the environment wins).

Names are a public interface (README "Configuration"); a deployment depends on them.
Tokens are `SecretStr`, so a settings object printed or logged shows `**********`;
`reveal()` hands the value to the one client that needs it. Inbox numbers and roles
are checked here, so a typo stops `smsbridge run` with the field's name.
"""

from __future__ import annotations

import json
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

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


def approval_role(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    role = value.strip().lower()
    if role not in ROLES:
        raise ValueError(f"{value!r} is not a role; use one of {', '.join(ROLES)}")
    return role


class InboxConfig(BaseModel):
    """One shared number (or Messaging Service) and where its conversations go."""

    name: str = "default"
    number: str | None = None
    messaging_service_sid: str | None = None
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

    @field_validator("sla_first_reply", "sla_next_reply", "sla_resolution", mode="before")
    @classmethod
    def _duration(cls, value: object) -> timedelta | None:
        return duration_setting(value)

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

    @field_validator("approval_role")
    @classmethod
    def _role(cls, value: str | None) -> str | None:
        return approval_role(value)


class WhatsAppTemplate(BaseModel):
    """An approved WhatsApp template (Twilio Content API): what `!template NAME` sends
    outside the 24-hour window. `text` shows it in the thread, `{{1}}`… filled."""

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
    terminal: bool = True

    @field_validator("keyword", "add_tags", mode="before")
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
        actions = (self.assign, self.add_tags, self.priority, self.status, self.snippet)
        if all(a is None for a in actions):
            raise bad("actions", "it does nothing; give it assign, add_tags, priority, status or snippet")
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
    )

    database_url: str = DEFAULT_DATABASE_URL
    # PostgreSQL: connections each process keeps, and as many again in a burst.
    database_pool_size: int = Field(default=10, ge=1)
    public_url: str | None = None
    host: str = "0.0.0.0"
    port: int = 8080

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    # Seconds a Slack API call may take before it counts as failed (and is retried).
    slack_timeout: float = 30.0
    # Posts per channel are paced to Slack's limit: one per interval (0 turns pacing
    # off), up to `burst` at once after a quiet spell.
    slack_post_interval: float = 1.0
    slack_post_burst: int = 2

    discord_token: SecretStr | None = None
    # Discord adapter (issue 4). API/gateway bases default to discord.py's own (discord.com).
    discord_api_url: str | None = None
    discord_gateway_url: str | None = None
    # Set it to sync app commands to one server (instant) instead of globally.
    discord_guild_id: int | None = None
    # Only the process holding this lease connects the gateway; another takes over after it.
    discord_lease_seconds: float = 30.0
    # on_ready waits this long after the last GUILD_CREATE (discord.py's guild_ready_timeout).
    discord_ready_timeout: float = 1.0

    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_api_url: str = "https://api.twilio.com"
    # SignalWire signs webhooks with the project's Signing Key (API Credentials page),
    # not with the API token that authenticates our REST calls.
    signalwire_signing_key: SecretStr | None = None

    smsbridge_number: str | None = None
    smsbridge_messaging_service_sid: str | None = None
    smsbridge_slack_channel: str | None = None
    smsbridge_discord_channel: str | None = None
    smsbridge_business_name: str = "Our team"
    smsbridge_help_text: str | None = None
    # Business hours of the default inbox, and of [[inbox]] tables that leave them out.
    smsbridge_timezone: str | None = None
    smsbridge_hours: str | None = None
    smsbridge_holidays: str | None = None
    # Auto-replies to customers' texts, each off unless set (docs/scheduling.md): after
    # hours once per closed period per conversation, first contact once per number.
    smsbridge_after_hours_reply: str | None = None
    smsbridge_first_contact_reply: str | None = None
    # SLA targets: clocks per conversation, counted in business hours (bridge/inbox/sla.py).
    smsbridge_sla_first_reply: timedelta | None = None
    smsbridge_sla_next_reply: timedelta | None = None
    smsbridge_sla_resolution: timedelta | None = None
    # Automatic assignment of new and reopened conversations (none, round-robin,
    # least-busy) among SMSBRIDGE_AGENTS (default: every agent and admin), each taking
    # at most SMSBRIDGE_MAX_OPEN open conversations.
    # Remind a pending conversation's assignee after this long (`!snooze` excepted).
    smsbridge_pending_remind: timedelta | None = None
    smsbridge_assign: str = "none"
    smsbridge_agents: Annotated[list[str] | None, NoDecode] = None
    smsbridge_max_open: int | None = Field(default=None, ge=1)

    # The report posted by itself (docs/reports.md): "daily 08:30" or "mon 08:30", in
    # each inbox's zone; and the conversations a teammate should handle each day.
    smsbridge_digest: str | None = None
    smsbridge_agent_daily_minimum: int | None = Field(default=None, ge=1)

    # Retention (docs/compliance.md "Retention"): message bodies and media older than
    # this many days are deleted (unset: kept). Consent records are never deleted; the
    # consent period is how long your policy keeps them (at least 4 years, TCPA), and no
    # message outlives it. `smsbridge check` refuses values outside 1 day … that period.
    smsbridge_retention_days: int | None = None
    smsbridge_consent_retention_days: int = 1461

    reply_prefix: str = "!r"
    # Roles by platform user id ("U0123" or "slack:U0123", "discord:1234"); others are agents.
    admins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    viewers: Annotated[list[str], NoDecode] = Field(default_factory=list)
    smsbridge_approval_role: str | None = None
    undo_seconds: float = 5
    collision_seconds: float = 120

    # Who sends the STOP/START confirmation: "auto" lets the provider do it when its
    # webhook says it already did (Twilio Advanced Opt-Out sets OptOutType).
    compliance_replies: str = "auto"

    # Outbox retry pacing (seconds); small values make tests and outages drills quick.
    outbox_retry_base: float = 2.0
    outbox_retry_max: float = 300.0
    outbox_workers: int = 8
    # A reply the provider keeps refusing is marked failed after this long (24 h).
    sms_give_up_seconds: float = 86400.0
    log_level: str = "INFO"
    # "text" (one readable line) or "json" (one JSON object per line, for log collectors).
    log_format: str = "text"
    # When set, GET /metrics needs `Authorization: Bearer <token>`.
    metrics_token: SecretStr | None = None

    inbox: list[InboxConfig] = Field(default_factory=list)
    # Approved WhatsApp templates, `[[whatsapp_template]]` tables in smsbridge.toml.
    whatsapp_template: list[WhatsAppTemplate] = Field(default_factory=list)
    rule: list[RuleConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _rules_name_known_inboxes(self) -> Settings:
        names = {inbox.name for inbox in self.inboxes()}
        for index, rule in enumerate(self.rule):
            if rule.inbox is not None and rule.inbox not in names:
                raise ValueError(
                    f"rule[{index}] {rule.name!r}, inbox: no inbox is called {rule.inbox!r} (there are {', '.join(sorted(names)) or 'none'})"
                )
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

    @field_validator("smsbridge_number")
    @classmethod
    def _number(cls, value: str | None) -> str | None:
        return e164_number(value)

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
        if self.smsbridge_number or self.smsbridge_messaging_service_sid:
            found.append(
                InboxConfig(
                    name="default",
                    number=self.smsbridge_number,
                    messaging_service_sid=self.smsbridge_messaging_service_sid,
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
            item.retention_days = self.smsbridge_retention_days if item.retention_days is None else item.retention_days
            item.sla_first_reply = item.sla_first_reply or self.smsbridge_sla_first_reply
            item.sla_next_reply = item.sla_next_reply or self.smsbridge_sla_next_reply
            item.sla_resolution = item.sla_resolution or self.smsbridge_sla_resolution
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
