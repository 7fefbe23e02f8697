"""Alembic environment: smsbridge runs migrations on its own connection (see inbox/db.py)."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from bridge.inbox.models import Base
from bridge.inbox.search import alembic_include_name

target_metadata = Base.metadata


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=alembic_include_name,  # the search index is trigger-managed SQL
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_url(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(_run)
    await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    # The alembic command line (e.g. `alembic revision --autogenerate`) lands here.
    asyncio.run(_run_with_url(context.config.get_main_option("sqlalchemy.url")))
