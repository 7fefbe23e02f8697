"""Copy every row of one smsbridge database into a new, empty one (SQLite → PostgreSQL).

- Both databases are migrated to this version's schema first; the tables are the
  models' tables, parents before children, so foreign keys hold at every insert.
- The source is read inside one transaction, a consistent snapshot even if a process
  still writes to it (anything written after the snapshot is not copied: stop
  `smsbridge run` first).
- The target is written inside one transaction: a copy that fails, or whose counts
  do not match, leaves the target as empty as it found it. A non-empty target is
  refused, so the copy can simply be run again.
- The search index is not copied: it is migration 0003's table (FTS5 with shadow
  tables on SQLite, a tsvector table on PostgreSQL), maintained by triggers, so the
  target's own triggers index each copied message, note and contact.
- The hourly message counts behind reports (`report_message_hours`) are not copied
  either: the target's triggers count each copied message again (PostgreSQL spreads an
  hour over several rows), so they are verified by the messages they count, not by rows.
- PostgreSQL sequences are moved past the copied ids, so new rows do not collide.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import String, Table, func, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.inbox.db import Database, migrate
from bridge.inbox.models import Base

SEARCH_INDEX = "search_index"
# Kept by triggers on `messages`: rebuilt on the target as messages are copied.
MESSAGE_HOURS = "report_message_hours"


class CopyError(Exception):
    """The copy cannot go ahead or did not verify; the message is one line for the user."""


class CopyProgress(Protocol):
    def start(self, totals: Sequence[tuple[str, int]]) -> None: ...

    def advance(self, table: str, rows: int) -> None: ...


@dataclass(frozen=True)
class TableCount:
    table: str
    source: int
    target: int

    @property
    def matches(self) -> bool:
        return self.source == self.target


def copied_tables() -> list[Table]:
    """Every model table, parents before children (the search index is not a model;
    the hourly counts are rebuilt by the target's triggers)."""
    return [table for table in Base.metadata.sorted_tables if table.name != MESSAGE_HOURS]


async def copy_database(
    source: Database, target: Database, *, batch_size: int = 1000, progress: CopyProgress | None = None
) -> list[TableCount]:
    """Copy every row of `source` into the empty `target`; the verified counts per table.

    The last entry is the search index, rebuilt on the target by its triggers.
    """
    if _same_database(source, target):
        raise CopyError("--from and --to are the same database")
    missing = _missing_sqlite_file(source)
    if missing:
        raise CopyError(f"there is no SQLite database at {missing} (check --from or DATABASE_URL)")
    await migrate(source)
    await migrate(target)
    tables = copied_tables()
    async with source.engine.connect() as src:
        await _begin_snapshot(src, source)
        async with target.engine.begin() as dst:
            await _refuse_non_empty(dst, tables)
            totals = [(table.name, await _count(src, table.name)) for table in tables]
            if progress is not None:
                progress.start(totals)
            for table in tables:
                await _copy_table(src, dst, table, batch_size, progress)
            if target.is_postgres:
                await _advance_sequences(dst, tables)
            counts = [TableCount(name, count, await _count(dst, name)) for name, count in totals]
            counts.append(TableCount(SEARCH_INDEX, await _count(src, SEARCH_INDEX), await _count(dst, SEARCH_INDEX)))
            counts.append(TableCount(f"{MESSAGE_HOURS} (messages)", await _counted(src), await _counted(dst)))
            wrong = [c for c in counts if not c.matches]
            if wrong:
                # Leaving the block with an exception rolls the target back to empty.
                detail = ", ".join(f"{c.table} {c.source} → {c.target}" for c in wrong)
                raise CopyError(f"row counts differ after the copy ({detail}); the target was left empty")
    return counts


def _same_database(source: Database, target: Database) -> bool:
    a, b = source.engine.url, target.engine.url
    if a.get_backend_name() == "sqlite" and b.get_backend_name() == "sqlite":
        if a.database in (None, "", ":memory:") or b.database in (None, "", ":memory:"):
            return False
        return Path(a.database).expanduser().resolve() == Path(b.database).expanduser().resolve()
    # Two schemas of one PostgreSQL database differ by search_path, not by URL.
    return False


def _missing_sqlite_file(db: Database) -> str | None:
    """A mistyped source path must not become a new, empty database copied as a success."""
    url = db.engine.url
    if url.get_backend_name() != "sqlite":
        return None
    path = url.database or ""
    if path in ("", ":memory:") or not Path(path).expanduser().is_file():
        return path or "(no path)"
    return None


async def _begin_snapshot(conn: AsyncConnection, db: Database) -> None:
    if db.is_postgres:
        await conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    else:
        # pysqlite opens no transaction for a SELECT on its own; in WAL mode an open
        # read transaction sees one snapshot and blocks no writer.
        await conn.exec_driver_sql("BEGIN")


async def _refuse_non_empty(conn: AsyncConnection, tables: Sequence[Table]) -> None:
    for table in tables:
        if (await conn.execute(select(1).select_from(table).limit(1))).first() is not None:
            raise CopyError(
                f"the target database is not empty (table {table.name} has rows);"
                " nothing was copied: give --to a new, empty database"
            )


async def _counted(conn: AsyncConnection) -> int:
    """Messages the hourly report counts hold (their rows differ by database)."""
    return int((await conn.execute(text(f"SELECT COALESCE(SUM(messages), 0) FROM {MESSAGE_HOURS}"))).scalar_one())


async def _count(conn: AsyncConnection, table: str) -> int:
    return int((await conn.execute(select(func.count()).select_from(text(table)))).scalar_one())


async def _copy_table(
    src: AsyncConnection, dst: AsyncConnection, table: Table, batch_size: int, progress: CopyProgress | None
) -> None:
    writer = await _writer_for(dst, table)
    # The next batch is read and converted while the target works on this one: the
    # database's work (constraints, the search triggers) then hides most of ours.
    batches: asyncio.Queue[list[Any] | Exception | None] = asyncio.Queue(maxsize=2)
    reader = asyncio.create_task(_read(src, table, batch_size, writer.prepare, batches))
    try:
        while (batch := await batches.get()) is not None:
            if isinstance(batch, Exception):
                raise batch
            try:
                await writer.write(batch)
            except DBAPIError as exc:
                raise CopyError(f"cannot write table {table.name}: {_first_line(exc.orig)}; the target was left empty") from exc
            if progress is not None:
                progress.advance(table.name, len(batch))
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


async def _read(
    src: AsyncConnection,
    table: Table,
    batch_size: int,
    prepare: Callable[[list[dict[str, Any]]], list[Any]],
    batches: asyncio.Queue[list[Any] | Exception | None],
) -> None:
    """Every row of `table` in primary-key order, checked and prepared, then None."""
    try:
        query = select(table).order_by(*table.primary_key.columns).execution_options(yield_per=batch_size)
        async with src.stream(query) as result:
            async for part in result.partitions(batch_size):
                rows = [dict(row._mapping) for row in part]
                _check_lengths(table, rows)
                await batches.put(prepare(rows))
        await batches.put(None)
    except Exception as exc:  # noqa: BLE001 - handed to the writer's side, which raises it
        await batches.put(exc)


@dataclass(frozen=True)
class _Writer:
    prepare: Callable[[list[dict[str, Any]]], list[Any]]
    write: Callable[[list[Any]], Awaitable[Any]]


async def _writer_for(dst: AsyncConnection, table: Table) -> _Writer:
    """PostgreSQL through asyncpg: COPY, on the transaction's own connection, with each
    value converted as SQLAlchemy would bind it. Elsewhere: an executemany INSERT."""
    dialect = dst.dialect
    if dialect.name != "postgresql" or dialect.driver != "asyncpg":
        statement = insert(table)
        return _Writer(prepare=lambda rows: rows, write=lambda rows: dst.execute(statement, rows))
    import asyncpg

    raw = (await dst.get_raw_connection()).driver_connection
    assert raw is not None
    names = [column.name for column in table.columns]
    binds = [column.type.dialect_impl(dialect).bind_processor(dialect) for column in table.columns]

    def records(rows: list[dict[str, Any]]) -> list[Any]:
        return [
            tuple(value if bind is None else bind(value) for bind, value in zip(binds, (row[n] for n in names), strict=False))
            for row in rows
        ]

    async def copy(batch: list[Any]) -> None:
        try:
            await raw.copy_records_to_table(table.name, records=batch, columns=names)
        except asyncpg.PostgresError as exc:
            raise CopyError(f"cannot write table {table.name}: {_first_line(exc)}; the target was left empty") from exc

    return _Writer(prepare=records, write=copy)


def _check_lengths(table: Table, rows: list[dict[str, Any]]) -> None:
    """SQLite keeps a value longer than its column; PostgreSQL refuses it. Say which."""
    limited = [(c.name, c.type.length) for c in table.columns if isinstance(c.type, String) and c.type.length]
    for row in rows:
        for name, length in limited:
            value = row[name]
            if isinstance(value, str) and len(value) > length:
                where = ", ".join(f"{c.name}={row[c.name]}" for c in table.primary_key.columns)
                raise CopyError(
                    f"{table.name} row {where}: {name} has {len(value)} characters, the column holds {length};"
                    " shorten it in the source and copy again"
                )


async def _advance_sequences(conn: AsyncConnection, tables: Sequence[Table]) -> None:
    """Explicit ids leave a serial's sequence behind: move each past its table's max id."""
    for table in tables:
        for column in table.primary_key.columns:
            if column.autoincrement is not True and not (column.autoincrement == "auto" and _is_integer(column.type)):
                continue
            await conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence(:table, :column),"
                    f' coalesce(max("{column.name}"), 0) + 1, false) FROM "{table.name}"'
                ),
                {"table": f'"{table.name}"', "column": column.name},
            )


def _is_integer(type_: Any) -> bool:
    try:
        return type_.python_type is int
    except NotImplementedError:
        return False


def _first_line(error: BaseException | None) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
