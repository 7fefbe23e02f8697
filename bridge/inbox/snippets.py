"""Snippets (canned responses) and their variables.

A snippet whose variable has no value is refused, never sent with "{name}" in it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import ScalarSelect, delete, func, literal, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox.agents import AgentView
from bridge.inbox.errors import Refused
from bridge.inbox.markup import rich
from bridge.inbox.models import Contact, Conversation, Snippet, utcnow
from bridge.inbox.phone import format_phone
from bridge.inbox.routing import InboxRoute

VARIABLE = re.compile(r"\{([A-Za-z_][\w-]*)\}")


@dataclass(frozen=True)
class Filled:
    text: str
    missing: tuple[str, ...]


def fill(body: str, values: dict[str, str | None]) -> Filled:
    missing: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1).lower()
        value = values.get(name)
        if value is None or value == "":
            if name not in missing:
                missing.append(name)
            return match.group(0)
        return value

    return Filled(VARIABLE.sub(substitute, body), tuple(missing))


async def get(session: AsyncSession, name: str) -> Snippet | None:
    return (await session.execute(select(Snippet).where(Snippet.name == name.lower()))).scalar_one_or_none()


async def names(session: AsyncSession) -> list[str]:
    return list((await session.execute(select(Snippet.name).order_by(Snippet.name))).scalars().all())


_SEPARATOR = "\n"  # a snippet's name is one word (commands/workspace.py SNIPPET)


def names_column(dialect: str) -> ScalarSelect[str | None]:
    """`names` as one column of another statement (a card's, chatstate.py): the names
    joined by newlines, in the database's order on PostgreSQL; `names_from` splits them."""
    if dialect == "postgresql":
        joined = func.string_agg(Snippet.name, aggregate_order_by(literal(_SEPARATOR), Snippet.name))
    else:
        joined = func.group_concat(Snippet.name, _SEPARATOR)  # sorted by names_from, as SQLite sorts
    return select(joined).scalar_subquery()


def names_from(joined: str | None, dialect: str) -> list[str]:
    found = joined.split(_SEPARATOR) if joined else []
    return found if dialect == "postgresql" else sorted(found)


async def all_snippets(session: AsyncSession) -> list[Snippet]:
    return list((await session.execute(select(Snippet).order_by(Snippet.name))).scalars().all())


async def save(session: AsyncSession, name: str, body: str, by: str) -> str | None:
    """Create or replace; the previous body, or None when it is new."""
    existing = await get(session, name)
    if existing is None:
        session.add(Snippet(name=name.lower(), body=body, created_by=by))
        return None
    before = existing.body
    existing.body = body
    existing.updated_at = utcnow()
    return before


async def remove(session: AsyncSession, name: str) -> str | None:
    existing = await get(session, name)
    if existing is None:
        return None
    await session.execute(delete(Snippet).where(Snippet.id == existing.id))
    return existing.body


async def render(session: AsyncSession, name: str, inbox: InboxRoute, conv: Conversation, agent: AgentView) -> str:
    """The snippet's text for this conversation, or Refused naming what is missing."""
    snippet = await get(session, name)
    if snippet is None:
        known = await names(session)
        if known:
            raise Refused(rich("No snippet `{name}`. Known: {known}.", name=name, known=", ".join(known)))
        raise Refused(rich("No snippet `{name}`. There are none yet: `/sms snippet add NAME text`.", name=name))
    contact = await session.get_one(Contact, conv.contact_id)
    values: dict[str, str | None] = {
        "name": contact.name,
        "first_name": contact.name.split()[0] if contact.name else None,
        "agent": agent.name,
        "business": inbox.business_name or inbox.name,
        "number": format_phone(contact.phone),
    }
    values.update({key.lower(): value for key, value in (contact.properties or {}).items()})
    filled = fill(snippet.body, values)
    if filled.missing:
        wanted = ", ".join(f"{{{m}}}" for m in filled.missing)
        raise Refused(
            rich(
                "Not sent: snippet `{name}` needs `{wanted}`, which this contact does not have. "
                "Set it first (`!contact name …` or `!prop key=value`).",
                name=name,
                wanted=wanted,
            )
        )
    return filled.text
