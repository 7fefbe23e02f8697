"""Twilio (and SignalWire LaML) webhooks: strict form parsing and the signature check.

The signature covers the exact public URL Twilio called plus the sorted POST params,
so it is checked against PUBLIC_URL, never the URL this process sees behind a proxy.
"""

from __future__ import annotations

import hmac
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


def _one(params: dict[str, list[str]], name: str, *, required: bool = False) -> str | None:
    values = params.get(name)
    if not values:
        if required:
            raise BadWebhook(f"missing {name}")
        return None
    return values[0]


def to_inbound(params: dict[str, list[str]]) -> InboundSms:
    sid = _one(params, "MessageSid", required=True) or _one(params, "SmsSid", required=True)
    sender = _one(params, "From", required=True)
    to = _one(params, "To") or ""
    service = _one(params, "MessagingServiceSid")
    if not to and not service:
        raise BadWebhook("missing To and MessagingServiceSid")
    try:
        num_media = int(_one(params, "NumMedia") or 0)
    except ValueError as exc:
        raise BadWebhook("NumMedia is not a number") from exc
    if not 0 <= num_media <= MAX_MEDIA:
        raise BadWebhook(f"NumMedia out of range: {num_media}")
    media = []
    for i in range(num_media):
        url = _one(params, f"MediaUrl{i}", required=True) or ""
        media.append(Media(url=url, content_type=_one(params, f"MediaContentType{i}") or "application/octet-stream"))
    return InboundSms(
        sid=str(sid),
        sender=str(sender),
        to=to,
        body=_one(params, "Body") or "",
        messaging_service_sid=service,
        media=media,
        provider_opt_out_type=_one(params, "OptOutType"),
    )


def to_status(params: dict[str, list[str]], message_id: str | None) -> StatusUpdate:
    sid = _one(params, "MessageSid", required=True) or _one(params, "SmsSid", required=True)
    status = _one(params, "MessageStatus") or _one(params, "SmsStatus")
    if not status:
        raise BadWebhook("missing MessageStatus")
    code = _one(params, "ErrorCode") or None
    segments = _one(params, "NumSegments")
    hint: int | None = None
    if message_id:
        try:
            hint = int(message_id)
        except ValueError as exc:
            raise BadWebhook("bad message id in the callback URL") from exc
    return StatusUpdate(
        sid=str(sid),
        status=status.lower(),
        message_id=hint,
        error_code=code,
        error_text=describe_error(code, _one(params, "ErrorMessage")) if code else None,
        segments=int(segments) if segments and segments.isdigit() else None,
        opted_out=code == str(OPT_OUT_CODE),
    )
