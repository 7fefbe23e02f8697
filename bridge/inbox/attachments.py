"""Fetching an inbound attachment for a chat, or saying why it cannot be shown."""

from __future__ import annotations

from bridge.inbox.outbox import RetryLater
from bridge.inbox.types import FetchedMedia, MediaFetcher, ProviderError


async def fetch_or_explain(fetcher: MediaFetcher | None, item: dict[str, str]) -> FetchedMedia | str:
    """The file, or a line to post instead: an attachment is never dropped silently.
    A passing failure raises RetryLater (the job runs again)."""
    if fetcher is None:
        raise RetryLater("no media fetcher configured")
    try:
        return await fetcher.fetch(item["url"], item.get("content_type", "application/octet-stream"))
    except ProviderError as exc:
        if exc.retryable:
            raise RetryLater(exc.reason) from exc
        return f"📎 An attachment ({item.get('content_type')}) could not be shown: {exc.reason}. {item['url']}"
