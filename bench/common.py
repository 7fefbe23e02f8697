"""Shared benchmark machinery: databases, the server process, signed webhooks, statistics.

Process layout (the same for smsbridge and for every baseline, so they compare fairly):

- the *parent* (the script) runs the load generator and the loopback fakes
  (FakeSlack, FakeTwilio from tests/fakes), as the outside world would be;
- the *server* runs alone in a child process (multiprocessing, spawn), so the load
  generator never steals its event loop: either the real `bridge.app.SmsBridge`
  configured exactly as in production (Slack over HTTP pointed at FakeSlack, so the
  outbox workers really post), or a baseline written in this module.

Everything listens on 127.0.0.1 only. Set BENCH_DATABASE_URL to use another
PostgreSQL than postgresql+asyncpg://postgres@127.0.0.1:5432/test.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import aiohttp  # noqa: E402
import phonenumbers  # noqa: E402
from aiohttp import web  # noqa: E402

from tests.fakes.signing import twilio_signature  # noqa: E402
from tests.fakes.slack_api import FakeSlack, Params  # noqa: E402
from tests.harness import BUSINESS, CHANNEL, NUMBER, PUBLIC_URL, Harness  # noqa: E402

PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
SMS_PATH = "/twilio/sms"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
DbKind = Literal["sqlite", "postgresql"]
Role = Literal["bridge", "ingest_floor", "latency_floor"]

# Area codes whose 555-0100..0199 block phonenumbers accepts as valid US numbers.
_AREA_CODES = ("415", "212", "646", "312", "617", "206", "303", "512", "213", "305", "404", "702", "718", "917")
_TOKEN = re.compile(r"\bbench-(\d+)-[0-9a-f]{8}\b")


def db_kinds(choice: str) -> list[DbKind]:
    return ["sqlite", "postgresql"] if choice == "both" else [choice]  # type: ignore[list-item]


# -- customers ---------------------------------------------------------------------


def _area_codes() -> list[str]:
    """The usual area codes first, then every other one phonenumbers accepts (for 10,000+ senders)."""
    more = [str(a) for a in range(201, 990) if str(a) not in _AREA_CODES and str(a)[1:] != "11"]
    return [*_AREA_CODES, *more]


def sender_numbers(count: int) -> list[str]:
    """`count` distinct, valid US numbers (+1 AAA 555 01xx), checked with phonenumbers."""
    found: list[str] = []
    for area in _area_codes():
        for line in range(100):
            number = f"+1{area}55501{line:02d}"
            if number != NUMBER and phonenumbers.is_valid_number(phonenumbers.parse(number)):
                found.append(number)
                if len(found) == count:
                    return found
    raise ValueError(f"only {len(found)} valid test numbers available, {count} asked")


def token_text(index: int) -> str:
    """A message body carrying a unique token FakeSlack can recognise when it is posted."""
    return f"Hi, is my order ready? bench-{index}-{uuid.uuid4().hex[:8]}"


def token_index(text: str) -> int | None:
    found = _TOKEN.search(text)
    return int(found.group(1)) if found else None


@dataclass(frozen=True)
class SignedRequest:
    """One inbound webhook, signed in advance so signing costs nothing while timed."""

    sid: str
    body: bytes
    headers: dict[str, str]


def signed_inbound(harness: Harness, text: str, sender: str) -> SignedRequest:
    """A Twilio inbound-SMS webhook exactly as tests/harness.py builds and signs one."""
    params = harness.inbound_params(text, sender)
    signature = twilio_signature(harness.twilio.auth_token, PUBLIC_URL + SMS_PATH, params)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    return SignedRequest(sid=dict(params)["MessageSid"], body=urlencode(params).encode(), headers=headers)


# -- the outside world -------------------------------------------------------------


class BenchSlack(FakeSlack):
    """FakeSlack that notes when each benchmark text arrives in a thread (perf_counter)."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: dict[int, float] = {}  # token index -> first thread post carrying it
        self.arrival_counts: Counter[int] = Counter()  # more than 1 means a duplicate post
        self.thread_posts = 0

    def _m_chat_postMessage(self, params: Params) -> dict[str, Any]:
        now = time.perf_counter()
        result = super()._m_chat_postMessage(params)
        if params.get("thread_ts"):
            self.thread_posts += 1
            index = token_index(str(params.get("text", "")))
            if index is not None:
                self.arrivals.setdefault(index, now)
                self.arrival_counts[index] += 1
        return result


