"""Shared fixtures: a database per test (SQLite always, PostgreSQL when TEST_DATABASE_URL
is set) and a harness that runs the real smsbridge against the loopback fakes."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bridge.inbox.db import Database, create_database
from tests.harness import Harness

PG_URL = os.environ.get("TEST_DATABASE_URL")
PG_SKIP_REASON = "TEST_DATABASE_URL is not set (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test); PostgreSQL variant skipped"

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.skipif(not PG_URL, reason=PG_SKIP_REASON)),
]


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


class DatabaseFactory:
    """Fresh, empty databases: a SQLite file, or a PostgreSQL schema of its own."""

    def __init__(self, backend: str, tmp_path: Any) -> None:
        self.backend = backend
        self.tmp_path = tmp_path
        self.schemas: list[str] = []
        self.url = ""

    async def new(self) -> Database:
        if self.backend == "sqlite":
            self.url = f"sqlite+aiosqlite:///{self.tmp_path / 'smsbridge.db'}"
            return create_database(self.url)
        import asyncpg

        assert PG_URL
        schema = f"t_{uuid.uuid4().hex[:12]}"
        conn = await asyncpg.connect(_asyncpg_dsn(PG_URL))
        try:
            await conn.execute(f'CREATE SCHEMA "{schema}"')
        finally:
            await conn.close()
        self.schemas.append(schema)
        self.url = PG_URL
        return self.reopen()

    def reopen(self) -> Database:
        """Another handle on the same database (a restarted or second process)."""
        if self.backend == "sqlite":
            return create_database(self.url)
        return create_database(self.url, connect_args={"server_settings": {"search_path": self.schemas[-1]}})

    async def cleanup(self) -> None:
        if not self.schemas:
            return
        import asyncpg

        assert PG_URL
        conn = await asyncpg.connect(_asyncpg_dsn(PG_URL))
        try:
            for schema in self.schemas:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()


@pytest.fixture(params=BACKENDS)
async def databases(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[DatabaseFactory]:
    factory = DatabaseFactory(request.param, tmp_path)
    yield factory
    await factory.cleanup()


@pytest.fixture
async def db(databases: DatabaseFactory) -> AsyncIterator[Database]:
    from bridge.inbox.db import migrate

    database = await databases.new()
    await migrate(database)
    yield database
    await database.dispose()


@pytest.fixture(autouse=True)
def _isolated_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No developer's .env, smsbridge.toml or Twilio edge settings leak into a test."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SMSBRIDGE_CONFIG", str(tmp_path / "no-such-smsbridge.toml"))
    from bridge.config import Settings

    for name in ["TWILIO_EDGE", "TWILIO_REGION", *(field.upper() for field in Settings.model_fields)]:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def harness(databases: DatabaseFactory) -> AsyncIterator[Harness]:
    h = Harness(databases)
    await h.start()
    yield h
    await h.stop()
