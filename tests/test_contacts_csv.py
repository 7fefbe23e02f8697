"""Contacts CSV import/export: the library on both databases, the command on SQLite."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import select

from bridge.inbox.contacts_csv import ContactsCsvError, export_contacts, import_contacts
from bridge.inbox.db import Database
from bridge.inbox.models import Contact
from tests.test_cli import _cli

SHEET = """\
Phone,Name,Notes,Tags,Timezone,Company
(415) 555-0101,Ana Ruiz,Prefers texts,vip;wholesale,America/Los_Angeles,Acme
+1 212 555 0142,Ben Ode,,lead | b2b,,
not a number,Nobody,,,,
415-555-0103,Cleo,,,Mars/Olympus,
,No Phone,,,,

+44 20 7946 0958,Dee,,,,Initech
"""


async def _contacts(db: Database) -> dict[str, Contact]:
    async with db.sessions() as session:
        return {c.phone: c for c in (await session.execute(select(Contact))).scalars()}


async def test_import_normalises_and_reports_bad_rows_by_line(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text(SHEET, encoding="utf-8")
    report = await import_contacts(db, path)
    assert (report.imported, report.updated) == (3, 0)
    assert [(s.line, s.reason) for s in report.skipped] == [
        (4, "'not a number' is not a valid phone number"),
        (5, "unknown time zone 'Mars/Olympus'"),
        (6, "no phone number"),
    ]
    assert report.summary().startswith("imported 3, updated 0, skipped 3 (line 4: ")

    contacts = await _contacts(db)
    assert set(contacts) == {"+14155550101", "+12125550142", "+442079460958"}
    ana = contacts["+14155550101"]
    assert (ana.name, ana.notes, ana.tags, ana.timezone) == ("Ana Ruiz", "Prefers texts", ["vip", "wholesale"], "America/Los_Angeles")
    assert ana.properties == {"Company": "Acme"}
    ben = contacts["+12125550142"]
    assert ben.tags == ["lead", "b2b"] and ben.properties == {}
    assert ben.timezone == "America/New_York"  # guessed from the number when not given


async def test_import_updates_only_what_the_file_gives(db: Database, tmp_path: Path) -> None:
    async with db.sessions() as session, session.begin():
        session.add(Contact(phone="+14155550101", name="Ana", notes="keep me", tags=["old"], properties={"Plan": "gold"}))
        session.add(Contact(phone="+14155550109", name="Untouched", tags=["x"]))
    path = tmp_path / "update.csv"
    path.write_text("phone,name,tags,City\n415 555 0101,,new|vip,Lisbon\n", encoding="utf-8")
    report = await import_contacts(db, path)
    assert (report.imported, report.updated, report.skipped) == (0, 1, [])

    contacts = await _contacts(db)
    ana = contacts["+14155550101"]
    assert (ana.name, ana.notes, ana.tags) == ("Ana", "keep me", ["new", "vip"])
    assert ana.properties == {"Plan": "gold", "City": "Lisbon"}
    other = contacts["+14155550109"]
    assert (other.name, other.tags) == ("Untouched", ["x"])


async def test_export_round_trips(db: Database, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text(SHEET, encoding="utf-8")
    await import_contacts(db, source)
    out = tmp_path / "out.csv"
    assert await export_contacts(db, out) == 3
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["phone", "name", "notes", "tags", "timezone", "Company"]
    assert rows[0] == {
        "phone": "+14155550101", "name": "Ana Ruiz", "notes": "Prefers texts", "tags": "vip;wholesale",
        "timezone": "America/Los_Angeles", "Company": "Acme",
    }
    assert rows[2]["Company"] == "Initech" and rows[1]["Company"] == ""

    before = await _contacts(db)
    report = await import_contacts(db, out)  # the export is a valid import
    assert (report.imported, report.updated, report.skipped) == (0, 3, [])
    after = await _contacts(db)
    assert {p: (c.name, c.tags, c.timezone, c.properties) for p, c in after.items()} == {
        p: (c.name, c.tags, c.timezone, c.properties) for p, c in before.items()
    }


async def test_a_file_without_a_phone_column_changes_nothing(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("name,tags\nAna,vip\n", encoding="utf-8")
    with pytest.raises(ContactsCsvError, match="no 'phone' column"):
        await import_contacts(db, path)
    path.write_bytes(b"phone,name\n+14155550101,Ren\xe9e\n")  # Latin-1, not UTF-8
    with pytest.raises(ContactsCsvError, match="not UTF-8"):
        await import_contacts(db, path)
    assert await _contacts(db) == {}


def test_the_command_imports_and_exports_without_tracebacks(tmp_path: Path) -> None:
    sheet = tmp_path / "contacts.csv"
    sheet.write_text(SHEET, encoding="utf-8")
    result = _cli(["contacts", "import", str(sheet)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "imported 3, updated 0, skipped 3" in result.stdout
    assert "line 4:" in result.stdout and "Traceback" not in result.stdout + result.stderr

    result = _cli(["contacts", "import", str(sheet)], tmp_path)
    assert "imported 0, updated 3, skipped 3" in result.stdout

    out = tmp_path / "out.csv"
    result = _cli(["contacts", "export", str(out)], tmp_path)
    assert result.returncode == 0 and "exported 3 contacts" in result.stdout
    assert out.read_text(encoding="utf-8").startswith("phone,name,notes,tags,timezone,Company")

    for args in (["contacts", "import", str(tmp_path / "missing.csv")], ["contacts", "import", str(tmp_path)]):
        result = _cli(args, tmp_path)
        assert result.returncode == 1 and "Traceback" not in result.stderr and "smsbridge:" in result.stderr
    (tmp_path / "nophone.csv").write_text("name\nAna\n")
    result = _cli(["contacts", "import", str(tmp_path / "nophone.csv")], tmp_path)
    assert result.returncode == 1 and "no 'phone' column" in result.stderr and "Traceback" not in result.stderr