class World(Harness):
    """tests/harness.py's Harness, used only for its fakes (a BenchSlack) and its webhooks."""

    slack: BenchSlack

    def __init__(self) -> None:
        super().__init__(databases=None)
        self.slack = BenchSlack()


async def start_world() -> World:
    """A fresh FakeSlack (BenchSlack) and FakeTwilio, set up as tests/harness.py does."""
    harness = World()
    await harness.slack.start()
    await harness.twilio.start()
    harness.slack.set_channel(CHANNEL, "support")
    harness.twilio.add_number(NUMBER, sms_url=f"{PUBLIC_URL}{SMS_PATH}")
    return harness


async def stop_world(harness: World) -> None:
    await harness.slack.stop()
    await harness.twilio.stop()


# -- databases ---------------------------------------------------------------------


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


@dataclass(frozen=True)
class DbTarget:
    """A fresh, empty database: a SQLite file in a temp dir, or a PostgreSQL schema."""

    kind: DbKind
    url: str
    schema: str | None = None
    directory: str | None = None

    @property
    def sqlite_path(self) -> str:
        assert self.kind == "sqlite" and self.directory
        return str(Path(self.directory) / "bench.db")

    @property
    def asyncpg_dsn(self) -> str:
        return _asyncpg_dsn(self.url)

    @property
    def connect_args(self) -> dict[str, Any]:
        return {"server_settings": {"search_path": self.schema}} if self.schema else {}

    def open(self) -> Any:
        """A bridge `Database` on this target (import deferred: the parent rarely needs it)."""
        from bridge.inbox.db import create_database

        return create_database(self.url, connect_args=self.connect_args)

    async def drop(self) -> None:
        if self.kind == "sqlite":
            if self.directory:
                shutil.rmtree(self.directory, ignore_errors=True)
            return
        import asyncpg

        conn = await asyncpg.connect(self.asyncpg_dsn)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        finally:
            await conn.close()


async def fresh_db(kind: DbKind) -> DbTarget:
    if kind == "sqlite":
        directory = tempfile.mkdtemp(prefix="smsbridge-bench-")
        return DbTarget(kind, f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}", directory=directory)
    import asyncpg

    schema = f"smsbridge_bench_{uuid.uuid4().hex[:12]}"  # distinctive: other tools use bench_*
    conn = await asyncpg.connect(_asyncpg_dsn(PG_URL))
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    return DbTarget(kind, PG_URL, schema=schema)


async def migrated_db(kind: DbKind) -> DbTarget:
    """A fresh database with smsbridge's schema (dropped again if migrating fails)."""
    from bridge.inbox.db import migrate

    target = await fresh_db(kind)
    try:
        db = target.open()
        try:
            await migrate(db)
        finally:
            await db.dispose()
    except BaseException:
        await target.drop()
        raise
    return target


@contextlib.asynccontextmanager
async def world_and_db(kind: DbKind) -> AsyncIterator[tuple[World, DbTarget]]:
    """The fakes and a fresh database for one run; both gone afterwards, however it ends."""
    world = await start_world()
    try:
        db = await fresh_db(kind)
        try:
            yield world, db
        finally:
            await db.drop()
    finally:
        await stop_world(world)


async def query(target: DbTarget, sql: str) -> list[tuple[Any, ...]]:
    """Run one read query on `target` through SQLAlchemy (after the server stopped)."""
    from sqlalchemy import text

    db = target.open()
    try:
        async with db.engine.connect() as conn:
            return [tuple(row) for row in (await conn.execute(text(sql))).all()]
    finally:
        await db.dispose()


# -- the server process ------------------------------------------------------------


