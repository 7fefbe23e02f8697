"""`smsbridge db copy`: a deployment used through the real app on SQLite, moved to a
fresh database (PostgreSQL when TEST_DATABASE_URL is set, another SQLite file always),
keeps every row, finds the same things and takes new texts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from bridge.dbcopy import CopyError, TableCount, copy_database
from bridge.dbcopy.copier import copied_tables
from bridge.inbox.db import Database, create_database
from bridge.inbox.models import Message
from tests.conftest import DatabaseFactory
from tests.harness import OTHER_CUSTOMER, Harness

ROOT = Path(__file__).resolve().parent.parent


class Recorder:
    """The copy's progress as a user's bar would show it."""

    def __init__(self) -> None:
        self.total = 0
        self.done: dict[str, int] = {}

    def start(self, totals: Any) -> None:
        self.total = sum(count for _, count in totals)

    def advance(self, table: str, rows: int) -> None:
        self.done[table] = self.done.get(table, 0) + rows


class Existing:
    """A factory handing out the already-filled database (a Harness on the target)."""

    def __init__(self, factory: DatabaseFactory) -> None:
        self.factory = factory
        self.url = factory.url

    async def new(self) -> Database:
        return self.factory.reopen()

    def reopen(self) -> Database:
        return self.factory.reopen()


async def _used_deployment(tmp_path: Path) -> str:
    """A SQLite deployment after a day of work: texts, replies, notes, a snippet, a contact."""
    h = Harness(DatabaseFactory("sqlite", tmp_path / "source"), admins=["UBEN"])
    await h.start()
    try:
        await h.text_in("Hi, is my bike ready?")
        root = await h.first_thread()
        await h.teammate(root, "customer wants a refund for the blue bike")
        await h.teammate(root, "!contact name Jane Doe")
        saved = await h.sms_command("snippet add greet Hi {first_name}, {agent} here from {business}.", user="UBEN")
        assert saved["text"] == "Snippet `greet` saved."
        await h.teammate(root, "!s greet")
        await h.teammate(root, "!r ready at 5")
        await h.text_in("thanks!")
        await h.text_in("a question from someone else", sender=OTHER_CUSTOMER)
        await h.drain()
        for sent in h.sms_sent():
            await h.status_callback(sent["sid"], "delivered")
        await h.drain()
        assert [m["Body"] for m in h.sms_sent()] == ["Hi Jane, Ana here from Acme Bikes.", "ready at 5"]
        return h.databases.url
    finally:
        await h.stop()


async def _counts(db: Database) -> dict[str, int]:
    async with db.engine.connect() as conn:
        counts = {
            name: int((await conn.execute(text(f'SELECT count(*) FROM "{name}"'))).scalar_one())
            for name in [t.name for t in copied_tables()] + ["search_index"]
        }
        # The reports' hourly counts are rebuilt by triggers: the messages they count match.
        hours = "SELECT COALESCE(SUM(messages), 0) FROM report_message_hours"
        counts["report_message_hours (messages)"] = int((await conn.execute(text(hours))).scalar_one())
        return counts


async def _history(db: Database) -> list[tuple[Any, ...]]:
    m = Message
    query = select(m.id, m.direction, m.body, m.media, m.status, m.author_name, m.created_at).order_by(m.id)
    async with db.engine.connect() as conn:
        return [tuple(r) for r in (await conn.execute(query)).all()]


async def test_copy_keeps_every_row_search_and_new_texts(databases: DatabaseFactory, tmp_path: Path) -> None:
    source = create_database(await _used_deployment(tmp_path))
    target = await databases.new()
    progress = Recorder()
    try:
        counts = await copy_database(source, target, batch_size=3, progress=progress)

        expected = await _counts(source)
        assert await _counts(target) == expected
        for table in ("contacts", "conversations", "messages", "notes", "snippets", "thread_links", "audit_events"):
            assert expected[table] > 0, table
        assert {c.table: (c.source, c.target) for c in counts} == {name: (n, n) for name, n in expected.items()}
        assert progress.total == sum(n for name, n in expected.items() if name in {t.name for t in copied_tables()})
        assert expected["report_message_hours (messages)"] == expected["messages"] > 0
        assert sum(progress.done.values()) == progress.total
        assert await _history(target) == await _history(source)

        # A second copy into the now filled target is refused and changes nothing.
        with pytest.raises(CopyError, match="the target database is not empty"):
            await copy_database(source, target)
        assert await _counts(target) == expected

        # And back: the copy reads PostgreSQL (or SQLite) as well as it writes it.
        back = create_database(f"sqlite+aiosqlite:///{tmp_path / 'back.db'}")
        try:
            assert all(c.matches for c in await copy_database(target, back))
            assert await _counts(back) == expected
            assert await _history(back) == await _history(source)
        finally:
            await back.dispose()
    finally:
        await source.dispose()
        await target.dispose()

    # smsbridge running on the target finds the note and takes a new customer's text.
    h = Harness(Existing(databases))
    await h.start()
    try:
        found = await h.sms_command("search refund")
        assert found["text"] == "1 conversation(s) for “refund”, newest first:"
        assert "Jane Doe — customer wants a refund for the blue bike" in str(found["blocks"])
        assert "Jane Doe" in str((await h.sms_command("search jane"))["blocks"])
        await h.text_in("first text after the move", sender="+14155550123")
        await h.slack.wait_for(lambda: len(h.roots()) == 1, message="the new conversation's card")
        await h.drain()
        assert (await h.rows("SELECT count(*) FROM messages"))[0][0] == expected["messages"] + 1
    finally:
        await h.stop()


async def test_a_value_too_long_for_its_column_stops_the_copy_and_leaves_the_target_empty(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    source = create_database(await _used_deployment(tmp_path))
    async with source.engine.begin() as conn:  # as an older version let it be stored
        await conn.execute(text("UPDATE messages SET provider_sid = :sid WHERE id = 1"), {"sid": "SM" + "0" * 70})
    target = await databases.new()
    try:
        with pytest.raises(CopyError, match=r"messages row id=1: provider_sid has 72 characters, the column holds 64"):
            await copy_database(source, target)
        assert set((await _counts(target)).values()) == {0}
        async with source.engine.begin() as conn:
            await conn.execute(text("UPDATE messages SET provider_sid = 'SMshort' WHERE id = 1"))
        assert all(c.matches for c in await copy_database(source, target))
    finally:
        await source.dispose()
        await target.dispose()


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SMSBRIDGE_CONFIG": str(cwd / "none.toml")}
    env.pop("DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "bridge", *args], check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


async def test_command_copies_prints_counts_and_refuses_a_second_time(tmp_path: Path) -> None:
    source_url = await _used_deployment(tmp_path)
    target_url = f"sqlite+aiosqlite:///{tmp_path / 'moved.db'}"

    done = _cli(["db", "copy", "--from", source_url, "--to", target_url], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "messages" in done.stdout and "ok" in done.stdout and "DIFFERS" not in done.stdout
    assert "every count matches" in done.stdout

    again = _cli(["db", "copy", "--from", source_url, "--to", target_url], tmp_path)
    assert again.returncode == 1
    [line] = again.stderr.strip().splitlines()
    assert line.startswith("smsbridge: db copy failed: the target database is not empty (table ")
    assert line.endswith("has rows); nothing was copied: give --to a new, empty database")


def test_counts_compare_source_and_target() -> None:
    assert TableCount("messages", 3, 3).matches and not TableCount("messages", 3, 2).matches
