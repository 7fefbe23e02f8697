"""aiosqlite for SQLAlchemy in one thread hop per statement instead of four.

SQLAlchemy's aiosqlite adapter sends each step of a statement to aiosqlite's thread
and waits for its answer: make a cursor, execute, fetch the rows, close the cursor.
Every hop costs a queue put, a thread wake-up and a wake-up of the event loop, far
more than SQLite itself spends on a point look-up (bench/sql_cost.py). This cursor
does the four steps in one function run on that thread and keeps what SQLAlchemy
reads afterwards (rows, description, rowcount, lastrowid). The connection, its
thread, transactions and errors are aiosqlite's and SQLAlchemy's, unchanged.

Two more hops are saved where SQLAlchemy asks for a connection setting, not a
statement: a connection used in AUTOCOMMIT (the outbox's claims, the intake's group
commit) had its `isolation_level` set and reset on the thread and a
`PRAGMA read_uncommitted` run at the reset, two hops more than the statement itself.
Both are now kept and applied on the thread just before the connection's next
statement, in the order they were asked; and a COMMIT or ROLLBACK with no transaction
open (sqlite3 would do nothing) is not sent at all.

Used by `create_database` for `sqlite+aiosqlite` URLs (its `module` argument).
"""

from __future__ import annotations

import collections
import re
import sqlite3
from collections.abc import Sequence
from typing import Any, cast

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT

_Outcome = tuple[Any, list[Any] | None, int, int | None]
# A setting asked for between statements: ("isolation_level", value) or ("sql", pragma).
_Setting = tuple[str, Any]
# What SQLAlchemy's SQLite dialect runs when it resets a connection's isolation level.
_DEFERRABLE = re.compile(r"PRAGMA read_uncommitted = [01]")


def _apply(conn: sqlite3.Connection, settings: list[_Setting]) -> None:
    for kind, value in settings:
        if kind == "isolation_level":
            conn.isolation_level = value
        else:
            conn.execute(value)


def _run(conn: sqlite3.Connection, settings: list[_Setting], many: bool, operation: str, parameters: Any) -> _Outcome:
    """On aiosqlite's thread: the settings asked for since the last statement, then the
    whole statement, rows included."""
    _apply(conn, settings)
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        else:
            cursor.execute(operation, () if parameters is None else parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        # Read after the rows: for DML with RETURNING, sqlite3 counts rows as they are fetched.
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any) -> None:
        # No aiosqlite cursor: each statement makes (and closes) its own on the thread.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    async def _run(self, many: bool, operation: Any, parameters: Any) -> None:
        adapted = cast(OneHopConnection, self._adapt_connection)
        if not many and not parameters and _DEFERRABLE.fullmatch(operation):
            adapted._settings.append(("sql", operation))  # run with the next statement
            self._description, self._rowcount, self._lastrowid = None, -1, None
            self._rows = collections.deque()
            return
        async with adapted._execute_mutex:
            conn = self._connection._conn  # ValueError when closed, as aiosqlite raises
            settings, adapted._settings = adapted._settings, []
            try:
                outcome = await self._connection._execute(_run, conn, settings, many, operation, parameters)
            except BaseException:
                adapted._settings[:0] = settings  # not known to be applied: apply them again
                raise
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows or ())

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await self._run(False, operation, parameters)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        await self._run(True, operation, seq_of_parameters)

    async def _async_soft_close(self) -> None:
        return None  # nothing open on the thread

    def close(self) -> None:
        self._rows.clear()


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("_settings",)
    _cursor_cls = OneHopCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self._settings: list[_Setting] = []

    @property
    def isolation_level(self) -> str | None:
        for kind, value in reversed(self._settings):
            if kind == "isolation_level":
                return cast(str | None, value)
        return cast(str | None, self._connection.isolation_level)

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        # Applied on the thread just before the next statement (no hop of its own).
        self._settings.append(("isolation_level", value))

    def _idle(self) -> bool:
        # The pool rolls back every connection it gets back, even after a COMMIT, and
        # SQLAlchemy commits a connection that only read: with no transaction open,
        # sqlite3 would do nothing, so the hop that asks it is skipped. (Read between
        # statements: nothing runs on the thread for this connection.)
        conn = self._connection._connection
        return conn is not None and not conn.in_transaction

    def rollback(self) -> None:
        if not self._idle():
            super().rollback()

    def commit(self) -> None:
        if not self._idle():
            super().commit()


class OneHopDbapi(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI shim SQLAlchemy's aiosqlite dialect uses, with the cursor above."""

    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        adapted = super().connect(*arg, **kw)
        return OneHopConnection(self, adapted._connection)


def one_hop_dbapi() -> OneHopDbapi:
    return OneHopDbapi(aiosqlite, sqlite3)
