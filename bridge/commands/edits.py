"""A teammate edits or deletes a message they wrote in a conversation thread.

A note takes the new text (search follows through the index's triggers) or is removed.
A `!r` still in its undo window (or held, or a draft) changes what will be sent; once
it has left, the edit is not sent again and the thread says so, quoting what the
customer got.
"""

from __future__ import annotations

import re

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.commands.registry import Invocation, Parsed, Registry
from bridge.inbox.db import insert_ignore
from bridge.inbox.markup import Rich, quote, rich
from bridge.inbox.models import Conversation, Message, ProcessedEvent, ThreadLink, utcnow
from bridge.inbox.models import Note as NoteRow
from bridge.inbox.routing import InboxRoute
from bridge.inbox.service import InboxService
from bridge.inbox.types import ThreadMessage

EDITABLE = ("pending", "held", "draft")
MAX_SMS_BODY = 1600


def _reply_text(parsed: Parsed, custom_emoji: tuple[str, ...]) -> str | None:
    """The text a parsed `!r`/`!draft` asks to send, or None for anything else."""
    if not isinstance(parsed, Invocation) or parsed.command.name not in ("reply", "draft"):
        return None
    text = str(parsed.values.get("text") or "")
    for name in custom_emoji:
        text = re.sub(rf" ?:{re.escape(name)}:(?::skin-tone-[2-6]:)?", "", text)
    return text.strip()


class ThreadEdits:
    def __init__(self, service: InboxService, registry: Registry) -> None:
        self.service = service
        self.registry = registry

    async def edited(self, tm: ThreadMessage) -> str:
        """`tm` is the message's new text; its message_id is the edited message's."""
        async with self.service.db.sessions.begin() as session:
            if await insert_ignore(session, ProcessedEvent, {"key": tm.event_key, "created_at": utcnow()}, ["key"]) is None:
                return "duplicate"
            note = (
                await session.execute(
                    select(NoteRow).where(NoteRow.platform == tm.platform, NoteRow.platform_message_id == tm.message_id)
                )
            ).scalar_one_or_none()
            if note is not None:
                if note.body == tm.text:
                    return "unchanged"  # a link unfurled, a file was added: not an edit of the text
                note.body = tm.text
                return "note_edited"
            message = (
                await session.execute(
                    select(Message).where(Message.author_platform == tm.platform, Message.origin_id == tm.message_id)
                )
            ).scalar_one_or_none()
            if message is None:
                return "not_ours"
            return await self._reply_edited(session, tm, message)

    async def _reply_edited(self, session: AsyncSession, tm: ThreadMessage, message: Message) -> str:
        text = _reply_text(self.registry.parse_thread(tm.text, self.service.options.reply_prefixes), tm.custom_emoji)
        if text == message.body:
            return "unchanged"
        conv = await session.get_one(Conversation, message.conversation_id)
        inbox = self.service.directory.get(conv.inbox_id)
        agent = await self.service.agents.ensure(session, tm.author)
        prefix = self.service.options.reply_prefix
        said: Rich | None = None
        if message.status in EDITABLE:
            if not text or len(text) > MAX_SMS_BODY:
                said = rich(
                    "Your edit was not applied: a reply needs `{prefix} text` of 1 to 1600 characters. "
                    "Use **Undo** to cancel it instead.",
                    prefix=prefix,
                )
            elif await self.service.replies.edit_unsent(session, message, text, agent):
                return "reply_edited"
            else:
                await session.refresh(message)  # it left (or was undone) a moment ago
        if said is None and message.status in ("canceled", "blocked"):
            # Never sent: nothing to warn the thread about, but the author should know.
            said = rich(
                "This reply was not sent ({state}), so your edit changes nothing. To text the customer, send a new `{prefix} …`.",
                state="undone" if message.status == "canceled" else "blocked", prefix=prefix,
            )
        if said is None:
            return await self._already_sent(session, inbox, conv.id, agent.name, message, prefix)
        await self.service.fanout.whisper(session, inbox, conv.id, tm.platform, tm.author.user_id, said)
        return "not_applied"

    async def _already_sent(
        self, session: AsyncSession, inbox: InboxRoute, conversation_id: int, name: str, message: Message, prefix: str
    ) -> str:
        # Said in the thread, not only to the author: the edited chat message now shows
        # words the customer never got, and every reader of the thread must know.
        said = rich(
            "✏️ {name} edited a reply that was already sent, so the edit was not sent: the customer has the first version:\n",
            name=name,
        ) + quote(message.body) + rich("\nTo correct it, send a new `{prefix} …`.", prefix=prefix)
        await self.service.fanout.notice(session, inbox, conversation_id, said)
        return "already_sent"

    async def deleted(self, platform: str, where: str, message_id: str) -> str:
        """A thread message was deleted: a note goes from storage and search. `where` is
        the channel (Slack) or the forum post (Discord) it was in."""
        async with self.service.db.sessions.begin() as session:
            thread_ids = select(ThreadLink.conversation_id).where(
                ThreadLink.platform == platform, or_(ThreadLink.channel == where, ThreadLink.thread_id == where)
            )
            result = await session.execute(
                delete(NoteRow)
                .where(
                    NoteRow.platform == platform,
                    NoteRow.platform_message_id == message_id,
                    NoteRow.conversation_id.in_(thread_ids),
                )
                .execution_options(synchronize_session=False)
            )
            return "note_deleted" if getattr(result, "rowcount", 0) else "not_ours"
