"""A loopback server that records every request and answers with fixed bytes: a CDN in
redirect tests, or a service an attacker would like smsbridge to call."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.fakes.loopback import LoopbackServer


class Recorder(LoopbackServer):
    def __init__(self, body: bytes = b"recorded", content_type: str = "image/png") -> None:
        super().__init__()
        self.body = body
        self.content_type = content_type
        self.requests: list[dict[str, Any]] = []  # method, path, headers of each request

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._record)
        return app

    async def _record(self, request: web.Request) -> web.Response:
        self.requests.append({"method": request.method, "path": request.path_qs, "headers": dict(request.headers)})
        return web.Response(body=self.body, content_type=self.content_type)
