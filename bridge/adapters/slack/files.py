"""Files a teammate attached to a `!r` in Slack (a `file_share` message), downloaded
with the bot's token so they can go out as MMS.

The token is sent only to Slack's own hosts (or the configured API's host, for tests
and GovSlack). A file the bot cannot read comes back from Slack as a sign-in page, not
an error: that, a missing URL or a failed download is a reason in words, so the reply
is refused instead of leaving without its picture.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from bridge.inbox.media_files import MAX_TOTAL_BYTES
from bridge.inbox.types import OutgoingFile

TIMEOUT = aiohttp.ClientTimeout(total=30)


def _trusted(url: str, client: AsyncWebClient) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    api_host = (urlsplit(client.base_url).hostname or "").lower()
    return urlsplit(url).scheme in ("https", "http") and (host == "slack.com" or host.endswith(".slack.com") or host == api_host)


async def download(client: AsyncWebClient, file: dict[str, Any]) -> OutgoingFile | str:
    """The attached file, or why it cannot be sent."""
    name = str(file.get("name") or file.get("title") or file.get("id") or "a file")
    size = file.get("size")
    if isinstance(size, int) and size > MAX_TOTAL_BYTES:
        return f"{name} is {size / (1024 * 1024):.1f} MB; an MMS carries at most {MAX_TOTAL_BYTES // (1024 * 1024)} MB."
    url = file.get("url_private_download") or file.get("url_private")
    if not isinstance(url, str) or not _trusted(url, client):
        return f"smsbridge cannot read {name} (Slack gave no download link for it)."
    headers = {"Authorization": f"Bearer {client.token}"}
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http, http.get(url, headers=headers, allow_redirects=False) as response:
            kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if response.status != 200 or (kind == "text/html" and file.get("mimetype") != "text/html"):
                return f"smsbridge cannot read {name}: the bot has no access to it (Slack answered {response.status} {kind or ''}).".replace(" )", ")")
            data = await response.content.read(MAX_TOTAL_BYTES + 1)
    except (aiohttp.ClientError, TimeoutError) as exc:
        return f"smsbridge could not download {name} from Slack ({type(exc).__name__}); try again."
    if len(data) > MAX_TOTAL_BYTES:
        return f"{name} is larger than {MAX_TOTAL_BYTES // (1024 * 1024)} MB, the most an MMS carries."
    return OutgoingFile(name, str(file.get("mimetype") or kind or "application/octet-stream"), data)
