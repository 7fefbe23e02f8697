"""Several processes on one database: migrations at once, and a database that drops
every connection (a PostgreSQL restart) while smsbridge runs."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from bridge.inbox.db import MIGRATIONS_DIR, Database, create_database, migrate
from tests.conftest import PG_SKIP_REASON, PG_URL, DatabaseFactory, _asyncpg_dsn
from tests.harness import DISCORD_ANA, Harness


def _head() -> str:
    from alembic.script import ScriptDirectory

    from bridge.inbox.db import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None and MIGRATIONS_DIR.exists()
    return head


async def test_processes_migrating_an_empty_database_at_once_all_succeed(databases: DatabaseFactory) -> None:
    first = await databases.new()
    handles = [first, databases.reopen(), databases.reopen()]
    try:
        # Without the lock this can deadlock rather than fail: bound it.
        results = await asyncio.wait_for(asyncio.gather(*(migrate(db) for db in handles), return_exceptions=True), 60)
        assert [r for r in results if isinstance(r, BaseException)] == []
        async with first.engine.connect() as conn:
            versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
        assert versions == [_head()]
    finally:
        for db in handles:
            await db.dispose()


async def test_processes_starting_together_share_one_inbox_row(databases: DatabaseFactory) -> None:
    """After migrating, every process records the configured inboxes: on an empty
    database they race to create the same rows, and all of them must start."""
    from bridge.config import InboxConfig
    from bridge.inbox.routing import InboxDirectory

    first = await databases.new()
    await migrate(first)
    handles = [first, *(databases.reopen() for _ in range(5))]
    try:
        for round_ in range(8):  # a race: several rounds, each on inboxes not yet stored
            configs = [InboxConfig(name=f"Support {round_}", number=f"+1415555{round_:02d}00")]
            directories = [InboxDirectory() for _ in handles]
            results = await asyncio.wait_for(
                asyncio.gather(*(d.sync(db, configs) for d, db in zip(directories, handles, strict=True)), return_exceptions=True),
                60,
            )
            assert [r for r in results if isinstance(r, BaseException)] == []
            # Every process routes the number to the same, single inbox row.
            assert len({d.match(f"+1415555{round_:02d}00", None).id for d in directories}) == 1
        async with first.engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM inboxes"))).scalar_one() == 8
    finally:
        for db in handles:
            await db.dispose()


_MIGRATE_IN_A_PROCESS = """
import asyncio, json, sys
from bridge.inbox.db import create_database, migrate

async def main() -> None:
    db = create_database(sys.argv[1], connect_args=json.loads(sys.argv[2]))
    try:
        await migrate(db)
    finally:
        await db.dispose()

asyncio.run(main())
"""


async def test_separate_processes_started_together_all_migrate(databases: DatabaseFactory) -> None:
    """As `smsbridge run` started by several processes on an empty database."""
    import json
    import sys

    db = await databases.new()
    connect_args = {"server_settings": {"search_path": databases.schemas[-1]}} if databases.schemas else {}
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", _MIGRATE_IN_A_PROCESS, databases.url, json.dumps(connect_args),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(3)
    ]
    outcomes = [(await asyncio.wait_for(p.wait(), 60), (await p.stderr.read()).decode()[-400:]) for p in processes if p.stderr]
    try:
        assert [code for code, _ in outcomes] == [0, 0, 0], outcomes
        async with db.engine.connect() as conn:
            versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
        assert versions == [_head()]
    finally:
        await db.dispose()


class NamedConnections(DatabaseFactory):
    """PostgreSQL schemas whose every connection carries this test's application_name,
    so the test can drop exactly its own backends, as a server restart would."""

    def __init__(self, tmp_path: Any) -> None:
        super().__init__("postgresql", tmp_path)
        self.application_name = f"smsbridge-test-{uuid.uuid4().hex[:10]}"

    def reopen(self) -> Database:
        settings = {"search_path": self.schemas[-1], "application_name": self.application_name}
        return create_database(self.url, connect_args={"server_settings": settings})


async def _backends(h: Harness, name: str) -> list[tuple[int, str]]:
    """(pid, last query) of every backend with `name`, seen from a connection of the test's own."""
    conn = await asyncpg.connect(_asyncpg_dsn(PG_URL or ""))
    try:
        rows = await conn.fetch("SELECT pid, query FROM pg_stat_activity WHERE application_name = $1", name)
        return [(r["pid"], r["query"]) for r in rows]
    finally:
        await conn.close()


