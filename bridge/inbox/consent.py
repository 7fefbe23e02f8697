"""Opt-out state (docs/compliance.md rules 1-4, 7, 8, 12): suppressions and their history."""

from __future__ import annotations

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox.db import changed_rows, insert_ignore
from bridge.inbox.models import ConsentEvent, Inbox, Suppression, utcnow
from bridge.inbox.whatsapp import bare

ALL_INBOXES = "all"


def inbox_scope(inbox_id: int) -> str:
    return f"inbox:{inbox_id}"


async def is_suppressed(session: AsyncSession, phone: str, inbox_id: int) -> bool:
    phone = bare(phone)  # a WhatsApp message's "whatsapp:+…" is the same person
    found = await session.execute(
        select(Suppression.id)
        .where(Suppression.phone == phone, or_(Suppression.scope == ALL_INBOXES, Suppression.scope == inbox_scope(inbox_id)))
        .limit(1)
    )
    return found.first() is not None


async def opt_out(
    session: AsyncSession, phone: str, inbox_id: int, *, everywhere: bool, source: str, raw_text: str | None
) -> bool:
    """Record an opt-out; True when it is new (so a confirmation is owed exactly once)."""
    phone = bare(phone)
    scope = ALL_INBOXES if everywhere else inbox_scope(inbox_id)
    was_suppressed = await is_suppressed(session, phone, inbox_id)
    await insert_ignore(
        session,
        Suppression,
        {"phone": phone, "scope": scope, "source": source, "created_at": utcnow()},
        ["phone", "scope"],
    )
    session.add(
        ConsentEvent(
            phone=phone,
            inbox_id=inbox_id,
            action="opt_out_all" if everywhere else "opt_out",
            source=source,
            raw_text=raw_text,
        )
    )
    return not was_suppressed


async def opt_in(session: AsyncSession, phone: str, inbox_id: int, *, source: str, raw_text: str | None) -> bool:
    """Lift the opt-out for this inbox only; True when one was lifted.

    START to one number after STOPALL re-subscribes to that number, not to every
    number of the business: the all-inbox opt-out becomes one per other inbox.
    """
    phone = bare(phone)
    everywhere = changed_rows(
        await session.execute(delete(Suppression).where(Suppression.phone == phone, Suppression.scope == ALL_INBOXES))
    )
    if everywhere:
        others = (await session.execute(select(Inbox.id).where(Inbox.id != inbox_id))).scalars().all()
        for other in others:
            await insert_ignore(
                session,
                Suppression,
                {"phone": phone, "scope": inbox_scope(other), "source": "keyword", "created_at": utcnow()},
                ["phone", "scope"],
            )
    here = changed_rows(
        await session.execute(
            delete(Suppression).where(Suppression.phone == phone, Suppression.scope == inbox_scope(inbox_id))
        )
    )
    session.add(ConsentEvent(phone=phone, inbox_id=inbox_id, action="opt_in", source=source, raw_text=raw_text))
    return bool(everywhere or here)
