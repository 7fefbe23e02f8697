"""WhatsApp as a channel of its own (Twilio's `whatsapp:` addresses).

A conversation is on WhatsApp when the customer's latest message came to a WhatsApp
sender (`To=whatsapp:+1…`); replies then go from that sender to `whatsapp:+…`. The sender
is the inbox's number itself (`number = "whatsapp:+N"`) or its own `whatsapp_number`
(routing.py finds the inbox by either); SMS customers are answered from the SMS number. Outside
WhatsApp's 24-hour customer-service window only an approved template may be sent, so a
free-text reply is refused with the reason instead of failing at Twilio (63016).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ScalarSelect, select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox.durations import spoken
from bridge.inbox.models import Conversation, Message
from bridge.inbox.phone import WHATSAPP_PREFIX

WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class Channel:
    name: str  # "sms" | "whatsapp"
    sender: str | None = None  # the WhatsApp sender the customer wrote to ("whatsapp:+1…")

    @property
    def is_whatsapp(self) -> bool:
        return self.name == "whatsapp"

    def to(self, phone: str) -> str:
        return WHATSAPP_PREFIX + phone if self.is_whatsapp else phone


SMS = Channel("sms")
_LATEST_TO = (
    select(Message.to_number).where(Message.direction == "in").order_by(Message.created_at.desc(), Message.id.desc()).limit(1)
)


def is_whatsapp(address: str | None) -> bool:
    return bool(address) and address.strip().lower().startswith(WHATSAPP_PREFIX)  # type: ignore[union-attr]


def bare(address: str) -> str:
    """The number without its channel ("whatsapp:+91…" -> "+91…"): consent, contacts and
    the Florida count are per person, whichever channel they write on."""
    text = address.strip()
    return text[len(WHATSAPP_PREFIX) :].strip() if text.lower().startswith(WHATSAPP_PREFIX) else text


async def channel_of(session: AsyncSession, conversation_id: int) -> Channel:
    """The channel of the customer's latest message (SMS when there is none)."""
    latest = (await session.execute(_LATEST_TO.where(Message.conversation_id == conversation_id))).scalar_one_or_none()
    return channel_from(latest)


def latest_to_number() -> ScalarSelect[str | None]:
    """The number the customer's latest message went to, as a column of a statement
    that selects a conversation (views.py reads a card in one statement)."""
    return _LATEST_TO.where(Message.conversation_id == Conversation.id).correlate(Conversation).scalar_subquery()


def channel_from(latest: str | None) -> Channel:
    """The channel of a conversation whose customer's latest message went to `latest`."""
    if is_whatsapp(latest):
        assert latest is not None
        return Channel("whatsapp", WHATSAPP_PREFIX + latest.strip()[len(WHATSAPP_PREFIX) :].strip())
    return SMS


def outside_window(conv: Conversation, now: datetime) -> str | None:
    """Why free text cannot go on WhatsApp now, or None inside the window."""
    last = conv.last_inbound_at
    if last is not None and now - last <= WINDOW:
        return None
    ago = f"{spoken(int((now - last).total_seconds()))} ago" if last is not None else "never"
    return (
        "Not sent: WhatsApp allows free text only within 24 hours of the customer's last message "
        f"(their last was {ago}). Ask them to write first, or text them by SMS with `/sms new`."
    )


@dataclass(frozen=True)
class TemplateSpec:
    """An approved template as configured (`[[whatsapp_template]]`)."""

    name: str
    content_sid: str
    variables: int = 0
    text: str | None = None


@dataclass(frozen=True)
class TemplateSend:
    """A template to send: its Content SID and variables ("1": value, …)."""

    content_sid: str
    variables: dict[str, str]


def fill(spec: TemplateSpec, values: list[str]) -> tuple[TemplateSend, str] | str:
    """The send and the text to show in the thread, or why the values do not fit."""
    if len(values) < spec.variables:
        missing = ", ".join(f"{{{{{i}}}}}" for i in range(len(values) + 1, spec.variables + 1))
        return (
            f"Not sent: template `{spec.name}` needs {spec.variables} value(s), {len(values)} given; missing {missing}. "
            f"Write `!template {spec.name} " + " ".join(f"VALUE{i}" for i in range(1, spec.variables + 1)) + "` (quote a value with spaces)."
        )
    if len(values) > spec.variables:
        return f"Not sent: template `{spec.name}` takes {spec.variables} value(s), {len(values)} given."
    variables = {str(i): value for i, value in enumerate(values, start=1)}
    shown = spec.text or f"[template {spec.name}]"
    for key, value in variables.items():
        shown = shown.replace("{{" + key + "}}", value)
    return TemplateSend(spec.content_sid, variables), shown
