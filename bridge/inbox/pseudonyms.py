"""An erased contact's number, kept only as a keyed hash (compliance rule 9).

After `contacts erase` the number must still be recognised when it is seen again (an
opted-out customer stays opted out) but must not be readable from the database. So the
suppression and consent rows of an erased number keep, instead of the number, an
HMAC-SHA256 of its E.164 form keyed with a random pepper made once per installation
and stored in `install_secrets` (not in the settings: a changed or lost setting would
silently un-suppress every erased number).

This is pseudonymisation, not anonymisation: whoever holds the whole database (pepper
included) can test a given number, which is exactly what smsbridge needs to do. A copy
of the suppressions or consent history alone (an export, a leaked table) cannot be
turned back into numbers, unlike a plain SHA-256 of a ten-digit number.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import weakref
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox.db import insert_ignore
from bridge.inbox.models import InstallSecret, utcnow

PREFIX = "hmac:"  # stored numbers never start with a letter; 5 + 43 characters fit String(64)
PEPPER = "erasure_pepper"

# Per engine, once read: the pepper never changes after it is made.
_known: weakref.WeakKeyDictionary[Any, bytes] = weakref.WeakKeyDictionary()


def _engine(session: AsyncSession) -> Any:
    return session.sync_session.get_bind()


def hash_with(pepper: bytes, number: str) -> str:
    digest = hmac.new(pepper, number.encode(), hashlib.sha256).digest()
    return PREFIX + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def is_hashed(value: str) -> bool:
    return value.startswith(PREFIX)


def cached_pepper(session: AsyncSession) -> bytes | None:
    """The pepper this process has read already, if any (no statement)."""
    return _known.get(_engine(session))


def remember(session: AsyncSession, value: str) -> bytes:
    """Keep a committed pepper read from `install_secrets` for this database."""
    pepper = bytes.fromhex(value)
    _known[_engine(session)] = pepper
    return pepper


def pepper_value() -> Any:
    """The stored pepper as a scalar subquery, to read it along with something else."""
    return select(InstallSecret.value).where(InstallSecret.name == PEPPER).scalar_subquery()


async def known_pepper(session: AsyncSession) -> bytes | None:
    """The pepper, or None while nothing was ever erased (so nothing is hashed yet)."""
    cached = cached_pepper(session)
    if cached is not None:
        return cached
    value = (await session.execute(select(pepper_value()))).scalar_one_or_none()
    return None if value is None else remember(session, value)


async def pepper(session: AsyncSession) -> bytes:
    """The pepper, made on first use (a concurrent first use keeps the one that won)."""
    found = await known_pepper(session)
    if found is not None:
        return found
    await insert_ignore(
        session, InstallSecret, {"name": PEPPER, "value": secrets.token_hex(32), "created_at": utcnow()}, ["name"]
    )
    value = (await session.execute(select(InstallSecret.value).where(InstallSecret.name == PEPPER))).scalar_one()
    return bytes.fromhex(value)  # cached once the transaction that made it is read again


async def number_hash(session: AsyncSession, number: str) -> str:
    return hash_with(await pepper(session), number)


async def known_hash(session: AsyncSession, number: str) -> str | None:
    """The number's hash when any number was ever erased, else None (nothing to look for)."""
    found = await known_pepper(session)
    return hash_with(found, number) if found is not None else None
