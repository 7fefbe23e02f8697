"""Contacts and their conversations: found by phone and inbox, created once when new."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox.db import insert_ignore
from bridge.inbox.fanout import ChatFanout
from bridge.inbox.labels import ConversationStatus, Priority
from bridge.inbox import cycles
from bridge.inbox.models import Contact, Conversation, utcnow
from bridge.inbox.phone import PhoneNumber, guess_timezone
from bridge.inbox.routing import InboxDirectory, InboxRoute

# Built once: the hot path of every inbound text.
_CONTACT_BY_PHONE = select(Contact.id).where(Contact.phone == bindparam("phone"))
_CONVERSATION_OF = select(Conversation).where(
    Conversation.inbox_id == bindparam("inbox_id"), Conversation.contact_id == bindparam("contact_id")
)


class Conversations:
    def __init__(self, fanout: ChatFanout, directory: InboxDirectory) -> None:
        self.fanout = fanout
        self.directory = directory

    async def open(self, session: AsyncSession, inbox: InboxRoute, phone: PhoneNumber) -> tuple[Conversation, bool]:
        """The contact's conversation in this inbox, created (with its card) when new (`/sms new`)."""
        conv, created = await self.find_or_create(session, inbox.id, phone)
        if created:
            await cycles.team_started(session, conv.id, inbox.id, utcnow())
            await self.fanout.card(session, inbox, conv.id)
        return conv, created

    async def find_or_create(self, session: AsyncSession, inbox_id: int, phone: PhoneNumber) -> tuple[Conversation, bool]:
        """(conversation, created): two first texts at once still make one contact and one conversation."""
        contact_id = await self._contact_id(session, phone)
        found = await self._find(session, inbox_id, contact_id)
        if found is not None:
            return found, False
        now = utcnow()
        new_id = await insert_ignore(
            session,
            Conversation,
            {
                "inbox_id": inbox_id,
                "contact_id": contact_id,
                "status": ConversationStatus.NEW.value,
                "priority": Priority.NORMAL.value,
                "created_at": now,
                "updated_at": now,
            },
            ["inbox_id", "contact_id"],
        )
        if new_id is not None:
            return await session.get_one(Conversation, new_id), True
        found = await self._find(session, inbox_id, contact_id)
        assert found is not None  # the conflicting row exists
        return found, False

    async def refresh_other_cards(self, session: AsyncSession, conv: Conversation) -> None:
        """Update the cards of the same contact's conversations in the other inboxes."""
        others = await session.execute(
            select(Conversation.id, Conversation.inbox_id).where(
                Conversation.contact_id == conv.contact_id, Conversation.id != conv.id
            )
        )
        for other_id, other_inbox_id in others.all():
            try:
                other_inbox = self.directory.get(other_inbox_id)
            except KeyError:
                continue  # an inbox no longer configured has no chat to update
            await self.fanout.card(session, other_inbox, other_id)

    @staticmethod
    async def _contact_id(session: AsyncSession, phone: PhoneNumber) -> int:
        # Most texts come from known customers: look first, insert only when new. The
        # insert ignores a conflict, so two first texts at once still make one contact.
        found = await session.scalar(_CONTACT_BY_PHONE, {"phone": phone.key})
        if found is not None:
            return int(found)
        new_id = await insert_ignore(
            session,
            Contact,
            {
                "phone": phone.key,
                "phone_valid": phone.valid,
                "timezone": guess_timezone(phone.e164) if phone.e164 else None,
                "created_at": utcnow(),
            },
            ["phone"],
        )
        if new_id is not None:
            return int(new_id)
        winner = await session.scalar(_CONTACT_BY_PHONE, {"phone": phone.key})
        assert winner is not None  # the conflicting row exists
        return int(winner)

    @staticmethod
    async def _find(session: AsyncSession, inbox_id: int, contact_id: int) -> Conversation | None:
        return (
            await session.execute(_CONVERSATION_OF, {"inbox_id": inbox_id, "contact_id": contact_id})
        ).scalar_one_or_none()
