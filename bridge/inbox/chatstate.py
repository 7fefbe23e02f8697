"""What chat adapters read and remember: views to render, where threads and posts live.

A `done` job passed to a `save_*` call is completed in the same transaction as the
save, so a crash can never leave "posted and recorded" half-done: either both are
in the database, or the job runs again and first looks for its earlier post.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox import privacy, snippets
from bridge.inbox.db import Database, insert_ignore
from bridge.inbox.models import Agent, ChatRef, Contact, Conversation, Message, ThreadLink, utcnow
from bridge.inbox.outbox import Job, Outbox
from bridge.inbox.phone import format_phone
from bridge.inbox.postlog import PostLog, PostRecord
from bridge.inbox.routing import InboxDirectory
from bridge.inbox.views import (
    CARD_COLUMNS,
    CardRow,
    ConversationView,
    MessageView,
    conversation_view,
    message_view,
    message_view_of,
    view_of,
)


def _text_context(dialect: str) -> Any:
    """A customer's text, the thread it goes to if any, and what its conversation's card
    shows (CardRow, and the snippet names): one statement, for the text of a conversation
    with a thread as for the first text of a new one, which also posts the card."""
    return (
        select(Message, ThreadLink.thread_id, Conversation, Contact, *CARD_COLUMNS, snippets.names_column(dialect))
        .join(Conversation, Conversation.id == Message.conversation_id)
        .join(Contact, Contact.id == Conversation.contact_id)
        .outerjoin(Agent, Agent.id == Conversation.assignee_id)
        .outerjoin(
            ThreadLink,
            and_(
                ThreadLink.conversation_id == bindparam("conversation_id"),
                ThreadLink.platform == bindparam("platform"),
                ThreadLink.channel == bindparam("channel"),
            ),
        )
        .where(Message.id == bindparam("message_id"))
    )


_TEXT_CONTEXT: dict[str, Any] = {}  # by dialect, built once


@dataclass(frozen=True)
class TextContext:
    thread: str | None  # the conversation's thread in the channel, None before its first post
    message: MessageView
    title: str
    card: tuple[ConversationView, list[str]] | None  # when there is no thread: the card that opens it


class ChatState:
    def __init__(self, db: Database, outbox: Outbox, directory: InboxDirectory) -> None:
        self.db = db
        self.outbox = outbox
        self.directory = directory
        self.postlog = PostLog(db, outbox)
        self.now: Callable[[], datetime] = utcnow  # the app points it at the scheduler's clock

    async def conversation(self, conversation_id: int) -> ConversationView:
        async with self.db.sessions() as session:
            return await conversation_view(session, conversation_id, self.directory.get, self.now())

    async def card(self, conversation_id: int) -> tuple[ConversationView, list[str]]:
        """What a conversation's card shows: its view and the snippet names (one session)."""
        async with self.db.sessions() as session:
            return await conversation_view(session, conversation_id, self.directory.get, self.now()), await snippets.names(session)

    async def text_context(self, conversation_id: int, platform: str, channel: str, message_id: int) -> TextContext:
        """Everything posting a customer's text needs, read in one session: its thread
        (and, when there is none yet, the card that opens it), the message and the title.
        One statement when the thread exists."""
        dialect = self.db.engine.dialect.name
        statement = _TEXT_CONTEXT.get(dialect)
        if statement is None:
            statement = _TEXT_CONTEXT[dialect] = _text_context(dialect)
        params = {"message_id": message_id, "conversation_id": conversation_id, "platform": platform, "channel": channel}
        async with self.db.sessions() as session:
            message, thread, *card_row, names = (await session.execute(statement, params)).one()
            row = CardRow(*card_row)
            card = None
            if thread is None:
                card = (await view_of(session, row, self.directory.get, self.now()), snippets.names_from(names, dialect))
        title = row.contact.name or format_phone(row.contact.phone)
        return TextContext(thread, self._shown(message_view_of(message), row.conv.inbox_id), title, card)

    async def message(self, message_id: int) -> MessageView:
        """A message as its chat may show it: in a no-bodies inbox, its length instead of
        its words, and no media (bridge/inbox/privacy.py)."""
        async with self.db.sessions() as session:
            message, inbox_id = (
                await session.execute(
                    select(Message, Conversation.inbox_id)
                    .join(Conversation, Conversation.id == Message.conversation_id)
                    .where(Message.id == message_id)
                )
            ).one()
        return self._shown(message_view_of(message), inbox_id)

    async def draft_for_editor(self, message_id: int) -> MessageView:
        """A draft's own words, for the editor opened privately to the teammate who clicked Edit."""
        async with self.db.sessions() as session:
            return await message_view(session, message_id)

    def _shown(self, view: MessageView, inbox_id: int) -> MessageView:
        try:
            hides = self.directory.get(inbox_id).no_bodies
        except KeyError:
            hides = False
        return privacy.redacted(view) if hides else view

    async def thread(self, conversation_id: int, platform: str, channel: str) -> str | None:
        async with self.db.sessions() as session:
            found = await session.execute(
                select(ThreadLink.thread_id).where(
                    ThreadLink.conversation_id == conversation_id,
                    ThreadLink.platform == platform,
                    ThreadLink.channel == channel,
                )
            )
            return found.scalar_one_or_none()

    async def save_thread(self, conversation_id: int, platform: str, channel: str, thread_id: str) -> None:
        async with self.db.sessions.begin() as session:
            await self._link_thread(session, conversation_id, platform, channel, thread_id)

    @staticmethod
    async def _link_thread(session: AsyncSession, conversation_id: int, platform: str, channel: str, thread_id: str) -> None:
        await insert_ignore(
            session,
            ThreadLink,
            {
                "conversation_id": conversation_id,
                "platform": platform,
                "channel": channel,
                "thread_id": thread_id,
                "created_at": utcnow(),
            },
            ["conversation_id", "platform", "channel"],
        )

    async def forget_thread(self, conversation_id: int, platform: str, channel: str) -> None:
        """The thread was deleted in the chat: the next post opens a new one."""
        async with self.db.sessions.begin() as session:
            await session.execute(
                delete(ThreadLink).where(
                    ThreadLink.conversation_id == conversation_id,
                    ThreadLink.platform == platform,
                    ThreadLink.channel == channel,
                )
            )

    async def posted(self, platform: str, channel: str, purpose: str, message_id: int) -> str | None:
        async with self.db.sessions() as session:
            found = await session.execute(
                select(ChatRef.posted_id).where(
                    ChatRef.platform == platform,
                    ChatRef.channel == channel,
                    ChatRef.purpose == purpose,
                    ChatRef.message_id == message_id,
                )
            )
            return found.scalar_one_or_none()

    async def save_posted(
        self,
        platform: str,
        channel: str,
        purpose: str,
        message_id: int,
        posted_id: str,
        *,
        done: Job | None = None,
        thread: tuple[int, str] | None = None,
    ) -> None:
        """Record a post; with `thread` (conversation id, thread id), also the thread it
        opened in `channel`, in the same transaction. With `done`, jobs finishing at
        the same time share that transaction (postlog.py)."""
        if done is not None:
            await self.postlog.save(PostRecord(platform, channel, purpose, message_id, posted_id, done, thread))
            return
        async with self.db.sessions.begin() as session:
            if thread is not None:
                await self._link_thread(session, thread[0], platform, channel, thread[1])
            await insert_ignore(
                session,
                ChatRef,
                {"platform": platform, "channel": channel, "purpose": purpose, "message_id": message_id, "posted_id": posted_id},
                ["platform", "channel", "purpose", "message_id"],
            )

    async def replace_posted(self, platform: str, channel: str, purpose: str, message_id: int, posted_id: str) -> None:
        """Like save_posted, but a newer id replaces an earlier one (a fresh upload's file)."""
        async with self.db.sessions.begin() as session:
            await session.execute(
                delete(ChatRef).where(
                    ChatRef.platform == platform,
                    ChatRef.channel == channel,
                    ChatRef.purpose == purpose,
                    ChatRef.message_id == message_id,
                )
            )
            session.add(
                ChatRef(platform=platform, channel=channel, purpose=purpose, message_id=message_id, posted_id=posted_id)
            )

    async def snippet_names(self) -> list[str]:
        async with self.db.sessions() as session:
            return await snippets.names(session)

    async def chat_channel(self, conversation_id: int, platform: str) -> str | None:
        """Where this conversation lives on `platform` (its inbox's channel)."""
        async with self.db.sessions() as session:
            conv = await session.get(Conversation, conversation_id)
        if conv is None:
            return None
        try:
            return self.directory.get(conv.inbox_id).chats.get(platform)
        except KeyError:
            return None

    async def title(self, conversation_id: int) -> str:
        """The contact's name, else the formatted number (cheaper than a full view)."""
        async with self.db.sessions() as session:
            name, phone = (
                await session.execute(
                    select(Contact.name, Contact.phone)
                    .join(Conversation, Conversation.contact_id == Contact.id)
                    .where(Conversation.id == conversation_id)
                )
            ).one()
        return name or format_phone(phone)
