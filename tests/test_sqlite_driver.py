"""The one-hop aiosqlite cursor (bridge/inbox/sqlite_driver.py) behaves as SQLAlchemy's own."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from bridge.inbox.db import create_database
from bridge.inbox.sqlite_driver import OneHopConnection


async def test_rows_counts_ids_and_errors_come_back_as_with_aiosqlite(tmp_path: Path) -> None:
    db = create_database(f"sqlite+aiosqlite:///{tmp_path / 'one-hop.db'}")
    try:
        async with db.engine.begin() as conn:
            raw = await conn.get_raw_connection()
            assert isinstance(raw.dbapi_connection, OneHopConnection)
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE, n INTEGER)"))
            inserted = await conn.execute(text("INSERT INTO t (name, n) VALUES ('a', 1)"))
            assert inserted.lastrowid == 1
            await conn.execute(text("INSERT INTO t (name, n) VALUES (:name, :n)"), [{"name": f"b{i}", "n": i} for i in range(5)])
            changed = await conn.execute(text("UPDATE t SET n = n + 10 WHERE n < 3"))
            assert changed.rowcount == 4  # 'a' and b0..b2
            returned = await conn.execute(text("DELETE FROM t WHERE n >= 10 RETURNING name"))
            assert sorted(r[0] for r in returned) == ["a", "b0", "b1", "b2"]
            assert (await conn.execute(text("SELECT name FROM t ORDER BY name"))).scalars().all() == ["b3", "b4"]
        with pytest.raises(IntegrityError):
            async with db.engine.begin() as conn:
                await conn.execute(text("INSERT INTO t (name, n) VALUES ('b3', 0)"))
        async with db.engine.connect() as conn:  # the failed transaction was rolled back
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 2
        async with db.sessions() as session:  # a session that only reads ends without a ROLLBACK hop
            assert (await session.execute(text("SELECT n FROM t WHERE name = 'b4'"))).scalar_one() == 4
    finally:
        await db.dispose()
