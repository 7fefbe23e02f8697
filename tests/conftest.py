"""Shared fixtures: a database per test (SQLite always, PostgreSQL when TEST_DATABASE_URL
is set) and a harness that runs the real smsbridge against the loopback fakes."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from bridge.inbox.db import Database, create_database
from tests.harness import DISCORD_ANA, Harness


def _worker_url(url: str | None) -> str | None:
    """Under pytest-xdist each worker gets a database of its own (`test_gw0` for
    `.../test`): NOTIFY, pg_stat_activity and advisory locks are per database, so the
    workers' tests never wake, see or block one another."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database or 'postgres'}_{worker}").render_as_string(hide_password=False)


BASE_PG_URL = os.environ.get("TEST_DATABASE_URL")
PG_URL = _worker_url(BASE_PG_URL)
PG_SKIP_REASON = "TEST_DATABASE_URL is not set (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test); PostgreSQL variant skipped"

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.skipif(not PG_URL, reason=PG_SKIP_REASON)),
]


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _create_worker_database() -> None:
    """Create this worker's database (once; it is kept for the next run) from a
    connection to the configured one, whose user may create databases."""
    import asyncpg
    from sqlalchemy.engine import make_url

    assert BASE_PG_URL and PG_URL
    name = make_url(PG_URL).database
    conn = await asyncpg.connect(_asyncpg_dsn(BASE_PG_URL))
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            except asyncpg.DuplicateDatabaseError:
                pass  # another run created it meanwhile
    finally:
        await conn.close()


def pytest_configure(config: pytest.Config) -> None:
    if PG_URL and PG_URL != BASE_PG_URL:
        asyncio.run(_create_worker_database())


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


@asynccontextmanager
async def discord_harness(databases: DatabaseFactory, **overrides: Any) -> AsyncIterator[Harness]:
    """Discord only (the default inbox bound to the forum, not to a Slack channel), with
    the app commands synced: the fake reads option types from them."""
    from bridge.adapters.discord_bot.commands import sync_commands

    h = Harness(databases, discord=True, smsbridge_slack_channel=None, **overrides)
    await h.start()
    try:
        assert h.discord is not None
        await sync_commands(h.discord.token, h.discord.guild_id)
        yield h
    finally:
        await h.stop()


@pytest.fixture
async def dh_admin(databases: DatabaseFactory) -> AsyncIterator[Harness]:
    """Discord only, Ana an admin there and Ben an agent, the app commands synced."""
    async with discord_harness(databases, admins=[f"discord:{DISCORD_ANA}"]) as h:
        yield h
