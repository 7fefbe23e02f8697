"""Full-text search across every conversation: message and note text, contacts.

The index itself (the `search_index` table and the triggers that keep it in sync) is
migration 0003; read its docstring for the layout. This module turns what a teammate
types into a safe query, walks the index newest first and keeps one hit per
conversation.

Query language, the same on SQLite and PostgreSQL:
- words are ANDed; the last word also matches as a prefix ("refu" finds "refund");
- a run that looks like a phone number ("(415) 555-0101", "+1 415 555 0101",
  "4155550101") matches the contact's number in any format, or the digits written
  in a message;
- everything else (quotes, *, NEAR, -, parentheses) is just text: the user's input is
  reduced to words and each word is quoted, so it can never be read as syntax.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox.models import Contact, Conversation, UTCDateTime
from bridge.inbox.phone import parse_phone

# Prefix matching a one- or two-letter word would expand to a large part of the
# vocabulary (and cost a scan of it); such a last word is matched whole instead.
MIN_PREFIX = 3
SNIPPET_CHARS = 100
# First page of candidates; later pages double. Most searches need one page, because
# matches of a word are spread over many conversations.
_FIRST_PAGE = 64
_MAX_ROWID = 2**63 - 1

_PHONE = re.compile(r"\+?\(?\d[\d\s().\-]{5,}\d")
_WORD = re.compile(r"[^\W_]+")


# Migration 0003 owns these tables, not the ORM models: the FTS5 table and its shadow
# tables on SQLite, the trigger-maintained table on PostgreSQL. Pass
# alembic_include_name as `include_name` wherever Alembic compares the models with a
# database (migrations/env.py, tests/test_migrations.py) so it never proposes to drop them.
INDEX_TABLES = frozenset({"search_index", *(f"search_index_{s}" for s in ("data", "idx", "content", "docsize", "config"))})


def alembic_include_name(name: str | None, type_: str, parent_names: Mapping[str, str | None]) -> bool:
    return not (type_ == "table" and name in INDEX_TABLES)


@dataclass(frozen=True)
class SearchHit:
    conversation_id: int
    contact_name: str | None
    phone: str
    snippet: str
    kind: str  # "message" | "note" | "contact"
    at: datetime
    inbox_id: int = 0


# -- the query -----------------------------------------------------------------------


def fold(value: str) -> str:
    """Lower case without diacritics, character for character (keeps offsets)."""
    return "".join(_fold_char(c) for c in value.lower())


def _fold_char(char: str) -> str:
    if char.isascii():
        return char
    bare = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    return bare if len(bare) == 1 else char


@dataclass(frozen=True)
class Term:
    """One ANDed part of a query: any of its alternatives (each a phrase of tokens) matches."""

    alternatives: tuple[tuple[str, ...], ...]
    prefix: bool = False  # only for a single-token alternative


def _phone_term(span: str, last: bool) -> Term:
    groups = tuple(re.findall(r"\d+", span))
    digits = "".join(groups)
    alternatives: list[tuple[str, ...]] = [(digits,)]
    number = parse_phone(span)
    if number.valid and number.e164:
        e164 = number.e164.lstrip("+")
        alternatives.append((e164,))
        if e164.startswith("1"):
            alternatives.append((e164[1:],))  # North American numbers: also indexed without the 1
    if len(groups) > 1:
        alternatives.append(groups)  # "415-555-0101" written in a message: tokens in a row
    unique = tuple(dict.fromkeys(alternatives))
    # A partial number being typed ("415 555 01") is matched as a prefix of the digits.
    return Term(unique, prefix=last and not number.valid)


def parse_query(query: str) -> list[Term]:
    """The user's text as ANDed terms; empty when there is nothing to search for."""
    terms: list[Term] = []
    position = 0
    folded = fold(query)
    pieces: list[tuple[str, str]] = []  # ("phone", span) | ("words", text)
    for match in _PHONE.finditer(folded):
        if len(re.sub(r"\D", "", match.group())) >= 7:
            pieces.append(("words", folded[position : match.start()]))
            pieces.append(("phone", match.group()))
            position = match.end()
    pieces.append(("words", folded[position:]))
    tokens: list[tuple[str, str]] = []
    for kind, value in pieces:
        if kind == "phone":
            tokens.append((kind, value))
        else:
            tokens.extend(("word", word) for word in _WORD.findall(value))
    for index, (kind, value) in enumerate(tokens):
        last = index == len(tokens) - 1
        if kind == "phone":
            terms.append(_phone_term(value, last))
        else:
            terms.append(Term(((value,),), prefix=last and len(value) >= MIN_PREFIX))
    return terms


