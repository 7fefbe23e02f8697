"""Queueing chat jobs for every chat a conversation lives in, in conversation order."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox.outbox import Outbox
from bridge.inbox.routing import InboxRoute


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
        self, session: AsyncSession, inbox: InboxRoute, conversation_id: int, platform: str, user_id: str, text: str, **extra: Any
    ) -> None:
        """A reply only `user_id` sees (ephemeral where the platform has it)."""
        await self.chat(session, inbox, conversation_id, "notice", {"text": text, "user": user_id, **extra}, platforms={platform})
