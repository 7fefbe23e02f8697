"""Twilio (and SignalWire LaML) webhooks: strict form parsing and the signature check.

The signature covers the exact public URL Twilio called plus the sorted POST params,
so it is checked against PUBLIC_URL, never the URL this process sees behind a proxy.
"""

from __future__ import annotations

import hmac
import re
from urllib.parse import parse_qsl

from multidict import MultiDict
from twilio.request_validator import RequestValidator

from bridge.adapters.twilio.errors import OPT_OUT_CODE, describe_error
from bridge.inbox.types import InboundSms, Media, StatusUpdate

MAX_WEBHOOK_BYTES = 64 * 1024  # a real one is a few KB; 10 media URLs included
MAX_MEDIA = 10


class BadWebhook(ValueError):
    """The request is not a well-formed provider webhook (answer 400)."""


def parse_form(body: bytes) -> dict[str, list[str]]:
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadWebhook("body is not a URL-encoded form") from exc
    params: dict[str, list[str]] = {}
    for key, value in pairs:
        params.setdefault(key, []).append(value)
    return params


def signature_ok(auth_token: str, url: str, params: dict[str, list[str]], signature: str | None) -> bool:
    if not signature:
        return False
    # The validator reads repeated keys (MediaUrl…) through a multidict's getall().
    pairs = MultiDict((key, value) for key, values in params.items() for value in values)
    validator = RequestValidator(auth_token)
    # The exact URL first: one HMAC for a genuine request. Only a mismatch pays for
    # the validator's variants (with and without the default port).
    if hmac.compare_digest(validator.compute_signature(url, pairs), signature):
        return True
    return bool(validator.validate(url, pairs, signature))


# Field limits: the columns they are stored in (a longer value is not a real webhook).
MAX_SID = 64
MAX_ADDRESS = 64
MAX_STATUS = 20
MAX_ERROR_CODE = 20
MAX_URL = 2048
MAX_CONTENT_TYPE = 100
MAX_SEGMENTS = 1000
MAX_MESSAGE_ID = 2**31 - 1  # an INTEGER primary key on every database
_SID = re.compile(r"[A-Za-z0-9_-]+")
_DIGITS = re.compile(r"[0-9]+")


def _one(params: dict[str, list[str]], name: str, *, required: bool = False, limit: int | None = None) -> str | None:
    values = params.get(name)
    if not values:
        if required:
            raise BadWebhook(f"missing {name}")
        return None
    value = values[0]
    if "\x00" in value:
        raise BadWebhook(f"{name} contains a NUL character")
    if limit is not None and len(value) > limit:
        raise BadWebhook(f"{name} is longer than {limit} characters")
    return value


def _sid(params: dict[str, list[str]]) -> str:
    sid = _one(params, "MessageSid", limit=MAX_SID) or _one(params, "SmsSid", limit=MAX_SID)
    if not sid:
        raise BadWebhook("missing MessageSid")
    if not _SID.fullmatch(sid):
        raise BadWebhook("MessageSid is not a message id")
    return sid


def _small_int(value: str | None, name: str, maximum: int) -> int | None:
    if not value:
        return None
    if not _DIGITS.fullmatch(value) or len(value) > 10 or int(value) > maximum:
        raise BadWebhook(f"{name} is not a number from 0 to {maximum}")
    return int(value)


def to_inbound(params: dict[str, list[str]]) -> InboundSms:
    sid = _sid(params)
    sender = _one(params, "From", required=True, limit=MAX_ADDRESS) or ""
    if not sender.strip():
        raise BadWebhook("missing From")
    to = _one(params, "To", limit=MAX_ADDRESS) or ""
    service = _one(params, "MessagingServiceSid", limit=MAX_SID)
    if not to and not service:
        raise BadWebhook("missing To and MessagingServiceSid")
    num_media_text = _one(params, "NumMedia")
    if num_media_text and not _DIGITS.fullmatch(num_media_text):
        raise BadWebhook("NumMedia is not a number")
    num_media = _small_int(num_media_text, "NumMedia", 10**9) or 0
    if not 0 <= num_media <= MAX_MEDIA:
        raise BadWebhook(f"NumMedia out of range: {num_media}")
    media = []
    for i in range(num_media):
        url = _one(params, f"MediaUrl{i}", required=True, limit=MAX_URL) or ""
        if not url.lower().startswith(("https://", "http://")):
            raise BadWebhook(f"MediaUrl{i} is not an http(s) URL")
        kind = _one(params, f"MediaContentType{i}", limit=MAX_CONTENT_TYPE) or "application/octet-stream"
        media.append(Media(url=url, content_type=kind))
    return InboundSms(
        sid=sid,
        sender=sender,
        to=to,
        body=_with_location(_one(params, "Body") or "", params),
        messaging_service_sid=service,
        media=media,
        provider_opt_out_type=_one(params, "OptOutType", limit=MAX_STATUS),
        profile_name=(_one(params, "ProfileName", limit=200) or "").strip() or None,
    )


def _with_location(body: str, params: dict[str, list[str]]) -> str:
    """A WhatsApp location message (Latitude/Longitude, maybe Address and Label) in
    words with a map link; the Body of one is empty or just the place's name."""
    lat, lon = _one(params, "Latitude", limit=40), _one(params, "Longitude", limit=40)
    if not lat or not lon:
        return body
    try:
        lat_f, lon_f = float(lat), float(lon)
    except ValueError as exc:
        raise BadWebhook("Latitude/Longitude are not numbers") from exc
    if not (-90 <= lat_f <= 90 and -180 <= lon_f <= 180):
        raise BadWebhook("Latitude/Longitude out of range")
    place = ", ".join(p for p in (_one(params, "Label", limit=1000), _one(params, "Address", limit=1000)) if p)
    where = f"📍 Location: {place}" if place else "📍 Location"
    link = f"https://www.google.com/maps/search/?api=1&query={lat_f},{lon_f}"
    extra = body if body and body not in place else ""
    return "\n".join(part for part in (extra, f"{where} ({lat_f}, {lon_f})", link) if part)


def to_status(params: dict[str, list[str]], message_id: str | None) -> StatusUpdate:
    sid = _sid(params)
    status = _one(params, "MessageStatus", limit=MAX_STATUS) or _one(params, "SmsStatus", limit=MAX_STATUS)
    if not status:
        raise BadWebhook("missing MessageStatus")
    code = _one(params, "ErrorCode", limit=MAX_ERROR_CODE) or None
    if code is not None and not _DIGITS.fullmatch(code):
        raise BadWebhook("ErrorCode is not a number")
    hint: int | None = None
    if message_id:
        try:
            hint = _small_int(message_id, "the message id in the callback URL", MAX_MESSAGE_ID)
        except BadWebhook as exc:
            raise BadWebhook("bad message id in the callback URL") from exc
    return StatusUpdate(
        sid=sid,
        status=status.lower(),
        message_id=hint,
        error_code=code,
        error_text=describe_error(code, _one(params, "ErrorMessage", limit=1000)) if code else None,
        segments=_small_int(_one(params, "NumSegments"), "NumSegments", MAX_SEGMENTS),
        opted_out=code == str(OPT_OUT_CODE),
    )
