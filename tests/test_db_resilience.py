"""Several processes on one database: migrations at once, and a database that drops
every connection (a PostgreSQL restart) while smsbridge runs."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from bridge.inbox.db import MIGRATIONS_DIR, Database, create_database, migrate
from tests.conftest import PG_SKIP_REASON, PG_URL, DatabaseFactory, _asyncpg_dsn
from tests.harness import Harness


def _head() -> str:
    from alembic.script import ScriptDirectory

    from bridge.inbox.db import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None and MIGRATIONS_DIR.exists()
    return head


async def test_processes_migrating_an_empty_database_at_once_all_succeed(databases: DatabaseFactory) -> None:
    first = await databases.new()
    handles = [first, databases.reopen(), databases.reopen()]
    try:
        # Without the lock this can deadlock rather than fail: bound it.
        results = await asyncio.wait_for(asyncio.gather(*(migrate(db) for db in handles), return_exceptions=True), 60)
        assert [r for r in results if isinstance(r, BaseException)] == []
        async with first.engine.connect() as conn:
            versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
        assert versions == [_head()]
    finally:
        for db in handles:
            await db.dispose()


_MIGRATE_IN_A_PROCESS = """
import asyncio, json, sys
from bridge.inbox.db import create_database, migrate

async def main() -> None:
    db = create_database(sys.argv[1], connect_args=json.loads(sys.argv[2]))
    try:
        await migrate(db)
    finally:
        await db.dispose()

asyncio.run(main())
"""


async def test_separate_processes_started_together_all_migrate(databases: DatabaseFactory) -> None:
    """As `smsbridge run` started by several processes on an empty database."""
    import json
    import sys

    db = await databases.new()
    connect_args = {"server_settings": {"search_path": databases.schemas[-1]}} if databases.schemas else {}
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", _MIGRATE_IN_A_PROCESS, databases.url, json.dumps(connect_args),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(3)
    ]
    outcomes = [(await asyncio.wait_for(p.wait(), 60), (await p.stderr.read()).decode()[-400:]) for p in processes if p.stderr]
    try:
        assert [code for code, _ in outcomes] == [0, 0, 0], outcomes
        async with db.engine.connect() as conn:
            versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
        assert versions == [_head()]
    finally:
        await db.dispose()


class NamedConnections(DatabaseFactory):
    """PostgreSQL schemas whose every connection carries this test's application_name,
    so the test can drop exactly its own backends, as a server restart would."""

    def __init__(self, tmp_path: Any) -> None:
        super().__init__("postgresql", tmp_path)
        self.application_name = f"smsbridge-test-{uuid.uuid4().hex[:10]}"

    def reopen(self) -> Database:
        settings = {"search_path": self.schemas[-1], "application_name": self.application_name}
        return create_database(self.url, connect_args={"server_settings": settings})


async def _backends(h: Harness, name: str) -> list[tuple[int, str]]:
    """(pid, last query) of every backend with `name`, seen from a connection of the test's own."""
    conn = await asyncpg.connect(_asyncpg_dsn(PG_URL or ""))
    try:
        rows = await conn.fetch("SELECT pid, query FROM pg_stat_activity WHERE application_name = $1", name)
        return [(r["pid"], r["query"]) for r in rows]
    finally:
        await conn.close()


async def _terminate(pids: list[int]) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(PG_URL or ""))
    try:
        await conn.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", pids)
    finally:
        await conn.close()


@pytest.mark.skipif(not PG_URL, reason=PG_SKIP_REASON)
async def test_processes_reconnect_after_the_database_dropped_every_connection(tmp_path: Any) -> None:
    databases = NamedConnections(tmp_path)
    h = Harness(databases)
    await h.start()
    try:
        await h.text_in("before the restart")
        root = await h.first_thread()
        await h.drain()
        name = databases.application_name
        killed = [pid for pid, _ in await _backends(h, name)]
        assert killed, "smsbridge holds connections (pool, LISTEN)"

        await _terminate(killed)
        await h.slack.wait_for(
            lambda: _gone(h, name, killed), timeout=10, message="the terminated backends to exit"
        )

        # The next webhook is stored and posted; workers carry on with a reply.
        await h.text_in("after the restart")
        await h.teammate(root, "!r we are back")
        await h.slack.wait_for(lambda: [m["text"] for m in h.thread(root)][-1:] != [], message="posts")
        await h.drain()
        assert [m["text"] for m in h.thread(root) if m["text"] in ("before the restart", "after the restart")] == [
            "before the restart",
            "after the restart",
        ]
        assert [m["Body"] for m in h.sms_sent()] == ["we are back"]
        # The LISTEN connection is back too: other processes' jobs still wake this one.
        await h.slack.wait_for(
            lambda: _listening(h, name), timeout=10, message="the outbox's LISTEN connection to return"
        )
    finally:
        await h.stop()
        await databases.cleanup()


async def _gone(h: Harness, name: str, pids: list[int]) -> bool:
    return not {pid for pid, _ in await _backends(h, name)} & set(pids)


async def _listening(h: Harness, name: str) -> bool:
    return any(query.startswith("LISTEN") for _, query in await _backends(h, name))