@dataclass(frozen=True)
class ServerSpec:
    """What the child process serves. Picklable: it crosses the process boundary."""

    role: Role
    db: DbTarget | None
    slack_api_url: str
    slack_bot_token: str
    slack_signing_secret: str
    twilio_account_sid: str
    twilio_auth_token: str
    twilio_api_url: str
    profile_path: str | None = None
    with_slack: bool = True  # False: smsbridge without Slack, so no outbox work (diagnostic)
    # Pacing of posts per Slack channel (bench/pacing.py); off elsewhere: FakeSlack is
    # not rate-limited there and every bench posts into one channel.
    slack_post_interval: float = 0.0
    slack_post_burst: int = 2


def server_spec(
    harness: Harness, role: Role, db: DbTarget | None, profile_path: str | None = None, *, with_slack: bool = True
) -> ServerSpec:
    return ServerSpec(
        role=role,
        db=db,
        slack_api_url=harness.slack.api_url,
        slack_bot_token=harness.slack.bot_token,
        slack_signing_secret=harness.slack.signing_secret,
        twilio_account_sid=harness.twilio.account_sid,
        twilio_auth_token=harness.twilio.auth_token,
        twilio_api_url=harness.twilio.url,
        profile_path=profile_path,
        with_slack=with_slack,
    )


class ServerProcess:
    """`async with ServerProcess(spec) as port:` — the server runs in a child process."""

    def __init__(self, spec: ServerSpec, startup_timeout: float = 60.0) -> None:
        self.spec = spec
        self.startup_timeout = startup_timeout
        context = multiprocessing.get_context("spawn")
        self._conn, child_conn = context.Pipe()
        self._process = context.Process(target=_child_main, args=(spec, child_conn), daemon=True)

    async def _receive(self, timeout: float) -> Any:
        def wait() -> Any:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self._conn.poll(0.1):
                    return self._conn.recv()
                if not self._process.is_alive():
                    raise RuntimeError(f"{self.spec.role} server exited with code {self._process.exitcode}")
            raise TimeoutError(f"{self.spec.role} server did not answer within {timeout}s")

        return await asyncio.get_running_loop().run_in_executor(None, wait)

    @property
    def pid(self) -> int | None:
        """The server's process id (to sample its memory), once started."""
        return self._process.pid

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) the server has used so far, from /proc (Linux), else None.

        Unlike rates, it barely moves when other work shares the machine: the figure to
        compare between two versions measured at different times."""
        try:
            with open(f"/proc/{self._process.pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return None

    async def __aenter__(self) -> int:
        self._process.start()
        kind, port = await self._receive(self.startup_timeout)
        assert kind == "ready"
        return int(port)

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self._conn.send("stop")
            await self._receive(180.0 if self.spec.profile_path else 60.0)
        await asyncio.get_running_loop().run_in_executor(None, self._process.join, 10.0)
        if self._process.is_alive():
            self._process.kill()


def _child_main(spec: ServerSpec, conn: Connection) -> None:
    logging.basicConfig(level=logging.WARNING, format="[server] %(levelname)s %(name)s: %(message)s")
    # No developer's smsbridge.toml or .env may leak into a measurement.
    os.environ["SMSBRIDGE_CONFIG"] = os.devnull + ".smsbridge.toml"
    asyncio.run(_child(spec, conn))


async def _child(spec: ServerSpec, conn: Connection) -> None:
    starters = {"bridge": _serve_bridge, "ingest_floor": _serve_ingest_floor, "latency_floor": _serve_latency_floor}
    port, stop = await starters[spec.role](spec)
    profiler = _Profiler(spec.profile_path) if spec.profile_path else None
    if profiler:
        profiler.start()
    conn.send(("ready", port))
    await asyncio.get_running_loop().run_in_executor(None, conn.recv)
    if profiler:
        profiler.stop()
    await stop()
    conn.send(("stopped", None))


class _Profiler:
    """pyinstrument when installed (reads well for asyncio), else cProfile; text report."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            from pyinstrument import Profiler

            self._pyinstrument: Any = Profiler(interval=0.001, async_mode="disabled")
            self._cprofile: Any = None
        except ImportError:
            import cProfile

            self._pyinstrument = None
            self._cprofile = cProfile.Profile()

    def start(self) -> None:
        if self._pyinstrument is not None:
            self._pyinstrument.start()
        else:
            self._cprofile.enable()

    def stop(self) -> None:
        if self._pyinstrument is not None:
            self._pyinstrument.stop()
            tree = self._pyinstrument.output_text(unicode=True)
            flat = self._pyinstrument.output_text(unicode=True, flat=True)
            flat_total = self._pyinstrument.output_text(unicode=True, flat=True, flat_time="total")
            sections = ("call tree", tree), ("self time by function", flat), ("total time by function", flat_total)
            Path(self.path).write_text("\n".join(f"===== {name}\n{text}" for name, text in sections))
            return
        import io
        import pstats

        self._cprofile.disable()
        out = io.StringIO()
        stats = pstats.Stats(self._cprofile, stream=out)
        stats.sort_stats("tottime").print_stats(40)
        stats.sort_stats("cumulative").print_stats(60)
        Path(self.path).write_text(out.getvalue())


