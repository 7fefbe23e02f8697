"""Contacts and their conversations: found by phone and inbox, created once when new."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox import cycles
from bridge.inbox.db import insert_ignore
from bridge.inbox.fanout import ChatFanout
from bridge.inbox.labels import ConversationStatus, Priority
from bridge.inbox.models import Contact, Conversation, utcnow
from bridge.inbox.phone import PhoneNumber, guess_timezone
from bridge.inbox.routing import InboxDirectory, InboxRoute

# Built once: the hot path of every inbound text.
_CONTACT_BY_PHONE = select(Contact.id).where(Contact.phone == bindparam("phone"))
_CONVERSATION_OF = select(Conversation).where(
    Conversation.inbox_id == bindparam("inbox_id"), Conversation.contact_id == bindparam("contact_id")
)
# A known sender's contact and its conversation in this inbox (None when it has none
# there yet): one index probe each, one round trip.
_CONTACT_AND_CONVERSATION = (
    select(Contact.id, Conversation)
    .outerjoin(
        Conversation, and_(Conversation.contact_id == Contact.id, Conversation.inbox_id == bindparam("inbox_id"))
    )
    .where(Contact.phone == bindparam("phone"))
)


def new_contact_row(phone: PhoneNumber, now: datetime) -> dict[str, object]:
    """The `contacts` row of a number texting for the first time (its time zone guessed)."""
    return {
        "phone": phone.key,
        "phone_valid": phone.valid,
        "timezone": guess_timezone(phone.e164) if phone.e164 else None,
        "created_at": now,
    }


class Conversations:
    def __init__(self, fanout: ChatFanout, directory: InboxDirectory) -> None:
        self.fanout = fanout
        self.directory = directory

    async def open(self, session: AsyncSession, inbox: InboxRoute, phone: PhoneNumber) -> tuple[Conversation, bool]:
        """The contact's conversation in this inbox, created (with its card) when new (`/sms new`)."""
        conv, created = await self.find_or_create(session, inbox.id, phone)
        if created:
            await cycles.team_started(session, conv.id, inbox.id, utcnow(), new=True)
            await self.fanout.card(session, inbox, conv.id)
        return conv, created

    async def find_or_create(
        self, session: AsyncSession, inbox_id: int, phone: PhoneNumber, *, last_inbound_at: datetime | None = None
    ) -> tuple[Conversation, bool]:
        """(conversation, created): two first texts at once still make one contact and one conversation.

        A new conversation is created with `last_inbound_at` already set (no UPDATE after).
        """
        found = (await session.execute(_CONTACT_AND_CONVERSATION, {"phone": phone.key, "inbox_id": inbox_id})).first()
        now = utcnow()
        values = {
            "inbox_id": inbox_id,
            "status": ConversationStatus.NEW.value,
            "priority": Priority.NORMAL.value,
            "last_inbound_at": last_inbound_at,
            "created_at": now,
            "updated_at": now,
        }
        if found is None:
            contact_id = await self._new_contact(session, phone)
            if contact_id is not None:
                # This transaction created the contact: nobody else can see it before we
                # commit, so nobody else can have made its conversation. A plain INSERT
                # (no lookup, no conflict handling) is safe.
                new = Conversation(contact_id=contact_id, **values)
                session.add(new)
                await session.flush()
                return new, True
            contact_id = await self._contact_id(session, phone)  # another process made it meanwhile
        else:
            contact_id, existing = found
            if existing is not None:
                return existing, False
        new_id = await insert_ignore(session, Conversation, {"contact_id": contact_id, **values}, ["inbox_id", "contact_id"])
        if new_id is not None:
            return await session.get_one(Conversation, new_id), True
        winner = await self._find(session, inbox_id, contact_id)
        assert winner is not None  # the conflicting row exists
        return winner, False

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
    async def _new_contact(session: AsyncSession, phone: PhoneNumber) -> int | None:
        """A new contact's id; None when the number exists already (created concurrently).

        The insert ignores a conflict, so two first texts at once still make one contact.
        """
        new_id = await insert_ignore(session, Contact, new_contact_row(phone, utcnow()), ["phone"])
        return None if new_id is None else int(new_id)

    @staticmethod
    async def _contact_id(session: AsyncSession, phone: PhoneNumber) -> int:
        found = await session.scalar(_CONTACT_BY_PHONE, {"phone": phone.key})
        assert found is not None  # the conflicting row exists
        return int(found)

    @staticmethod
    async def _find(session: AsyncSession, inbox_id: int, contact_id: int) -> Conversation | None:
        return (
            await session.execute(_CONVERSATION_OF, {"inbox_id": inbox_id, "contact_id": contact_id})
        ).scalar_one_or_none()
