"""Migrations are the schema: the models and the migrated database agree."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bridge.inbox.db import Database, migrate
from bridge.inbox.models import Base
from bridge.inbox.search import alembic_include_name


async def test_migrated_schema_matches_the_models(db: Database) -> None:
    def diff(connection) -> list:  # type: ignore[no-untyped-def, type-arg]
        context = MigrationContext.configure(
            connection, opts={"compare_type": False, "include_name": alembic_include_name}
        )
        return compare_metadata(context, Base.metadata)

    async with db.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_migrate_twice_is_harmless(db: Database) -> None:
    await migrate(db)
    assert await db.ping()
