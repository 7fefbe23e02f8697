"""Platform-neutral facts that adapters hand to the core."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Media:
    url: str
    content_type: str


@dataclass(frozen=True)
class InboundSms:
    sid: str
    sender: str
    to: str
    body: str
    messaging_service_sid: str | None = None
    media: list[Media] = field(default_factory=list)
    # Set by the provider when it already handled STOP/START/HELP itself
    # (Twilio Advanced Opt-Out sends `OptOutType`).
    provider_opt_out_type: str | None = None
    # WhatsApp: the name the customer gave WhatsApp (`ProfileName`), for a new contact.
    profile_name: str | None = None

    def to_payload(self) -> dict[str, object]:
        return {
            "sid": self.sid,
            "sender": self.sender,
            "to": self.to,
            "body": self.body,
            "messaging_service_sid": self.messaging_service_sid,
            "media": [[m.url, m.content_type] for m in self.media],
            "provider_opt_out_type": self.provider_opt_out_type,
            "profile_name": self.profile_name,
        }

    @classmethod
    def from_payload(cls, data: dict[str, object]) -> InboundSms:
        media = data.get("media")
        pairs = media if isinstance(media, list) else []
        return cls(
            sid=str(data["sid"]),
            sender=str(data["sender"]),
            to=str(data["to"]),
            body=str(data["body"]),
            messaging_service_sid=_optional_str(data.get("messaging_service_sid")),
            media=[Media(str(url), str(kind)) for url, kind in pairs],
            provider_opt_out_type=_optional_str(data.get("provider_opt_out_type")),
            profile_name=_optional_str(data.get("profile_name")),
        )


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class StatusUpdate:
    sid: str
    status: str
    message_id: int | None = None
    error_code: str | None = None
    error_text: str | None = None  # the provider's reason, in words
    segments: int | None = None
    opted_out: bool = False  # the provider says the recipient opted out (Twilio 21610)


@dataclass(frozen=True)
class Author:
    platform: str
    user_id: str
    name: str | None = None
    # The platform says this person runs the workspace (a Slack owner or admin, a Discord
    # member with Manage Server): an smsbridge admin while ADMINS is unset.
    platform_admin: bool = False

    @property
    def label(self) -> str:
        return self.name or self.user_id


@dataclass(frozen=True)
class OutgoingFile:
    """A file a teammate attached to a reply, downloaded by the chat adapter."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class ThreadMessage:
    """A teammate's message in a conversation thread."""

    platform: str
    channel: str
    thread_id: str
    message_id: str
    author: Author
    text: str
    event_key: str
    mentions: tuple[Author, ...] = ()  # people the message @-mentions, resolved by the adapter
    # Custom workspace emoji (`:partyparrot:`) still in `text`: a phone cannot show them,
    # so a reply leaves them out and tells its author.
    custom_emoji: tuple[str, ...] = ()
    # Files attached to a reply (downloaded with the bot's credentials), and why any
    # attached file could not be read: a reply with such a file is not sent.
    attachments: tuple[OutgoingFile, ...] = ()
    unreadable: tuple[str, ...] = ()


@dataclass(frozen=True)
class SendPlan:
    """Everything a provider needs to send one stored outbound message."""

    message_id: int
    from_number: str | None
    messaging_service_sid: str | None
    to: str
    body: str
    media_urls: list[str]
    created_at_epoch: float
    content_sid: str | None = None  # a WhatsApp template instead of the body
    content_variables: dict[str, str] | None = None
    # On a retry: provider ids our other messages to this customer hold, so an earlier
    # message with the same text (or any template, whose text the provider renders) is
    # never taken for this one.
    taken_sids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class SendResult:
    sid: str
    status: str
    segments: int | None = None


class ProviderError(Exception):
    """A provider refused or failed a request, in neutral terms."""

    def __init__(
        self,
        reason: str,
        *,
        code: str | None = None,
        retryable: bool,
        opted_out: bool = False,
        retry_after: float | None = None,
        summary: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status  # the provider's HTTP status, when it answered
        # A few words naming the provider's answer for a status line: "Twilio 500".
        self.summary = summary or reason
        self.code = code
        self.retryable = retryable
        self.opted_out = opted_out
        self.retry_after = retry_after


@dataclass(frozen=True)
class FetchedMedia:
    data: bytes
    content_type: str
    filename: str


class MediaFetcher(Protocol):
    """Downloads an inbound attachment from the provider (raises ProviderError)."""

    async def fetch(self, url: str, content_type: str) -> FetchedMedia: ...
