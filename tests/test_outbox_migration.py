"""Migration 0009 turns an existing outbox into one of queue heads, losing no job."""

from __future__ import annotations

from typing import Any

from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection

from bridge.inbox.db import alembic_config
from bridge.inbox.outbox import Job, Outbox, OutboxWorker


def _upgrade(connection: Connection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


async def test_jobs_queued_before_0009_keep_their_order_and_run(databases: Any) -> None:
    db = await databases.new()
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(_upgrade, "0008")
            # Left by a process of the old code: one running (its lease), the rest waiting.
            for queue, kind, state in [
                ("slack:conv:1", "test", "running"), ("slack:conv:1", "test", "pending"),
                ("inbound:1", "sms.inbound", "pending"), ("inbound:1", "sms.inbound", "pending"),
                ("slack:conv:2", "test", "dead"), ("slack:conv:2", "test", "pending"),
            ]:
                await conn.execute(
                    text(
                        "INSERT INTO outbox_jobs (queue, kind, payload, state, attempts, run_after, created_at)"
                        " VALUES (:queue, :kind, '{}', :state, 1, '2026-01-01', '2026-01-01')"
                    ),
                    {"queue": queue, "kind": kind, "state": state},
                )
        async with db.engine.begin() as conn:
            await conn.run_sync(_upgrade, "head")
        outbox = Outbox(db)
        ran: list[tuple[int, str]] = []

        async def handler(job: Job) -> None:
            ran.append((job.id, job.queue))

        outbox.register("test", handler)
        outbox.register("sms.inbound", handler)
        worker = OutboxWorker(outbox)
        await worker.start()
        try:
            await worker.drain(10)
        finally:
            await worker.stop()
            outbox.close()
        by_queue: dict[str, list[int]] = {}
        for job_id, queue in ran:
            by_queue.setdefault(queue, []).append(job_id)
        assert by_queue == {"slack:conv:1": [1, 2], "inbound:1": [3, 4], "slack:conv:2": [6]}
        assert ran.index((3, "inbound:1")) > ran.index((1, "slack:conv:1"))  # texts filed after chat work
    finally:
        await db.dispose()
