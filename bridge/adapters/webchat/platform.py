"""The web chat as a platform: its poster on the outbox, its page and API on the web app."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from bridge.adapters.localsms import LocalSms
from bridge.adapters.platform import Core
from bridge.adapters.webchat import render
from bridge.adapters.webchat.cleanup import WebChatCleaner
from bridge.adapters.webchat.poster import PLATFORM, WebChatPoster
from bridge.adapters.webchat.store import WebChatStore, WebMessage
from bridge.commands.replies import CommandReply
from bridge.inbox.chat import register_chat_poster
from bridge.inbox.chat_cleanup import register_chat_cleaner
from bridge.inbox.types import Author, ThreadMessage

STATIC = Path(__file__).resolve().parent / "static"
KEEP_ALIVE = 15.0  # seconds between event-stream comments while nothing changes
MAX_TEXT = 4000


@dataclass(frozen=True)
class Teammate:
    user_id: str
    name: str


class WebChatPlatform:
    """A chat of the sandbox: the team channel is `channel`, people are `teammates`."""

    name = PLATFORM

    def __init__(self, channel: str, teammates: tuple[Teammate, ...], sms: LocalSms, inbox_number: str,
                 customers: tuple[str, ...]) -> None:
        self.channel = channel
        self.teammates = {t.user_id: t for t in teammates}
        self.sms = sms
        self.inbox_number = inbox_number
        self.customers = customers
        self.store = WebChatStore()
        self.core: Core | None = None
        self.closing = False  # the server is stopping: event streams end at once

    def wire(self, core: Core) -> None:
        self.core = core
        register_chat_poster(core.outbox, WebChatPoster(self.store, core.state))
        register_chat_cleaner(core.outbox, WebChatCleaner(self.store))

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        await self.store.changed()  # wake the event streams so they end with the server

    # -- who is typing -------------------------------------------------------------

    def author(self, user_id: object) -> Author:
        who = self.teammates.get(str(user_id))
        if who is None:
            raise web.HTTPBadRequest(text=f"unknown teammate {user_id!r}; one of {', '.join(self.teammates)}\n")
        return Author(PLATFORM, who.user_id, who.name)

    def mentions(self, text: str) -> tuple[Author, ...]:
        found = []
        for t in self.teammates.values():
            if re.search(rf"@{re.escape(t.name)}\b", text, re.I):
                found.append(Author(PLATFORM, t.user_id, t.name))
        return tuple(found)

    # -- the web app -----------------------------------------------------------------

    def install_routes(self, app: web.Application) -> None:
        app.router.add_get("/", self._page)
        app.router.add_static("/static/", STATIC)
        app.router.add_get("/api/state", self._state)
        app.router.add_get("/api/events", self._events)
        app.router.add_post("/api/phone", self._phone)
        app.router.add_post("/api/phone/power", self._power)
        app.router.add_post("/api/thread", self._thread)
        app.router.add_post("/api/channel", self._channel)
        app.router.add_post("/api/click", self._click)
        app.router.add_get("/api/files/{file_id}", self._file)
        app.on_shutdown.append(self._shutdown)

    async def _shutdown(self, _app: web.Application) -> None:
        # Before aiohttp waits for open requests: an open event stream would hold Ctrl-C up.
        self.closing = True
        await self.store.changed()

    async def _file(self, request: web.Request) -> web.Response:
        """A file the chat offered for download (an `/sms export`)."""
        found = self.store.files.get(request.match_info["file_id"])
        if found is None:
            raise web.HTTPNotFound(text="no such file\n")
        name, content_type, data = found
        return web.Response(body=data, content_type=content_type,
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})

    async def _page(self, _request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html")

    async def _state(self, request: web.Request) -> web.Response:
        user = request.query.get("user") or next(iter(self.teammates))
        data = self.store.snapshot(user)
        data["phones"] = {n: await self.sms.phone(n) for n in self.customers}
        data["switched_off"] = sorted(self.sms.switched_off)
        data["customers"] = list(self.customers)
        data["inbox_number"] = self.inbox_number
        data["teammates"] = [{"id": t.user_id, "name": t.name} for t in self.teammates.values()]
        return web.json_response(data)

    async def _events(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: the state's version after each change. A browser that
        drops the stream reconnects (EventSource does) and reads the whole state again."""
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        seen = -1
        try:
            while not self.closing:
                version = await self.store.wait_change(seen, KEEP_ALIVE) if seen >= 0 else self.store.version
                if version == seen:
                    await response.write(b": keep-alive\n\n")
                else:
                    await response.write(f"data: {version}\n\n".encode())
                    seen = version
        except (ConnectionResetError, RuntimeError):
            pass  # the browser went away; nothing to clean up: the state lives in the store
        return response

    async def _body(self, request: web.Request) -> dict[str, Any]:
        try:
            data = await request.json()
        except ValueError:
            raise web.HTTPBadRequest(text="send JSON\n") from None
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(text="send a JSON object\n")
        text = data.get("text")
        if text is not None and (not isinstance(text, str) or len(text) > MAX_TEXT):
            raise web.HTTPBadRequest(text=f"text must be a string of at most {MAX_TEXT} characters\n")
        return data

    async def _phone(self, request: web.Request) -> web.Response:
        data = await self._body(request)
        number, text = str(data.get("from") or ""), str(data.get("text") or "")
        if number not in self.customers:
            raise web.HTTPBadRequest(text=f"pick one of the sandbox's customers: {', '.join(self.customers)}\n")
        if not text.strip():
            raise web.HTTPBadRequest(text="type a text first\n")
        await self.sms.receive(number, self.inbox_number, text)
        return web.json_response({"ok": True})

    async def _power(self, request: web.Request) -> web.Response:
        data = await self._body(request)
        number = str(data.get("number") or "")
        if data.get("on"):
            self.sms.switched_off.discard(number)
        else:
            self.sms.switched_off.add(number)
        await self.store.changed()
        return web.json_response({"ok": True})

    async def _thread(self, request: web.Request) -> web.Response:
        assert self.core is not None
        data = await self._body(request)
        author = self.author(data.get("user"))
        thread = self.store.threads.get(str(data.get("thread") or ""))
        text = str(data.get("text") or "").strip()
        if thread is None:
            raise web.HTTPNotFound(text="no such thread\n")
        if not text:
            raise web.HTTPBadRequest(text="type something first\n")
        posted = WebMessage(self.store.new_id(), "teammate", author.label, [{"t": "plain", "v": text}], at=time.time())
        thread.messages.append(posted)
        await self.store.changed()
        outcome = await self.core.threads.handle(
            ThreadMessage(PLATFORM, thread.channel, thread.id, posted.id, author, text, f"web:{posted.id}", self.mentions(text))
        )
        return web.json_response({"outcome": str(outcome)})

    async def _channel(self, request: web.Request) -> web.Response:
        assert self.core is not None
        data = await self._body(request)
        author = self.author(data.get("user"))
        text = str(data.get("text") or "").strip()
        typed = WebMessage(self.store.new_id(), "teammate", author.label, [{"t": "code", "v": text}], for_user=author.user_id,
                           at=time.time())
        self.store.channel_log.append(typed)
        command = re.sub(r"^/sms\b\s*", "", text)
        reply = await self.core.channel_commands.handle(PLATFORM, self.channel, author, command, self.mentions(command))
        self.store.channel_log.append(self._answer(reply, author.user_id))
        await self.store.changed()
        return web.json_response({"ok": reply.ok})

    async def _click(self, request: web.Request) -> web.Response:
        assert self.core is not None
        data = await self._body(request)
        author = self.author(data.get("user"))
        action, value = str(data.get("action") or ""), str(data.get("value") or "")
        target = self.author(data["target"]) if data.get("target") else None
        choice = str(data["choice"]) if data.get("choice") else None
        if action == "edit":  # a draft's Edit: the page asks for the new text
            if not value.isdigit():
                raise web.HTTPBadRequest(text="that draft is out of date\n")
            reply = await self.core.actions.edit_draft(author, int(value), str(data.get("text") or ""))
        else:
            reply = await self.core.actions.handle(author, action, value, target=target, choice=choice)
        answer = self._answer(reply, author.user_id)
        thread = self.store.threads.get(str(data.get("thread") or ""))
        (thread.messages if thread else self.store.channel_log).append(answer)
        await self.store.changed()
        return web.json_response({"ok": reply.ok})

    def _answer(self, reply: CommandReply, user: str) -> WebMessage:
        """A command's or a button's answer, shown only to who asked (as Slack's ephemeral ones)."""
        links = [
            {
                "title": link.title,
                "detail": link.detail,
                "thread": self._thread_of(link.conversation_id),
                "button": render.buttons([link.button])[0] if link.button else None,
            }
            for link in reply.links
        ]
        extra: dict[str, Any] = {"links": links, "ok": reply.ok}
        if reply.footer:
            extra["footer"] = render.segments(reply.footer)
        return WebMessage(self.store.new_id(), "answer", "smsbridge", render.segments(reply.text),
                          render.buttons(reply.buttons), user, time.time(), extra)

    def _thread_of(self, conversation_id: int) -> str | None:
        for thread in self.store.threads.values():
            if thread.conversation_id == conversation_id:
                return thread.id
        return None
