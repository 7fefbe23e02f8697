"""Files a teammate attaches to a reply, sent as MMS.

The provider fetches each file from PUBLIC_URL/media/<token>: no credentials (Twilio
sends none), but a token nobody can guess (256 random bits) that stops working after
MEDIA_EXPIRY. Limits are checked before anything is stored or sent, so a file that
cannot go is refused with the reason instead of vanishing.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox.models import MediaFile, Message, utcnow
from bridge.inbox.types import OutgoingFile

# Twilio: at most 10 files and 5 MB in all per MMS.
MAX_FILES = 10
MAX_TOTAL_BYTES = 5 * 1024 * 1024
# Long enough for a send retried until SMS_GIVE_UP_SECONDS (24 h), then gone.
MEDIA_EXPIRY = timedelta(hours=48)
# What carriers deliver by MMS (Twilio's accepted types, families).
_ACCEPTED_FAMILIES = ("image/", "audio/", "video/")
_ACCEPTED_TYPES = {"application/pdf", "text/vcard", "text/x-vcard", "text/calendar", "text/plain", "application/rtf"}
MEDIA_PATH = "/media/"


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB" if n >= 1024 * 1024 else f"{max(1, n // 1024)} KB"


# WhatsApp (Twilio): one file per message, up to 16 MB, of these kinds.
WHATSAPP_MAX_FILES = 1
WHATSAPP_MAX_BYTES = 16 * 1024 * 1024
_WHATSAPP_FAMILIES = ("audio/",)
_WHATSAPP_TYPES = {"image/jpeg", "image/png", "video/mp4", "video/3gpp", "application/pdf", "text/vcard", "text/x-vcard"}


def problem(files: tuple[OutgoingFile, ...], *, whatsapp: bool = False) -> str | None:
    """Why these files cannot go as one MMS (or one WhatsApp message), in words; None
    when they can."""
    if whatsapp:
        return _whatsapp_problem(files)
    if len(files) > MAX_FILES:
        return f"{len(files)} files are attached; an MMS carries at most {MAX_FILES}."
    for f in files:
        kind = _media_type(f)
        if not (kind.startswith(_ACCEPTED_FAMILIES) or kind in _ACCEPTED_TYPES):
            return (
                f"{f.filename} ({kind or 'unknown type'}) cannot be sent by MMS: "
                "pictures, audio, video, PDF and contact cards can."
            )
    total = sum(len(f.data) for f in files)
    if total > MAX_TOTAL_BYTES:
        return f"The attachments are {_size(total)}; an MMS carries at most {_size(MAX_TOTAL_BYTES)} in all."
    return None


def _media_type(f: OutgoingFile) -> str:
    """The file's MIME type without parameters ("image/jpeg; q=1" -> "image/jpeg")."""
    return f.content_type.split(";")[0].strip().lower()


def _whatsapp_problem(files: tuple[OutgoingFile, ...]) -> str | None:
    if len(files) > WHATSAPP_MAX_FILES:
        return f"{len(files)} files are attached; a WhatsApp message carries one. Send them one reply at a time."
    for f in files:
        kind = _media_type(f)
        if not (kind.startswith(_WHATSAPP_FAMILIES) or kind in _WHATSAPP_TYPES):
            return (
                f"{f.filename} ({kind or 'unknown type'}) cannot be sent on WhatsApp: "
                "JPEG and PNG pictures, audio, MP4 video, PDF and contact cards can."
            )
        if len(f.data) > WHATSAPP_MAX_BYTES:
            return f"{f.filename} is {_size(len(f.data))}; WhatsApp carries at most {_size(WHATSAPP_MAX_BYTES)}."
    return None


async def attach(session: AsyncSession, message: Message, files: tuple[OutgoingFile, ...], now: datetime | None = None) -> None:
    """Store `files` for `message` and list them in its media (relative URLs, made
    absolute with PUBLIC_URL by the provider adapter)."""
    if not files:
        return
    now = now or utcnow()
    media: list[dict[str, str]] = []
    for f in files:
        token = secrets.token_urlsafe(32)
        session.add(
            MediaFile(
                token=token, message_id=message.id, filename=f.filename[:255], content_type=f.content_type[:100],
                size=len(f.data), data=f.data, created_at=now, expires_at=now + MEDIA_EXPIRY,
            )
        )
        media.append({"url": MEDIA_PATH + token, "content_type": f.content_type, "filename": f.filename})
    message.media = media


async def served(session: AsyncSession, token: str, now: datetime | None = None) -> MediaFile | None:
    """The file behind a media URL, or None when the token is unknown or expired."""
    found = (await session.execute(select(MediaFile).where(MediaFile.token == token))).scalar_one_or_none()
    if found is None or found.expires_at <= (now or utcnow()):
        return None
    return found
