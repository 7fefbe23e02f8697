"""Taking texts back at Twilio (or a SignalWire space, same LaML paths): the
ProviderCleaner of bridge/inbox/provider_cleanup.py, with the client sends use.

The account's auth token, or a standard API key, may delete and redact messages; a
restricted key needs the Messages delete and update permissions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from twilio.rest import Client

from bridge.adapters.twilio.sender import provider_errors
from bridge.inbox.types import ProviderError

NOT_FOUND = 20404
STILL_DELIVERING = 20009  # "Cannot delete this resource before it is complete"
AUTH = frozenset({"20003"})
WAIT_FOR_ADMIN = frozenset({401, 403, 409})  # credentials, permissions, a conflict that passes
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
        """The request, its errors as sends see them (`provider_errors`), except: gone
        is done (None), a message still being delivered is StillDelivering, and refused
        credentials or permissions wait for an admin instead of failing the job."""
        try:
            with provider_errors():
                return await request()
        except ProviderError as exc:
            if exc.status == 404 or exc.code == str(NOT_FOUND):
                return None  # already gone: done
            if exc.code == str(STILL_DELIVERING):
                raise StillDelivering(exc.reason) from exc
            if not exc.retryable and (exc.status in WAIT_FOR_ADMIN or exc.code in AUTH):
                raise ProviderError(exc.reason, code=exc.code, retryable=True, summary=exc.summary, status=exc.status) from exc
            raise
