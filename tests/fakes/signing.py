"""Sign fake webhooks exactly as Slack and Twilio do, using the libraries' own code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from multidict import MultiDict
from slack_sdk.signature import SignatureVerifier
from twilio.request_validator import RequestValidator


def twilio_signature(auth_token: str, url: str, params: dict[str, str] | list[tuple[str, str]]) -> str:
    """X-Twilio-Signature for a POST to ``url`` with form ``params``.

    A list of pairs carries repeated keys (e.g. several MediaUrl values); it becomes a
    MultiDict, which RequestValidator reads with ``getall`` just like a real request's form.
    """
    values = MultiDict(params) if isinstance(params, list) else params
    return RequestValidator(auth_token).compute_signature(url, values)


def signalwire_signature(signing_key: str, url: str, params: dict[str, str] | list[tuple[str, str]]) -> str:
    """X-SignalWire-Signature for a form POST, as SignalWire computes it for its LaML
    (Twilio-compatible) webhooks: HMAC-SHA1 with the project's Signing Key over the URL
    followed by every parameter name and value, sorted by name, base64-encoded.
    Written out here rather than borrowed from the twilio library, so the test shows
    smsbridge accepts what SignalWire itself produces."""
    pairs = params if isinstance(params, list) else list(params.items())
    payload = url + "".join(key + value for key, value in sorted(pairs, key=lambda kv: (kv[0], kv[1])))
    digest = hmac.new(signing_key.encode(), payload.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def slack_headers(signing_secret: str, body: str | bytes, timestamp: int | None = None) -> dict[str, str]:
    """X-Slack-Request-Timestamp / X-Slack-Signature headers for ``body`` (v0, HMAC-SHA256)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            # Slack never sends such a body; sign the raw bytes with the same v0 scheme.
            digest = hmac.new(signing_secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
            return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + digest.hexdigest()}
    signature = SignatureVerifier(signing_secret).generate_signature(timestamp=ts, body=body)
    assert signature is not None
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}
