"""Several processes on one database: migrations at once, and a database that drops
every connection (a PostgreSQL restart) while smsbridge runs."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from bridge.inbox.db import MIGRATIONS_DIR, migrate
from tests.conftest import DatabaseFactory


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
