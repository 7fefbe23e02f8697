"""Sending SMS through Twilio's REST API (a SignalWire space's LaML API works the same)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from bridge.adapters.twilio.errors import OPT_OUT_CODE, describe_error, is_retryable
from bridge.inbox.types import ProviderError, SendPlan, SendResult

log = logging.getLogger(__name__)


def make_client(account_sid: str, auth_token: str, api_url: str) -> Client:
    """A twilio Client whose REST calls go to `api_url` (Twilio, SignalWire, a test fake)."""
    client = Client(account_sid, auth_token, http_client=AsyncTwilioHttpClient(timeout=30))
    if api_url.rstrip("/") != "https://api.twilio.com":
        # TWILIO_EDGE/TWILIO_REGION would rewrite the host of our base URL.
        client.edge = None
        client.region = None
        client.messaging.base_url = api_url.rstrip("/")  # Messaging Services (smsbridge check)
    client.api.base_url = api_url.rstrip("/")
    return client


class TwilioSender:
    def __init__(self, client: Client, public_url: str | None) -> None:
        self.client = client
        self.public_url = public_url.rstrip("/") if public_url else None

    def status_callback(self, message_id: int) -> str | None:
        # Our own id rides along, so a callback that beats the REST answer still matches.
        return f"{self.public_url}/twilio/status?m={message_id}" if self.public_url else None

    async def send(self, plan: SendPlan) -> SendResult:
        kwargs: dict[str, object] = {"to": plan.to, "body": plan.body}
        if plan.content_sid:
            # An approved WhatsApp template: Twilio renders it; the body is only our copy.
            kwargs = {"to": plan.to, "content_sid": plan.content_sid, "content_variables": json.dumps(plan.content_variables or {})}
        if plan.messaging_service_sid:
            kwargs["messaging_service_sid"] = plan.messaging_service_sid
        else:
            kwargs["from_"] = plan.from_number
        if plan.media_urls:
            # Reply files are stored as /media/<token>, served under PUBLIC_URL.
            kwargs["media_url"] = [f"{self.public_url}{url}" if url.startswith("/") and self.public_url else url for url in plan.media_urls]
        callback = self.status_callback(plan.message_id)
        if callback:
            kwargs["status_callback"] = callback
        with provider_errors():
            created = await self.client.api.v2010.account.messages.create_async(**kwargs)
        segments = int(created.num_segments) if created.num_segments and str(created.num_segments).isdigit() else None
        return SendResult(sid=created.sid, status=(created.status or "queued").lower(), segments=segments)

    async def find_sent(self, plan: SendPlan) -> SendResult | None:
        """After an attempt with an unknown outcome: did the provider take it after all?

        Twilio has no idempotency key for a message, so the earlier attempt is looked up:
        an outbound message to the same address from the same sender, created since this
        one was (a minute of clock slack), not one of our other messages (`taken_sids`).
        A text or MMS must have the same body; a template's body is Twilio's rendering,
        not our copy, so it is matched by the rest alone (a conversation's sends run one
        at a time, in order, so the newest unknown one is this attempt's).
        """
        since = datetime.fromtimestamp(plan.created_at_epoch, UTC) - timedelta(minutes=1)
        filters: dict[str, object] = {"to": plan.to, "limit": 50}
        if plan.from_number and not plan.messaging_service_sid:
            filters["from_"] = plan.from_number
        with provider_errors():
            recent = await self.client.api.v2010.account.messages.list_async(**filters)
        for message in recent:  # newest first
            created = message.date_created
            if message.sid in plan.taken_sids or not str(message.direction or "outbound").startswith("outbound"):
                continue
            if created is not None and created < since:
                continue
            if plan.content_sid or message.body == plan.body:
                return SendResult(sid=message.sid, status=(message.status or "queued").lower())
        return None


@contextmanager
def provider_errors() -> Iterator[None]:
    """Twilio's and the network's exceptions as the core's ProviderError (sends, and the
    clean-ups of bridge/adapters/twilio/cleanup.py)."""
    try:
        yield
    except TwilioRestException as exc:
        raise _provider_error(exc) from exc
    except TwilioException as exc:
        # A list call's error ("Unable to fetch page") carries the HTTP response.
        status = getattr(exc.args[1] if len(exc.args) > 1 else None, "status_code", None)
        if isinstance(status, int):
            raise ProviderError(
                f"The SMS provider answered {status}", retryable=status == 429 or status >= 500, summary=f"Twilio {status}",
                status=status,
            ) from exc
        raise ProviderError(f"Could not reach the SMS provider: {type(exc).__name__}", retryable=True, summary="Twilio unreachable") from exc
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise ProviderError(
            f"Could not reach the SMS provider: {type(exc).__name__}", retryable=True, summary="Twilio unreachable"
        ) from exc


def _provider_error(exc: TwilioRestException) -> ProviderError:
    code = exc.code
    status = exc.status or 0
    reason = describe_error(code, exc.msg)
    summary = f"Twilio {status}" if status else "Twilio"
    if code == OPT_OUT_CODE:
        return ProviderError(reason, code=str(code), retryable=False, opted_out=True, summary=summary, status=status or None)
    retryable = status == 429 or status >= 500 or is_retryable(code)
    return ProviderError(reason, code=str(code) if code else None, retryable=retryable, summary=summary, status=status or None)
