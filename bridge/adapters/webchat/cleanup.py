"""Taking smsbridge's posts back in the web chat (bridge/inbox/chat_cleanup.py)."""

from __future__ import annotations

from bridge.adapters.webchat.store import WebChatStore
from bridge.inbox.chat_cleanup import ErasePosts, RedactPosts
from bridge.inbox.outbox import Job


class WebChatCleaner:
    platform = "web"

    def __init__(self, store: WebChatStore) -> None:
        self.store = store

    async def erase(self, job: Job, request: ErasePosts) -> None:
        if request.thread:
            self.store.threads.pop(request.thread, None)
        for posted in request.posts:
            found = self.store.find(posted)
            if found is not None:
                found[0].messages.remove(found[1])
        await self.store.changed()

    async def redact(self, job: Job, request: RedactPosts) -> None:
        for posted in request.posts:
            found = self.store.find(posted)
            if found is not None:
                found[1].rich = [{"t": "plain", "v": request.text}]
                found[1].buttons = []
        await self.store.changed()