async def _listen(app: web.Application) -> tuple[int, web.AppRunner]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner.addresses[0][1], runner


def bridge_settings(spec: ServerSpec) -> Any:
    """The settings of the real service against the fakes: Slack over HTTP, Twilio, one inbox."""
    from bridge.config import Settings

    assert spec.db is not None
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=spec.db.url,
        public_url=PUBLIC_URL,
        slack_bot_token=spec.slack_bot_token if spec.with_slack else None,
        slack_signing_secret=spec.slack_signing_secret if spec.with_slack else None,
        slack_api_url=spec.slack_api_url,
        twilio_account_sid=spec.twilio_account_sid,
        twilio_auth_token=spec.twilio_auth_token,
        twilio_api_url=spec.twilio_api_url,
        smsbridge_number=NUMBER,
        smsbridge_slack_channel=CHANNEL,
        smsbridge_business_name=BUSINESS,
        slack_post_interval=spec.slack_post_interval,
        slack_post_burst=spec.slack_post_burst,
    )


async def _serve_bridge(spec: ServerSpec) -> tuple[int, Any]:
    """The real service, configured as in production (Slack over HTTP, Twilio, the outbox)."""
    from bridge.app import SmsBridge

    assert spec.db is not None
    bridge = SmsBridge(bridge_settings(spec), db=spec.db.open())
    await bridge.start("127.0.0.1", 0)
    assert bridge.port is not None
    return bridge.port, bridge.stop


async def _serve_ingest_floor(spec: ServerSpec) -> tuple[int, Any]:
    """The floor for ingest: read the form, check the signature, insert one row.

    SQLite: one aiosqlite connection, WAL, synchronous=NORMAL (as smsbridge uses).
    PostgreSQL: an asyncpg pool of 10 (smsbridge's pool_size). Both commit per request
    before answering, and keep MessageSid unique (ON CONFLICT DO NOTHING), as Twilio
    retries webhooks.
    """
    from twilio.request_validator import RequestValidator

    assert spec.db is not None
    validator = RequestValidator(spec.twilio_auth_token)
    url = PUBLIC_URL + SMS_PATH
    columns = "sid TEXT NOT NULL UNIQUE, sender TEXT NOT NULL, recipient TEXT NOT NULL, body TEXT NOT NULL"
    insert_sql: str
    closers: list[Any] = []

    if spec.db.kind == "sqlite":
        import aiosqlite

        sqlite = await aiosqlite.connect(spec.db.sqlite_path)
        await sqlite.execute("PRAGMA journal_mode=WAL")
        await sqlite.execute("PRAGMA synchronous=NORMAL")
        await sqlite.execute(f"CREATE TABLE messages (id INTEGER PRIMARY KEY, {columns}, created_at TEXT NOT NULL)")
        await sqlite.commit()
        closers.append(sqlite.close)

        async def insert(sid: str, sender: str, recipient: str, body: str) -> None:
            await sqlite.execute(
                "INSERT INTO messages (sid, sender, recipient, body, created_at) VALUES (?, ?, ?, ?, datetime('now'))"
                " ON CONFLICT (sid) DO NOTHING",
                (sid, sender, recipient, body),
            )
            await sqlite.commit()

    else:
        import asyncpg

        pool = await asyncpg.create_pool(
            spec.db.asyncpg_dsn, min_size=10, max_size=10, server_settings={"search_path": str(spec.db.schema)}
        )
        await pool.execute(f"CREATE TABLE messages (id BIGSERIAL PRIMARY KEY, {columns}, created_at TIMESTAMPTZ NOT NULL)")
        closers.append(pool.close)
        insert_sql = (
            "INSERT INTO messages (sid, sender, recipient, body, created_at) VALUES ($1, $2, $3, $4, now())"
            " ON CONFLICT (sid) DO NOTHING"
        )

        async def insert(sid: str, sender: str, recipient: str, body: str) -> None:
            await pool.execute(insert_sql, sid, sender, recipient, body)

    async def handle(request: web.Request) -> web.Response:
        form = await request.post()
        if not validator.validate(url, form, request.headers.get("X-Twilio-Signature", "")):
            return web.Response(status=403, text="invalid Twilio signature\n")
        await insert(str(form["MessageSid"]), str(form["From"]), str(form["To"]), str(form.get("Body", "")))
        return web.Response(text=EMPTY_TWIML, content_type="text/xml")

    app = web.Application()
    app.router.add_post(SMS_PATH, handle)
    port, runner = await _listen(app)

    async def stop() -> None:
        await runner.cleanup()
        for close in closers:
            await close()

    return port, stop


