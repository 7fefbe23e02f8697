"""A loopback fake of the Slack Web API and Socket Mode, for tests.

The real ``slack_sdk`` / ``slack_bolt`` clients talk to it over HTTP and WebSocket
on 127.0.0.1, so tests exercise the libraries' real request building, error
handling and socket-mode envelope/ack protocol rather than mocks.

Usage::

    async with FakeSlack() as slack:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        await client.chat_postMessage(channel="C1", text="hi")
        assert slack.posts[0]["text"] == "hi"
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.loopback import DEFAULT_WAIT, LoopbackServer

JSON_CONTENT_TYPE = "application/json; charset=utf-8"  # exactly what Slack sends

Params = dict[str, Any]
Predicate = Callable[[], bool | Awaitable[bool]]


class SlackApiFailure(Exception):
    """Raised inside a method handler to answer ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str, status: int = 200) -> None:
        super().__init__(error)
        self.error = error
        self.status = status


def _json_response(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    hdrs = {"Content-Type": JSON_CONTENT_TYPE, **(headers or {})}
    return web.Response(body=json.dumps(body).encode("utf-8"), status=status, headers=hdrs)


def _maybe_json(value: Any) -> Any:
    """Slack accepts blocks/metadata/files either as JSON strings (form posts) or objects (JSON posts)."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _truthy(value: Any) -> bool:
    # slack_sdk turns booleans into "1"/"0"/"true" depending on the code path.
    return str(value).lower() in {"1", "true", "yes"}


@dataclass(frozen=True)
class _RateLimit:
    interval: float  # seconds per token
    burst: int  # bucket size
    retry_after: int | None  # fixed Retry-After, or None for "until the next token"


class FakeSlack(LoopbackServer):
    """In-memory Slack workspace served over aiohttp on an ephemeral loopback port."""

    def __init__(
        self,
        bot_token: str = "xoxb-test",
        app_token: str = "xapp-test",
        bot_user_id: str = "UBOT",
        bot_id: str = "BBOT",
        team_id: str = "T0001",
        signing_secret: str = "sign-secret",
        app_id: str = "A0001",
    ) -> None:
        super().__init__()
        self.bot_token = bot_token
        self.app_token = app_token
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.team_id = team_id
        self.signing_secret = signing_secret
        self.app_id = app_id
        # The bot token's scopes, sent as Slack does in every answer's X-OAuth-Scopes header
        # (None: those of manifests/slack-app.yaml, as an app created from it has).
        self.scopes: list[str] | None = None
        # The app's configuration as `apps.manifest.export` returns it to an app
        # configuration token (None: manifests/slack-app.yaml as it is, YOUR-HOST and all).
        self.config_token = "xoxe.xoxp-1-config"
        self.config_token_expired = False
        self.app_manifest: dict[str, Any] | None = None

        # Inspection state.
        self.calls: list[tuple[str, Params]] = []
        self.posts: list[Params] = []
        self.ephemerals: list[Params] = []
        self.direct_channels: dict[str, str] = {}  # user -> the DM channel conversations.open gave
        self.files: list[dict[str, Any]] = []
        self.deleted_files: list[str] = []  # ids files.delete removed
        self.socket_acks: list[dict[str, Any]] = []
        self.socket_messages: list[dict[str, Any]] = []  # every non-ack frame a client sent

        # Failure injection.
        self.outage: bool = False
        # What an outage answers: 503, or 429 + Retry-After (a "429 storm").
        self.outage_status: int = 503
        self.outage_retry_after: int = 1
        self.latency: float = 0.0
        self.in_flight = 0  # Web API requests being answered (held by latency, say)
        self._fail_next: dict[str, list[int]] = {}
        self._lose_answers: dict[str, list[bool]] = {}
        # Interactivity: what apps sent to response_url, and modals they opened.
        self.responses: list[dict[str, Any]] = []
        self.views: list[dict[str, Any]] = []
        self.home_tabs: dict[str, dict[str, Any]] = {}  # user -> their published App Home view
        self._rate_limits: dict[str, _RateLimit] = {}
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}  # (tokens, when counted)
        self.throttled: list[tuple[str, str, float]] = []  # (method, channel, monotonic) of each 429

        # Workspace state.
        self._messages: dict[str, list[dict[str, Any]]] = {}
        # Indexes of _messages (kept by _store and chat.delete), so that a post costs the
        # same with 20,000 messages in the channel as with 20 (bench/ingest.py).
        self._by_ts: dict[tuple[str, str], dict[str, Any]] = {}
        self._replies: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._channels: dict[str, dict[str, Any]] = {}
        self._users: dict[str, dict[str, Any]] = {}
        self._pending_uploads: dict[str, dict[str, Any]] = {}
        self._ts_counter = 0
        self._file_counter = 0
        self._private_files: dict[str, tuple[bytes, str, bool]] = {}
        self.file_downloads: list[tuple[str, str]] = []  # (file, Authorization header)
        self.add_user(bot_user_id, "smsbridge", is_bot=True)

        # Socket mode state.
        self._sockets: list[web.WebSocketResponse] = []
        self._pending_acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.socket_connections = 0  # total successful connects (grows on reconnect)


    # ------------------------------------------------------------------ lifecycle

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/upload/v1/{file_id}", self._handle_upload)
        app.router.add_get("/files-pri/{team_file}/{name}", self._handle_private_file)
        app.router.add_get("/socket", self._handle_socket)
        app.router.add_post("/respond/{rid}", self._handle_respond)
        return app

    async def before_stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        self._sockets.clear()
        for fut in self._pending_acks.values():
            fut.cancel()

    @property
    def api_url(self) -> str:
        """Pass as ``AsyncWebClient(base_url=...)``; slack_sdk needs the trailing slash."""
        return f"{self.base_url}/api/"

    @property
    def socket_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/socket"

    # ------------------------------------------------------------------ setup helpers

    def set_channel(self, channel_id: str, name: str, is_member: bool = True, **extra: Any) -> None:
        self._channels[channel_id] = {"id": channel_id, "name": name, "is_member": is_member, **extra}

    def add_user(
        self,
        user_id: str,
        name: str,
        real_name: str | None = None,
        display_name: str | None = None,
        is_bot: bool = False,
        is_admin: bool = False,
        is_owner: bool = False,
    ) -> None:
        real = real_name or name
        display = display_name if display_name is not None else name
        self._users[user_id] = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "real_name": real,
            "is_bot": is_bot,
            "is_admin": is_admin or is_owner,
            "is_owner": is_owner,
            "deleted": False,
            "profile": {
                "real_name": real,
                "display_name": display,
                "real_name_normalized": real,
                "display_name_normalized": display,
            },
        }

    # ------------------------------------------------------------------ failure injection

    def fail_next(self, method: str, count: int = 1, status: int = 500) -> None:
        """The next ``count`` calls of ``method`` answer HTTP ``status`` (and are not applied)."""
        self._fail_next.setdefault(method, []).extend([status] * count)

    def lose_answer_next(self, method: str, count: int = 1) -> None:
        """The next ``count`` calls of ``method`` take effect but are answered with a 500."""
        self._lose_answers.setdefault(method, []).extend([True] * count)

    def rate_limit(
        self,
        method: str = "chat.postMessage",
        per_channel_interval: float = 1.0,
        retry_after: int | None = None,
        burst: int = 1,
    ) -> None:
        """Rate-limit ``method`` per channel like Slack: a token bucket of ``burst`` calls,
        refilled one per ``per_channel_interval`` seconds; a call finding it empty is
        answered 429 with ``Retry-After`` (``retry_after``, or the whole seconds until the
        next token, as Slack rounds) and is not applied.

        ``per_channel_interval=0`` removes the limit.
        """
        if per_channel_interval <= 0:
            self._rate_limits.pop(method, None)
        else:
            self._rate_limits[method] = _RateLimit(per_channel_interval, max(1, burst), retry_after)
        self._buckets = {key: value for key, value in self._buckets.items() if key[0] != method}

    def _take_token(self, method: str, channel: str) -> int | None:
        """None when the call may go ahead, else the Retry-After to answer with."""
        limit = self._rate_limits.get(method)
        if limit is None:
            return None
        now = time.monotonic()
        key = (method, channel)
        tokens, counted = self._buckets.get(key, (float(limit.burst), now))
        tokens = min(float(limit.burst), tokens + (now - counted) / limit.interval)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return None
        self._buckets[key] = (tokens, now)
        self.throttled.append((method, channel, now))
        if limit.retry_after is not None:
            return limit.retry_after
        return max(1, math.ceil((1.0 - tokens) * limit.interval))

    def user_message(self, channel: str, user: str, text: str, thread_ts: str | None = None) -> dict[str, Any]:
        """A person's message as Slack stores it (the test sends its event separately)."""
        return self._store(channel, {"channel": channel, "ts": self._next_ts(), "thread_ts": thread_ts, "text": text, "user": user, "edit_count": 0})

    def all_messages(self, channel: str) -> list[dict[str, Any]]:
        """Every message of the channel, thread replies included."""
        return list(self._messages.get(channel, []))

    # ------------------------------------------------------------------ inspection

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Top-level messages of a channel, oldest first."""
        return [m for m in self._messages.get(channel, []) if m["thread_ts"] in (None, m["ts"])]

    def thread(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """Replies in a thread (parent excluded), oldest first."""
        return list(self._replies.get((channel, thread_ts), []))

    def replies_by_thread(self, channel: str) -> dict[str, list[dict[str, Any]]]:
        """Every thread's replies (parent excluded), oldest first, in one pass: cheap
        enough to poll while hundreds of messages arrive."""
        threads: dict[str, list[dict[str, Any]]] = {}
        for m in self._messages.get(channel, []):
            if m["thread_ts"] not in (None, m["ts"]):
                threads.setdefault(m["thread_ts"], []).append(m)
        return threads

    def get(self, channel: str, ts: str) -> dict[str, Any] | None:
        return self._by_ts.get((channel, ts))

    def calls_to(self, method: str) -> list[Params]:
        return [p for m, p in self.calls if m == method]

    def recent_activity(self) -> str:
        return f"{len(self.posts)} posts, last calls: {[m for m, _ in self.calls[-15:]]}"

    # ------------------------------------------------------------------ interactivity

    def response_url(self) -> str:
        return f"{self.base_url}/respond/{uuid.uuid4().hex[:12]}"

    async def _handle_respond(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.responses.append({"rid": request.match_info["rid"], **body})
        return web.Response(text="ok")

    def slash_command(self, command: str, text: str, user: str, channel: str) -> dict[str, str]:
        """The form fields Slack POSTs for a slash command."""
        return {
            "token": "verification-token",
            "team_id": self.team_id,
            "team_domain": "fake",
            "channel_id": channel,
            "channel_name": "inbox",
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text,
            "api_app_id": self.app_id,
            "is_enterprise_install": "false",
            "response_url": self.response_url(),
            "trigger_id": f"{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex[:8]}",
        }

    def block_action(
        self,
        action: dict[str, Any],
        user: str,
        channel: str,
        message_ts: str | None = None,
        *,
        ephemeral: bool = False,
        thread_ts: str | None = None,
    ) -> dict[str, Any]:
        """The `block_actions` payload Slack POSTs when someone clicks or picks."""
        container: dict[str, Any] = {"type": "message", "channel_id": channel, "is_ephemeral": ephemeral}
        if message_ts:
            container["message_ts"] = message_ts
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": self.team_id},
            "api_app_id": self.app_id,
            "token": "verification-token",
            "container": container,
            "trigger_id": f"{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex[:8]}",
            "team": {"id": self.team_id, "domain": "fake"},
            "channel": {"id": channel, "name": "inbox"},
            "response_url": self.response_url(),
            "actions": [{"block_id": "b", "action_ts": f"{time.time():.6f}", **action}],
        }
        if message_ts and not ephemeral:
            payload["message"] = {"ts": message_ts, "thread_ts": thread_ts, "type": "message"}
        return payload

    def home_action(self, action: dict[str, Any], user: str) -> dict[str, Any]:
        """The `block_actions` payload of a button pressed in the user's App Home tab: it
        comes from a view, so it has no channel and no response_url."""
        view = self.home_tabs[user]
        return {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": self.team_id},
            "api_app_id": self.app_id,
            "token": "verification-token",
            "container": {"type": "view", "view_id": view["id"]},
            "trigger_id": f"{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex[:8]}",
            "team": {"id": self.team_id, "domain": "fake"},
            "view": view,
            "actions": [{"block_id": "b", "action_ts": f"{time.time():.6f}", **action}],
        }

    def home_opened(self, user: str) -> dict[str, Any]:
        """The `app_home_opened` event for `user` opening the app's Home tab."""
        return {"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home", "event_ts": f"{time.time():.6f}"}

    def view_submission(self, view: dict[str, Any], values: dict[str, Any], user: str) -> dict[str, Any]:
        return {
            "type": "view_submission",
            "team": {"id": self.team_id, "domain": "fake"},
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": self.team_id},
            "api_app_id": self.app_id,
            "token": "verification-token",
            "trigger_id": f"{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex[:8]}",
            "view": {**view, "id": "V0001", "state": {"values": values}},
        }

    # ------------------------------------------------------------------ socket mode

    async def wait_socket_connected(self, timeout: float = DEFAULT_WAIT) -> None:
        await self.wait_for(lambda: bool(self._sockets), timeout, "a socket mode connection")

    def make_event_callback(self, event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
        """Wrap an event in the ``event_callback`` body Slack delivers for events_api."""
        return {
            "token": "verification-token",
            "team_id": self.team_id,
            "api_app_id": self.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
            "event_time": int(time.time()),
            "authorizations": [
                {"enterprise_id": None, "team_id": self.team_id, "user_id": self.bot_user_id, "is_bot": True}
            ],
            "is_ext_shared_channel": False,
        }

    async def socket_send(
        self,
        payload_type: str,
        payload: dict[str, Any],
        accepts_response_payload: bool | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
        timeout: float = DEFAULT_WAIT,
    ) -> dict[str, Any]:
        """Send one envelope to the newest connection and wait for its ack."""
        if not self._sockets:
            raise AssertionError("no socket mode client is connected")
        envelope_id = str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": payload_type,
            "payload": payload,
            # Slack lets commands and interactions answer through the ack; events can't.
            "accepts_response_payload": (
                payload_type != "events_api" if accepts_response_payload is None else accepts_response_payload
            ),
        }
        if payload_type == "events_api":
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = retry_reason
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending_acks[envelope_id] = fut
        try:
            await self._sockets[-1].send_str(json.dumps(envelope))
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise AssertionError(f"no ack for {payload_type} envelope {envelope_id} within {timeout}s") from None
        finally:
            self._pending_acks.pop(envelope_id, None)

    async def socket_send_event(self, event: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return await self.socket_send("events_api", self.make_event_callback(event), **kwargs)

    async def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask the client to reconnect, as Slack does every few hours."""
        for ws in list(self._sockets):
            await ws.send_str(
                json.dumps({"type": "disconnect", "reason": reason, "debug_info": {"host": "fake-applink"}})
            )

    async def _handle_socket(self, request: web.Request) -> web.WebSocketResponse:
        # autoping answers the SDK's "sdk-ping-pong:<t>" pings with matching pongs,
        # which its stale-connection monitor relies on.
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        await ws.send_str(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": len(self._sockets) + 1,
                    "debug_info": {"host": "fake-applink", "build_number": 1, "approximate_connection_time": 18060},
                    "connection_info": {"app_id": self.app_id},
                }
            )
        )
        self._sockets.append(ws)
        self.socket_connections += 1
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    continue
                envelope_id = data.get("envelope_id") if isinstance(data, dict) else None
                if envelope_id:
                    self.socket_acks.append(data)
                    fut = self._pending_acks.get(envelope_id)
                    if fut is not None and not fut.done():
                        fut.set_result(data)
                else:
                    self.socket_messages.append(data)
        finally:
            if ws in self._sockets:
                self._sockets.remove(ws)
        return ws

    # ------------------------------------------------------------------ HTTP plumbing

    async def _read_params(self, request: web.Request) -> Params:
        # slack_sdk sends some args in the query string even on POST (e.g. files.*),
        # others as form or JSON body: merge them all like Slack does.
        params: Params = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    params.update(body)
            else:
                form = await request.post()
                params.update({k: v for k, v in form.items() if isinstance(v, str)})
        return params

    def _token(self, request: web.Request, params: Params) -> str | None:
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return auth[len("Bearer ") :]
        token = params.pop("token", None)
        return str(token) if token is not None else None

    async def _handle_api(self, request: web.Request) -> web.Response:
        self.in_flight += 1
        try:
            return await self._answer_api(request)
        finally:
            self.in_flight -= 1

    async def _answer_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._read_params(request)
        token = self._token(request, params)
        params.pop("token", None)
        self.calls.append((method, params))

        if self.latency:
            await asyncio.sleep(self.latency)
        if self.outage:
            if self.outage_status == 429:
                return self._ratelimited(self.outage_retry_after)
            return _json_response({"ok": False, "error": "service_unavailable"}, status=self.outage_status)
        queued = self._fail_next.get(method)
        if queued:
            status = queued.pop(0)
            if status == 429:
                return self._ratelimited(1)
            return _json_response({"ok": False, "error": "fatal_error"}, status=status)

        expected = self.app_token if method == "apps.connections.open" else self.bot_token
        if method.startswith("apps.manifest."):
            expected = self.config_token
            if token == expected and self.config_token_expired:
                return _json_response({"ok": False, "error": "token_expired"})
        if token is None:
            return _json_response({"ok": False, "error": "not_authed"})
        if token != expected:
            return _json_response({"ok": False, "error": "invalid_auth"})

        retry_after = self._take_token(method, str(params.get("channel") or params.get("channel_id") or ""))
        if retry_after is not None:
            return self._ratelimited(retry_after)

        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return _json_response({"ok": False, "error": "unknown_method"}, status=404)
        try:
            result = handler(params)
        except SlackApiFailure as exc:
            return _json_response({"ok": False, "error": exc.error}, status=exc.status)
        lost = self._lose_answers.get(method)
        if lost:
            # Done, but the caller sees a failure: it cannot know the post exists.
            lost.pop(0)
            return _json_response({"ok": False, "error": "fatal_error"}, status=500)
        return _json_response({"ok": True, **result}, headers={"X-OAuth-Scopes": ",".join(self._scopes())})

    def _scopes(self) -> list[str]:
        if self.scopes is not None:
            return self.scopes
        from bridge.checks_sync import manifest_scopes

        return manifest_scopes()

    @staticmethod
    def _ratelimited(retry_after: int) -> web.Response:
        return _json_response({"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": str(retry_after)})

    def user_file(self, name: str, data: bytes, mimetype: str, *, readable: bool = True, user: str = "UANA") -> dict[str, Any]:
        """A file a teammate shared, as it appears in a file_share event's `files`:
        url_private needs the bot token; a file the bot may not read answers, like
        Slack, a 200 sign-in page in HTML instead of the bytes."""
        self._file_counter += 1
        file_id = f"F{self._file_counter:08d}U"
        url = f"{self.base_url}/files-pri/{self.team_id}-{file_id}/{name}"
        self._private_files[f"{self.team_id}-{file_id}/{name}"] = (data, mimetype, readable)
        return {
            "id": file_id, "created": int(time.time()), "timestamp": int(time.time()), "name": name, "title": name,
            "mimetype": mimetype, "filetype": mimetype.rsplit("/", 1)[-1], "pretty_type": mimetype.upper(),
            "user": user, "user_team": self.team_id, "editable": False, "size": len(data), "mode": "hosted",
            "is_external": False, "external_type": "", "is_public": False, "public_url_shared": False,
            "display_as_bot": False, "username": "", "url_private": url, "url_private_download": url + "?download=1",
            "permalink": f"https://fake.slack.com/files/{user}/{file_id}/{name}", "is_starred": False, "has_rich_preview": False,
            "file_access": "visible",
        }

    async def _handle_private_file(self, request: web.Request) -> web.Response:
        key = f"{request.match_info['team_file']}/{request.match_info['name']}"
        found = self._private_files.get(key)
        self.file_downloads.append((key, request.headers.get("Authorization", "")))
        if found is None or request.headers.get("Authorization") != f"Bearer {self.bot_token}" or not found[2]:
            return web.Response(text="<!DOCTYPE html><html><body>Sign in to Slack</body></html>", content_type="text/html")
        return web.Response(body=found[0], content_type=found[1])

    async def _handle_upload(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        pending = self._pending_uploads.get(file_id)
        if pending is None:
            return web.Response(text="file_not_found", status=404)
        # slack_sdk sends raw bytes; Slack also accepts multipart, where the first part is the file.
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            part = await reader.next()
            data = bytes(await part.read()) if part is not None else b""  # type: ignore[union-attr]
        else:
            data = await request.read()
        pending["bytes"] = data
        # Slack's upload host answers text/plain, which slack_sdk special-cases.
        return web.Response(text=f"OK - {len(data)}", content_type="text/plain")

    # ------------------------------------------------------------------ state helpers

    def _next_ts(self) -> str:
        # Like Slack: the epoch time of the post in microseconds, unique and increasing
        # (reconciliation code filters by `oldest`, so it must be real time).
        micros = max(int(time.time() * 1_000_000), self._ts_counter + 1)
        self._ts_counter = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _require(self, params: Params, name: str, error: str) -> str:
        value = params.get(name)
        if value in (None, ""):
            raise SlackApiFailure(error)
        return str(value)

    def _check_channel(self, channel: str) -> None:
        info = self._channels.get(channel)
        if info is not None and not info.get("is_member", True):
            raise SlackApiFailure("not_in_channel")

    def _find(self, channel: str, ts: str) -> dict[str, Any]:
        msg = self.get(channel, ts)
        if msg is None:
            raise SlackApiFailure("message_not_found")
        return msg

    def _render(self, msg: dict[str, Any], include_metadata: bool = True) -> dict[str, Any]:
        """A stored message as Slack's API would show it."""
        out: dict[str, Any] = {"type": "message"}
        for key in ("user", "bot_id", "text", "ts", "thread_ts", "blocks", "username", "files", "reactions"):
            if msg.get(key) is not None:
                out[key] = msg[key]
        if msg.get("subtype"):
            out["subtype"] = msg["subtype"]
        if msg.get("icon_emoji"):
            out["icons"] = {"emoji": msg["icon_emoji"]}
        if msg.get("edit_count"):
            out["edited"] = {"user": msg["user"], "ts": msg["edited_ts"]}
        out["team"] = self.team_id
        replies = self.thread(msg["channel"], msg["ts"]) if msg["thread_ts"] in (None, msg["ts"]) else []
        if replies:
            # Slack marks a parent with thread_ts == ts once it has replies.
            out["thread_ts"] = msg["ts"]
            out["reply_count"] = len(replies)
            out["reply_users"] = sorted({r["user"] for r in replies})
            out["latest_reply"] = replies[-1]["ts"]
        elif msg["thread_ts"] not in (None, msg["ts"]):
            parent = self.get(msg["channel"], msg["thread_ts"])
            if parent is not None:
                out["parent_user_id"] = parent["user"]
        if include_metadata and msg.get("metadata") is not None:
            out["metadata"] = msg["metadata"]
        return out

    def _store(self, channel: str, msg: dict[str, Any]) -> dict[str, Any]:
        msg.setdefault("channel", channel)
        self._messages.setdefault(channel, []).append(msg)
        self._by_ts[(channel, msg["ts"])] = msg
        if msg.get("thread_ts") not in (None, msg["ts"]):
            self._replies.setdefault((channel, msg["thread_ts"]), []).append(msg)
        return msg

    @staticmethod
    def _paginate(items: list[dict[str, Any]], params: Params, default_limit: int) -> tuple[list[Any], str]:
        # Cursor is just the offset: opaque enough for clients that pass it back verbatim.
        limit = int(params.get("limit") or default_limit) or default_limit
        start = int(params.get("cursor") or 0)
        page = items[start : start + limit]
        next_cursor = str(start + limit) if start + limit < len(items) else ""
        return page, next_cursor

    @staticmethod
    def _in_range(ts: str, params: Params) -> bool:
        inclusive = _truthy(params.get("inclusive", "0"))
        oldest, latest = params.get("oldest"), params.get("latest")
        t = float(ts)
        if oldest not in (None, ""):
            o = float(oldest)
            if t < o or (t == o and not inclusive):
                return False
        if latest not in (None, ""):
            lt = float(latest)
            if t > lt or (t == lt and not inclusive):
                return False
        return True

    # ------------------------------------------------------------------ Web API methods

    def _m_auth_test(self, params: Params) -> dict[str, Any]:
        return {
            "url": "https://fake-workspace.slack.com/",
            "team": "Fake Workspace",
            "user": "smsbridge",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _m_bots_info(self, params: Params) -> dict[str, Any]:
        bot = self._require(params, "bot", "bot_not_found")
        if bot != self.bot_id:
            raise SlackApiFailure("bot_not_found")
        return {
            "bot": {
                "id": self.bot_id,
                "deleted": False,
                "name": "smsbridge",
                "app_id": self.app_id,
                "user_id": self.bot_user_id,
                "icons": {},
            }
        }

    def _m_apps_manifest_export(self, params: Params) -> dict[str, Any]:
        if self._require(params, "app_id", "invalid_app_id") != self.app_id:
            raise SlackApiFailure("app_not_found")
        if self.app_manifest is not None:
            return {"manifest": self.app_manifest}
        import yaml

        from bridge.checks_sync import MANIFESTS

        return {"manifest": yaml.safe_load((MANIFESTS / "slack-app.yaml").read_text(encoding="utf-8"))}

    def _m_apps_connections_open(self, params: Params) -> dict[str, Any]:
        return {"url": self.socket_url}

    def _m_chat_postMessage(self, params: Params) -> dict[str, Any]:
        channel = self._require(params, "channel", "channel_not_found")
        self._check_channel(channel)
        blocks = _maybe_json(params.get("blocks"))
        if not params.get("text") and not blocks and not params.get("attachments"):
            raise SlackApiFailure("no_text")
        ts = self._next_ts()
        thread_ts = params.get("thread_ts") or None
        msg = self._store(
            channel,
            {
                "channel": channel,
                "ts": ts,
                "thread_ts": str(thread_ts) if thread_ts else None,
                "text": params.get("text", ""),
                "blocks": blocks,
                "username": params.get("username"),
                "icon_emoji": params.get("icon_emoji"),
                "metadata": _maybe_json(params.get("metadata")),
                "user": self.bot_user_id,
                "bot_id": self.bot_id,
                "edit_count": 0,
            },
        )
        self.posts.append({**params, "blocks": blocks, "metadata": msg["metadata"], "ts": ts})
        return {"channel": channel, "ts": ts, "message": self._render(msg)}

    def _m_chat_update(self, params: Params) -> dict[str, Any]:
        channel = self._require(params, "channel", "channel_not_found")
        msg = self._find(channel, self._require(params, "ts", "message_not_found"))
        if "text" in params:
            msg["text"] = params["text"]
        if "blocks" in params:
            msg["blocks"] = _maybe_json(params["blocks"])
        if "metadata" in params:
            msg["metadata"] = _maybe_json(params["metadata"])
        msg["edit_count"] += 1
        msg["edited_ts"] = self._next_ts()
        return {"channel": channel, "ts": msg["ts"], "text": msg["text"], "message": self._render(msg)}

    def _m_chat_getPermalink(self, params: Params) -> dict[str, Any]:
        channel = self._require(params, "channel", "channel_not_found")
        msg = self._find(channel, self._require(params, "message_ts", "message_not_found"))
        return {"channel": channel, "permalink": f"https://fake.slack.com/archives/{channel}/p{msg['ts'].replace('.', '')}"}

    def _m_views_open(self, params: Params) -> dict[str, Any]:
        trigger = self._require(params, "trigger_id", "invalid_trigger_id")
        view = _maybe_json(params.get("view"))
        self.views.append({"trigger_id": trigger, "view": view})
        return {"view": {"id": f"V{len(self.views):08d}", **(view or {})}}

    def _m_views_publish(self, params: Params) -> dict[str, Any]:
        user = self._require(params, "user_id", "invalid_arguments")
        if user not in self._users:
            raise SlackApiFailure("user_not_found")
        view = _maybe_json(params.get("view"))
        if not isinstance(view, dict) or view.get("type") != "home":
            raise SlackApiFailure("invalid_arguments")
        if len(view.get("blocks") or []) > 100:
            raise SlackApiFailure("invalid_blocks")
        published = {"id": f"VHOME{user}", "team_id": self.team_id, **view}
        self.home_tabs[user] = published
        return {"view": published}

    def _m_chat_delete(self, params: Params) -> dict[str, Any]:
        channel = self._require(params, "channel", "channel_not_found")
        msg = self._find(channel, self._require(params, "ts", "message_not_found"))
        if msg.get("user") != self.bot_user_id:
            raise SlackApiFailure("cant_delete_message")  # a bot token deletes only the bot's own messages
        self._messages[channel].remove(msg)
        self._by_ts.pop((channel, msg["ts"]), None)
        if msg.get("thread_ts") not in (None, msg["ts"]):
            self._replies[(channel, msg["thread_ts"])].remove(msg)
        return {"channel": channel, "ts": msg["ts"]}

    def _m_chat_postEphemeral(self, params: Params) -> dict[str, Any]:
        channel = self._require(params, "channel", "channel_not_found")
        user = self._require(params, "user", "user_not_in_channel")
        ts = self._next_ts()
        self.ephemerals.append(
            {
                "channel": channel,
                "user": user,
                "text": params.get("text", ""),
                "blocks": _maybe_json(params.get("blocks")),
                "thread_ts": params.get("thread_ts") or None,
                "message_ts": ts,
            }
        )
        return {"message_ts": ts}

    def _reaction_target(self, params: Params) -> tuple[dict[str, Any], str]:
        channel = self._require(params, "channel", "channel_not_found")
        msg = self._find(channel, self._require(params, "timestamp", "message_not_found"))
        return msg, self._require(params, "name", "invalid_name")

    def _m_reactions_add(self, params: Params) -> dict[str, Any]:
        msg, name = self._reaction_target(params)
        reactions: list[dict[str, Any]] = msg.setdefault("reactions", [])
        for r in reactions:
            if r["name"] == name:
                if self.bot_user_id in r["users"]:
                    raise SlackApiFailure("already_reacted")
                r["users"].append(self.bot_user_id)
                r["count"] += 1
                return {}
        reactions.append({"name": name, "users": [self.bot_user_id], "count": 1})
        return {}

    def _m_reactions_remove(self, params: Params) -> dict[str, Any]:
        msg, name = self._reaction_target(params)
        reactions: list[dict[str, Any]] = msg.get("reactions") or []
        for r in reactions:
            if r["name"] == name and self.bot_user_id in r["users"]:
                r["users"].remove(self.bot_user_id)
                r["count"] -= 1
                if not r["count"]:
                    reactions.remove(r)
                return {}
        raise SlackApiFailure("no_reaction")

    def _m_conversations_replies(self, params: Params) -> dict[str, Any]:
        channel = self._require(params, "channel", "channel_not_found")
        msg = self.get(channel, self._require(params, "ts", "thread_not_found"))
        if msg is None:
            raise SlackApiFailure("thread_not_found")
        parent_ts = msg["thread_ts"] or msg["ts"]
        parent = self.get(channel, parent_ts)
        with_meta = _truthy(params.get("include_all_metadata", "0"))
        # Slack always returns the parent first; oldest/latest only filter replies.
        replies = [r for r in self.thread(channel, parent_ts) if self._in_range(r["ts"], params)]
        items = ([parent] if parent is not None else []) + replies
        page, cursor = self._paginate([self._render(m, with_meta) for m in items], params, 1000)
        return {"messages": page, "has_more": bool(cursor), "response_metadata": {"next_cursor": cursor}}

    def _m_conversations_history(self, params: Params) -> dict[str, Any]:
        channel = self._require(params, "channel", "channel_not_found")
        with_meta = _truthy(params.get("include_all_metadata", "0"))
        top = [m for m in reversed(self.messages(channel)) if self._in_range(m["ts"], params)]
        page, cursor = self._paginate([self._render(m, with_meta) for m in top], params, 100)
        return {"messages": page, "has_more": bool(cursor), "response_metadata": {"next_cursor": cursor}}

    def _m_conversations_info(self, params: Params) -> dict[str, Any]:
        channel = self._require(params, "channel", "channel_not_found")
        info = self._channels.get(channel)
        if info is None:
            raise SlackApiFailure("channel_not_found")
        return {"channel": {"is_channel": True, "is_private": False, "is_archived": False, **info}}

    def _m_users_info(self, params: Params) -> dict[str, Any]:
        user = self._users.get(self._require(params, "user", "user_not_found"))
        if user is None:
            raise SlackApiFailure("user_not_found")
        return {"user": user}

    def _m_conversations_open(self, params: Params) -> dict[str, Any]:
        """A direct message with one user (needs im:write, as in Slack): its channel id."""
        if "im:write" not in self._scopes():
            raise SlackApiFailure("missing_scope")
        user = self._require(params, "users", "users_list_not_supplied")
        if "," in user:
            raise SlackApiFailure("not_implemented")  # a group DM: smsbridge never opens one
        channel = "D" + user.removeprefix("U").removeprefix("W")
        self.direct_channels[user] = channel
        return {"channel": {"id": channel, "is_im": True, "user": user}}

    def _m_files_list(self, params: Params) -> dict[str, Any]:
        """Files shared into a channel since `ts_from` (files:read), newest first."""
        channel = params.get("channel") or None
        shared = [f for f in self.files if channel is None or f["channel"] == channel]
        return {"files": [{"id": f["id"], "name": f["filename"], "title": f["title"], "channels": [f["channel"]]} for f in reversed(shared)]}

    def _m_files_delete(self, params: Params) -> dict[str, Any]:
        """Delete a file the bot shared (files:write): Slack leaves no picture behind."""
        file_id = self._require(params, "file", "file_not_found")
        shared = next((f for f in self.files if f["id"] == file_id), None)
        if shared is None:
            raise SlackApiFailure("file_not_found")
        self.files.remove(shared)
        self.deleted_files.append(file_id)
        for messages in self._messages.values():
            for msg in messages:
                if any(f.get("id") == file_id for f in msg.get("files") or []):
                    msg["files"] = [f for f in msg["files"] if f.get("id") != file_id]
        return {}

    def _m_files_getUploadURLExternal(self, params: Params) -> dict[str, Any]:
        filename = self._require(params, "filename", "invalid_arguments")
        self._require(params, "length", "invalid_arguments")
        self._file_counter += 1
        file_id = f"F{self._file_counter:08d}"
        self._pending_uploads[file_id] = {"id": file_id, "filename": filename, "bytes": None}
        return {"upload_url": f"{self.base_url}/upload/v1/{file_id}", "file_id": file_id}

    def _m_files_completeUploadExternal(self, params: Params) -> dict[str, Any]:
        entries = _maybe_json(params.get("files"))
        if not isinstance(entries, list) or not entries:
            raise SlackApiFailure("invalid_arguments")
        channel = params.get("channel_id") or None
        thread_ts = params.get("thread_ts") or None
        done: list[dict[str, Any]] = []
        for entry in entries:
            pending = self._pending_uploads.get(entry.get("id", ""))
            if pending is None or pending["bytes"] is None:
                raise SlackApiFailure("file_not_found")
            del self._pending_uploads[pending["id"]]
            title = entry.get("title") or pending["filename"]
            self.files.append(
                {
                    "id": pending["id"],
                    "title": title,
                    "filename": pending["filename"],
                    "bytes": pending["bytes"],
                    "channel": channel,
                    "thread_ts": thread_ts,
                }
            )
            done.append(
                {"id": pending["id"], "name": pending["filename"], "title": title, "size": len(pending["bytes"])}
            )
        if channel:
            # Sharing a file posts a message carrying it, in the thread when given.
            self._store(
                channel,
                {
                    "channel": channel,
                    "ts": self._next_ts(),
                    "thread_ts": thread_ts,
                    "text": params.get("initial_comment") or "",
                    "blocks": None,
                    "username": None,
                    "icon_emoji": None,
                    "metadata": None,
                    "user": self.bot_user_id,
                    "bot_id": self.bot_id,
                    "edit_count": 0,
                    "files": done,
                    "upload": True,
                },
            )
        return {"files": done}
