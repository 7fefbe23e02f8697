"""Downloading inbound MMS media from the provider, with its credentials when it asks."""

from __future__ import annotations

import asyncio
import base64
import mimetypes
from urllib.parse import urlsplit

import aiohttp

from bridge.inbox.types import FetchedMedia, ProviderError

MAX_MEDIA_BYTES = 5 * 1024 * 1024  # Twilio's MMS limit


class TwilioMediaFetcher:
    def __init__(self, account_sid: str, auth_token: str, api_url: str) -> None:
        token = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self._auth = {"Authorization": f"Basic {token}"}
        self._api_host = urlsplit(api_url).hostname or ""
        self._session: aiohttp.ClientSession | None = None

    def _auth_for(self, url: str) -> dict[str, str]:
        # Credentials go only to the provider's own hosts, never to a third-party URL.
        host = urlsplit(url).hostname or ""
        if host == self._api_host or host.endswith(".twilio.com") or host == "twilio.com":
            return self._auth
        return {}

    async def fetch(self, url: str, content_type: str) -> FetchedMedia:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        try:
            async with self._session.get(url, headers=self._auth_for(url)) as response:
                if response.status >= 500 or response.status == 429:
                    raise ProviderError(f"media download answered {response.status}", retryable=True)
                if response.status >= 400:
                    raise ProviderError(f"media download answered {response.status}", retryable=False)
                data = await response.content.read(MAX_MEDIA_BYTES + 1)
                if len(data) > MAX_MEDIA_BYTES:
                    raise ProviderError("attachment is larger than 5 MB", retryable=False)
                kind = response.headers.get("Content-Type", content_type).split(";")[0].strip() or content_type
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise ProviderError(f"media download failed: {type(exc).__name__}", retryable=True) from exc
        extension = mimetypes.guess_extension(kind) or ""
        name = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1] or "attachment"
        return FetchedMedia(data=data, content_type=kind, filename=f"{name}{extension}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
