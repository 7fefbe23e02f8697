"""Database engine, sessions and migrations.

SQLite (the default) gets WAL and one shared connection: every transaction here is
short, and queueing on one connection beats SQLite's busy-wait between writers.
PostgreSQL gets a normal pool; the outbox then claims jobs with SKIP LOCKED.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, insert, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Connection, CursorResult, Result, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


@dataclass
class Database:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    # The driver's connect arguments, for the connections kept outside the pool.
    connect_args: dict[str, Any] = field(default_factory=dict)

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    async def dedicated_connection(self) -> Any:
        """A PostgreSQL (asyncpg) connection of its own, outside the pool, set up as the
        pool's are: for LISTEN and session advisory locks, which live as long as it does."""
        import asyncpg

        url = self.engine.url.set(drivername="postgresql")
        return await asyncpg.connect(url.render_as_string(hide_password=False), **self.connect_args)

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
    # First: switching a new file to WAL needs a lock that another process starting at
    # the same moment may hold, and without a timeout SQLite answers "locked" at once.
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _replace_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """At checkout, a connection the server has closed (a restart, a failover,
    pg_terminate_backend) is swapped for a new one: the pool retries with a fresh
    connection, so the first request after a restart succeeds. asyncpg notices the
    closed socket by itself, so unlike pool_pre_ping this costs no round trip."""
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the server closed this connection")


def create_database(url: str, *, connect_args: dict[str, Any] | None = None, pool_size: int = 10) -> Database:
    parsed = make_url(url)
    connect_args = dict(connect_args or {})
    kwargs: dict[str, Any] = {"connect_args": connect_args}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            kwargs.update(pool_size=1, max_overflow=0, pool_timeout=60)
        if parsed.get_driver_name() == "aiosqlite":
            from bridge.inbox.sqlite_driver import one_hop_dbapi

            kwargs["module"] = one_hop_dbapi()  # one thread hop per statement, not four
    else:
        # Named in pg_stat_activity, so an operator sees which connections are ours.
        server_settings = {"application_name": "smsbridge", **connect_args.get("server_settings", {})}
        connect_args["server_settings"] = server_settings
        # pool_size steady connections and as many again in a burst (DATABASE_POOL_SIZE).
        kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800)
    # SQL errors carry the statement's parameters (numbers, message text): shown only
    # when the operator asked for LOG_LEVEL=DEBUG.
    kwargs["hide_parameters"] = not logging.getLogger().isEnabledFor(logging.DEBUG)
    engine = create_async_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    elif parsed.get_driver_name() == "asyncpg":
        event.listen(engine.sync_engine, "checkout", _replace_closed)
    return Database(engine=engine, sessions=async_sessionmaker(engine, expire_on_commit=False), connect_args=connect_args)


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def _upgrade(connection: Connection) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


# pg_advisory_xact_lock(class, object): this class with the schema's OID as the
# object, so processes migrating the same schema queue up and other schemas don't.
_MIGRATION_LOCK_CLASS = 0x736D7362  # "smsb"
_PG_MIGRATION_LOCK = text(
    "SELECT pg_advisory_xact_lock(:lock_class,"
    " coalesce((SELECT oid FROM pg_namespace WHERE nspname = current_schema()), 0)::int)"
)


async def migrate(db: Database) -> None:
    """Apply every Alembic migration on the database's own connection.

    Several processes may start at once on an empty database: each takes a lock first,
    so one migrates and the others, once it commits, find the schema at head. The
    whole upgrade is one transaction, holding the lock until it commits.
    """
    # SQLite can still answer "locked" without waiting while several connections open a
    # new file at once (its busy handler is not called for every lock); the upgrade is
    # one transaction, so it is simply tried again.
    retrying = AsyncRetrying(
        retry=retry_if_exception(_sqlite_locked),
        wait=wait_random_exponential(multiplier=0.1, max=2.0),
        stop=stop_after_attempt(10),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            async with db.engine.begin() as conn:
                if db.is_postgres:
                    await conn.execute(_PG_MIGRATION_LOCK, {"lock_class": _MIGRATION_LOCK_CLASS})
                elif db.engine.dialect.name == "sqlite":
                    # SQLite's write lock, taken now rather than at the first write; the
                    # others wait for it (busy_timeout) and then see the committed schema.
                    await conn.exec_driver_sql("BEGIN IMMEDIATE")
                await conn.run_sync(_upgrade)


def _sqlite_locked(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)


_INSERT_IGNORE: dict[tuple[str, Any, tuple[str, ...]], Any] = {}


def _insert_ignore_statement(dialect: str, model: Any, conflict: tuple[str, ...]) -> Any:
    """Built once per model: constructing an INSERT ... ON CONFLICT costs more than running it."""
    key = (dialect, model, conflict)
    stmt = _INSERT_IGNORE.get(key)
    if stmt is None:
        from sqlalchemy.dialects import postgresql, sqlite

        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
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


async def insert_pending_together(session: AsyncSession, model: Any) -> None:
    """Insert the session's new `model` objects in one statement instead of one each.

    The ORM inserts new rows one at a time on SQLite (to read back each new id in
    order); rows whose ids nothing in the transaction reads can go in together. The
    objects leave the session (they were only written, never read back).
    """
    pending = [obj for obj in session.new if isinstance(obj, model)]
    if len(pending) < 2:
        return
    columns = {column.key for column in sa_inspect(model).column_attrs}
    rows = []
    for obj in pending:
        session.expunge(obj)
        state = sa_inspect(obj).dict
        rows.append({key: value for key, value in state.items() if key in columns})
    keys = {frozenset(row) for row in rows}
    for same in keys:  # one executemany per set of columns given (usually one)
        await session.execute(insert(model.__table__), [row for row in rows if frozenset(row) == same])


def changed_rows(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE changed (SQLAlchemy types `execute` as a plain Result)."""
    return result.rowcount if isinstance(result, CursorResult) else 0
