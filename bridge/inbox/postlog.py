"""Recording chat posts and finishing their jobs together (group commit across jobs).

A chat job that posted something records where the post lives (`chat_refs`, and the
thread it opened) and finishes its outbox job in one transaction, so a crash never
leaves "posted" without "recorded". While a backlog drains, many jobs finish at
once: their records share one transaction and one statement per table (the jobs
deleted with one DELETE), and each caller still returns only once the commit that
holds its record is done. A batch that fails for one bad record is written again
record by record, so each job's fate is its own.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite

from bridge.inbox.db import Database, database_unavailable
from bridge.inbox.models import ChatRef, ThreadLink, utcnow
from bridge.inbox.outbox import Job, Outbox

MAX_BATCH = 100


@dataclass
class PostRecord:
    platform: str
    channel: str
    purpose: str
    message_id: int
    posted_id: str
    done: Job
    thread: tuple[int, str] | None = None  # (conversation id, thread id) the post opened


@dataclass
class _Waiting:
    record: PostRecord
    future: asyncio.Future[None]


def _insert_ignore(dialect: str, table: Any, conflict: list[str]) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing(index_elements=conflict)


class PostLog:
    def __init__(self, db: Database, outbox: Outbox) -> None:
        self.db = db
        self.outbox = outbox
        self._waiting: list[_Waiting] = []
        self._writer: asyncio.Task[None] | None = None
        dialect = db.engine.dialect.name
        # Built once: constructing these costs more than running them.
        self._threads = _insert_ignore(dialect, ThreadLink.__table__, ["conversation_id", "platform", "channel"])
        self._refs = _insert_ignore(dialect, ChatRef.__table__, ["platform", "channel", "purpose", "message_id"])
        assert isinstance(ThreadLink.__table__, Table) and isinstance(ChatRef.__table__, Table)

    async def save(self, record: PostRecord) -> None:
        """Record the post and finish its job; returns once that is committed."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(record, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="postlog-writer")
        await future

    async def _write(self) -> None:
        # Runs while records keep coming: each round commits everything queued meanwhile.
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            try:
                await self._commit([w.record for w in batch])
            except Exception as exc:  # noqa: BLE001 - handed to the callers below
                if len(batch) == 1 or database_unavailable(exc):
                    self._fail(batch, exc)
                    continue
                for waiting in batch:  # one bad record must not fail the others
                    try:
                        await self._commit([waiting.record])
                    except Exception as one:  # noqa: BLE001 - this caller's own error
                        self._fail([waiting], one)
                    else:
                        self._succeed([waiting])
                continue
            self._succeed(batch)

    @staticmethod
    def _succeed(batch: list[_Waiting]) -> None:
        for waiting in batch:
            if not waiting.future.done():
                waiting.future.set_result(None)

    @staticmethod
    def _fail(batch: list[_Waiting], exc: Exception) -> None:
        for waiting in batch:
            waiting.record.done.finished = False  # rolled back with the rest
            if not waiting.future.done():
                waiting.future.set_exception(exc)

    async def _commit(self, records: list[PostRecord]) -> None:
        now = utcnow()
        threads = [
            {"conversation_id": r.thread[0], "platform": r.platform, "channel": r.channel, "thread_id": r.thread[1], "created_at": now}
            for r in records
            if r.thread is not None
        ]
        refs = [
            {"platform": r.platform, "channel": r.channel, "purpose": r.purpose, "message_id": r.message_id, "posted_id": r.posted_id}
            for r in records
        ]
        async with self.db.sessions.begin() as session:
            conn = await session.connection()
            if threads:
                await conn.execute(self._threads, threads)
            await conn.execute(self._refs, refs)
            await self.outbox.complete_many_in(session, [r.done for r in records])
