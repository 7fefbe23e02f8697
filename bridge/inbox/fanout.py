"""Queueing chat jobs for every chat a conversation lives in, in conversation order."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox import rich_payload
from bridge.inbox.markup import Text, as_rich
from bridge.inbox.outbox import Handler, Outbox
from bridge.inbox.routing import InboxRoute

# Every chat job the core queues; each chat adapter handles all of them.
CHAT_JOBS = ("card", "message", "media", "status", "notice", "draft", "mirror")


def register_chat_jobs(outbox: Outbox, platform: str, handlers: Mapping[str, Handler]) -> None:
    """Register `platform`'s handler for each of CHAT_JOBS; a missing one is a bug here,
    not a job left waiting for a handler that never comes."""
    missing = set(CHAT_JOBS) - set(handlers)
    if missing:
        raise TypeError(f"{platform} adapter lacks handlers for {sorted(missing)}")
    for what in CHAT_JOBS:
        outbox.register(f"{platform}.{what}", handlers[what])


class ChatFanout:
    def __init__(self, outbox: Outbox, chat_platforms: set[str]) -> None:
        self.outbox = outbox
        self.chat_platforms = chat_platforms

    async def chat(
        self,
        session: AsyncSession,
        inbox: InboxRoute,
        conversation_id: int,
        what: str,
        payload: dict[str, Any],
        *,
        dedupe: str | None = None,
        platforms: set[str] | None = None,
    ) -> None:
        for platform, channel in inbox.chats.items():
            if platform not in self.chat_platforms or (platforms is not None and platform not in platforms):
                continue
            await self.outbox.enqueue(
                session,
                queue=f"{platform}:conv:{conversation_id}",
                kind=f"{platform}.{what}",
                payload={**payload, "conversation_id": conversation_id, "channel": channel, "inbox_id": inbox.id},
                dedupe_key=f"{platform}:{dedupe}" if dedupe else None,
            )

    async def card(self, session: AsyncSession, inbox: InboxRoute, conversation_id: int) -> None:
        """Re-render the conversation card (coalesced: one pending update is enough)."""
        await self.chat(session, inbox, conversation_id, "card", {}, dedupe=f"card:{conversation_id}")

    async def notice(self, session: AsyncSession, inbox: InboxRoute, conversation_id: int, text: str, **extra: Any) -> None:
        """A bot message in the thread that everyone sees."""
        await self.chat(session, inbox, conversation_id, "notice", {"text": text, **extra})

    async def whisper(
        self, session: AsyncSession, inbox: InboxRoute, conversation_id: int, platform: str, user_id: str, text: Text, **extra: Any
    ) -> None:
        """A reply only `user_id` sees (ephemeral where the platform has it); the adapter
        renders and escapes the rich text (`rich`), `text` is its plain fallback."""
        words = as_rich(text)
        payload = {"text": words.plain(), "rich": rich_payload.encode(words), "user": user_id, **extra}
        await self.chat(session, inbox, conversation_id, "notice", payload, platforms={platform})