def fts5_query(terms: Sequence[Term]) -> str:
    """FTS5 MATCH text. Every token is double-quoted: FTS5 reads it as a literal."""

    def phrase(tokens: tuple[str, ...], prefix: bool) -> str:
        quoted = '"' + " ".join(tokens).replace('"', '""') + '"'
        return quoted + ("*" if prefix else "")

    parts = []
    for term in terms:
        options = [phrase(alt, term.prefix and len(alt) == 1) for alt in term.alternatives]
        parts.append(options[0] if len(options) == 1 else "(" + " OR ".join(options) + ")")
    return " AND ".join(parts)


def tsquery(terms: Sequence[Term]) -> str:
    """to_tsquery text. Every token is single-quoted: a lexeme, never an operator."""

    def lexeme(token: str, prefix: bool) -> str:
        return "'" + token.replace("'", "''").replace("\\", "\\\\") + "'" + (":*" if prefix else "")

    def phrase(tokens: tuple[str, ...], prefix: bool) -> str:
        if len(tokens) == 1:
            return lexeme(tokens[0], prefix)
        return "(" + " <-> ".join(lexeme(t, False) for t in tokens) + ")"

    parts = []
    for term in terms:
        options = [phrase(alt, term.prefix) for alt in term.alternatives]
        parts.append(options[0] if len(options) == 1 else "(" + " | ".join(options) + ")")
    return " & ".join(parts)


# -- the index -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Match:
    conversation_id: int
    kind: str
    text: str
    at: datetime


_COLUMNS = {"created_at": UTCDateTime()}

_SQLITE_ITEMS = text(
    "SELECT rowid AS cursor, conversation_id, kind, text, created_at FROM search_index"
    " WHERE search_index MATCH :q AND rowid > 0 AND rowid < :before ORDER BY rowid DESC LIMIT :n"
).columns(**_COLUMNS)
_SQLITE_CONTACTS = text(
    "SELECT cv.id AS conversation_id, s.text, cv.updated_at AS created_at"
    # CROSS JOIN keeps the index outermost; the inbox IN (...) lets the conversations
    # lookup use UNIQUE (inbox_id, contact_id), as there is no index on contact_id alone.
    " FROM search_index AS s CROSS JOIN conversations AS cv"
    " ON cv.inbox_id IN (SELECT id FROM inboxes) AND cv.contact_id = -s.rowid"
    " WHERE search_index MATCH :q AND s.rowid < 0 ORDER BY cv.updated_at DESC LIMIT :n"
).columns(**_COLUMNS)

_PG_MATCH = "tsv @@ to_tsquery('simple', :q) AND kind <> 'contact'"
_PG_ITEMS_FIRST = text(
    "SELECT id AS cursor, conversation_id, kind, body AS text, created_at FROM search_index"
    f" WHERE {_PG_MATCH} ORDER BY created_at DESC, id DESC LIMIT :n"
).columns(**_COLUMNS)
_PG_ITEMS_NEXT = text(
    "SELECT id AS cursor, conversation_id, kind, body AS text, created_at FROM search_index"
    f" WHERE {_PG_MATCH} AND (created_at, id) < (:before_at, :before)"
    " ORDER BY created_at DESC, id DESC LIMIT :n"
).columns(**_COLUMNS)
_PG_CONTACTS = text(
    "SELECT cv.id AS conversation_id, s.body AS text, cv.updated_at AS created_at"
    " FROM search_index AS s JOIN conversations AS cv"
    " ON cv.inbox_id IN (SELECT id FROM inboxes) AND cv.contact_id = s.row_id"
    " WHERE s.kind = 'contact' AND s.tsv @@ to_tsquery('simple', :q)"
    " ORDER BY cv.updated_at DESC LIMIT :n"
).columns(**_COLUMNS)


