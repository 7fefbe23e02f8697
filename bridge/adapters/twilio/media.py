"""Downloading inbound MMS media from the provider.

A MediaUrl arrives in a webhook, so it is only as trustworthy as the webhook: it is
fetched only when it is on the provider's API origin (scheme, host and port of
TWILIO_API_URL, or the SignalWire space), and only that origin receives the account
credentials. The provider redirects to its CDN: redirects are followed by hand, without
credentials, and never to a loopback, private or link-local address (checked on the
addresses actually connected to, so DNS cannot be used to sneak one in) unless the
configured API origin is itself one, as in tests against a local fake.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import mimetypes
import socket
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from bridge.inbox.types import FetchedMedia, ProviderError

MAX_MEDIA_BYTES = 5 * 1024 * 1024  # Twilio's MMS limit
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
Origin = tuple[str, str, int]


def origin_of(url: str) -> Origin | None:
    """(scheme, host, port) of an http(s) URL, the port made explicit."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80)


def is_internal(address: str) -> bool:
    """Loopback, private, link-local, multicast, reserved or unspecified."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


class InternalAddress(OSError):
    """A name that resolves only to loopback, private or link-local addresses."""


class PublicOnlyResolver(AbstractResolver):
    """Resolves names to public addresses only (the connection uses these answers)."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        public = [entry for entry in found if not is_internal(entry["host"])]
        if not public:
            raise InternalAddress(f"{host} resolves only to internal addresses")
        return public

    async def close(self) -> None:
        await self._inner.close()


class TwilioMediaFetcher:
    def __init__(self, account_sid: str, auth_token: str, api_url: str) -> None:
        token = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self._auth = {"Authorization": f"Basic {token}"}
        api_origin = origin_of(api_url)
        if api_origin is None:
            raise ValueError(f"TWILIO_API_URL is not an http(s) URL: {api_url!r}")
        self.api_origin = api_origin
        self._allow_internal: bool | None = None
        self._session: aiohttp.ClientSession | None = None

    async def _internal_allowed(self) -> bool:
        """A local API origin (tests, a local fake) makes local redirects acceptable too."""
        if self._allow_internal is None:
            host = self.api_origin[1]
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, self.api_origin[2])
                self._allow_internal = any(is_internal(str(info[4][0])) for info in infos)
            except OSError:
                self._allow_internal = False
        return self._allow_internal

    async def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector: aiohttp.BaseConnector | None = None
            if not await self._internal_allowed():
                connector = aiohttp.TCPConnector(resolver=PublicOnlyResolver())
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60), connector=connector)
        return self._session

    async def _check_hop(self, url: str, first: bool) -> Origin:
        hop = origin_of(url)
        if hop is None:
            raise ProviderError("attachment URL is not an http(s) URL", retryable=False)
        if first and hop != self.api_origin:
            raise ProviderError("attachment URL is not on the provider's API host; not fetched", retryable=False)
        if hop != self.api_origin and is_internal(hop[1]) and not await self._internal_allowed():
            raise ProviderError("attachment redirect to an internal address refused", retryable=False)
        return hop

    async def fetch(self, url: str, content_type: str) -> FetchedMedia:
        session = await self._client()
        try:
            return await self._fetch(session, url, content_type)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            if isinstance(exc, InternalAddress) or isinstance(getattr(exc, "os_error", None), InternalAddress):
                raise ProviderError("attachment redirect to an internal address refused", retryable=False) from exc
            raise ProviderError(f"media download failed: {type(exc).__name__}", retryable=True) from exc

    async def _fetch(self, session: aiohttp.ClientSession, url: str, content_type: str) -> FetchedMedia:
        current = url
        for hop_number in range(MAX_REDIRECTS + 1):
            hop = await self._check_hop(current, first=hop_number == 0)
            headers = self._auth if hop == self.api_origin else {}
            async with session.get(current, headers=headers, allow_redirects=False) as response:
                if response.status in _REDIRECTS and "Location" in response.headers:
                    current = urljoin(current, response.headers["Location"])
                    continue
                return await self._read(response, url, content_type)  # named as the provider named it
        raise ProviderError("attachment download redirected too many times", retryable=False)

    @staticmethod
    async def _read(response: aiohttp.ClientResponse, url: str, content_type: str) -> FetchedMedia:
        if response.status >= 500 or response.status == 429:
            raise ProviderError(f"media download answered {response.status}", retryable=True)
        if response.status >= 400:
            raise ProviderError(f"media download answered {response.status}", retryable=False)
        data = await response.content.read(MAX_MEDIA_BYTES + 1)
        if len(data) > MAX_MEDIA_BYTES:
            raise ProviderError("attachment is larger than 5 MB", retryable=False)
        kind = response.headers.get("Content-Type", content_type).split(";")[0].strip() or content_type
        extension = mimetypes.guess_extension(kind) or ""
        name = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1] or "attachment"
        return FetchedMedia(data=data, content_type=kind, filename=f"{name}{extension}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