async def _serve_latency_floor(spec: ServerSpec) -> tuple[int, Any]:
    """The floor for latency: a webhook handler that posts the text to Slack at once.

    It uses the same slack_sdk AsyncWebClient smsbridge uses, with one shared aiohttp
    session (kept-alive connections). A sender's first text opens a thread (a root
    post), later ones go into it, so the thread posts compare like for like.
    """
    from slack_sdk.web.async_client import AsyncWebClient

    session = aiohttp.ClientSession()
    client = AsyncWebClient(token=spec.slack_bot_token, base_url=spec.slack_api_url, session=session)
    threads: dict[str, str] = {}

    async def handle(request: web.Request) -> web.Response:
        form = await request.post()
        sender = str(form["From"])
        if sender not in threads:
            root = await client.chat_postMessage(channel=CHANNEL, text=f"conversation with {sender}")
            threads[sender] = str(root["ts"])
        await client.chat_postMessage(channel=CHANNEL, thread_ts=threads[sender], text=str(form.get("Body", "")))
        return web.Response(text=EMPTY_TWIML, content_type="text/xml")

    app = web.Application()
    app.router.add_post(SMS_PATH, handle)
    port, runner = await _listen(app)

    async def stop() -> None:
        await runner.cleanup()
        await session.close()

    return port, stop


# -- load and statistics -----------------------------------------------------------


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    statuses: Counter[str] = field(default_factory=Counter)
    elapsed: float = 0.0

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0


async def post_webhook(
    session: aiohttp.ClientSession, url: str, request: SignedRequest, result: LoadResult
) -> float | None:
    """POST one signed webhook; its latency in seconds when answered 200, else None."""
    started = time.perf_counter()
    try:
        async with session.post(url, data=request.body, headers=request.headers) as response:
            await response.read()
            status = str(response.status)
    except (TimeoutError, aiohttp.ClientError) as exc:
        status = type(exc).__name__
    latency = time.perf_counter() - started
    result.statuses[status] += 1
    if status != "200":
        return None
    result.latencies.append(latency)
    return latency


async def closed_loop(url: str, requests: Sequence[SignedRequest], concurrency: int) -> LoadResult:
    """Send `requests` with `concurrency` in flight at all times, over one client session."""
    result = LoadResult()
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        queue = iter(requests)

        async def worker() -> None:
            for request in queue:
                await post_webhook(session, url, request, result)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.elapsed = time.perf_counter() - started
    return result


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of `values`; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f}"


async def wait_until(predicate: Any, timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(interval)
    return bool(predicate())


def profile_path(directory: str | None, name: str) -> str | None:
    if not directory:
        return None
    Path(directory).mkdir(parents=True, exist_ok=True)
    return str(Path(directory) / f"{name}.txt")
