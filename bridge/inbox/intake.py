"""Durable intake of inbound texts with group commit.

A webhook is answered only once its text is committed. Texts that arrive together
(a burst, a campaign's replies) are written in one transaction and one multi-row
INSERT: each caller still waits for the commit that holds its row, so durability is
unchanged, but a burst costs one commit instead of one per text.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import String

from bridge.inbox.db import Database, DatabaseUnavailable, database_unavailable
from bridge.inbox.models import OutboxJob, utcnow
from bridge.inbox.outbox import lane_of

log = logging.getLogger(__name__)

MAX_BATCH = 200
# A burst: more than 100 texts a second. Ordinary traffic (even a busy inbox's 20/s)
# never counts, so background work runs at full speed then.
BURST_COUNT = 10
BURST_WINDOW = 0.1
# A burst has the CPU to itself (the workers trickle, outbox.py) for this long at most:
# a load that lasts is delivered at full speed beside its webhooks, never starved.
BURST_PRIORITY_SECONDS = 5.0


def _column_length(name: str) -> int:
    column_type = OutboxJob.__table__.c[name].type
    assert isinstance(column_type, String) and column_type.length is not None
    return column_type.length


_QUEUE_MAX = _column_length("queue")
_DEDUPE_MAX = _column_length("dedupe_key")


class RejectedText(ValueError):
    """This text cannot be stored as it is (a value the database refuses): answer 4xx."""


@dataclass
class _Pending:
    values: dict[str, Any]
    done: asyncio.Future[bool]


class _MultiRowInsert:
    """The intake's INSERT of a batch: one statement over a multi-row VALUES list (ON
    CONFLICT DO NOTHING on the dedupe key, RETURNING the new ids), its values converted
    by the columns' own bind processors and sent as they are (exec_driver_sql). Through
    SQLAlchemy's executemany path each row cost about 17 µs of the event loop's CPU in
    parameter handling, the largest part of a webhook after HTTP itself; this is 4.

    Each row is marked as its queue's head in the same statement when no job of its
    queue is open (a new sender's text, nearly always), so the outbox need not mark it
    after the commit: during a burst that marking was a statement per group commit on
    the one SQLite connection, in the webhooks' way. Two texts of one sender in one
    batch may both be marked; the claim never runs a job while an earlier one of its
    queue is open (docs/outbox.md), so order holds. A row left unmarked is marked after
    the commit, as any new job is.
    """

    def __init__(self, db: Database) -> None:
        dialect = db.engine.dialect
        columns = OutboxJob.__table__.c
        self._json = _processor(columns["payload"].type, dialect)
        self._when = _processor(columns["run_after"].type, dialect)
        self._numbered = dialect.paramstyle == "numeric_dollar"  # asyncpg: $1, $2... (PostgreSQL)
        self._sql: dict[int, str] = {}

    def statement(self, rows: list[dict[str, Any]]) -> tuple[str, tuple[Any, ...]]:
        params: list[Any] = []
        for row in rows:
            params += [row[name] for name in _INSERTED]
            at = len(params) - len(_INSERTED)
            params[at + _PAYLOAD] = self._json(params[at + _PAYLOAD])
            when = params[at + _RUN_AFTER]
            params[at + _RUN_AFTER] = stored = self._when(when)
            created = params[at + _CREATED_AT]
            params[at + _CREATED_AT] = stored if created is when else self._when(created)
        return self._text(len(rows)), tuple(params)

    def _text(self, count: int) -> str:
        sql = self._sql.get(count)
        if sql is None:
            width = len(_INSERTED)
            table = OutboxJob.__tablename__
            if self._numbered:  # PostgreSQL: VALUES columns named, parameters typed
                casts = [_PG_TYPES[name] for name in _INSERTED]
                groups = [
                    "(" + ", ".join(f"${i * width + j + 1}::{casts[j]}" for j in range(width)) + ")" for i in range(count)
                ]
                values, names, marked = f"(VALUES {', '.join(groups)}) AS v({', '.join(_INSERTED)})", _INSERTED, "TRUE"
            else:  # SQLite names them column1, column2...
                groups = ["(" + ", ".join("?" * width) + ")"] * count
                values, names, marked = f"(VALUES {', '.join(groups)}) AS v", _SQLITE_NAMES, "1"
            open_job = f"SELECT 1 FROM {table} AS e WHERE e.queue = v.{names[0]} AND e.state IN ('pending', 'running')"
            sql = self._sql[count] = (
                f"INSERT INTO {table} ({', '.join(_INSERTED)}, head)"
                f" SELECT {', '.join(f'v.{name}' for name in names)}, CASE WHEN EXISTS ({open_job}) THEN NULL ELSE {marked} END"
                # (WHERE true: SQLite's parser needs it before ON CONFLICT in INSERT ... SELECT)
                f" FROM {values} WHERE true"
                " ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, dedupe_key, head"
            )
        return sql


_INSERTED: tuple[str, ...] = ("queue", "kind", "lane", "payload", "dedupe_key", "state", "attempts", "run_after", "created_at")
_SQLITE_NAMES = tuple(f"column{i + 1}" for i in range(len(_INSERTED)))
_PG_TYPES = {
    "queue": "varchar", "kind": "varchar", "lane": "smallint", "payload": "json", "dedupe_key": "varchar",
    "state": "varchar", "attempts": "integer", "run_after": "timestamp", "created_at": "timestamp",
}
_PAYLOAD, _RUN_AFTER, _CREATED_AT = _INSERTED.index("payload"), _INSERTED.index("run_after"), _INSERTED.index("created_at")


def _processor(column_type: Any, dialect: Any) -> Callable[[Any], Any]:
    process = column_type.dialect_impl(dialect).bind_processor(dialect)
    return process if process is not None else (lambda value: value)


class Intake:
    """Queues `sms.inbound` jobs; `submit` returns False when the text was already taken."""

    def __init__(
        self,
        db: Database,
        on_commit: Callable[[Iterable[tuple[int, bool]]], None],
        *,
        burst_priority: float = BURST_PRIORITY_SECONDS,
    ) -> None:
        self.db = db
        # Outbox.committed(jobs): the workers run the new jobs (and mark those not yet heads).
        self.on_commit = on_commit
        self._waiting: list[_Pending] = []
        self._recent: deque[float] = deque(maxlen=BURST_COUNT)  # loop times of the latest webhooks
        self.burst_priority = burst_priority
        self._burst_since: float | None = None  # loop time the current burst was first seen
        self._writer: asyncio.Task[None] | None = None
        self._insert = _MultiRowInsert(db)

    async def submit(self, queue: str, payload: dict[str, Any], dedupe_key: str) -> bool:
        # Checked before the batch: a value too long for its column would fail the
        # whole group commit (it is retried row by row, but that costs a round trip each).
        if len(queue) > _QUEUE_MAX or len(dedupe_key) > _DEDUPE_MAX:
            raise RejectedText("this text's sender or id is too long to store")
        now = utcnow()
        loop = asyncio.get_running_loop()
        now_loop = loop.time()
        if self._recent and now_loop - self._recent[-1] >= BURST_WINDOW:
            self._burst_since = None  # a pause: whatever comes next is a new burst
        self._recent.append(now_loop)
        future: asyncio.Future[bool] = loop.create_future()
        self._waiting.append(
            _Pending(
                {
                    "queue": queue,
                    "kind": "sms.inbound",
                    "lane": lane_of("sms.inbound"),
                    "payload": payload,
                    "dedupe_key": dedupe_key,
                    "state": "pending",
                    "attempts": 0,
                    "run_after": now,
                    "created_at": now,
                },
                future,
            )
        )
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="intake-writer")
        return await future

    async def _write(self) -> None:
        # Runs while texts keep arriving: each round commits everything queued meanwhile.
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            first: dict[str, _Pending] = {}
            for pending in batch:  # a webhook retried while its first try waits
                first.setdefault(pending.values["dedupe_key"], pending)
            try:
                inserted = await self._insert_batch([p.values for p in first.values()])
            except Exception as exc:  # noqa: BLE001 - decided per webhook below
                if database_unavailable(exc) or len(first) == 1:
                    self._fail(batch, exc)
                    continue
                # One bad row must not fail the others: each row again, on its own.
                inserted = await self._insert_each(batch, first)
            self.on_commit(inserted.values())
            for pending in batch:
                if not pending.done.done():
                    key = pending.values["dedupe_key"]
                    pending.done.set_result(key in inserted and first[key] is pending)

    async def _insert_each(self, batch: list[_Pending], first: dict[str, _Pending]) -> dict[str, tuple[int, bool]]:
        inserted: dict[str, tuple[int, bool]] = {}
        for key, pending in first.items():
            try:
                inserted |= await self._insert_batch([pending.values])
            except Exception as exc:  # noqa: BLE001 - this webhook alone gets its error
                if database_unavailable(exc):  # gone meanwhile: the rest would fail too
                    self._fail([p for p in batch if not p.done.done() and p.values["dedupe_key"] not in inserted], exc)
                    break
                self._fail([p for p in batch if p.values["dedupe_key"] == key], exc)
        return inserted

    @staticmethod
    def _fail(batch: list[_Pending], exc: Exception) -> None:
        if database_unavailable(exc):
            log.warning("intake of %d texts failed: the database is unavailable (%s)", len(batch), type(exc).__name__)
            error: Exception = DatabaseUnavailable(str(exc))
        else:
            log.warning("intake refused a text: %s", exc)
            error = RejectedText("the database refused this text")
        error.__cause__ = exc
        for pending in batch:
            if not pending.done.done():
                pending.done.set_exception(error)

    async def _insert_batch(self, rows: list[dict[str, Any]]) -> dict[str, tuple[int, bool]]:
        """The dedupe keys inserted (the others existed already), with their job ids and
        whether each was marked as its queue's head."""
        sql, params = self._insert.statement(rows)
        async with self.db.engine.connect() as conn:
            # One statement, atomic on its own: no BEGIN and COMMIT round trips around it.
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            result = await conn.exec_driver_sql(sql, params)
            returned = cast(list[tuple[int, str | None, Any]], result.all())
            return {key: (job_id, bool(head)) for job_id, key, head in returned if key is not None}

    def busy(self) -> bool:
        """A burst is under way (BURST_COUNT webhooks within BURST_WINDOW seconds) and has
        not yet lasted `burst_priority` seconds."""
        now = asyncio.get_running_loop().time()
        pressing = (
            len(self._recent) == BURST_COUNT
            and now - self._recent[0] < BURST_WINDOW
            and now - self._recent[-1] < BURST_WINDOW
        )
        if not pressing:
            self._burst_since = None
            return False
        if self._burst_since is None:
            self._burst_since = now
        return now - self._burst_since < self.burst_priority