async def _restart(h: Harness, name: str) -> list[int]:
    """What a server restart does to smsbridge's connections: every backend ends, and
    smsbridge sees each of its sockets closed. Returns the terminated pids."""
    conn = await asyncpg.connect(_asyncpg_dsn(PG_URL or ""))
    try:
        rows = await conn.fetch("SELECT pid, client_port FROM pg_stat_activity WHERE application_name = $1", name)
        assert rows, "smsbridge holds connections (pool, LISTEN)"
        await conn.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", [r["pid"] for r in rows])
    finally:
        await conn.close()
    pids, ports = [r["pid"] for r in rows], {r["client_port"] for r in rows}
    await h.slack.wait_for(lambda: _gone(h, name, pids), timeout=10, message="the terminated backends to exit")
    # A backend leaves pg_stat_activity just before its socket closes: wait until this
    # process has seen every one of those sockets close, as it would after a restart.
    await h.slack.wait_for(lambda: not _open_local_ports() & ports, timeout=10, message="the sockets to close")
    return pids


def _open_local_ports() -> set[int]:
    """Local ports of this machine's IPv4 TCP sockets still open on our side
    (ESTABLISHED, or CLOSE_WAIT: the peer closed, we have not noticed yet)."""
    ports = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] in ("01", "08"):
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


@pytest.mark.skipif(not PG_URL, reason=PG_SKIP_REASON)
async def test_processes_reconnect_after_the_database_dropped_every_connection(tmp_path: Any) -> None:
    databases = NamedConnections(tmp_path)
    h = Harness(databases)
    await h.start()
    try:
        await h.text_in("before the restart")
        root = await h.first_thread()
        await h.drain()
        name = databases.application_name
        await _restart(h, name)

        # The next webhook is stored and posted; workers carry on with a reply.
        await h.text_in("after the restart")
        await h.teammate(root, "!r we are back")
        await h.drain()
        assert [m["text"] for m in h.thread(root) if m["text"] in ("before the restart", "after the restart")] == [
            "before the restart",
            "after the restart",
        ]
        assert [m["Body"] for m in h.sms_sent()] == ["we are back"]
        # The LISTEN connection is back too: other processes' jobs still wake this one.
        await h.slack.wait_for(
            lambda: _listening(h, name), timeout=10, message="the outbox's LISTEN connection to return"
        )
    finally:
        await h.stop()
        await databases.cleanup()


async def _gone(h: Harness, name: str, pids: list[int]) -> bool:
    return not {pid for pid, _ in await _backends(h, name)} & set(pids)


async def _listening(h: Harness, name: str) -> bool:
    return any(query.startswith("LISTEN") for _, query in await _backends(h, name))


@pytest.mark.skipif(not PG_URL, reason=PG_SKIP_REASON)
async def test_the_discord_gateway_holder_keeps_its_lease_through_a_database_restart(tmp_path: Any) -> None:
    databases = NamedConnections(tmp_path)
    h = Harness(databases, discord=True, smsbridge_slack_channel=None, discord_lease_seconds=3.0)
    await h.start()
    try:
        assert h.bridge is not None and h.discord is not None
        await h.text_in("before the restart")
        post = await h.first_post()
        await _restart(h, databases.application_name)

        # The gateway still hears teammates (a note, a reply sent), and texts still post.
        await h.discord.user_message(post["id"], DISCORD_ANA, "checking with the workshop")
        await h.discord.user_message(post["id"], DISCORD_ANA, "!r back in a minute")
        await h.text_in("after the restart")
        await h.discord.wait_for(
            lambda: any(m["content"].endswith("\nafter the restart") for m in h.post_messages(post["id"])),
            timeout=10,
            message=f"the text after the restart in the forum post: {h.post_messages(post['id'])}",
        )
        # The teammate's messages reach smsbridge through the gateway, on their own time.
        await h.discord.wait_for(lambda: len(h.sms_sent()) >= 1, timeout=10, message="the reply's SMS")
        await h.drain()
        assert [m["Body"] for m in h.sms_sent()] == ["back in a minute"]
        assert [tuple(r) for r in await h.rows("SELECT body FROM notes")] == [("checking with the workshop",)]
        gateway = h.bridge.discord_gateway
        assert gateway is not None and gateway.lease.held
        holders = await h.rows("SELECT holder FROM leases WHERE name = 'discord-gateway'")
        assert [r[0] for r in holders] == [gateway.lease.holder]
    finally:
        await h.stop()
        await databases.cleanup()
