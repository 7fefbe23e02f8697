"""Opt-out state (docs/compliance.md rules 1-4, 7, 8, 12): suppressions and their history.

Every change writes a `consent_events` row saying what changed, when, from which source,
who recorded it (`actor`) and why (`detail`); nothing here deletes those rows.
Actions: `opt_out` (this inbox), `opt_out_all` (every inbox), `opt_in` (an opt-out
lifted), `consent` (consent given, with nothing to lift: a teammate's confirmation, an
import). An event with no inbox covers every inbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, String, and_, cast, delete, exists, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox.db import changed_rows, insert_ignore
from bridge.inbox.models import ConsentEvent, Contact, Conversation, Inbox, Suppression, utcnow
from bridge.inbox.pseudonyms import cached_pepper, hash_with, known_hash, pepper_value, remember
from bridge.inbox.whatsapp import bare

ALL_INBOXES = "all"
OPT_OUTS = ("opt_out", "opt_out_all")
CONSENTS = ("opt_in", "consent")
KEYWORD_ACTOR = "contact"  # the customer's own keyword
PROVIDER_ACTOR = "provider"


INBOX_SCOPE_PREFIX = "inbox:"


def inbox_scope(inbox_id: int) -> str:
    return f"{INBOX_SCOPE_PREFIX}{inbox_id}"


async def _phones(session: AsyncSession, phone: str) -> list[str]:
    """The number as stored: in clear, and as the hash it is kept as once erased (rule 9)."""
    hashed = await known_hash(session, phone)
    return [phone] if hashed is None else [phone, hashed]


async def is_suppressed(session: AsyncSession, phone: str, inbox_id: int) -> bool:
    """Opted out of this inbox (or everywhere), in clear or as an erased number's hash (rule 9).

    One statement, as before erasure existed: until this process knows the pepper, the
    clear lookup reads it alongside, and only when one exists is the hash looked up."""
    phone = bare(phone)  # a WhatsApp message's "whatsapp:+…" is the same person
    scope = or_(Suppression.scope == ALL_INBOXES, Suppression.scope == inbox_scope(inbox_id))
    pepper = cached_pepper(session)
    if pepper is None:
        clear = select(Suppression.id).where(Suppression.phone == phone, scope).limit(1).scalar_subquery()
        found, stored = (await session.execute(select(clear, pepper_value()))).one()
        if found is not None:
            return True
        if stored is None:
            return False  # nothing was ever erased: nothing is filed under a hash
        pepper = remember(session, stored)
    hashed = select(Suppression.id).where(Suppression.phone.in_([phone, hash_with(pepper, phone)]), scope).limit(1)
    return (await session.execute(hashed)).first() is not None


def _default_actor(source: str) -> str | None:
    return {"keyword": KEYWORD_ACTOR, "provider": PROVIDER_ACTOR}.get(source)


async def opt_out(
    session: AsyncSession,
    phone: str,
    inbox_id: int | None,
    *,
    everywhere: bool,
    source: str,
    raw_text: str | None,
    actor: str | None = None,
    detail: str | None = None,
) -> bool:
    """Record an opt-out; True when it is new (so a confirmation is owed exactly once).
    `inbox_id` None (an import): every inbox."""
    phone = bare(phone)
    if inbox_id is None:
        everywhere = True
    scope = ALL_INBOXES if everywhere or inbox_id is None else inbox_scope(inbox_id)
    was_suppressed = await _suppressed_in(session, phone, inbox_id)
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
            actor=actor or _default_actor(source),
            detail=detail,
            created_at=utcnow(),
        )
    )
    return not was_suppressed


async def _suppressed_in(session: AsyncSession, phone: str, inbox_id: int | None) -> bool:
    if inbox_id is not None:
        return await is_suppressed(session, phone, inbox_id)
    return await suppressed_everywhere(session, phone)


async def suppressed_everywhere(session: AsyncSession, phone: str) -> bool:
    found = await session.execute(select(Suppression.id).where(Suppression.phone == phone, Suppression.scope == ALL_INBOXES))
    return found.first() is not None


async def opt_in(
    session: AsyncSession,
    phone: str,
    inbox_id: int,
    *,
    source: str,
    raw_text: str | None,
    actor: str | None = None,
    detail: str | None = None,
) -> bool:
    """Lift the opt-out for this inbox only; True when one was lifted.

    START to one number after STOPALL re-subscribes to that number, not to every
    number of the business: the all-inbox opt-out becomes one per other inbox.
    """
    phone = bare(phone)
    phones = await _phones(session, phone)
    everywhere = changed_rows(
        await session.execute(delete(Suppression).where(Suppression.phone.in_(phones), Suppression.scope == ALL_INBOXES))
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
            delete(Suppression).where(Suppression.phone.in_(phones), Suppression.scope == inbox_scope(inbox_id))
        )
    )
    session.add(
        ConsentEvent(
            phone=phone, inbox_id=inbox_id, action="opt_in", source=source, raw_text=raw_text,
            actor=actor or _default_actor(source), detail=detail, created_at=utcnow(),
        )
    )
    return bool(everywhere or here)


def record_consent(
    session: AsyncSession, phone: str, inbox_id: int | None, *, source: str, actor: str, detail: str | None
) -> None:
    """Consent given (a teammate's confirmation, an import): lifts no opt-out by itself."""
    session.add(
        ConsentEvent(
            phone=phone, inbox_id=inbox_id, action="consent", source=source, raw_text=None,
            actor=actor, detail=detail, created_at=utcnow(),
        )
    )


def _in_scope(inbox_id: int) -> ColumnElement[bool]:
    """Events that bear on `inbox_id`: its own, every-inbox ones, and STOPALL anywhere."""
    return or_(ConsentEvent.inbox_id == inbox_id, ConsentEvent.inbox_id.is_(None), ConsentEvent.action == "opt_out_all")


@dataclass(frozen=True)
class ConsentState:
    """What a card says about consent: `opted_out`, `consent` (on record) or `none`."""

    state: str
    at: datetime | None = None
    source: str | None = None  # keyword, teammate, provider, import
    how: str | None = None  # the keyword typed, the import file, a teammate's reason

    @property
    def opted_out(self) -> bool:
        return self.state == "opted_out"


NO_CONSENT = ConsentState("none")


async def consent_state(session: AsyncSession, phone: str, inbox_id: int, *, texted_in: bool) -> ConsentState:
    """The card's consent line. An opt-out wins; else the latest consent on record; a
    customer who texted this inbox first consented to be answered.

    One statement for a contact with no consent events (most of them), two otherwise:
    a card is read on every change to a conversation."""
    suppressed_here = exists().where(
        Suppression.phone == phone, or_(Suppression.scope == ALL_INBOXES, Suppression.scope == inbox_scope(inbox_id))
    )
    suppressed, latest_id = (
        await session.execute(select(suppressed_here, _latest(phone, inbox_id, None).scalar_subquery()))
    ).one()
    return await consent_from(session, phone, inbox_id, texted_in=texted_in, suppressed=suppressed, latest_id=latest_id)


def consent_columns() -> tuple[ColumnElement[bool], ColumnElement[int]]:
    """What `consent_state` reads first, as two columns of a statement that selects a
    conversation and its contact (views.py reads a card in one statement): whether the
    number is suppressed for the conversation's inbox, and its latest consent event."""
    scope = literal(INBOX_SCOPE_PREFIX) + cast(Conversation.inbox_id, String)
    suppressed = exists().where(
        Suppression.phone == Contact.phone, or_(Suppression.scope == ALL_INBOXES, Suppression.scope == scope)
    )
    latest = (
        select(ConsentEvent.id)
        .where(
            ConsentEvent.phone == Contact.phone,
            or_(
                ConsentEvent.inbox_id == Conversation.inbox_id,
                ConsentEvent.inbox_id.is_(None),
                ConsentEvent.action == "opt_out_all",
            ),
        )
        .order_by(ConsentEvent.created_at.desc(), ConsentEvent.id.desc())
        .limit(1)
        .correlate(Contact, Conversation)
        .scalar_subquery()
    )
    return suppressed.correlate(Contact, Conversation), latest


async def consent_from(
    session: AsyncSession, phone: str, inbox_id: int, *, texted_in: bool, suppressed: bool, latest_id: int | None
) -> ConsentState:
    """`consent_state` once its first statement (or `consent_columns`) was read."""
    wanted = OPT_OUTS if suppressed else CONSENTS
    event = await session.get(ConsentEvent, latest_id) if latest_id is not None else None
    if event is not None and event.action not in wanted:  # e.g. an import's consent after an opt-out
        found = (await session.execute(_latest(phone, inbox_id, wanted))).scalar_one_or_none()
        event = await session.get(ConsentEvent, found) if found is not None else None
    if event is not None:
        state = "opted_out" if suppressed else "consent"
        return ConsentState(state, event.created_at, event.source, _how(event))
    if suppressed:  # a suppression older than its history (or written by hand)
        return ConsentState("opted_out")
    if texted_in:
        return ConsentState("consent", None, "texted in")
    return NO_CONSENT


def _latest(phone: str, inbox_id: int, actions: tuple[str, ...] | None) -> Select[int]:
    query = select(ConsentEvent.id).where(ConsentEvent.phone == phone, _in_scope(inbox_id))
    if actions is not None:
        query = query.where(ConsentEvent.action.in_(actions))
    return query.order_by(ConsentEvent.created_at.desc(), ConsentEvent.id.desc()).limit(1)


def _how(event: ConsentEvent) -> str | None:
    if event.source == "keyword" and event.raw_text:
        return event.raw_text.strip()[:40]
    if event.actor and event.actor.startswith("import:"):
        return event.actor.removeprefix("import:")
    return event.detail[:80] if event.detail else None


async def history(session: AsyncSession, phone: str, inbox_id: int, limit: int) -> tuple[list[ConsentEvent], int]:
    """The newest `limit` events that bear on this inbox, and how many there are in all."""
    where = (ConsentEvent.phone == phone, _in_scope(inbox_id))
    rows = (
        await session.execute(
            select(ConsentEvent).where(*where).order_by(ConsentEvent.created_at.desc(), ConsentEvent.id.desc()).limit(limit)
        )
    ).scalars().all()
    total = (await session.execute(select(func.count()).select_from(ConsentEvent).where(*where))).scalar_one()
    return list(rows), int(total)


async def may_start(session: AsyncSession, phone: str, inbox_id: int) -> bool:
    """Whether a teammate may text this number first without confirming consent: it has
    texted this inbox before, or consent is on record (rule 8)."""
    texted = exists().where(
        Conversation.contact_id == Contact.id,
        Contact.phone == phone,
        Conversation.inbox_id == inbox_id,
        Conversation.last_inbound_at.is_not(None),
    )
    consented = exists().where(
        and_(ConsentEvent.phone == phone, _in_scope(inbox_id), ConsentEvent.action.in_(CONSENTS))
    )
    return bool((await session.execute(select(or_(texted, consented)))).scalar())
