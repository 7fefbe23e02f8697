"""A loopback fake of the Discord REST API and gateway, for tests.

The real ``discord.py`` client talks to it over HTTP and WebSocket on 127.0.0.1, so
tests exercise the library's real request building, rate-limit handling, gateway
protocol (HELLO / IDENTIFY / heartbeats / READY / GUILD_CREATE / RESUME), cache and
interaction dispatch rather than mocks.

Usage::

    async with FakeDiscord() as fake, fake.patch_discord():
        fake.add_forum_channel(FORUM, "inbox", tags=["open", "closed"])
        client = discord.Client(intents=intents, guild_ready_timeout=0.05)
        task = asyncio.create_task(client.start(fake.token))
        # (wait_until_ready() raises if called before login() got going)
        await fake.wait_for(client.is_ready, 5)
        ...
        await client.close()

discord.py quirks this fake accounts for (see ``patch_discord``):

* ``discord.Client`` never asks ``/gateway/bot`` for the gateway URL: it connects to
  ``DiscordWebSocket.DEFAULT_GATEWAY`` (only ``AutoShardedClient`` asks). Both that and
  ``Route.BASE`` must be patched.
* Responses must carry exactly ``Content-Type: application/json`` or the body is taken
  as text; a 429 without a ``Via`` header is taken as a Cloudflare ban (no retry).
* The gateway is zlib-stream compressed (Z_SYNC_FLUSH per message), or zstd-stream
  when the ``zstandard`` package is importable: the URL's ``compress`` parameter says.
* ``on_ready`` fires ``guild_ready_timeout`` seconds (default 2) after the last
  GUILD_CREATE: tests pass ``guild_ready_timeout=0.05`` to the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import re
import secrets
import time
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from tests.fakes.loopback import DEFAULT_WAIT, LoopbackServer

JSON_CONTENT_TYPE = "application/json"  # exactly: discord.py compares the header verbatim
DISCORD_EPOCH_MS = 1420070400000
NONCE_WINDOW = 300.0  # seconds Discord remembers an enforced nonce ("a few minutes")
API_VERSION = 10

Json = dict[str, Any]
Predicate = Callable[[], bool | Awaitable[bool]]


class Intents:
    """Gateway intent bits (https://discord.com/developers/docs/topics/gateway#gateway-intents)."""

    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1  # privileged
    GUILD_PRESENCES = 1 << 8  # privileged
    GUILD_MESSAGES = 1 << 9
    GUILD_MESSAGE_REACTIONS = 1 << 10
    MESSAGE_CONTENT = 1 << 15  # privileged


class Perms:
    """Permission bits the fake enforces."""

    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADMINISTRATOR = 1 << 3
    ADD_REACTIONS = 1 << 6
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    USE_APPLICATION_COMMANDS = 1 << 31
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    SEND_MESSAGES_IN_THREADS = 1 << 38
    ALL = (1 << 51) - 1


# What smsbridge's bot is expected to be granted in its invite URL.
DEFAULT_BOT_PERMISSIONS = (
    Perms.VIEW_CHANNEL
    | Perms.SEND_MESSAGES
    | Perms.SEND_MESSAGES_IN_THREADS
    | Perms.CREATE_PUBLIC_THREADS
    | Perms.MANAGE_THREADS
    | Perms.MANAGE_CHANNELS
    | Perms.EMBED_LINKS
    | Perms.ATTACH_FILES
    | Perms.READ_MESSAGE_HISTORY
    | Perms.ADD_REACTIONS
)
DEFAULT_EVERYONE_PERMISSIONS = (
    Perms.VIEW_CHANNEL
    | Perms.SEND_MESSAGES
    | Perms.SEND_MESSAGES_IN_THREADS
    | Perms.READ_MESSAGE_HISTORY
    | Perms.ADD_REACTIONS
    | Perms.USE_APPLICATION_COMMANDS
)

# Which intent an event needs (events not listed are always sent, e.g. INTERACTION_CREATE).
_EVENT_INTENTS: dict[str, int] = {
    "GUILD_CREATE": Intents.GUILDS,
    "GUILD_ROLE_UPDATE": Intents.GUILDS,
    "CHANNEL_CREATE": Intents.GUILDS,
    "CHANNEL_UPDATE": Intents.GUILDS,
    "CHANNEL_DELETE": Intents.GUILDS,
    "THREAD_CREATE": Intents.GUILDS,
    "THREAD_UPDATE": Intents.GUILDS,
    "THREAD_DELETE": Intents.GUILDS,
    "MESSAGE_CREATE": Intents.GUILD_MESSAGES,
    "MESSAGE_UPDATE": Intents.GUILD_MESSAGES,
    "MESSAGE_DELETE": Intents.GUILD_MESSAGES,
    "MESSAGE_REACTION_ADD": Intents.GUILD_MESSAGE_REACTIONS,
    "MESSAGE_REACTION_REMOVE": Intents.GUILD_MESSAGE_REACTIONS,
}

CHANNEL_TEXT = 0
CHANNEL_DM = 1
CHANNEL_CATEGORY = 4
CHANNEL_PUBLIC_THREAD = 11
CHANNEL_FORUM = 15

FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7

MAX_TAGS_PER_FORUM = 20
MAX_TAGS_PER_POST = 5


class DiscordApiError(Exception):
    """Raised inside a route handler to answer a Discord-shaped JSON error."""

    def __init__(self, status: int, code: int, message: str, errors: Json | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors


def _unknown(what: str, code: int) -> DiscordApiError:
    return DiscordApiError(404, code, f"Unknown {what}")


def _invalid_form(field_name: str, error_code: str, message: str) -> DiscordApiError:
    # Discord's nested form error shape; discord.py flattens it into the exception text.
    errors = {field_name: {"_errors": [{"code": error_code, "message": message}]}}
    return DiscordApiError(400, 50035, "Invalid Form Body", errors)


def _missing_permissions() -> DiscordApiError:
    return DiscordApiError(403, 50013, "Missing Permissions")


def _json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    hdrs = {"Content-Type": JSON_CONTENT_TYPE, **(headers or {})}
    return web.Response(body=json.dumps(body).encode("utf-8"), status=status, headers=hdrs)


def _iso(when: float | None = None) -> str:
    return dt.datetime.fromtimestamp(time.time() if when is None else when, dt.UTC).isoformat()


def _sid(value: int | None) -> str | None:
    return None if value is None else str(value)


def _walk_components(components: Sequence[Json]) -> Iterator[Json]:
    """Every component, including those nested in action rows, sections and containers."""
    for comp in components:
        yield comp
        for key in ("components",):
            yield from _walk_components(comp.get(key) or [])
        for key in ("accessory", "component"):
            if isinstance(comp.get(key), dict):
                yield from _walk_components([comp[key]])


# ---------------------------------------------------------------------- state records


@dataclass
class FakeChannel:
    id: int
    type: int
    name: str
    parent_id: int | None = None
    position: int = 0
    topic: str | None = None
    # Forums: [{"id": int, "name", "moderated", "emoji_id", "emoji_name"}]
    available_tags: list[Json] = field(default_factory=list)
    # Threads:
    owner_id: int | None = None
    applied_tags: list[int] = field(default_factory=list)
    archived: bool = False
    locked: bool = False
    auto_archive_duration: int = 1440
    archive_timestamp: str = field(default_factory=_iso)
    created_at: str = field(default_factory=_iso)
    message_count: int = 0
    total_message_sent: int = 0
    last_message_id: int | None = None
    deleted: bool = False
    recipient_id: int | None = None  # a direct message: the user on the other side

    @property
    def is_thread(self) -> bool:
        return self.type in (10, 11, 12)


@dataclass
class FakeMessage:
    id: int
    channel_id: int
    author_id: int
    content: str = ""
    embeds: list[Json] = field(default_factory=list)
    components: list[Json] = field(default_factory=list)
    attachments: list[Json] = field(default_factory=list)
    flags: int = 0
    type: int = 0
    timestamp: str = field(default_factory=_iso)
    edited_timestamp: str | None = None
    reactions: dict[str, list[int]] = field(default_factory=dict)  # emoji -> user ids, in order
    message_reference: Json | None = None
    webhook_id: int | None = None
    application_id: int | None = None
    interaction_metadata: Json | None = None
    allowed_mentions: Json | None = None  # as sent; None: Discord's default (everything in the content pings)
    deleted: bool = False


@dataclass
class FakeInteraction:
    id: int
    token: str
    type: int
    channel_id: int
    user_id: int
    data: Json
    message_id: int | None  # the message a component / modal was on
    created: float = field(default_factory=time.monotonic)
    responses: list[Json] = field(default_factory=list)  # callbacks, as posted
    original_message_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    ephemeral_messages: dict[int, FakeMessage] = field(default_factory=dict)  # never in a channel


@dataclass
class _Session:
    """A gateway session: survives a dropped connection so the client can RESUME."""

    id: str
    intents: int
    seq: int = 0
    backlog: deque[Json] = field(default_factory=lambda: deque(maxlen=1000))
    conn: _GatewayConn | None = None


class _GatewayConn:
    """One websocket: serialises sends so the shared compression stream stays in order."""

    def __init__(self, ws: web.WebSocketResponse, compress: str | None) -> None:
        self.ws = ws
        self.session: _Session | None = None
        self.closed_by_server = False
        self._lock = asyncio.Lock()
        self._zlib: Any = None
        self._zstd: Any = None
        if compress == "zlib-stream":
            self._zlib = zlib.compressobj()
        elif compress == "zstd-stream":
            import zstandard  # only asked for by discord.py when it could import it itself

            self._zstd = zstandard.ZstdCompressor().compressobj()
            self._zstd_flush = zstandard.COMPRESSOBJ_FLUSH_BLOCK

    async def send(self, frame: Json) -> None:
        raw = json.dumps(frame).encode("utf-8")
        async with self._lock:
            if self.ws.closed:
                return
            try:
                if self._zlib is not None:
                    # One shared stream; Z_SYNC_FLUSH ends every message with 00 00 ff ff,
                    # which is how discord.py knows a message is complete.
                    await self.ws.send_bytes(self._zlib.compress(raw) + self._zlib.flush(zlib.Z_SYNC_FLUSH))
                elif self._zstd is not None:
                    await self.ws.send_bytes(self._zstd.compress(raw) + self._zstd.flush(self._zstd_flush))
                else:
                    await self.ws.send_str(raw.decode("utf-8"))
            except (ConnectionError, RuntimeError):
                pass  # the client went away mid-send; its session keeps the backlog

    async def close(self, code: int, message: str = "") -> None:
        self.closed_by_server = True
        async with self._lock:
            await self.ws.close(code=code, message=message.encode("utf-8"))


@dataclass
class _Request:
    method: str
    path: str
    params: dict[str, str]  # route placeholders
    query: dict[str, str]
    body: Any
    files: list[Json]  # {"index", "filename", "content_type", "data"}


_Handler = Callable[["FakeDiscord", _Request], Awaitable[Any]]
_ROUTES: list[tuple[str, re.Pattern[str], str, bool]] = []  # (method, pattern, handler name, needs bot auth)


def _route(method: str, pattern: str, auth: bool = True) -> Callable[[_Handler], _Handler]:
    """Register a REST handler; ``{name}`` placeholders match snowflakes/tokens/emoji."""

    def deco(fn: _Handler) -> _Handler:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
        _ROUTES.append((method, re.compile(f"^{regex}$"), fn.__name__, auth))
        return fn

    return deco


class FakeDiscord(LoopbackServer):
    """One Discord guild with a bot in it, served over aiohttp on an ephemeral loopback port."""

    def __init__(
        self,
        token: str = "bot-token",
        application_id: int = 1100000000000000001,
        bot_user_id: int | None = None,
        guild_id: int = 1200000000000000001,
        bot_name: str = "smsbridge",
        guild_name: str = "Fake Guild",
    ) -> None:
        super().__init__()
        self.token = token
        self.application_id = application_id
        # Modern bots' user id is their application id.
        self.bot_user_id = bot_user_id if bot_user_id is not None else application_id
        self.guild_id = guild_id
        self.guild_name = guild_name

        # Toggles (developer portal / server settings).
        self.message_content_allowed = True
        self.members_allowed = True
        self.presences_allowed = True
        self.bot_permissions = DEFAULT_BOT_PERMISSIONS
        self.heartbeat_interval_ms = 41250
        self.interaction_timeout = 3.0  # seconds to send the initial callback
        self.followup_timeout = 15 * 60.0  # seconds the interaction token works

        # Inspection.
        self.calls: list[tuple[str, str, Any]] = []  # (method, path without /api/v10, JSON body)
        self.files: list[Json] = []  # every upload: channel_id, message_id, filename, content_type, data
        self.commands: list[Json] = []  # global application commands, as last bulk-overwritten
        self.guild_commands: dict[int, list[Json]] = {}
        self.interaction_responses: dict[int, list[Json]] = {}  # interaction id -> callbacks
        self.gateway_connections = 0  # total websocket connects (grows on reconnect)
        self.identifies: list[Json] = []  # every IDENTIFY payload (token redacted)
        self.resumes: list[Json] = []
        self.gateway_received: list[Json] = []  # every other frame a client sent

        # Failure injection.
        self._fail_next: list[tuple[str, int, int, str]] = []  # (substring, status, code, message)
        self._rate_limit_next: list[tuple[str, float, bool]] = []
        self._lose_answer_next: list[str] = []  # done, but the client gets a 502 instead of the answer

        # Like Discord: a request whose files total more than this is refused with 413 /
        # 40005 (a bot's limit without server boosts, and in direct messages: 10 MiB).
        self.upload_limit = 10 * 1024 * 1024
        self.refused_uploads: list[int] = []  # the sizes refused as too large

        # Message nonces sent with enforce_nonce: (channel, author, nonce) -> (when, message id).
        self.nonce_window = NONCE_WINDOW
        self._nonces: dict[tuple[int, int, str], tuple[float, int]] = {}

        # Guild state.
        self._next_snowflake = 0
        self._users: dict[int, Json] = {}
        self._members: dict[int, Json] = {}  # user id -> {"roles": [int], "joined_at", "nick"}
        self._roles: dict[int, Json] = {}
        self._channels: dict[int, FakeChannel] = {}
        self._messages: dict[int, list[FakeMessage]] = {}
        self._message_index: dict[int, FakeMessage] = {}
        self._interactions: dict[int, FakeInteraction] = {}
        self._attachment_data: dict[int, bytes] = {}
        self._command_ids: dict[tuple[int | None, str, int], int] = {}  # keep ids stable across syncs

        self._add_user(self.bot_user_id, bot_name, bot=True)
        self._bot_role_id = self._snowflake()
        self._roles[guild_id] = self._role(guild_id, "@everyone", DEFAULT_EVERYONE_PERMISSIONS, position=0)
        self._roles[self._bot_role_id] = {
            **self._role(self._bot_role_id, bot_name, 0, position=1),
            "managed": True,
            "tags": {"bot_id": str(self.bot_user_id)},
        }
        self._members[self.bot_user_id] = {"roles": [self._bot_role_id], "joined_at": _iso(), "nick": None}
        self._owner_id = self._snowflake()
        self.add_member(self._owner_id, "guild-owner")

        # Gateway state.
        self._conns: list[_GatewayConn] = []
        self._sessions: dict[str, _Session] = {}


    # ------------------------------------------------------------------ lifecycle

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/v{version:\\d+}/{tail:.*}", self._handle_api)
        app.router.add_get("/gateway", self._handle_gateway)
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._handle_cdn)
        return app

    async def before_stop(self) -> None:
        for conn in list(self._conns):
            await conn.close(WSCloseCode.GOING_AWAY)
        self._conns.clear()

    @property
    def api_base(self) -> str:
        """Value for ``discord.http.Route.BASE``."""
        return f"{self.base_url}/api/v{API_VERSION}"

    @property
    def gateway_url(self) -> str:
        """Value for ``DiscordWebSocket.DEFAULT_GATEWAY`` (discord.py adds the query)."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    @contextlib.contextmanager
    def patch_discord(self) -> Iterator[None]:
        """Point discord.py (process-wide) at this fake for the duration of the block."""
        import yarl
        from discord.gateway import DiscordWebSocket
        from discord.http import Route

        old_base, old_gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
        Route.BASE = self.api_base
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        try:
            yield
        finally:
            Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = old_base, old_gateway

    # ------------------------------------------------------------------ setup helpers

    def add_forum_channel(
        self, channel_id: int, name: str, tags: Sequence[str] = (), parent_id: int | None = None
    ) -> FakeChannel:
        """A GUILD_FORUM channel whose tags get fresh ids (see ``forum_tags`` / ``tag_id``)."""
        channel = FakeChannel(id=channel_id, type=CHANNEL_FORUM, name=name, parent_id=parent_id)
        channel.position = len(self._channels)
        channel.available_tags = [self._new_tag({"name": t}) for t in tags]
        self._channels[channel_id] = channel
        return channel

    def add_text_channel(self, channel_id: int, name: str, parent_id: int | None = None) -> FakeChannel:
        channel = FakeChannel(id=channel_id, type=CHANNEL_TEXT, name=name, parent_id=parent_id)
        channel.position = len(self._channels)
        self._channels[channel_id] = channel
        return channel

    def add_thread(
        self,
        parent_id: int,
        name: str,
        thread_id: int | None = None,
        owner_id: int | None = None,
        applied_tags: Sequence[int] = (),
        archived: bool = False,
    ) -> FakeChannel:
        """A thread that already exists before the client connects (sent in GUILD_CREATE if active)."""
        thread = FakeChannel(
            id=thread_id or self._snowflake(),
            type=CHANNEL_PUBLIC_THREAD,
            name=name,
            parent_id=parent_id,
            owner_id=owner_id or self.bot_user_id,
            applied_tags=list(applied_tags),
            archived=archived,
        )
        self._channels[thread.id] = thread
        return thread

    def add_role(self, role_id: int, name: str, permissions: int = 0) -> None:
        self._roles[role_id] = self._role(role_id, name, permissions, position=len(self._roles))

    def add_member(self, user_id: int, name: str, roles: Sequence[int] = (), bot: bool = False) -> None:
        self._add_user(user_id, name, bot=bot)
        self._members[user_id] = {"roles": list(roles), "joined_at": _iso(), "nick": None}

    async def set_bot_permissions(self, permissions: int) -> None:
        """Change the bot role's permissions, telling connected clients (GUILD_ROLE_UPDATE)."""
        self.bot_permissions = permissions
        await self._dispatch(
            "GUILD_ROLE_UPDATE", {"guild_id": str(self.guild_id), "role": self._render_role(self._bot_role_id)}
        )

    # ------------------------------------------------------------------ failure injection

    def fail_next(
        self, path_substring: str, status: int = 500, count: int = 1, code: int = 0, message: str | None = None
    ) -> None:
        """The next ``count`` requests whose ``"METHOD /path"`` contains the substring fail.

        Note discord.py itself retries 500/502/504/524 after 1 s, 3 s, ... (up to 5 tries).
        """
        text = message or {400: "Bad Request", 403: "Missing Access", 404: "Not Found"}.get(status, "Server Error")
        self._fail_next.extend([(path_substring, status, code, text)] * count)

    def lose_answer_next(self, path_substring: str, count: int = 1) -> None:
        """The next ``count`` matching requests take effect, but their answer is lost on
        the way back (the client sees a 502, as from a proxy timing out). discord.py then
        sends the same request again."""
        self._lose_answer_next.extend([path_substring] * count)

    def rate_limit_next(
        self, path_substring: str, retry_after: float = 0.2, count: int = 1, is_global: bool = False
    ) -> None:
        """The next ``count`` matching requests get a 429 that discord.py waits out and retries."""
        self._rate_limit_next.extend([(path_substring, retry_after, is_global)] * count)

    async def disconnect_gateway(self, code: int = 4000) -> None:
        """Drop every gateway connection; a resumable code makes discord.py RESUME."""
        for conn in list(self._conns):
            await conn.close(code, "fake disconnect")

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT, as Discord does before maintenance."""
        for conn in list(self._conns):
            await conn.send({"op": 7, "d": None})

    async def invalidate_sessions(self) -> None:
        """Forget every session and send op 9 (not resumable): clients IDENTIFY again."""
        for session in list(self._sessions.values()):
            if session.conn is not None:
                await session.conn.send({"op": 9, "d": False})
        self._sessions.clear()

    # ------------------------------------------------------------------ inspection

    @property
    def active_gateways(self) -> int:
        """Connections that have IDENTIFYed or RESUMEd and are still open."""
        return sum(1 for c in self._conns if c.session is not None and not c.ws.closed)

    @property
    def threads(self) -> dict[int, Json]:
        """Every thread that has not been deleted: id -> name, parent_id, applied_tags, messages."""
        return {
            ch.id: {
                "id": ch.id,
                "name": ch.name,
                "parent_id": ch.parent_id,
                "owner_id": ch.owner_id,
                "applied_tags": list(ch.applied_tags),
                "archived": ch.archived,
                "locked": ch.locked,
                "messages": self.messages(ch.id),
            }
            for ch in self._channels.values()
            if ch.is_thread and not ch.deleted
        }

    def channel(self, channel_id: int) -> FakeChannel | None:
        return self._channels.get(channel_id)

    def messages(self, channel_id: int) -> list[Json]:
        """Messages of a channel or thread as Discord renders them, oldest first."""
        return [self._render_message(m) for m in self._messages.get(channel_id, []) if not m.deleted]

    def direct_messages(self, user_id: int) -> list[Json]:
        """What the bot sent `user_id` in their direct message, oldest first."""
        dm = next((c for c in self._channels.values() if c.type == CHANNEL_DM and c.recipient_id == user_id), None)
        return [] if dm is None else self.messages(dm.id)

    def message(self, message_id: int) -> Json | None:
        msg = self._message_index.get(message_id)
        return None if msg is None or msg.deleted else self._render_message(msg)

    def pinged(self, message_id: int) -> Json:
        """Who a message notified, as Discord decides it: mentions in the content that its
        `allowed_mentions` permit ({"everyone": bool, "users": [ids], "roles": [ids]})."""
        msg = self._message_index[message_id]
        allowed = msg.allowed_mentions
        parse = set(allowed.get("parse") or []) if allowed is not None else {"users", "roles", "everyone"}
        listed_users = {int(u) for u in (allowed or {}).get("users") or []}
        listed_roles = {int(r) for r in (allowed or {}).get("roles") or []}
        users = {int(u) for u in re.findall(r"<@!?(\d+)>", msg.content)}
        roles = {int(r) for r in re.findall(r"<@&(\d+)>", msg.content)}
        return {
            "everyone": "everyone" in parse and re.search(r"@(everyone|here)\b", msg.content) is not None,
            "users": sorted(u for u in users if "users" in parse or u in listed_users),
            "roles": sorted(r for r in roles if "roles" in parse or r in listed_roles),
        }

    def forum_tags(self, forum_id: int) -> list[Json]:
        """The forum's tags: [{"id": int, "name", "moderated", "emoji_id", "emoji_name"}]."""
        return [dict(t) for t in self._channels[forum_id].available_tags]

    def tag_id(self, forum_id: int, name: str) -> int:
        for tag in self._channels[forum_id].available_tags:
            if tag["name"] == name:
                return int(tag["id"])
        raise KeyError(f"forum {forum_id} has no tag {name!r}")

    def calls_to(self, method: str, path_substring: str = "") -> list[Any]:
        """JSON bodies of the recorded calls with this method whose path contains the substring."""
        return [body for m, p, body in self.calls if m == method and path_substring in p]

    def response_for(self, interaction_id: int) -> list[Json]:
        """The interaction callbacks posted for an interaction ({"type", "data"}), in order."""
        return list(self.interaction_responses.get(interaction_id, []))

    def original_response(self, interaction_id: int) -> Json | None:
        """The interaction's original response message (ephemeral or not), if any."""
        inter = self._interactions[interaction_id]
        if inter.original_message_id is None:
            return None
        return self._render_message(self._interaction_message(inter, inter.original_message_id))

    def followups(self, interaction_id: int) -> list[Json]:
        inter = self._interactions[interaction_id]
        return [self._render_message(self._interaction_message(inter, mid)) for mid in inter.followup_ids]

    def recent_activity(self) -> str:
        return f"last calls: {[f'{m} {p}' for m, p, _ in self.calls[-15:]]}"

    async def wait_response(self, interaction_id: int, timeout: float = DEFAULT_WAIT) -> Json:
        """Wait for the interaction's first callback and return it."""
        await self.wait_for(
            lambda: bool(self.interaction_responses.get(interaction_id)),
            timeout,
            f"a callback for interaction {interaction_id}",
        )
        return self.interaction_responses[interaction_id][0]

    async def wait_gateway_ready(self, count: int = 1, timeout: float = DEFAULT_WAIT) -> None:
        """Wait until ``count`` connections have been sent READY (or RESUMED)."""
        await self.wait_for(lambda: self.active_gateways >= count, timeout, f"{count} identified gateway(s)")

    # ------------------------------------------------------------------ user-side injection

    async def user_message(
        self,
        channel_id: int,
        user_id: int,
        content: str,
        attachments: Sequence[tuple[str, bytes] | tuple[str, bytes, str]] = (),
        reply_to: int | None = None,
    ) -> int:
        """A guild member posts in a channel or thread (MESSAGE_CREATE); returns the message id.

        ``attachments`` are ``(filename, data[, content_type])``; their URLs are served by the fake.
        """
        if user_id not in self._members:
            raise ValueError(f"user {user_id} is not a member of the guild: call add_member() first")
        channel = self._require_channel(channel_id)
        if channel.type == CHANNEL_FORUM:
            raise ValueError("users post in a forum by creating a thread: use user_forum_post()")
        await self._unarchive_on_message(channel, by_bot=False)
        msg = FakeMessage(id=self._snowflake(), channel_id=channel_id, author_id=user_id, content=content)
        for item in attachments:
            filename, data = item[0], item[1]
            content_type = item[2] if len(item) > 2 else "application/octet-stream"  # type: ignore[misc]
            msg.attachments.append(self._store_attachment(channel_id, filename, data, content_type))
        if reply_to is not None:
            msg.type = 19
            msg.message_reference = {
                "message_id": str(reply_to),
                "channel_id": str(channel_id),
                "guild_id": str(self.guild_id),
            }
        await self._post(msg)
        return msg.id

    async def user_edit(self, message_id: int, content: str) -> None:
        """A member edits their message (MESSAGE_UPDATE with the whole new message)."""
        msg = self._message_index[message_id]
        msg.content = content
        msg.edited_timestamp = _iso()
        await self._dispatch("MESSAGE_UPDATE", self._render_message(msg))

    async def user_delete(self, message_id: int) -> None:
        """A member deletes their message (MESSAGE_DELETE: ids only)."""
        msg = self._message_index[message_id]
        msg.deleted = True
        await self._dispatch(
            "MESSAGE_DELETE", {"id": str(msg.id), "channel_id": str(msg.channel_id), "guild_id": str(self.guild_id)}
        )

    async def user_forum_post(self, forum_id: int, user_id: int, name: str, content: str) -> int:
        """A member opens a forum post themselves (THREAD_CREATE + MESSAGE_CREATE); returns its id."""
        thread = await self._create_forum_post(
            self._require_channel(forum_id), user_id, name, [], {"content": content}, []
        )
        return thread.id

    async def click_button(self, message_id: int, custom_id: str, user_id: int, channel_id: int | None = None) -> int:
        """A member clicks a button (INTERACTION_CREATE type 3); returns the interaction id."""
        return await self._component_interaction(message_id, custom_id, user_id, channel_id, values=None)

    async def select(
        self, message_id: int, custom_id: str, values: Sequence[str], user_id: int, channel_id: int | None = None
    ) -> int:
        """A member picks options in a select menu (string, or user ids in a user select);
        returns the interaction id."""
        return await self._component_interaction(message_id, custom_id, user_id, channel_id, values=list(values))

    def command_attachment(self, channel_id: int, filename: str, data: bytes, content_type: str) -> Json:
        """A file a member picks for an app command's attachment option."""
        return self._store_attachment(channel_id, filename, data, content_type)

    async def slash_command(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        user_id: int | None = None,
        channel_id: int | None = None,
        subcommand: str | None = None,
        group: str | None = None,
    ) -> int:
        """A member runs ``/name [group] [subcommand] options`` (INTERACTION_CREATE type 2)."""
        data = self._command_data(name, options or {}, subcommand, group, focused=None)
        return await self._interaction(2, data, self._require_user(user_id), self._require_channel_id(channel_id))

    async def autocomplete(
        self,
        name: str,
        options: dict[str, Any],
        focused: str,
        user_id: int | None = None,
        channel_id: int | None = None,
        subcommand: str | None = None,
        group: str | None = None,
    ) -> int:
        """A member types into option ``focused`` (INTERACTION_CREATE type 4); answer is type 8."""
        data = self._command_data(name, options, subcommand, group, focused=focused)
        return await self._interaction(4, data, self._require_user(user_id), self._require_channel_id(channel_id))

    async def submit_modal(
        self,
        custom_id: str,
        values: dict[str, str],
        user_id: int | None = None,
        channel_id: int | None = None,
        message_id: int | None = None,
    ) -> int:
        """A member submits a modal's text inputs (INTERACTION_CREATE type 5)."""
        rows = [{"type": 1, "components": [{"type": 4, "custom_id": k, "value": v}]} for k, v in values.items()]
        data = {"custom_id": custom_id, "components": rows}
        return await self._interaction(
            5, data, self._require_user(user_id), self._require_channel_id(channel_id), message_id
        )

    async def delete_thread(self, thread_id: int) -> None:
        """A moderator deletes a thread: THREAD_DELETE, then GET answers 404 Unknown Channel."""
        thread = self._require_channel(thread_id)
        thread.deleted = True
        await self._dispatch(
            "THREAD_DELETE",
            {
                "id": str(thread.id),
                "guild_id": str(self.guild_id),
                "parent_id": _sid(thread.parent_id),
                "type": thread.type,
            },
        )

    async def archive_thread(self, thread_id: int, locked: bool = False) -> None:
        """Discord (auto-archive) or a moderator archives a thread (THREAD_UPDATE)."""
        thread = self._require_channel(thread_id)
        thread.archived, thread.locked, thread.archive_timestamp = True, locked, _iso()
        await self._dispatch("THREAD_UPDATE", self._render_channel(thread))

    # ------------------------------------------------------------------ gateway

    async def _handle_gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        conn = _GatewayConn(ws, request.query.get("compress"))
        self._conns.append(conn)
        self.gateway_connections += 1
        try:
            if request.query.get("encoding", "json") != "json":
                await conn.close(4002, "Error while decoding payload.")
                return ws
            await conn.send({"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    frame = json.loads(msg.data)
                except ValueError:
                    await conn.close(4002, "Error while decoding payload.")
                    break
                await self._on_gateway_frame(conn, frame)
        finally:
            self._conns.remove(conn)
            session = conn.session
            if session is not None and session.conn is conn:
                session.conn = None
                # The client closing cleanly (client.close()) ends the session; anything
                # else, including our own disconnect_gateway(), leaves it resumable.
                if not conn.closed_by_server and ws.close_code in (1000, 1001):
                    self._sessions.pop(session.id, None)
        return ws

    async def _on_gateway_frame(self, conn: _GatewayConn, frame: Json) -> None:
        op, data = frame.get("op"), frame.get("d")
        if op == 1:  # heartbeat
            await conn.send({"op": 11})
        elif op == 2:
            await self._identify(conn, data or {})
        elif op == 6:
            await self._resume(conn, data or {})
        elif op == 8:  # request guild members
            members = [self._render_member(uid) for uid in self._members]
            await self._send_dispatch(
                conn,
                "GUILD_MEMBERS_CHUNK",
                {
                    "guild_id": str(self.guild_id),
                    "members": members,
                    "chunk_index": 0,
                    "chunk_count": 1,
                    "not_found": [],
                    "nonce": (data or {}).get("nonce"),
                },
            )
        else:
            self.gateway_received.append(frame)

    async def _identify(self, conn: _GatewayConn, data: Json) -> None:
        self.identifies.append({**data, "token": "<redacted>"})
        if data.get("token") != self.token:
            await conn.close(4004, "Authentication failed.")
            return
        intents = int(data.get("intents", 0))
        disallowed = (
            (intents & Intents.MESSAGE_CONTENT and not self.message_content_allowed)
            or (intents & Intents.GUILD_MEMBERS and not self.members_allowed)
            or (intents & Intents.GUILD_PRESENCES and not self.presences_allowed)
        )
        if disallowed:
            # What Discord does when a privileged intent is not enabled in the portal.
            await conn.close(4014, "Disallowed intent(s).")
            return
        session = _Session(id=secrets.token_hex(16), intents=intents, conn=conn)
        self._sessions[session.id] = session
        ready: Json = {
            "v": API_VERSION,
            "user": {**self._users[self.bot_user_id], "verified": True, "mfa_enabled": False, "flags": 0},
            "guilds": [{"id": str(self.guild_id), "unavailable": True}],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": self._application_flags()},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "user_settings": {},
            "geo_ordered_rtc_regions": [],
        }
        if "shard" in data:
            ready["shard"] = data["shard"]
        conn.session = session
        await self._send_dispatch(conn, "READY", ready)
        if intents & Intents.GUILDS:
            await self._send_dispatch(conn, "GUILD_CREATE", self._render_guild_create())

    async def _resume(self, conn: _GatewayConn, data: Json) -> None:
        self.resumes.append({**data, "token": "<redacted>"})
        session = self._sessions.get(str(data.get("session_id")))
        if session is None or data.get("token") != self.token:
            await conn.send({"op": 9, "d": False})  # not resumable: discord.py IDENTIFYs again
            return
        if session.conn is not None and session.conn is not conn:
            await session.conn.close(4000, "Session resumed elsewhere")
        session.conn = conn
        conn.session = session
        last_seen = int(data.get("seq") or 0)
        for frame in list(session.backlog):
            if frame["s"] > last_seen:
                await conn.send(frame)
        await self._send_dispatch(conn, "RESUMED", {})

    async def _send_dispatch(self, conn: _GatewayConn, event: str, data: Json) -> None:
        session = conn.session
        assert session is not None
        session.seq += 1
        frame = {"op": 0, "t": event, "s": session.seq, "d": data}
        if event not in ("READY", "RESUMED"):
            session.backlog.append(frame)
        await conn.send(frame)

    async def _dispatch(self, event: str, data: Json) -> None:
        """Send an event to every live session whose intents cover it (duplicates included:
        two processes holding the gateway both get everything, as with Discord)."""
        needed = _EVENT_INTENTS.get(event, 0)
        for session in list(self._sessions.values()):
            if needed and not session.intents & needed:
                continue
            payload = data
            if event in ("MESSAGE_CREATE", "MESSAGE_UPDATE") and not session.intents & Intents.MESSAGE_CONTENT:
                payload = self._without_content(data)
            if session.conn is not None:
                await self._send_dispatch(session.conn, event, payload)
            else:
                # Disconnected but resumable: Discord keeps the events for the RESUME.
                session.seq += 1
                session.backlog.append({"op": 0, "t": event, "s": session.seq, "d": payload})

    def _without_content(self, data: Json) -> Json:
        """What a client without MESSAGE_CONTENT sees: no text unless it wrote it or is mentioned."""
        author_id = int(data.get("author", {}).get("id", 0))
        mentioned = any(int(u["id"]) == self.bot_user_id for u in data.get("mentions", []))
        if author_id == self.bot_user_id or mentioned:
            return data
        return {**data, "content": "", "embeds": [], "attachments": [], "components": []}

    def _application_flags(self) -> int:
        flags = 0
        if self.presences_allowed:
            flags |= 1 << 12  # GATEWAY_PRESENCE
        if self.members_allowed:
            flags |= 1 << 14  # GATEWAY_GUILD_MEMBERS
        if self.message_content_allowed:
            flags |= 1 << 18  # GATEWAY_MESSAGE_CONTENT
        return flags

    # ------------------------------------------------------------------ REST plumbing

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        method = request.method
        body, files = await self._read_body(request)
        self.calls.append((method, path, body))
        key = f"{method} {path}"

        for i, (sub, retry_after, is_global) in enumerate(self._rate_limit_next):
            if sub in key:
                del self._rate_limit_next[i]
                return self._rate_limited(retry_after, is_global)
        for i, (sub, status, code, text) in enumerate(self._fail_next):
            if sub in key:
                del self._fail_next[i]
                return _json_response({"message": text, "code": code}, status=status)
        uploaded = sum(len(f["data"]) for f in files)
        if uploaded > self.upload_limit:
            self.refused_uploads.append(uploaded)
            return _json_response({"message": "Request entity too large", "code": 40005}, status=413)

        for route_method, pattern, handler_name, needs_auth in _ROUTES:
            match = pattern.match(path)
            if match is None or route_method != method:
                continue
            if needs_auth and request.headers.get("Authorization") != f"Bot {self.token}":
                return _json_response({"message": "401: Unauthorized", "code": 0}, status=401)
            req = _Request(method, path, match.groupdict(), dict(request.query), body, files)
            try:
                result = await getattr(self, handler_name)(req)
            except DiscordApiError as exc:
                err: Json = {"message": exc.message, "code": exc.code}
                if exc.errors:
                    err["errors"] = exc.errors
                return _json_response(err, status=exc.status)
            for i, sub in enumerate(self._lose_answer_next):
                if sub in key:
                    del self._lose_answer_next[i]
                    return _json_response({"message": "502: Bad Gateway", "code": 0}, status=502)
            if result is None:
                return web.Response(status=204)
            return _json_response(result)
        return _json_response({"message": "404: Not Found", "code": 0}, status=404)

    @staticmethod
    async def _read_body(request: web.Request) -> tuple[Any, list[Json]]:
        """JSON body, or multipart ``payload_json`` + ``files[n]`` as discord.py uploads them."""
        if not request.can_read_body:
            return None, []
        if request.content_type.startswith("multipart/"):
            body: Any = None
            files: list[Json] = []
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                name = part.name or ""  # type: ignore[union-attr]
                data = bytes(await part.read())  # type: ignore[union-attr]
                if name == "payload_json":
                    body = json.loads(data)
                elif m := re.fullmatch(r"files\[(\d+)\]", name):
                    files.append(
                        {
                            "index": int(m.group(1)),
                            "filename": part.filename,  # type: ignore[union-attr]
                            "content_type": part.headers.get("Content-Type", "application/octet-stream"),
                            "data": data,
                        }
                    )
            return body, files
        raw = await request.read()
        return (json.loads(raw) if raw else None), []

    @staticmethod
    def _rate_limited(retry_after: float, is_global: bool) -> web.Response:
        headers = {
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "X-RateLimit-Bucket": "fakebucket",
            "X-RateLimit-Scope": "global" if is_global else "user",
            "Retry-After": str(max(1, round(retry_after))),
            # discord.py treats a 429 without Via as a Cloudflare ban and gives up.
            "Via": "1.1 google",
        }
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global}
        return _json_response(body, status=429, headers=headers)

    async def _handle_cdn(self, request: web.Request) -> web.Response:
        data = self._attachment_data.get(int(request.match_info["attachment_id"]))
        if data is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=data, content_type="application/octet-stream")

    # ------------------------------------------------------------------ REST: login & gateway

    @_route("GET", "/users/@me")
    async def _get_me(self, req: _Request) -> Json:
        return {**self._users[self.bot_user_id], "verified": True, "mfa_enabled": False, "flags": 0}

    @_route("GET", "/oauth2/applications/@me")
    async def _get_application(self, req: _Request) -> Json:
        return {
            "id": str(self.application_id),
            "name": self._users[self.bot_user_id]["username"],
            "icon": None,
            "description": "",
            "bot_public": False,
            "bot_require_code_grant": False,
            "owner": self._users[self._owner_id],
            "team": None,
            "verify_key": "0" * 64,
            "flags": self._application_flags(),
            "interactions_endpoint_url": None,  # set: discord.py warns interactions won't arrive
            "bot": self._users[self.bot_user_id],
        }

    @_route("GET", "/gateway", auth=False)
    async def _get_gateway(self, req: _Request) -> Json:
        return {"url": self.gateway_url}

    @_route("GET", "/gateway/bot")
    async def _get_gateway_bot(self, req: _Request) -> Json:
        return {
            "url": self.gateway_url,
            "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1},
        }

    @_route("GET", "/users/{user_id}")
    async def _get_user(self, req: _Request) -> Json:
        user = self._users.get(int(req.params["user_id"]))
        if user is None:
            raise _unknown("User", 10013)
        return user

    @_route("POST", "/users/@me/channels")
    async def _open_direct_message(self, req: _Request) -> Json:
        """The bot's direct message with a user (the same channel every time)."""
        body: Json = req.body or {}
        user_id = int(body.get("recipient_id") or 0)
        if user_id not in self._users:
            raise _invalid_form("recipient_id", "NUMBER_TYPE_COERCE", "Value is not snowflake.")
        dm = next((c for c in self._channels.values() if c.type == CHANNEL_DM and c.recipient_id == user_id), None)
        if dm is None:
            dm = FakeChannel(id=self._snowflake(), type=CHANNEL_DM, name="", recipient_id=user_id)
            self._channels[dm.id] = dm
        return self._render_channel(dm)

    @_route("GET", "/guilds/{guild_id}/members/{user_id}")
    async def _get_member(self, req: _Request) -> Json:
        self._check_guild(req)
        uid = int(req.params["user_id"])
        if uid not in self._members:
            raise _unknown("Member", 10007)
        return self._render_member(uid)

    @_route("GET", "/guilds/{guild_id}/channels")
    async def _get_guild_channels(self, req: _Request) -> list[Json]:
        self._check_guild(req)
        return [self._render_channel(c) for c in self._channels.values() if not c.is_thread and not c.deleted]

    @_route("GET", "/guilds/{guild_id}/threads/active")
    async def _get_active_threads(self, req: _Request) -> Json:
        self._check_guild(req)
        return {"threads": [self._render_channel(t) for t in self._active_threads()], "members": []}

    # ------------------------------------------------------------------ REST: channels & threads

    @_route("GET", "/channels/{channel_id}")
    async def _get_channel(self, req: _Request) -> Json:
        return self._render_channel(self._require_channel(int(req.params["channel_id"])))

    @_route("PATCH", "/channels/{channel_id}")
    async def _patch_channel(self, req: _Request) -> Json:
        channel = self._require_channel(int(req.params["channel_id"]))
        body: Json = req.body or {}
        if channel.is_thread:
            return await self._edit_thread(channel, body)
        self._need(Perms.MANAGE_CHANNELS)
        for key in ("name", "topic", "position"):
            if key in body:
                setattr(channel, key, body[key])
        if "available_tags" in body:
            if channel.type != CHANNEL_FORUM:
                raise _invalid_form("available_tags", "BASE_TYPE_BAD_CHANNEL_TYPE", "Not a forum channel.")
            tags = body["available_tags"] or []
            if len(tags) > MAX_TAGS_PER_FORUM:
                raise _invalid_form(
                    "available_tags", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_TAGS_PER_FORUM} or fewer in length."
                )
            known = {t["id"]: t for t in channel.available_tags}
            new_tags: list[Json] = []
            for tag in tags:
                tag_id = int(tag["id"]) if tag.get("id") else None
                if tag_id is not None and tag_id in known:
                    new_tags.append({**known[tag_id], **self._tag_fields(tag), "id": tag_id})
                else:
                    new_tags.append(self._new_tag(tag))  # Discord assigns ids to new tags
            channel.available_tags = new_tags
            # Posts keep only tags that still exist.
            for thread in self._channels.values():
                if thread.parent_id == channel.id and thread.is_thread:
                    thread.applied_tags = [t for t in thread.applied_tags if any(t == n["id"] for n in new_tags)]
        rendered = self._render_channel(channel)
        await self._dispatch("CHANNEL_UPDATE", rendered)
        return rendered

    async def _edit_thread(self, thread: FakeChannel, body: Json) -> Json:
        is_owner_or_mod = thread.owner_id == self.bot_user_id or self._has(Perms.MANAGE_THREADS)
        if not is_owner_or_mod or ("locked" in body and not self._has(Perms.MANAGE_THREADS)):
            raise _missing_permissions()
        if thread.archived and body.get("archived") is not False:
            raise DiscordApiError(400, 50083, "Thread is archived")
        if thread.locked and not self._has(Perms.MANAGE_THREADS):
            raise _missing_permissions()
        if "name" in body:
            name = str(body["name"])
            if not 1 <= len(name) <= 100:
                raise _invalid_form("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
            thread.name = name
        if "applied_tags" in body:
            thread.applied_tags = self._check_applied_tags(thread.parent_id, body["applied_tags"])
        if "archived" in body:
            thread.archived = bool(body["archived"])
            thread.archive_timestamp = _iso()
        if "locked" in body:
            thread.locked = bool(body["locked"])
        if "auto_archive_duration" in body:
            thread.auto_archive_duration = int(body["auto_archive_duration"])
        rendered = self._render_channel(thread)
        await self._dispatch("THREAD_UPDATE", rendered)
        return rendered

    @_route("DELETE", "/channels/{channel_id}")
    async def _delete_channel(self, req: _Request) -> Json:
        channel = self._require_channel(int(req.params["channel_id"]))
        if channel.is_thread:
            if not (channel.owner_id == self.bot_user_id or self._has(Perms.MANAGE_THREADS)):
                raise _missing_permissions()
            rendered = self._render_channel(channel)
            await self.delete_thread(channel.id)
            return rendered
        self._need(Perms.MANAGE_CHANNELS)
        channel.deleted = True
        rendered = self._render_channel(channel)
        await self._dispatch("CHANNEL_DELETE", rendered)
        return rendered

    @_route("POST", "/channels/{channel_id}/threads")
    async def _create_thread(self, req: _Request) -> Json:
        channel = self._require_channel(int(req.params["channel_id"]))
        if channel.type != CHANNEL_FORUM:
            # Threads in text channels are outside what smsbridge uses.
            raise DiscordApiError(400, 50024, "Cannot execute action on this channel type")
        self._need(Perms.SEND_MESSAGES)
        body: Json = req.body or {}
        message_body = body.get("message")
        if not isinstance(message_body, dict):
            raise _invalid_form("message", "BASE_TYPE_REQUIRED", "This field is required")
        tags = self._check_applied_tags(channel.id, body.get("applied_tags") or [])
        thread = await self._create_forum_post(
            channel,
            self.bot_user_id,
            str(body.get("name", "")),
            tags,
            message_body,
            req.files,
            int(body.get("auto_archive_duration") or 1440),
        )
        starter = self._message_index[thread.id]
        return {**self._render_channel(thread), "message": self._render_message(starter)}

    async def _create_forum_post(
        self,
        forum: FakeChannel,
        author_id: int,
        name: str,
        tags: list[int],
        message_body: Json,
        files: list[Json],
        auto_archive_duration: int = 1440,
    ) -> FakeChannel:
        if not 1 <= len(name) <= 100:
            raise _invalid_form("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        thread_id = self._snowflake()
        # Validate the starter message before creating anything.
        starter = self._build_message(thread_id, author_id, message_body, files, message_id=thread_id)
        thread = FakeChannel(
            id=thread_id,
            type=CHANNEL_PUBLIC_THREAD,
            name=name,
            parent_id=forum.id,
            owner_id=author_id,
            applied_tags=tags,
            auto_archive_duration=auto_archive_duration,
        )
        self._channels[thread_id] = thread
        forum.last_message_id = thread_id
        thread_payload = {**self._render_channel(thread), "newly_created": True}
        if author_id == self.bot_user_id:
            thread_payload["member"] = {
                "id": str(thread_id),
                "user_id": str(self.bot_user_id),
                "join_timestamp": _iso(),
                "flags": 1,
            }
        await self._dispatch("THREAD_CREATE", thread_payload)
        await self._post(starter)  # the starter message's id is the thread's id
        return thread

    # ------------------------------------------------------------------ REST: messages

    @_route("POST", "/channels/{channel_id}/messages")
    async def _create_message(self, req: _Request) -> Json:
        channel = self._require_channel(int(req.params["channel_id"]))
        if channel.type == CHANNEL_FORUM or channel.type == CHANNEL_CATEGORY:
            raise DiscordApiError(400, 50008, "Cannot send messages in a non-text channel")
        self._need(Perms.SEND_MESSAGES_IN_THREADS if channel.is_thread else Perms.SEND_MESSAGES)
        await self._unarchive_on_message(channel, by_bot=True)
        body: Json = req.body or {}
        earlier = self._enforced_nonce(channel.id, self.bot_user_id, body)
        if earlier is not None:
            return self._render_message(earlier)
        msg = self._build_message(channel.id, self.bot_user_id, body, req.files)
        self._remember_nonce(channel.id, self.bot_user_id, body, msg.id)
        ref = body.get("message_reference")
        if ref:
            if int(ref["message_id"]) not in self._message_index and ref.get("fail_if_not_exists", True):
                raise _invalid_form("message_reference", "REPLIES_UNKNOWN_MESSAGE", "Unknown message")
            msg.type = 19
            msg.message_reference = {"guild_id": str(self.guild_id), "channel_id": str(channel.id), **ref}
        await self._post(msg)
        return self._render_message(msg)

    @_route("GET", "/channels/{channel_id}/messages")
    async def _list_messages(self, req: _Request) -> list[Json]:
        channel = self._require_channel(int(req.params["channel_id"]))
        self._need(Perms.READ_MESSAGE_HISTORY)
        limit = max(1, min(100, int(req.query.get("limit", 50))))
        msgs = [m for m in self._messages.get(channel.id, []) if not m.deleted]
        if "after" in req.query:
            after = int(req.query["after"])
            page = [m for m in msgs if m.id > after][:limit]
        elif "around" in req.query:
            around = int(req.query["around"])
            idx = next((i for i, m in enumerate(msgs) if m.id >= around), len(msgs))
            start = max(0, idx - limit // 2)
            page = msgs[start : start + limit]
        else:
            before = int(req.query.get("before", 1 << 63))
            page = [m for m in msgs if m.id < before][-limit:]
        # Discord always answers newest first.
        return [self._render_message(m) for m in reversed(page)]

    @_route("GET", "/channels/{channel_id}/messages/{message_id}")
    async def _get_message(self, req: _Request) -> Json:
        return self._render_message(self._require_message(req))

    @_route("PATCH", "/channels/{channel_id}/messages/{message_id}")
    async def _edit_message(self, req: _Request) -> Json:
        msg = self._require_message(req)
        if msg.author_id != self.bot_user_id:
            raise DiscordApiError(403, 50005, "Cannot edit a message authored by another user")
        self._apply_edit(msg, req.body or {}, req.files)
        rendered = self._render_message(msg)
        await self._dispatch("MESSAGE_UPDATE", rendered)
        return rendered

    @_route("DELETE", "/channels/{channel_id}/messages/{message_id}")
    async def _delete_message(self, req: _Request) -> None:
        msg = self._require_message(req)
        msg.deleted = True
        await self._dispatch(
            "MESSAGE_DELETE", {"id": str(msg.id), "channel_id": str(msg.channel_id), "guild_id": str(self.guild_id)}
        )

    @_route("PUT", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me")
    async def _add_reaction(self, req: _Request) -> None:
        msg = self._require_message(req)
        self._need(Perms.ADD_REACTIONS | Perms.READ_MESSAGE_HISTORY)
        emoji = req.params["emoji"]
        users = msg.reactions.setdefault(emoji, [])
        if self.bot_user_id not in users:
            users.append(self.bot_user_id)
            await self._dispatch("MESSAGE_REACTION_ADD", self._reaction_event(msg, emoji, self.bot_user_id))

    @_route("DELETE", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me")
    async def _remove_reaction(self, req: _Request) -> None:
        msg = self._require_message(req)
        emoji = req.params["emoji"]
        users = msg.reactions.get(emoji, [])
        if self.bot_user_id in users:
            users.remove(self.bot_user_id)
            if not users:
                del msg.reactions[emoji]
            await self._dispatch("MESSAGE_REACTION_REMOVE", self._reaction_event(msg, emoji, self.bot_user_id))

    @_route("PUT", "/channels/{channel_id}/thread-members/@me")
    async def _join_thread(self, req: _Request) -> None:
        self._require_channel(int(req.params["channel_id"]))

    # ------------------------------------------------------------------ REST: application commands

    @_route("GET", "/applications/{app_id}/commands")
    async def _get_global_commands(self, req: _Request) -> list[Json]:
        self._check_app(req)
        return self.commands

    @_route("PUT", "/applications/{app_id}/commands")
    async def _put_global_commands(self, req: _Request) -> list[Json]:
        self._check_app(req)
        self.commands = self._store_commands(None, req.body or [])
        return self.commands

    @_route("GET", "/applications/{app_id}/guilds/{guild_id}/commands")
    async def _get_guild_commands(self, req: _Request) -> list[Json]:
        self._check_app(req)
        self._check_guild(req)
        return self.guild_commands.get(self.guild_id, [])

    @_route("PUT", "/applications/{app_id}/guilds/{guild_id}/commands")
    async def _put_guild_commands(self, req: _Request) -> list[Json]:
        self._check_app(req)
        self._check_guild(req)
        self.guild_commands[self.guild_id] = self._store_commands(self.guild_id, req.body or [])
        return self.guild_commands[self.guild_id]

    def _store_commands(self, guild_id: int | None, commands: list[Json]) -> list[Json]:
        if len(commands) > 100:
            raise _invalid_form("_errors", "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
        stored = []
        for i, cmd in enumerate(commands):
            name, ctype = str(cmd.get("name", "")), int(cmd.get("type", 1))
            if (ctype == 1 and not re.fullmatch(r"[-_\w]{1,32}", name)) or (ctype == 1 and name != name.lower()):
                raise _invalid_form(f"{i}.name", "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
            if ctype == 1 and not 1 <= len(cmd.get("description") or "") <= 100:
                raise _invalid_form(f"{i}.description", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
            # Overwriting keeps the id of a command with the same name and type, like Discord.
            key = (guild_id, name, ctype)
            cmd_id = self._command_ids.setdefault(key, self._snowflake())
            out = {
                "default_member_permissions": None,
                "dm_permission": True,
                "nsfw": False,
                "options": [],
                **cmd,
                "id": str(cmd_id),
                "application_id": str(self.application_id),
                "type": ctype,
                "version": str(self._snowflake()),
            }
            if guild_id is not None:
                out["guild_id"] = str(guild_id)
            stored.append(out)
        return stored

    # ------------------------------------------------------------------ REST: interactions

    @_route("POST", "/interactions/{interaction_id}/{token}/callback", auth=False)
    async def _interaction_callback(self, req: _Request) -> Json | None:
        inter = self._interactions.get(int(req.params["interaction_id"]))
        if inter is None or inter.token != req.params["token"]:
            raise _unknown("interaction", 10062)
        if time.monotonic() - inter.created > self.interaction_timeout:
            raise _unknown("interaction", 10062)  # what a late (>3 s) first response gets
        if inter.responses:
            raise DiscordApiError(400, 40060, "Interaction has already been acknowledged.")
        body: Json = req.body or {}
        rtype = int(body.get("type", 0))
        data: Json = body.get("data") or {}
        if rtype not in (4, 5, 6, 7, 8, 9):
            raise _invalid_form("type", "BASE_TYPE_CHOICES", "Value must be one of (4, 5, 6, 7, 8, 9).")

        # Build/validate first: a rejected callback does not acknowledge the interaction.
        message: FakeMessage | None = None
        if rtype == 4:
            message = self._build_message(inter.channel_id, self.bot_user_id, data, req.files)
        elif rtype == 5:
            message = FakeMessage(
                id=self._snowflake(),
                channel_id=inter.channel_id,
                author_id=self.bot_user_id,
                flags=(int(data.get("flags") or 0) & FLAG_EPHEMERAL) | FLAG_LOADING,
            )
        elif rtype == 7:
            if inter.message_id is None:
                raise DiscordApiError(400, 40004, "Interaction has no message to update")
            message = self._message_index[inter.message_id]
            self._apply_edit(message, data, req.files)

        self.interaction_responses.setdefault(inter.id, []).append(body)
        inter.responses.append(body)
        if rtype in (4, 5):
            assert message is not None
            message.type = 20 if inter.type == 2 else 0
            message.application_id = self.application_id
            message.webhook_id = self.application_id
            message.interaction_metadata = {
                "id": str(inter.id),
                "type": inter.type,
                "user": self._users[inter.user_id],
                "authorizing_integration_owners": {"0": str(self.guild_id)},
            }
            inter.original_message_id = message.id
            await self._post_interaction_message(inter, message)
        elif rtype == 7:
            assert message is not None
            await self._dispatch("MESSAGE_UPDATE", self._render_message(message))

        if req.query.get("with_response") not in ("1", "true", "True"):
            return None
        result: Json = {
            "interaction": {
                "id": str(inter.id),
                "type": inter.type,
                "response_message_id": _sid(message.id if message else None),
                "response_message_loading": rtype == 5,
                "response_message_ephemeral": bool(message and message.flags & FLAG_EPHEMERAL),
            }
        }
        if message is not None:
            result["resource"] = {"type": rtype, "message": self._render_message(message)}
        return result

    @_route("GET", "/webhooks/{app_id}/{token}/messages/{message_id}", auth=False)
    async def _get_webhook_message(self, req: _Request) -> Json:
        inter = self._interaction_by_token(req)
        return self._render_message(self._interaction_message(inter, self._webhook_message_id(inter, req)))

    @_route("PATCH", "/webhooks/{app_id}/{token}/messages/{message_id}", auth=False)
    async def _edit_webhook_message(self, req: _Request) -> Json:
        inter = self._interaction_by_token(req)
        msg = self._interaction_message(inter, self._webhook_message_id(inter, req))
        self._apply_edit(msg, req.body or {}, req.files)
        msg.flags &= ~FLAG_LOADING  # editing the "thinking..." message replaces it
        rendered = self._render_message(msg)
        if not msg.flags & FLAG_EPHEMERAL:
            await self._dispatch("MESSAGE_UPDATE", rendered)
        return rendered

    @_route("DELETE", "/webhooks/{app_id}/{token}/messages/{message_id}", auth=False)
    async def _delete_webhook_message(self, req: _Request) -> None:
        inter = self._interaction_by_token(req)
        msg = self._interaction_message(inter, self._webhook_message_id(inter, req))
        msg.deleted = True
        if not msg.flags & FLAG_EPHEMERAL:
            await self._dispatch(
                "MESSAGE_DELETE",
                {"id": str(msg.id), "channel_id": str(msg.channel_id), "guild_id": str(self.guild_id)},
            )

    @_route("POST", "/webhooks/{app_id}/{token}", auth=False)
    async def _followup(self, req: _Request) -> Json | None:
        inter = self._interaction_by_token(req)
        if not inter.responses:
            raise _unknown("Webhook", 10015)  # follow-ups need an initial response first
        body: Json = req.body or {}
        original = self._interaction_message(inter, inter.original_message_id) if inter.original_message_id else None
        if original is not None and original.flags & FLAG_LOADING:
            # After a deferred reply, the first follow-up replaces the "thinking..." message.
            self._apply_edit(original, body, req.files)
            original.flags &= ~FLAG_LOADING
            inter.followup_ids.append(original.id)
            rendered = self._render_message(original)
            if not original.flags & FLAG_EPHEMERAL:
                await self._dispatch("MESSAGE_UPDATE", rendered)
        else:
            msg = self._build_message(inter.channel_id, self.bot_user_id, body, req.files)
            msg.webhook_id = msg.application_id = self.application_id
            inter.followup_ids.append(msg.id)
            await self._post_interaction_message(inter, msg)
            rendered = self._render_message(msg)
        return rendered if req.query.get("wait") in ("1", "true", "True") else None

    def _interaction_by_token(self, req: _Request) -> FakeInteraction:
        if int(req.params["app_id"]) != self.application_id:
            raise _unknown("Webhook", 10015)
        for inter in self._interactions.values():
            if inter.token == req.params["token"]:
                if time.monotonic() - inter.created > self.followup_timeout:
                    raise DiscordApiError(401, 50027, "Invalid Webhook Token")
                return inter
        raise _unknown("Webhook", 10015)

    def _webhook_message_id(self, inter: FakeInteraction, req: _Request) -> int:
        raw = req.params["message_id"]
        if raw != "@original":
            return int(raw)
        if inter.original_message_id is not None:
            return inter.original_message_id
        if inter.message_id is not None and inter.responses:
            return inter.message_id  # after a deferred update, @original is the component's message
        raise _unknown("Message", 10008)

    def _interaction_message(self, inter: FakeInteraction, message_id: int) -> FakeMessage:
        msg = inter.ephemeral_messages.get(message_id) or self._message_index.get(message_id)
        if msg is None or msg.deleted:
            raise _unknown("Message", 10008)
        return msg

    async def _post_interaction_message(self, inter: FakeInteraction, msg: FakeMessage) -> None:
        if msg.flags & FLAG_EPHEMERAL:
            inter.ephemeral_messages[msg.id] = msg  # only the clicking user sees it; no gateway event
        else:
            await self._post(msg)

    # ------------------------------------------------------------------ interactions (user side)

    def _ephemeral(self, message_id: int) -> FakeMessage | None:
        return next((i.ephemeral_messages[message_id] for i in self._interactions.values() if message_id in i.ephemeral_messages), None)

    async def _component_interaction(
        self, message_id: int, custom_id: str, user_id: int, channel_id: int | None, values: list[str] | None
    ) -> int:
        # An ephemeral answer's buttons work too, for the one who sees it.
        msg = self._message_index.get(message_id) or self._ephemeral(message_id)
        if msg is None or msg.deleted:
            raise ValueError(f"no message {message_id}")
        component = next((c for c in _walk_components(msg.components) if c.get("custom_id") == custom_id), None)
        if component is None:
            raise ValueError(f"message {message_id} has no component with custom_id {custom_id!r}")
        data: Json = {"custom_id": custom_id, "component_type": int(component.get("type", 2))}
        if values is not None:
            data["values"] = values
            if data["component_type"] == 5:  # a user select: Discord resolves the picked users
                resolved: Json = {}
                for value in values:
                    self._resolve(6, int(value), resolved)
                data["resolved"] = resolved
        return await self._interaction(3, data, self._require_user(user_id), channel_id or msg.channel_id, message_id)

    def _command_data(
        self, name: str, options: dict[str, Any], subcommand: str | None, group: str | None, focused: str | None
    ) -> Json:
        # Resolve against the synced commands like Discord; guild commands win over global ones.
        # discord.py's tree then finds its callback by name (and data.guild_id for guild commands).
        command = next((c for c in self.guild_commands.get(self.guild_id, []) if c["name"] == name), None)
        command = command or next((c for c in self.commands if c["name"] == name), None)
        data: Json = {"id": command["id"] if command else str(self._snowflake()), "name": name, "type": 1}
        if command is not None and "guild_id" in command:
            data["guild_id"] = command["guild_id"]
        spec: list[Json] = command.get("options", []) if command else []
        resolved: Json = {}

        def build(opts: dict[str, Any], spec_opts: list[Json]) -> list[Json]:
            out = []
            for key, value in opts.items():
                opt_spec = next((o for o in spec_opts if o["name"] == key), None)
                otype = int(opt_spec["type"]) if opt_spec else self._infer_option_type(value)
                if otype in (6, 7, 8, 9):
                    value = str(value)
                    self._resolve(otype, int(value), resolved)
                elif otype == 11:  # an attachment option: its id, the file under resolved.attachments
                    resolved.setdefault("attachments", {})[value["id"]] = value
                    value = value["id"]
                entry: Json = {"name": key, "type": otype, "value": value}
                if key == focused:
                    entry["focused"] = True
                    entry["value"] = str(value)  # autocomplete sends what was typed so far
                out.append(entry)
            return out

        if group is not None or subcommand is not None:
            layers = [(n, t) for n, t in ((group, 2), (subcommand, 1)) if n is not None]
            level_spec = spec
            for layer_name, _ in layers:
                sub = next((o for o in level_spec if o["name"] == layer_name), None)
                level_spec = sub.get("options", []) if sub else []
            inner: list[Json] = build(options, level_spec)
            for layer_name, layer_type in reversed(layers):
                inner = [{"name": layer_name, "type": layer_type, "options": inner}]
            data["options"] = inner
        else:
            data["options"] = build(options, spec)
        if resolved:
            data["resolved"] = resolved
        return data

    @staticmethod
    def _infer_option_type(value: Any) -> int:
        if isinstance(value, bool):
            return 5
        if isinstance(value, int):
            return 4
        if isinstance(value, float):
            return 10
        return 3

    def _resolve(self, otype: int, target: int, resolved: Json) -> None:
        if target in self._users and otype in (6, 9):
            resolved.setdefault("users", {})[str(target)] = self._users[target]
            if target in self._members:
                member = self._render_member(target)
                member.pop("user")
                member["permissions"] = str(self._member_permissions(target))
                resolved.setdefault("members", {})[str(target)] = member
        elif target in self._channels and otype == 7:
            ch = self._render_channel(self._channels[target])
            resolved.setdefault("channels", {})[str(target)] = {**ch, "permissions": str(Perms.ALL)}
        elif target in self._roles and otype in (8, 9):
            resolved.setdefault("roles", {})[str(target)] = self._render_role(target)

    async def _interaction(
        self, itype: int, data: Json, user_id: int, channel_id: int, message_id: int | None = None
    ) -> int:
        channel = self._require_channel(channel_id)
        inter = FakeInteraction(
            id=self._snowflake(),
            token=f"aW50ZXJhY3Rpb24{secrets.token_urlsafe(48)}",
            type=itype,
            channel_id=channel_id,
            user_id=user_id,
            data=data,
            message_id=message_id,
        )
        self._interactions[inter.id] = inter
        member = self._render_member(user_id)
        member["permissions"] = str(self._member_permissions(user_id))
        payload: Json = {
            "id": str(inter.id),
            "application_id": str(self.application_id),
            "type": itype,
            "data": data,
            "guild_id": str(self.guild_id),
            "guild": {"id": str(self.guild_id), "locale": "en-US", "features": []},
            "channel": {**self._render_channel(channel), "permissions": str(self._member_permissions(user_id))},
            "channel_id": str(channel_id),
            "member": member,
            "token": inter.token,
            "version": 1,
            "app_permissions": str(self._bot_permissions_value()),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(self.guild_id)},
            "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if message_id is not None:
            payload["message"] = self._render_message(self._message_index.get(message_id) or self._ephemeral(message_id))
        await self._dispatch("INTERACTION_CREATE", payload)
        return inter.id

    # ------------------------------------------------------------------ state helpers

    def _snowflake(self) -> int:
        # Real snowflakes (timestamp << 22): discord.py derives created_at from them and
        # history pagination compares them.
        candidate = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._next_snowflake = max(candidate, self._next_snowflake + 1)
        return self._next_snowflake

    def _add_user(self, user_id: int, name: str, bot: bool = False) -> None:
        self._users[user_id] = {
            "id": str(user_id),
            "username": name,
            "discriminator": "0",
            "global_name": None if bot else name,
            "avatar": None,
            "bot": bot,
            "public_flags": 0,
        }

    @staticmethod
    def _role(role_id: int, name: str, permissions: int, position: int) -> Json:
        return {
            "id": role_id,
            "name": name,
            "permissions": permissions,
            "position": position,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
            "icon": None,
            "unicode_emoji": None,
        }

    def _render_role(self, role_id: int) -> Json:
        role = dict(self._roles[role_id])
        if role_id == self._bot_role_id:
            role["permissions"] = self.bot_permissions
        return {**role, "id": str(role_id), "permissions": str(role["permissions"])}

    def _render_member(self, user_id: int) -> Json:
        m = self._members[user_id]
        return {
            "user": self._users[user_id],
            "nick": m["nick"],
            "roles": [str(r) for r in m["roles"]],
            "joined_at": m["joined_at"],
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "premium_since": None,
            "avatar": None,
            "communication_disabled_until": None,
        }

    def _member_permissions(self, user_id: int) -> int:
        if user_id == self._owner_id:
            return Perms.ALL
        perms = int(self._roles[self.guild_id]["permissions"])
        for role_id in self._members[user_id]["roles"]:
            perms |= self.bot_permissions if role_id == self._bot_role_id else int(self._roles[role_id]["permissions"])
        return Perms.ALL if perms & Perms.ADMINISTRATOR else perms

    def _bot_permissions_value(self) -> int:
        return self._member_permissions(self.bot_user_id)

    def _has(self, perm: int) -> bool:
        return self._bot_permissions_value() & perm == perm

    def _need(self, perm: int) -> None:
        if not self._has(Perms.VIEW_CHANNEL):
            raise DiscordApiError(403, 50001, "Missing Access")
        if not self._has(perm):
            raise _missing_permissions()

    def _new_tag(self, tag: Json) -> Json:
        return {"id": self._snowflake(), **self._tag_fields(tag)}

    @staticmethod
    def _tag_fields(tag: Json) -> Json:
        emoji_id = tag.get("emoji_id")
        return {
            "name": str(tag["name"]),
            "moderated": bool(tag.get("moderated", False)),
            "emoji_id": int(emoji_id) if emoji_id else None,
            "emoji_name": tag.get("emoji_name"),
        }

    def _check_applied_tags(self, forum_id: int | None, raw_tags: Sequence[Any]) -> list[int]:
        tags = [int(t) for t in raw_tags]
        if len(tags) > MAX_TAGS_PER_POST:
            raise _invalid_form(
                "applied_tags", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_TAGS_PER_POST} or fewer in length."
            )
        forum = self._channels.get(forum_id) if forum_id is not None else None
        known = {t["id"] for t in forum.available_tags} if forum else set()
        for tag in tags:
            if tag not in known:
                raise _invalid_form("applied_tags", "FORUM_TAG_UNKNOWN", f"Unknown tag {tag}")  # code as Discord
        return tags

    def _check_guild(self, req: _Request) -> None:
        if int(req.params["guild_id"]) != self.guild_id:
            raise _unknown("Guild", 10004)

    def _check_app(self, req: _Request) -> None:
        if int(req.params["app_id"]) != self.application_id:
            raise DiscordApiError(403, 50001, "Missing Access")

    def _require_channel(self, channel_id: int) -> FakeChannel:
        channel = self._channels.get(channel_id)
        if channel is None or channel.deleted:
            raise _unknown("Channel", 10003)
        return channel

    def _require_channel_id(self, channel_id: int | None) -> int:
        if channel_id is not None:
            return channel_id
        first = next((c for c in self._channels.values() if c.type == CHANNEL_TEXT and not c.deleted), None)
        if first is None:
            raise ValueError("pass channel_id (no text channel to default to)")
        return first.id

    def _require_user(self, user_id: int | None) -> int:
        uid = self._owner_id if user_id is None else user_id
        if uid not in self._members:
            raise ValueError(f"user {uid} is not a member of the guild: call add_member() first")
        return uid

    def _require_message(self, req: _Request) -> FakeMessage:
        channel = self._require_channel(int(req.params["channel_id"]))
        msg = self._message_index.get(int(req.params["message_id"]))
        if msg is None or msg.deleted or msg.channel_id != channel.id:
            raise _unknown("Message", 10008)
        return msg

    def _active_threads(self) -> list[FakeChannel]:
        return [c for c in self._channels.values() if c.is_thread and not c.deleted and not c.archived]

    async def _unarchive_on_message(self, channel: FakeChannel, by_bot: bool) -> None:
        """Posting in an archived thread unarchives it, unless it is locked."""
        if not (channel.is_thread and channel.archived):
            return
        if channel.locked and not (by_bot and self._has(Perms.MANAGE_THREADS)):
            raise DiscordApiError(400, 50083, "Thread is archived")
        channel.archived = False
        channel.archive_timestamp = _iso()
        await self._dispatch("THREAD_UPDATE", self._render_channel(channel))

    def _store_attachment(self, channel_id: int, filename: str, data: bytes, content_type: str) -> Json:
        att_id = self._snowflake()
        self._attachment_data[att_id] = data
        url = f"{self.base_url}/attachments/{channel_id}/{att_id}/{filename}"
        return {
            "id": str(att_id),
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": url,
            "content_type": content_type,
        }

    def _enforced_nonce(self, channel_id: int, author_id: int, body: Json) -> FakeMessage | None:
        """With `enforce_nonce`, a nonce seen from the same author in the same channel within
        a few minutes returns the message it created instead of creating another."""
        nonce = body.get("nonce")
        if nonce is None or not body.get("enforce_nonce"):
            return None
        seen = self._nonces.get((channel_id, author_id, str(nonce)))
        if seen is None or time.monotonic() - seen[0] > self.nonce_window:
            return None
        return self._message_index.get(seen[1])

    def _remember_nonce(self, channel_id: int, author_id: int, body: Json, message_id: int) -> None:
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            self._nonces[(channel_id, author_id, str(nonce))] = (time.monotonic(), message_id)

    def _build_message(
        self,
        channel_id: int,
        author_id: int,
        body: Json,
        files: list[Json],
        message_id: int | None = None,
    ) -> FakeMessage:
        """Validate a message body as Discord does and build the stored message."""
        msg = FakeMessage(id=message_id or self._snowflake(), channel_id=channel_id, author_id=author_id)
        self._apply_edit(msg, body, files, creating=True)
        return msg

    def _apply_edit(self, msg: FakeMessage, body: Json, files: list[Json], creating: bool = False) -> None:
        content = body.get("content", msg.content if not creating else "")
        content = "" if content is None else str(content)
        if len(content) > 2000:
            raise _invalid_form("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
        embeds = body.get("embeds", msg.embeds if not creating else [])
        embeds = embeds or []
        self._check_embeds(embeds)
        if files and not self._has(Perms.ATTACH_FILES):
            raise _missing_permissions()
        components = body.get("components", msg.components if not creating else [])
        attachments = msg.attachments if not creating else []
        if "attachments" in body:
            # Existing attachments listed by id are kept; new ones reference files[n] by index.
            keep = {str(a.get("id")) for a in body["attachments"] or []}
            attachments = [a for a in msg.attachments if a["id"] in keep]
        for f in sorted(files, key=lambda f: f["index"]):
            att = self._store_attachment(msg.channel_id, f["filename"], f["data"], f["content_type"])
            meta: Json = next((a for a in (body.get("attachments") or []) if str(a.get("id")) == str(f["index"])), {})
            if meta.get("description"):
                att["description"] = meta["description"]
            attachments.append(att)
            self.files.append(
                {
                    "channel_id": msg.channel_id,
                    "message_id": msg.id,
                    "filename": f["filename"],
                    "content_type": f["content_type"],
                    "data": f["data"],
                }
            )
        if creating and not (content or embeds or attachments or components or body.get("sticker_ids")):
            raise DiscordApiError(400, 50006, "Cannot send an empty message")
        msg.content, msg.embeds, msg.components, msg.attachments = content, embeds, components or [], attachments
        if "allowed_mentions" in body:
            msg.allowed_mentions = body["allowed_mentions"]
        if "flags" in body and body["flags"] is not None:
            # Only ephemeral/suppress-embeds/suppress-notifications can be set by a bot.
            msg.flags = (msg.flags & ~(FLAG_EPHEMERAL | 4 | 4096)) | (int(body["flags"]) & (FLAG_EPHEMERAL | 4 | 4096))
        if not creating:
            msg.edited_timestamp = _iso()

    @staticmethod
    def _check_embeds(embeds: list[Json]) -> None:
        if len(embeds) > 10:
            raise _invalid_form("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
        total = 0
        for i, embed in enumerate(embeds):
            title, desc = embed.get("title") or "", embed.get("description") or ""
            fields = embed.get("fields") or []
            if len(title) > 256:
                raise _invalid_form(f"embeds.{i}.title", "BASE_TYPE_MAX_LENGTH", "Must be 256 or fewer in length.")
            if len(desc) > 4096:
                raise _invalid_form(
                    f"embeds.{i}.description", "BASE_TYPE_MAX_LENGTH", "Must be 4096 or fewer in length."
                )
            if len(fields) > 25:
                raise _invalid_form(f"embeds.{i}.fields", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
            total += len(title) + len(desc)
            total += sum(len(f.get("name") or "") + len(f.get("value") or "") for f in fields)
            total += len((embed.get("footer") or {}).get("text") or "")
            total += len((embed.get("author") or {}).get("name") or "")
        if total > 6000:
            raise _invalid_form("embeds", "MESSAGE_EMBED_TOO_LONG", "Embed size exceeds maximum size of 6000")

    async def _post(self, msg: FakeMessage) -> None:
        """Store a channel message and tell the gateway."""
        self._messages.setdefault(msg.channel_id, []).append(msg)
        self._message_index[msg.id] = msg
        channel = self._channels[msg.channel_id]
        channel.last_message_id = msg.id
        if channel.is_thread and msg.id != channel.id:
            channel.message_count += 1  # the starter message is not counted, as on Discord
        channel.total_message_sent += 1
        await self._dispatch("MESSAGE_CREATE", self._render_message(msg))

    def _render_message(self, msg: FakeMessage) -> Json:
        author = self._users.get(msg.author_id) or {
            "id": str(msg.author_id),
            "username": "unknown",
            "discriminator": "0",
            "avatar": None,
        }
        mentions = []
        for uid in {int(u) for u in re.findall(r"<@!?(\d+)>", msg.content)}:
            if uid in self._users:
                mentions.append(self._users[uid])
        out: Json = {
            "id": str(msg.id),
            "channel_id": str(msg.channel_id),
            **({} if self._channels[msg.channel_id].type == CHANNEL_DM else {"guild_id": str(self.guild_id)}),
            "type": msg.type,
            "content": msg.content,
            "author": author,
            "timestamp": msg.timestamp,
            "edited_timestamp": msg.edited_timestamp,
            "tts": False,
            "mention_everyone": False,
            "mentions": mentions,
            "mention_roles": [],
            "attachments": msg.attachments,
            "embeds": [{"type": "rich", **e} for e in msg.embeds],
            "components": msg.components,
            "pinned": False,
            "flags": msg.flags,
            "reactions": [
                {
                    "emoji": self._emoji_payload(emoji),
                    "count": len(users),
                    "count_details": {"burst": 0, "normal": len(users)},
                    "me": self.bot_user_id in users,
                    "me_burst": False,
                    "burst_colors": [],
                }
                for emoji, users in msg.reactions.items()
            ],
        }
        if msg.author_id in self._members and msg.webhook_id is None and "guild_id" in out:
            member = self._render_member(msg.author_id)
            member.pop("user")
            out["member"] = member
        if msg.webhook_id is not None:
            out["webhook_id"] = str(msg.webhook_id)
        if msg.application_id is not None:
            out["application_id"] = str(msg.application_id)
        if msg.interaction_metadata is not None:
            out["interaction_metadata"] = msg.interaction_metadata
        if msg.message_reference is not None:
            out["message_reference"] = msg.message_reference
            ref = self._message_index.get(int(msg.message_reference["message_id"]))
            if ref is not None and ref is not msg:
                out["referenced_message"] = {k: v for k, v in self._render_message(ref).items() if k != "member"}
        channel = self._channels.get(msg.channel_id)
        if channel is not None and channel.is_thread:
            out["position"] = channel.total_message_sent - 1
        return out

    @staticmethod
    def _emoji_payload(emoji: str) -> Json:
        # "name:id" for custom emoji (as in the reaction URL), else the unicode character.
        if ":" in emoji:
            name, _, emoji_id = emoji.partition(":")
            return {"id": emoji_id, "name": name}
        return {"id": None, "name": emoji}

    def _reaction_event(self, msg: FakeMessage, emoji: str, user_id: int) -> Json:
        return {
            "user_id": str(user_id),
            "channel_id": str(msg.channel_id),
            "message_id": str(msg.id),
            "guild_id": str(self.guild_id),
            "emoji": self._emoji_payload(emoji),
            "burst": False,
            "type": 0,
            "message_author_id": str(msg.author_id),
        }

    def _render_channel(self, ch: FakeChannel) -> Json:
        if ch.type == CHANNEL_DM:
            recipient = self._users.get(ch.recipient_id or 0) or {"id": str(ch.recipient_id)}
            return {"id": str(ch.id), "type": CHANNEL_DM, "last_message_id": _sid(ch.last_message_id), "recipients": [recipient], "flags": 0}
        out: Json = {
            "id": str(ch.id),
            "type": ch.type,
            "guild_id": str(self.guild_id),
            "name": ch.name,
            "parent_id": _sid(ch.parent_id),
            "last_message_id": _sid(ch.last_message_id),
            "rate_limit_per_user": 0,
            "flags": 0,
        }
        if ch.is_thread:
            out.update(
                {
                    "owner_id": str(ch.owner_id),
                    "message_count": ch.message_count,
                    "member_count": 1,
                    "total_message_sent": ch.total_message_sent,
                    "applied_tags": [str(t) for t in ch.applied_tags],
                    "thread_metadata": {
                        "archived": ch.archived,
                        "auto_archive_duration": ch.auto_archive_duration,
                        "archive_timestamp": ch.archive_timestamp,
                        "locked": ch.locked,
                        "create_timestamp": ch.created_at,
                    },
                }
            )
            return out
        out.update(
            {
                "position": ch.position,
                "permission_overwrites": [],
                "nsfw": False,
                "topic": ch.topic,
                "default_auto_archive_duration": 1440,
            }
        )
        if ch.type == CHANNEL_FORUM:
            out.update(
                {
                    "available_tags": [
                        {**t, "id": str(t["id"]), "emoji_id": _sid(t["emoji_id"])} for t in ch.available_tags
                    ],
                    "default_reaction_emoji": None,
                    "default_sort_order": None,
                    "default_forum_layout": 0,
                    "default_thread_rate_limit_per_user": 0,
                }
            )
        return out

    def _render_guild_create(self) -> Json:
        return {
            "id": str(self.guild_id),
            "name": self.guild_name,
            "icon": None,
            "owner_id": str(self._owner_id),
            "unavailable": False,
            "large": False,
            "member_count": len(self._members),
            "joined_at": self._members[self.bot_user_id]["joined_at"],
            "features": ["COMMUNITY"],
            "preferred_locale": "en-US",
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "system_channel_id": None,
            "roles": [self._render_role(r) for r in self._roles],
            "emojis": [],
            "stickers": [],
            "channels": [
                {k: v for k, v in self._render_channel(c).items() if k != "guild_id"}
                for c in self._channels.values()
                if not c.is_thread and not c.deleted
            ],
            # Only active threads are sent; archived ones must be fetched.
            "threads": [self._render_channel(t) for t in self._active_threads()],
            "members": [self._render_member(uid) for uid in self._members],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }
