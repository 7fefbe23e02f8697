"""Queueing chat jobs for every chat a conversation lives in, in conversation order."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox.chat import (
    Button,
    CardRefresh,
    ChannelNotice,
    ChatPost,
    ChatTarget,
    Notice,
    encode,
    job_kind,
)
from bridge.inbox.markup import Text, as_rich
from bridge.inbox.outbox import Outbox
from bridge.inbox.routing import InboxRoute


class ChatFanout:
    def __init__(self, outbox: Outbox, chat_platforms: Iterable[str]) -> None:
        self.outbox = outbox
        self.chat_platforms = frozenset(chat_platforms)

    async def post(
        self,
        session: AsyncSession,
        inbox: InboxRoute,
        conversation_id: int,
        post: ChatPost,
        *,
        dedupe: str | None = None,
        platforms: set[str] | None = None,
    ) -> None:
        """Queue `post` for each chat of the conversation's inbox (or only `platforms`).

        `dedupe` coalesces with a job of the same key still waiting (e.g. one pending
        card refresh is enough)."""
        for platform, channel in inbox.chats.items():
            if platform not in self.chat_platforms or (platforms is not None and platform not in platforms):
                continue
            await self.outbox.enqueue(
                session,
                queue=f"{platform}:conv:{conversation_id}",
                kind=job_kind(platform, post),
                payload=encode(ChatTarget(conversation_id, channel, inbox.id), post),
                dedupe_key=f"{platform}:{dedupe}" if dedupe else None,
            )

    async def to_channel(self, session: AsyncSession, platform: str, channel: str, post: ChatPost) -> None:
        """Queue `post` for one chat channel, outside any conversation (e.g. a report's charts)."""
        if platform not in self.chat_platforms:
            return
        await self.outbox.enqueue(
            session,
            queue=f"{platform}:channel:{channel}",
            kind=job_kind(platform, post),
            payload=encode(ChatTarget(0, channel, 0), post),
        )

    async def elsewhere(
        self, session: AsyncSession, inbox: InboxRoute, conversation_id: int, platform: str, channel: str, text: Text
    ) -> None:
        """A notice in another channel of `platform` that links to the conversation's thread
        there (none when the inbox has no chat on that platform). Queued with the
        conversation's posts, so it follows the card that opens the thread."""
        if platform not in self.chat_platforms:
            return
        await self.outbox.enqueue(
            session,
            queue=f"{platform}:conv:{conversation_id}",
            kind=job_kind(platform, ChannelNotice),
            payload=encode(ChatTarget(conversation_id, inbox.chats.get(platform, ""), inbox.id), ChannelNotice(channel, as_rich(text))),
        )

    async def card(self, session: AsyncSession, inbox: InboxRoute, conversation_id: int) -> None:
        """Re-render the conversation card (coalesced: one pending update is enough)."""
        await self.post(session, inbox, conversation_id, CardRefresh(), dedupe=f"card:{conversation_id}")

    async def notice(
        self, session: AsyncSession, inbox: InboxRoute, conversation_id: int, text: Text, buttons: Iterable[Button] = ()
    ) -> None:
        """A bot message in the thread that everyone sees (a bare str is shown as plain words)."""
        await self.post(session, inbox, conversation_id, Notice(as_rich(text), tuple(buttons)))

    async def whisper(
        self,
        session: AsyncSession,
        inbox: InboxRoute,
        conversation_id: int,
        platform: str,
        user_id: str,
        text: Text,
        buttons: Iterable[Button] = (),
    ) -> None:
        """A reply only `user_id` sees (ephemeral where the platform has it)."""
        await self.post(
            session, inbox, conversation_id, Notice(as_rich(text), tuple(buttons), for_user=user_id), platforms={platform}
        )
