"""Database engine, sessions and migrations.

SQLite (the default) gets WAL and one shared connection: every transaction here is
short, and queueing on one connection beats SQLite's busy-wait between writers.
PostgreSQL gets a normal pool; the outbox then claims jobs with SKIP LOCKED.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


@dataclass
class Database:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    async def ping(self, timeout: float = 5.0) -> bool:
        try:
            async with asyncio.timeout(timeout), self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - any failure means "not healthy"
            return False

    async def dispose(self) -> None:
        await self.engine.dispose()


class DatabaseUnavailable(Exception):
    """The database cannot be reached right now (restart, network, full pool): retry later."""


# Errors that say nothing about the statement, only that the database is away.
_UNAVAILABLE = (OperationalError, InterfaceError, DisconnectionError, PoolTimeoutError, OSError, asyncio.TimeoutError)
# PostgreSQL SQLSTATE classes: connection exception, insufficient resources, operator
# intervention (a restart says "57P01 terminating connection due to administrator command").
_UNAVAILABLE_SQLSTATES = ("08", "53", "57")


def database_unavailable(exc: BaseException) -> bool:
    """True when `exc` means "the database is away", not "this row is wrong"."""
    if isinstance(exc, (DatabaseUnavailable, *_UNAVAILABLE)):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        return isinstance(state, str) and state.startswith(_UNAVAILABLE_SQLSTATES)
    return False


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_database(url: str, *, connect_args: dict[str, Any] | None = None) -> Database:
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"connect_args": connect_args or {}}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            kwargs.update(pool_size=1, max_overflow=0, pool_timeout=60)
    else:
        # No pre-ping: it costs a round trip per checkout; a dead connection is
        # replaced when it fails, and every write here is retried or idempotent.
        kwargs.update(pool_size=10, max_overflow=10, pool_recycle=1800)
    # SQL errors carry the statement's parameters (numbers, message text): shown only
    # when the operator asked for LOG_LEVEL=DEBUG.
    kwargs["hide_parameters"] = not logging.getLogger().isEnabledFor(logging.DEBUG)
    engine = create_async_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return Database(engine=engine, sessions=async_sessionmaker(engine, expire_on_commit=False))


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def _upgrade(connection: Connection) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


async def migrate(db: Database) -> None:
    """Apply every Alembic migration on the database's own connection."""
    async with db.engine.begin() as conn:
        await conn.run_sync(_upgrade)


_INSERT_IGNORE: dict[tuple[str, Any, tuple[str, ...]], Any] = {}


def _insert_ignore_statement(dialect: str, model: Any, conflict: tuple[str, ...]) -> Any:
    """Built once per model: constructing an INSERT ... ON CONFLICT costs more than running it."""
    key = (dialect, model, conflict)
    stmt = _INSERT_IGNORE.get(key)
    if stmt is None:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        primary_key = next(iter(model.__table__.primary_key.columns))
        stmt = insert(model).on_conflict_do_nothing(index_elements=list(conflict)).returning(primary_key)
        _INSERT_IGNORE[key] = stmt
    return stmt


async def insert_ignore(
    session: AsyncSession, model: Any, values: dict[str, Any], conflict: list[str]
) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING; the new row's primary key, or None when it existed.

    The unique index decides, so concurrent writers (several processes, retried
    webhooks) can never create the same row twice.
    """
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    stmt = _insert_ignore_statement(dialect, model, tuple(conflict))
    result = await session.execute(stmt, values)
    return result.scalar_one_or_none()
