"""Inboxes: the configured shared numbers, matched by `To` number (or WhatsApp sender) or Messaging Service."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from bridge.config import InboxConfig
from bridge.inbox.assignment_policy import AssignPolicy, Strategy
from bridge.inbox.db import Database, insert_ignore
from bridge.inbox.hours import BusinessHours
from bridge.inbox.models import Inbox, utcnow
from bridge.inbox.phone import WHATSAPP_PREFIX, parse_phone
from bridge.inbox.sla_policy import SlaPolicy


@dataclass(frozen=True)
class InboxRoute:
    id: int
    name: str
    number: str | None
    messaging_service_sid: str | None
    business_name: str
    help_text: str | None
    approval_role: str | None = None
    # platform name ("slack", "discord") -> channel id
    chats: dict[str, str] = field(default_factory=dict)
    hours: BusinessHours = field(default_factory=BusinessHours)  # default: always open, UTC
    # Auto-reply templates (autotext.py), None or "" when off.
    after_hours_reply: str | None = None
    first_contact_reply: str | None = None
    assignment: AssignPolicy = field(default_factory=AssignPolicy)
    sla: SlaPolicy = field(default_factory=SlaPolicy)
    # No-bodies mode (bridge/inbox/privacy.py): chats show no customer words or pictures.
    no_bodies: bool = False
    # The WhatsApp sender when it is another number than `number` (E.164, no prefix):
    # WhatsApp messages to `whatsapp:` + it come here, and are answered from it.
    whatsapp_number: str | None = None


class UnknownInbox(LookupError):
    pass


class InboxDirectory:
    """Config is the source of truth; the database keeps ids stable for history."""

    def __init__(self) -> None:
        self._by_id: dict[int, InboxRoute] = {}
        self._by_number: dict[str, InboxRoute] = {}
        self._by_whatsapp: dict[str, InboxRoute] = {}
        self._by_service: dict[str, InboxRoute] = {}

    async def sync(self, db: Database, configs: list[InboxConfig]) -> None:
        async with db.sessions.begin() as session:
            for cfg in configs:
                number = parse_phone(cfg.number).e164 if cfg.number else None
                # Several processes may start at once on an empty database: the unique
                # name decides which one creates the row, and every one then reads it.
                await insert_ignore(session, Inbox, {"name": cfg.name, "business_name": "", "created_at": utcnow()}, ["name"])
                row = (await session.execute(select(Inbox).where(Inbox.name == cfg.name))).scalar_one()
                row.number = number
                row.messaging_service_sid = cfg.messaging_service_sid
                row.business_name = cfg.business_name or ""
                await session.flush()
                chats = {
                    platform: channel
                    for platform, channel in (("slack", cfg.slack_channel), ("discord", cfg.discord_channel), ("web", cfg.web_channel))
                    if channel
                }
                self.add(
                    InboxRoute(
                        id=row.id,
                        name=cfg.name,
                        number=number,
                        messaging_service_sid=cfg.messaging_service_sid,
                        business_name=cfg.business_name or "",
                        help_text=cfg.help_text,
                        approval_role=cfg.approval_role,
                        chats=chats,
                        hours=cfg.business_hours(),
                        after_hours_reply=cfg.after_hours_reply or None,
                        first_contact_reply=cfg.first_contact_reply or None,
                        assignment=AssignPolicy(Strategy(cfg.assign or "none"), tuple(cfg.agents or ()), cfg.max_open),
                        sla=SlaPolicy.of(cfg.sla_first_reply, cfg.sla_next_reply, cfg.sla_resolution, cfg.sla_priority),
                        no_bodies=bool(cfg.no_bodies),
                        whatsapp_number=parse_phone(WHATSAPP_PREFIX + cfg.whatsapp_number).key if cfg.whatsapp_number else None,
                    )
                )

    def add(self, route: InboxRoute) -> None:
        self._by_id[route.id] = route
        if route.number:
            self._by_number[route.number] = route
        if route.messaging_service_sid:
            self._by_service[route.messaging_service_sid] = route
        if route.whatsapp_number:
            self._by_whatsapp[route.whatsapp_number] = route

    def get(self, inbox_id: int) -> InboxRoute:
        return self._by_id[inbox_id]

    def all(self) -> list[InboxRoute]:
        return list(self._by_id.values())

    def match(self, to: str | None, messaging_service_sid: str | None) -> InboxRoute:
        """A Messaging Service pool wins over the number: pool numbers are not listed.
        A WhatsApp message (`To=whatsapp:+…`) finds the inbox whose `whatsapp_number` it
        is, else the one whose number is (`number = "whatsapp:+…"`, or the SMS number
        WhatsApp-enabled)."""
        if messaging_service_sid and messaging_service_sid in self._by_service:
            return self._by_service[messaging_service_sid]
        if to:
            phone = parse_phone(to)
            if phone.channel == "whatsapp" and phone.key in self._by_whatsapp:
                return self._by_whatsapp[phone.key]
            if phone.key in self._by_number:
                return self._by_number[phone.key]
        raise UnknownInbox(f"no inbox for To={to!r} MessagingServiceSid={messaging_service_sid!r}")

    def by_channel(self, platform: str, channel: str) -> list[InboxRoute]:
        return [r for r in self._by_id.values() if r.chats.get(platform) == channel]
