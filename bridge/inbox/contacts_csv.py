"""Contacts in and out as CSV: the spreadsheet a team already keeps.

Columns (header names are case-insensitive; only `phone` is required):
    phone     any common format; stored as E.164 (bridge.inbox.phone.parse_phone)
    name, notes
    tags      separated by ";" or "|"
    timezone  an IANA zone ("America/Chicago"); guessed from the number when absent
    opted_out yes/true/1 records an opt-out from every inbox (no/false/0/empty: nothing)
    consent   yes, a date or how they consented ("2024-05-01 web form") records consent
              given (no/false/0/empty: nothing)
    anything else becomes a custom property of the contact

`opted_out` and `consent` are consent events (docs/compliance.md rule 8), recorded with
the actor "import:<file name>", never custom properties. An import never lifts an
opt-out, and importing the same file again records nothing twice.

Import is an upsert on the phone number. For an existing contact only what the file
gives is changed: an empty cell leaves the stored value alone (so a sheet with just
phone and tags cannot wipe names), given properties are merged into the stored ones,
and a given tags cell replaces the tags. A bad row is skipped and reported with its
line number; it never stops the rest of the file.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox import consent
from bridge.inbox.db import Database, insert_ignore
from bridge.inbox.models import ConsentEvent, Contact, utcnow
from bridge.inbox.phone import guess_timezone, parse_phone

CORE_COLUMNS = ("phone", "name", "notes", "tags", "timezone")
CONSENT_COLUMNS = ("opted_out", "consent")
_YES = {"yes", "y", "true", "1", "x"}
_NO = {"", "no", "n", "false", "0", "none"}
_TAG_SEPARATORS = re.compile(r"[;|]")
# Rows per transaction: big enough to be quick, small enough not to hold the
# (single, shared) SQLite connection for long while webhooks wait.
_CHUNK = 500


class ContactsCsvError(Exception):
    """The file as a whole cannot be read (no phone column, not UTF-8, not CSV)."""


@dataclass(frozen=True)
class SkippedRow:
    line: int
    reason: str


@dataclass
class ImportReport:
    imported: int = 0
    updated: int = 0
    skipped: list[SkippedRow] = field(default_factory=list)
    opted_out: int = 0  # new opt-outs recorded from the `opted_out` column
    consented: int = 0  # consent events recorded from the `consent` column

    def summary(self, shown: int = 5) -> str:
        """One line for a person: counts, then the first few skipped rows and why."""
        text = f"imported {self.imported}, updated {self.updated}, skipped {len(self.skipped)}"
        if self.skipped:
            reasons = "; ".join(f"line {s.line}: {s.reason}" for s in self.skipped[:shown])
            more = f"; and {len(self.skipped) - shown} more" if len(self.skipped) > shown else ""
            text += f" ({reasons}{more})"
        if self.opted_out or self.consented:
            text += f"; consent records: {self.opted_out} opted out, {self.consented} consented"
        return text


@dataclass(frozen=True)
class ContactRow:
    """One valid line of the file, normalised."""

    line: int
    phone: str
    name: str | None
    notes: str | None
    tags: list[str] | None
    timezone: str | None
    properties: dict[str, str]
    opted_out: bool = False
    consent: str | None = None  # the cell as written ("yes", "2024-05-01 web form")


def parse_tags(cell: str) -> list[str]:
    return list(dict.fromkeys(t.strip() for t in _TAG_SEPARATORS.split(cell) if t.strip()))


def _valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _rows(path: Path, report: ImportReport) -> Iterator[ContactRow]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise ContactsCsvError(f"{path} is empty")
            names = [h.strip() for h in header]
            keys = [n.lower() if n.lower() in (*CORE_COLUMNS, *CONSENT_COLUMNS) else n for n in names]
            if "phone" not in keys:
                raise ContactsCsvError(f"{path} has no 'phone' column (columns: {', '.join(names) or 'none'})")
            for cells in reader:
                if not any(c.strip() for c in cells):
                    continue  # blank lines are common at the end of exported sheets
                values = {k: v.strip() for k, v in zip(keys, cells, strict=False) if k}
                row = _row(reader.line_num, values, report)
                if row is not None:
                    yield row
    except UnicodeDecodeError as exc:
        raise ContactsCsvError(f"{path} is not UTF-8 text ({exc.reason}); save it as 'CSV UTF-8'") from None
    except csv.Error as exc:
        raise ContactsCsvError(f"{path} is not a valid CSV file: {exc}") from None


def _row(line: int, values: dict[str, str], report: ImportReport) -> ContactRow | None:
    raw_phone = values.get("phone", "")
    if not raw_phone:
        report.skipped.append(SkippedRow(line, "no phone number"))
        return None
    phone = parse_phone(raw_phone)
    if not phone.valid or phone.e164 is None:
        report.skipped.append(SkippedRow(line, f"{raw_phone!r} is not a valid phone number"))
        return None
    zone = values.get("timezone") or None
    if zone is not None and not _valid_zone(zone):
        report.skipped.append(SkippedRow(line, f"unknown time zone {zone!r}"))
        return None
    opted_out = values.get("opted_out", "").lower()
    if opted_out not in _YES | _NO:
        report.skipped.append(SkippedRow(line, f"opted_out is {values['opted_out']!r}; write yes or no"))
        return None
    consent_cell = values.get("consent", "")
    tags = values.get("tags")
    return ContactRow(
        line=line,
        phone=phone.e164,
        name=values.get("name") or None,
        notes=values.get("notes") or None,
        tags=parse_tags(tags) if tags else None,
        timezone=zone,
        properties={k: v for k, v in values.items() if k not in (*CORE_COLUMNS, *CONSENT_COLUMNS) and v},
        opted_out=opted_out in _YES,
        consent=None if consent_cell.lower() in _NO else consent_cell,
    )


def _apply(contact: Contact, row: ContactRow) -> None:
    if row.name is not None:
        contact.name = row.name
    if row.notes is not None:
        contact.notes = row.notes
    if row.tags is not None:
        contact.tags = row.tags
    if row.timezone is not None:
        contact.timezone = row.timezone
    if row.properties:
        contact.properties = {**(contact.properties or {}), **row.properties}  # a new dict: JSON change is seen


async def _record_consent(session: AsyncSession, row: ContactRow, actor: str, report: ImportReport) -> None:
    """The row's consent columns as consent events, each recorded once however often the
    file is imported."""
    if row.opted_out and not await consent.suppressed_everywhere(session, row.phone):
        await consent.opt_out(
            session, row.phone, None, everywhere=True, source="import", raw_text=None, actor=actor, detail=f"line {row.line}"
        )
        report.opted_out += 1
    if row.consent is not None:
        detail = None if row.consent.lower() in _YES else row.consent[:500]
        seen = await session.execute(
            select(ConsentEvent.id).where(
                ConsentEvent.phone == row.phone,
                ConsentEvent.action == "consent",
                ConsentEvent.actor == actor,
                ConsentEvent.detail.is_(None) if detail is None else ConsentEvent.detail == detail,
            ).limit(1)
        )
        if seen.first() is None:
            consent.record_consent(session, row.phone, None, source="import", actor=actor, detail=detail)
            report.consented += 1


async def _import_chunk(db: Database, rows: list[ContactRow], report: ImportReport, actor: str) -> None:
    async with db.sessions() as session, session.begin():
        for row in rows:
            if row.opted_out or row.consent is not None:
                await _record_consent(session, row, actor, report)
            new_id = await insert_ignore(
                session,
                Contact,
                {
                    "phone": row.phone,
                    "phone_valid": True,
                    "name": row.name,
                    "notes": row.notes,
                    "tags": row.tags or [],
                    "properties": row.properties,
                    "timezone": row.timezone or guess_timezone(row.phone),
                    "created_at": utcnow(),
                },
                ["phone"],
            )
            if new_id is not None:
                report.imported += 1
                continue
            # It existed (or a webhook created it a moment ago): update what the file gives.
            contact = (await session.execute(select(Contact).where(Contact.phone == row.phone))).scalar_one()
            _apply(contact, row)
            report.updated += 1
            await session.flush()


async def import_contacts(db: Database, path: Path) -> ImportReport:
    """Upsert every valid row of the CSV at `path`; raises ContactsCsvError for a bad file."""
    report = ImportReport()
    rows = list(_rows(path, report))  # the whole file first: a broken file changes nothing
    actor = f"import:{path.name}"[:200]
    chunk: list[ContactRow] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= _CHUNK:
            await _import_chunk(db, chunk, report, actor)
            chunk = []
    if chunk:
        await _import_chunk(db, chunk, report, actor)
    return report


async def export_contacts(db: Database, path: Path) -> int:
    """Write every contact to `path` (the import's columns, properties as extra columns)."""
    async with db.sessions() as session:
        contacts = list((await session.execute(select(Contact).order_by(Contact.id))).scalars())
    extra = sorted({key for c in contacts for key in (c.properties or {})} - set(CORE_COLUMNS))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*CORE_COLUMNS, *extra])
        for contact in contacts:
            properties: dict[str, Any] = contact.properties or {}
            writer.writerow(
                [
                    contact.phone,
                    contact.name or "",
                    contact.notes or "",
                    ";".join(contact.tags or []),
                    contact.timezone or "",
                    *(str(properties.get(key, "")) for key in extra),
                ]
            )
    return len(contacts)
