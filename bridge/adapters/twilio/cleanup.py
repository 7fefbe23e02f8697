"""Taking texts back at Twilio (or a SignalWire space, same LaML paths): the
ProviderCleaner of bridge/inbox/provider_cleanup.py, with the client sends use.

The account's auth token, or a standard API key, may delete and redact messages; a
restricted key needs the Messages delete and update permissions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from bridge.adapters.twilio.errors import describe_error
from bridge.inbox.types import ProviderError

NOT_FOUND = 20404
STILL_DELIVERING = 20009  # "Cannot delete this resource before it is complete"
AUTH = frozenset({20003})
T = TypeVar("T")


class StillDelivering(ProviderError):
    """The provider is still delivering the message: try again in a few minutes."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, code=str(STILL_DELIVERING), retryable=True, summary="Twilio 20009")


class TwilioCleaner:
    def __init__(self, client: Client) -> None:
        self.client = client

    async def delete_message(self, sid: str) -> bool:
        try:
            await self._call(lambda: self.client.api.v2010.account.messages(sid).delete_async())
        except StillDelivering:
            return False
        return True

    async def redact_message(self, sid: str) -> None:
        await self._call(lambda: self.client.api.v2010.account.messages(sid).update_async(body=""))

    async def delete_media(self, sid: str, media_sid: str) -> None:
        await self._call(lambda: self.client.api.v2010.account.messages(sid).media(media_sid).delete_async())

    async def list_media(self, sid: str) -> list[str]:
        found = await self._call(lambda: self.client.api.v2010.account.messages(sid).media.list_async())
        return [str(item.sid) for item in found or []]

    async def _call(self, request: Callable[[], Awaitable[T]]) -> T | None:
        try:
            return await request()
        except TwilioRestException as exc:
            status = exc.status or 0
            if status == 404 or exc.code == NOT_FOUND:
                return None  # already gone: done
            if exc.code == STILL_DELIVERING:
                raise StillDelivering(describe_error(exc.code, exc.msg)) from exc
            # Credentials or permissions are fixed by an admin: keep the job meanwhile.
            retryable = status in (401, 403, 409, 429) or status >= 500 or exc.code in AUTH
            summary = f"Twilio {status}" if status else "Twilio"
            raise ProviderError(
                describe_error(exc.code, exc.msg), code=str(exc.code) if exc.code else None, retryable=retryable, summary=summary
            ) from exc
        except TwilioException as exc:
            # A list call's error ("Unable to fetch page") carries the HTTP response.
            status = getattr(exc.args[1] if len(exc.args) > 1 else None, "status_code", None)
            if status == 404:
                return None
            summary = f"Twilio {status}" if isinstance(status, int) else "Twilio"
            raise ProviderError(f"The SMS provider answered: {exc.args[0] if exc.args else exc}", retryable=True, summary=summary) from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise ProviderError(
                f"Could not reach the SMS provider: {type(exc).__name__}", retryable=True, summary="Twilio unreachable"
            ) from exc
