"""Full-text search over messages, notes and contacts, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from sqlalchemy import delete, select

from bridge.inbox.db import Database
from bridge.inbox.models import Contact, Conversation, Inbox, Message, Note
from bridge.inbox.search import SearchHit, search

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_ids = count(1)


async def _inbox(db: Database) -> int:
    async with db.sessions() as session, session.begin():
        inbox = Inbox(name="support", number="+14155550100")
        session.add(inbox)
        await session.flush()
        return inbox.id


async def _conversation(db: Database, inbox_id: int, phone: str, name: str | None = None, **contact: object) -> int:
    async with db.sessions() as session, session.begin():
        person = Contact(phone=phone, name=name, **contact)
        session.add(person)
        await session.flush()
        conv = Conversation(inbox_id=inbox_id, contact_id=person.id, updated_at=T0 - timedelta(days=30))
        session.add(conv)
        await session.flush()
        return conv.id


async def _message(db: Database, conversation_id: int, body: str, minutes: int) -> int:
    async with db.sessions() as session, session.begin():
        message = Message(
            conversation_id=conversation_id, direction="in", body=body, status="received",
            created_at=T0 + timedelta(minutes=minutes),
        )
        session.add(message)
        await session.flush()
        return message.id


async def _note(db: Database, conversation_id: int, body: str, minutes: int) -> int:
    async with db.sessions() as session, session.begin():
        note = Note(
            conversation_id=conversation_id, platform="slack", platform_message_id=f"n{next(_ids)}",
            author_id="U1", author_name="Ana", body=body, created_at=T0 + timedelta(minutes=minutes),
        )
        session.add(note)
        await session.flush()
        return note.id


async def _search(db: Database, query: str, limit: int = 20) -> list[SearchHit]:
    async with db.sessions() as session:
        return await search(session, query, limit)


async def test_finds_message_note_and_contact_text(db: Database) -> None:
    inbox = await _inbox(db)
    maria = await _conversation(db, inbox, "+14155550101", "María Gómez")
    bob = await _conversation(db, inbox, "+14155550102", "Bob Stone", notes="prefers mornings")
    await _message(db, maria, "Where is my parcel? It was due Tuesday", 1)
    await _note(db, bob, "Offered him a voucher for the delay", 2)

    [hit] = await _search(db, "parcel")
    assert (hit.conversation_id, hit.kind, hit.contact_name, hit.phone) == (maria, "message", "María Gómez", "+14155550101")
    assert "parcel" in hit.snippet and hit.at == T0 + timedelta(minutes=1)

    [hit] = await _search(db, "VOUCHER")
    assert (hit.conversation_id, hit.kind) == (bob, "note")

    [hit] = await _search(db, "maria gomez")  # diacritics and case do not matter
    assert (hit.conversation_id, hit.kind) == (maria, "contact")
    [hit] = await _search(db, "mornings")  # the contact's notes
    assert hit.conversation_id == bob


@pytest.mark.parametrize(
    "query", ["+14155550101", "415 555 0101", "(415) 555-0101", "415-555-0101", "1 415 555 0101", "4155550101", "415.555.0101"]
)
async def test_finds_a_number_in_any_format(db: Database, query: str) -> None:
    inbox = await _inbox(db)
    conv = await _conversation(db, inbox, "+14155550101", "Zoe")
    await _conversation(db, inbox, "+14155550199", "Other")
    hits = await _search(db, query)
    assert [h.conversation_id for h in hits] == [conv]


async def test_finds_a_number_written_in_a_message(db: Database) -> None:
    inbox = await _inbox(db)
    conv = await _conversation(db, inbox, "+14155550101")
    await _message(db, conv, "Call my husband at (212) 555-0142 instead", 1)
    assert [h.kind for h in await _search(db, "212 555 0142")] == ["message"]
    assert [h.kind for h in await _search(db, "212-555-0142")] == ["message"]


async def test_finds_by_tag(db: Database) -> None:
    inbox = await _inbox(db)
    vip = await _conversation(db, inbox, "+14155550101", "Ann", tags=["vip", "wholesale"])
    await _conversation(db, inbox, "+14155550102", "Ben", tags=["lead"])
    assert [h.conversation_id for h in await _search(db, "vip")] == [vip]
    assert [h.conversation_id for h in await _search(db, "wholesale")] == [vip]


async def test_newest_first_and_one_hit_per_conversation(db: Database) -> None:
    inbox = await _inbox(db)
    a = await _conversation(db, inbox, "+14155550101")
    b = await _conversation(db, inbox, "+14155550102")
    c = await _conversation(db, inbox, "+14155550103")
    await _message(db, a, "refund please", 10)
    await _message(db, a, "still waiting for the refund", 50)  # a's newest match
    await _message(db, a, "hello?", 60)  # newer, but no match
    await _message(db, b, "refund for order 7", 30)
    await _note(db, c, "refund approved by finance", 40)

    hits = await _search(db, "refund")
    assert [(h.conversation_id, h.kind) for h in hits] == [(a, "message"), (c, "note"), (b, "message")]
    assert "still waiting" in hits[0].snippet
    assert [h.at for h in hits] == sorted((h.at for h in hits), reverse=True)
    assert [h.conversation_id for h in await _search(db, "refund", limit=2)] == [a, c]


async def test_many_matches_in_one_conversation_do_not_hide_others(db: Database) -> None:
    inbox = await _inbox(db)
    busy = await _conversation(db, inbox, "+14155550101")
    quiet = await _conversation(db, inbox, "+14155550102")
    await _message(db, quiet, "tracking number please", 0)
    async with db.sessions() as session, session.begin():
        session.add_all(
            Message(conversation_id=busy, direction="in", body=f"tracking update {i}", status="received",
                    created_at=T0 + timedelta(minutes=10 + i))
            for i in range(300)
        )
    hits = await _search(db, "tracking")
    assert [h.conversation_id for h in hits] == [busy, quiet]


async def test_words_are_anded_and_the_last_is_a_prefix(db: Database) -> None:
    inbox = await _inbox(db)
    a = await _conversation(db, inbox, "+14155550101")
    b = await _conversation(db, inbox, "+14155550102")
    await _message(db, a, "I was refunded for the broken lamp", 1)
    await _message(db, b, "The lamp arrived fine", 2)
    assert [h.conversation_id for h in await _search(db, "refu")] == [a]
    assert [h.conversation_id for h in await _search(db, "lamp refu")] == [a]
    assert [h.conversation_id for h in await _search(db, "lamp")] == [b, a]
    assert await _search(db, "refu lamp arrived") == []
    assert await _search(db, "refundable") == []


@pytest.mark.parametrize(
    "query", ['"', "a OR", "NEAR(", "*", "'; drop table messages; --", "-lamp", "(lamp", "lamp)", "lamp AND", "NOT", "\\", "col:lamp", "^lamp", "+", "  ", ""]
)
async def test_hostile_input_is_just_text(db: Database, query: str) -> None:
    inbox = await _inbox(db)
    conv = await _conversation(db, inbox, "+14155550101")
    await _message(db, conv, "the lamp is broken", 1)
    hits = await _search(db, query)  # must not raise
    assert all(h.conversation_id == conv for h in hits)
    async with db.sessions() as session:
        assert (await session.execute(select(Message.id))).scalars().all()  # nothing was dropped


async def test_updates_and_deletes_are_reflected(db: Database) -> None:
    inbox = await _inbox(db)
    conv = await _conversation(db, inbox, "+14155550101", "Old Name", tags=["lead"])
    message_id = await _message(db, conv, "my umbrella is missing", 1)
    note_id = await _note(db, conv, "check the umbrella stand", 2)
    assert [h.kind for h in await _search(db, "umbrella")] == ["note"]

    async with db.sessions() as session, session.begin():
        (await session.get_one(Note, note_id)).body = "asked the warehouse"
        (await session.get_one(Message, message_id)).status = "read"  # not indexed: no effect
        person = (await session.execute(select(Contact))).scalar_one()
        person.name, person.tags = "New Name", ["vip"]
    assert [h.kind for h in await _search(db, "umbrella")] == ["message"]
    assert [h.kind for h in await _search(db, "warehouse")] == ["note"]
    assert await _search(db, "old name") == [] and await _search(db, "lead") == []
    assert len(await _search(db, "new name")) == 1 and len(await _search(db, "vip")) == 1

    async with db.sessions() as session, session.begin():
        await session.execute(delete(Message).where(Message.id == message_id))
        await session.execute(delete(Note).where(Note.id == note_id))
    assert await _search(db, "umbrella") == [] and await _search(db, "warehouse") == []