async def _newest_items(session: AsyncSession, terms: Sequence[Term], limit: int) -> list[_Match]:
    """Newest matching message or note of the `limit` most recent conversations.

    Pages through matches newest first until `limit` distinct conversations are seen:
    any conversation not yet seen can only have older matches, so the answer is exact.
    """
    postgres = _dialect(session) == "postgresql"
    q = tsquery(terms) if postgres else fts5_query(terms)
    best: dict[int, _Match] = {}
    page = _FIRST_PAGE
    cursor: tuple[Any, int] | None = None
    while len(best) < limit:
        if postgres:
            stmt = _PG_ITEMS_FIRST if cursor is None else _PG_ITEMS_NEXT
            params: dict[str, Any] = {"q": q, "n": page}
            if cursor is not None:
                params.update(before_at=cursor[0].replace(tzinfo=None), before=cursor[1])
        else:
            stmt = _SQLITE_ITEMS
            params = {"q": q, "n": page, "before": _MAX_ROWID if cursor is None else cursor[1]}
        rows = (await session.execute(stmt, params)).all()
        for row in rows:
            best.setdefault(row.conversation_id, _Match(row.conversation_id, row.kind, row.text, row.created_at))
            if len(best) == limit:
                break
        if len(rows) < page:
            break
        cursor = (rows[-1].created_at, rows[-1].cursor)
        page *= 2
    return list(best.values())


async def _contact_matches(session: AsyncSession, terms: Sequence[Term], limit: int) -> list[_Match]:
    """Conversations whose contact matches, most recently active first."""
    if _dialect(session) == "postgresql":
        stmt, q = _PG_CONTACTS, tsquery(terms)
    else:
        stmt, q = _SQLITE_CONTACTS, fts5_query(terms)
    rows = (await session.execute(stmt, {"q": q, "n": limit})).all()
    return [_Match(row.conversation_id, "contact", row.text, row.created_at) for row in rows]


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


# -- snippets ------------------------------------------------------------------------


def snippet(body: str, terms: Sequence[Term], width: int = SNIPPET_CHARS) -> str:
    """About `width` characters of `body` around the first matched word."""
    flat = " ".join(body.split())
    if len(flat) <= width:
        return flat
    folded = fold(flat)
    starts = [
        found.start()
        for term in terms
        for alternative in term.alternatives
        if (found := re.search(r"(?<![^\W_])" + re.escape(alternative[0]), folded))
    ]
    first = min(starts, default=0)
    begin = max(0, min(first - width // 3, len(flat) - width))
    end = begin + width
    return ("…" if begin > 0 else "") + flat[begin:end].strip() + ("…" if end < len(flat) else "")


def _contact_snippet(contact: Contact) -> str:
    parts = [contact.name or "", contact.phone]
    parts += [f"#{tag}" for tag in contact.tags or []]
    if contact.notes:
        parts.append(contact.notes)
    return " · ".join(part for part in parts if part)


# -- the entry point -----------------------------------------------------------------


async def search(session: AsyncSession, query: str, limit: int = 20) -> list[SearchHit]:
    """Newest matching item of each matching conversation, newest first."""
    terms = parse_query(query)
    if not terms or limit <= 0:
        return []
    matches = await _newest_items(session, terms, limit) + await _contact_matches(session, terms, limit)
    newest: dict[int, _Match] = {}
    for match in matches:
        known = newest.get(match.conversation_id)
        if known is None or match.at > known.at:
            newest[match.conversation_id] = match
    chosen = sorted(newest.values(), key=lambda m: m.at, reverse=True)[:limit]
    if not chosen:
        return []
    rows = await session.execute(
        select(Conversation.id, Conversation.inbox_id, Contact)
        .join(Contact, Contact.id == Conversation.contact_id)
        .where(Conversation.id.in_([m.conversation_id for m in chosen]))
    )
    found = {conversation_id: (inbox_id, contact) for conversation_id, inbox_id, contact in rows}
    hits = []
    for match in chosen:
        inbox_id, contact = found[match.conversation_id]
        text_ = _contact_snippet(contact) if match.kind == "contact" else match.text
        hits.append(
            SearchHit(
                conversation_id=match.conversation_id,
                contact_name=contact.name,
                phone=contact.phone,
                snippet=snippet(text_, terms),
                kind=match.kind,
                at=match.at,
                inbox_id=inbox_id,
            )
        )
    return hits
