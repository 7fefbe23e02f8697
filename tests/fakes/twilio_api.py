"""A loopback fake of Twilio's 2010-04-01 REST API, for tests.

The real ``twilio`` client (with ``AsyncTwilioHttpClient``) talks to it over HTTP on
127.0.0.1; ``make_twilio_client`` builds that client exactly the way the service does.

Usage::

    async with FakeTwilio() as tw:
        client = make_twilio_client(tw)
        msg = await client.messages.create_async(to="+14155550101", from_="+14155550100", body="hi")
        assert tw.messages[0]["Body"] == "hi"
        await client.http_client.close()
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from tests.fakes.loopback import LoopbackServer

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
API_VERSION = "2010-04-01"
DEFAULT_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2

# GSM 03.38 basic set; the extension set costs two septets. Anything else forces UCS-2.
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXT = set("^{}\\[~]|€\f")

# Default Twilio error codes for injected HTTP failures.
_STATUS_CODES = {
    403: (20403, "Forbidden"),  # an API key without the permission
    429: (20429, "Too Many Requests"),
    500: (20500, "An internal server error has occurred"),
    503: (20503, "Service Unavailable"),
}


def count_segments(body: str) -> int:
    """SMS segments as carriers count them: GSM-7 160/153, UCS-2 70/67 (UTF-16 units)."""
    if all(c in _GSM_BASIC or c in _GSM_EXT for c in body):
        units, single, multi = sum(2 if c in _GSM_EXT else 1 for c in body), 160, 153
    else:
        units, single, multi = len(body.encode("utf-16-le")) // 2, 70, 67
    if units <= single:
        return 1
    return -(-units // multi)


def _rfc2822(dt: datetime | None) -> str | None:
    # Twilio's 2010 API dates look like "Wed, 18 Aug 2010 20:01:40 +0000".
    return format_datetime(dt) if dt is not None else None


def _parse_filter_date(value: str) -> tuple[datetime, bool]:
    """Parse a DateSent filter; returns (moment, is_date_only)."""
    if len(value) == 10:
        return datetime.fromisoformat(value).replace(tzinfo=UTC), True
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)), False


def _json_response(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=json.dumps(body).encode("utf-8"),
        status=status,
        headers={"Content-Type": JSON_CONTENT_TYPE, **(headers or {})},
    )


def _error(status: int, code: int, message: str) -> web.Response:
    return _json_response(
        {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status},
        status=status,
    )


class FakeTwilio(LoopbackServer):
    """In-memory Twilio account served over aiohttp on an ephemeral loopback port."""

    def __init__(
        self, account_sid: str = DEFAULT_ACCOUNT_SID, auth_token: str = "twilio-token", *, signing_key: str | None = None
    ) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        # SignalWire: webhooks are signed with the project's Signing Key, not the token.
        self.signing_key = signing_key

        self.messages: list[dict[str, Any]] = []  # form fields as sent + "sid", oldest first
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request
        self.opted_out: set[str] = set()
        self.numbers: list[dict[str, Any]] = []
        self.outage: bool = False
        self.answer_latency: float = 0.0  # seconds between accepting a message and answering
        self._fail_next: list[tuple[int, int | None]] = []
        self._refusing: tuple[int, int | None] | None = None
        self._lose_answers = 0
        self._resources: dict[str, dict[str, Any]] = {}  # sid -> message resource
        self._media: dict[str, tuple[bytes, str]] = {}  # path -> (data, content type)
        self._media_redirects: dict[str, str] = {}  # path -> where it redirects
        # Outbound MMS: Twilio fetches each MediaUrl, without credentials. A public base
        # URL maps to where that server really listens (PUBLIC_URL -> the loopback port).
        self.public_urls: dict[str, str] = {}
        self.fetched_media: dict[str, list[tuple[int, str, bytes]]] = {}  # sid -> (status, type, bytes)
        self.services: dict[str, dict[str, Any]] = {}  # Messaging Services by sid (messaging v1)
        # Content API templates by ContentSid: a send with ContentSid gets the approved
        # text, its {{1}}… filled from ContentVariables, as its body (as Twilio renders it).
        self.content_templates: dict[str, str] = {}
        # Taking texts back (erasure, retention): what was deleted and redacted, in order.
        self.deleted_messages: list[str] = []
        self.redacted_messages: list[str] = []
        self.deleted_media: list[str] = []  # media sids
        self.refused_cleanups: list[tuple[str, str, int]] = []  # (method, path, Twilio code) answered with an error
        self._refusing_cleanup: int | None = None
        # Sids Twilio is still delivering (hold_delivery): a DELETE of one answers 20009
        # until set_status gives it a final status. Any other message still `queued`
        # (the fake sends no carrier receipts) counts as delivered by the time it is deleted.
        self.still_delivering: set[str] = set()

    # ------------------------------------------------------------------ lifecycle

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        base = f"/{API_VERSION}/Accounts/{{account}}"
        app.router.add_get(f"{base}.json", self._account)
        app.router.add_post(f"{base}/Messages.json", self._create_message)
        app.router.add_get(f"{base}/Messages.json", self._list_messages)
        app.router.add_get(f"{base}/Messages/{{sid}}.json", self._fetch_message)
        app.router.add_post(f"{base}/Messages/{{sid}}.json", self._update_message)
        app.router.add_delete(f"{base}/Messages/{{sid}}.json", self._delete_message)
        app.router.add_delete(f"{base}/Messages/{{sid}}/Media/{{media}}.json", self._delete_media)
        app.router.add_get(f"{base}/Messages/{{sid}}/Media.json", self._list_media)
        app.router.add_get(f"{base}/Messages/{{sid}}/Media/{{media}}", self._get_media)
        app.router.add_get(f"{base}/IncomingPhoneNumbers.json", self._list_numbers)
        app.router.add_get("/v1/Services/{sid}", self._fetch_service)  # messaging.twilio.com
        return app

    @property
    def url(self) -> str:
        return self.base_url

    @property
    def _account_path(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}"

    # ------------------------------------------------------------------ test helpers

    def webhook_headers(self, url: str, params: dict[str, str] | list[tuple[str, str]]) -> dict[str, str]:
        """The signature headers this provider puts on a webhook it posts to ``url``."""
        from tests.fakes.signing import signalwire_signature, twilio_signature

        if self.signing_key is not None:
            signature = signalwire_signature(self.signing_key, url, params)
            return {"X-SignalWire-Signature": signature, "X-Twilio-Signature": signature}
        return {"X-Twilio-Signature": twilio_signature(self.auth_token, url, params)}

    def fail_next(self, count: int = 1, status: int = 500, code: int | None = None) -> None:
        """The next ``count`` message sends (POST Messages.json) fail with ``status``."""
        self._fail_next.extend([(status, code)] * count)

    def refuse_sends(self, status: int | None = 500, code: int | None = None) -> None:
        """Every message send fails with ``status`` until ``refuse_sends(None)``."""
        self._refusing = None if status is None else (status, code)

    def lose_answer_next(self, count: int = 1) -> None:
        """The next ``count`` sends are accepted and stored, but answered with a 502:
        the caller cannot know its message left (a proxy error, a crash mid-response)."""
        self._lose_answers += count

    def add_service(self, sid: str, inbound_request_url: str = "", use_inbound_webhook_on_number: bool = False) -> dict[str, Any]:
        """A Messaging Service (number pool) with its Integration settings."""
        service = {
            "sid": sid,
            "account_sid": self.account_sid,
            "friendly_name": "Pool",
            "inbound_request_url": inbound_request_url or None,
            "inbound_method": "POST",
            "use_inbound_webhook_on_number": use_inbound_webhook_on_number,
            "url": f"{self.base_url}/v1/Services/{sid}",
        }
        self.services[sid] = service
        return service

    def add_number(self, phone_number: str, sms_url: str = "", status_callback: str = "") -> dict[str, Any]:
        sid = "PN" + secrets.token_hex(16)
        now = _rfc2822(datetime.now(UTC))
        number = {
            "sid": sid,
            "account_sid": self.account_sid,
            "phone_number": phone_number,
            "friendly_name": phone_number,
            "sms_url": sms_url,
            "sms_method": "POST",
            "sms_fallback_url": "",
            "status_callback": status_callback,
            "status_callback_method": "POST",
            "capabilities": {"sms": True, "mms": True, "voice": True, "fax": False},
            "status": "in-use",
            "api_version": API_VERSION,
            "date_created": now,
            "date_updated": now,
            "uri": f"{self._account_path}/IncomingPhoneNumbers/{sid}.json",
        }
        self.numbers.append(number)
        return number

    def add_media(self, data: bytes, content_type: str, message_sid: str | None = None, *, redirect_to: str | None = None) -> str:
        """Serve ``data`` at a Twilio-shaped media URL (basic auth required); returns the absolute URL.

        With ``redirect_to`` the URL answers 307 to it, as Twilio sends media to its CDN."""
        msid = message_sid or "MM" + secrets.token_hex(16)
        path = f"{self._account_path}/Messages/{msid}/Media/ME{secrets.token_hex(16)}"
        self._media[path] = (data, content_type)
        if redirect_to is not None:
            self._media_redirects[path] = redirect_to
        return self.url + path

    def add_inbound(
        self, from_: str, to: str, body: str, media_urls: list[str] | None = None, sid: str | None = None
    ) -> dict[str, Any]:
        """Record an inbound message, so list/fetch see it (e.g. for catch-up after downtime)."""
        now = datetime.now(UTC)
        res = self._resource(
            sid or "SM" + secrets.token_hex(16), to, from_, body, None, "received", "inbound", len(media_urls or [])
        )
        res["date_sent"] = _rfc2822(now)
        res["_date_sent"] = now
        self._resources[res["sid"]] = res
        return self._public(res)

    def set_status(self, sid: str, status: str, error_code: int | None = None) -> dict[str, Any]:
        res = self._resources[sid]
        now = datetime.now(UTC)
        res["status"] = status
        res["date_updated"] = _rfc2822(now)
        if status in {"sent", "delivered", "undelivered", "failed", "read", "received", "canceled"}:
            self.still_delivering.discard(sid)
        if status in {"sent", "delivered", "undelivered", "failed", "read"} and res["_date_sent"] is None:
            res["_date_sent"] = now
            res["date_sent"] = _rfc2822(now)
        if error_code is not None:
            res["error_code"] = error_code
            res["error_message"] = f"Error {error_code}"
        return self._public(res)

    def hold_delivery(self, sid: str) -> None:
        """The message stays `sending` (not deletable: 20009) until set_status ends it."""
        self._resources[sid]["status"] = "sending"
        self.still_delivering.add(sid)

    def get_message(self, sid: str) -> dict[str, Any]:
        return self._public(self._resources[sid])

    def held(self, number: str) -> list[dict[str, Any]]:
        """Every message resource the account still holds to or from ``number``, oldest first."""
        found = [r for r in self._resources.values() if number in (r["to"], r["from"])]
        return [self._public(r) for r in sorted(found, key=lambda r: r["_created"])]

    def media_of(self, sid: str) -> list[str]:
        """The media sids a message still has."""
        prefix = f"{self._account_path}/Messages/{sid}/Media/"
        return [path.rsplit("/", 1)[-1] for path in self._media if path.startswith(prefix)]

    def refuse_cleanup(self, status: int | None = 500) -> None:
        """Every delete and update of a message or media answers ``status`` until
        ``refuse_cleanup(None)`` (sends keep working)."""
        self._refusing_cleanup = status

    # ------------------------------------------------------------------ plumbing

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        if self.outage:
            return _error(503, 20503, "Service Unavailable")
        if not self._authorized(request):
            resp = _error(401, 20003, "Authenticate")
            resp.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
            return resp
        if "account" in request.match_info and request.match_info["account"] != self.account_sid:
            return _error(404, 20404, f"The requested resource {request.path} was not found")
        return await handler(request)

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except ValueError:
            return False
        return user == self.account_sid and password == self.auth_token

    def _resource(
        self,
        sid: str,
        to: str,
        from_: str | None,
        body: str,
        messaging_service_sid: str | None,
        status: str,
        direction: str,
        num_media: int,
    ) -> dict[str, Any]:
        now = datetime.now(UTC)
        uri = f"{self._account_path}/Messages/{sid}.json"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": _rfc2822(now),
            "date_sent": None,
            "date_updated": _rfc2822(now),
            "direction": direction,
            "error_code": None,
            "error_message": None,
            "from": from_,
            "messaging_service_sid": messaging_service_sid,
            # Twilio sends these two counts as strings.
            "num_media": str(num_media),
            "num_segments": str(count_segments(body)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": status,
            "subresource_uris": {
                "media": f"{self._account_path}/Messages/{sid}/Media.json",
                "feedback": f"{self._account_path}/Messages/{sid}/Feedback.json",
            },
            "to": to,
            "uri": uri,
            # Private bookkeeping, stripped by _public().
            "_created": now,
            "_date_sent": None,
        }

    @staticmethod
    def _public(res: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in res.items() if not k.startswith("_")}

    # ------------------------------------------------------------------ endpoints

    async def _account(self, request: web.Request) -> web.Response:
        return _json_response(
            {
                "sid": self.account_sid,
                "owner_account_sid": self.account_sid,
                "friendly_name": "smsbridge test account",
                "status": "active",
                "type": "Full",
                "date_created": "Thu, 01 Jun 2023 00:00:00 +0000",
                "date_updated": "Thu, 01 Jun 2023 00:00:00 +0000",
                "uri": f"{self._account_path}.json",
                "subresource_uris": {"messages": f"{self._account_path}/Messages.json"},
            }
        )

    async def _create_message(self, request: web.Request) -> web.Response:
        form = await request.post()
        fields: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
        media_urls = [v for v in form.getall("MediaUrl", []) if isinstance(v, str)]
        fields["MediaUrl"] = media_urls

        failure = self._fail_next.pop(0) if self._fail_next else self._refusing
        if failure is not None:
            status, code = failure
            default_code, message = _STATUS_CODES.get(status, (20000 + status, "Error"))
            return _error(status, code or default_code, message)

        to = fields.get("To")
        from_ = fields.get("From")
        service = fields.get("MessagingServiceSid")
        body = fields.get("Body", "")
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not from_ and not service:
            return _error(400, 21603, "A 'From' phone number is required.")
        if not body and not media_urls and not fields.get("ContentSid"):
            return _error(400, 21602, "Message body is required.")
        if len(body) > 1600:
            return _error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        if len(media_urls) > 10:
            return _error(400, 21623, "Number of media files exceeds allowed limit.")
        if to in self.opted_out:
            return _error(400, 21610, "Attempt to send to unsubscribed recipient")

        if fields.get("ContentSid") in self.content_templates:
            body = self.content_templates[fields["ContentSid"]]
            for key, value in json.loads(fields.get("ContentVariables") or "{}").items():
                body = body.replace("{{" + key + "}}", value)
        sid = ("MM" if media_urls else "SM") + secrets.token_hex(16)
        if media_urls:
            self.fetched_media[sid] = [await self._fetch_media(url) for url in media_urls]
            for status_, kind, data in self.fetched_media[sid]:  # Twilio keeps its copy as the message's Media
                if status_ == 200:
                    self._media[f"{self._account_path}/Messages/{sid}/Media/ME{secrets.token_hex(16)}"] = (data, kind)
        # With a Messaging Service, Twilio picks the sender later: status "accepted", from null.
        status = "queued" if from_ else "accepted"
        res = self._resource(sid, to, from_ or None, body, service, status, "outbound-api", len(media_urls))
        self._resources[sid] = res
        self.messages.append({**fields, "sid": sid})
        if self._lose_answers:
            self._lose_answers -= 1
            return _error(502, 20502, "Bad Gateway")
        if self.answer_latency:  # accepted, but the answer is slow: a crash now leaves it unknown
            await asyncio.sleep(self.answer_latency)
        return _json_response(self._public(res), status=201)

    async def _fetch_media(self, url: str) -> tuple[int, str, bytes]:
        import aiohttp

        for public, local in self.public_urls.items():
            if url.startswith(public):
                url = local + url[len(public) :]
        try:
            async with aiohttp.ClientSession() as http, http.get(url) as response:  # no Authorization, as Twilio
                return response.status, response.headers.get("Content-Type", ""), await response.read()
        except aiohttp.ClientError:  # Twilio accepts the message and fails the fetch later (11200)
            return 0, "", b""

    async def _fetch_message(self, request: web.Request) -> web.Response:
        res = self._resources.get(request.match_info["sid"])
        if res is None:
            return _error(404, 20404, f"The requested resource {request.path} was not found")
        return _json_response(self._public(res))

    def _cleanup_refused(self, request: web.Request) -> web.Response | None:
        if self._refusing_cleanup is None:
            return None
        status = self._refusing_cleanup
        code, message = _STATUS_CODES.get(status, (20000 + status, "Error"))
        self.refused_cleanups.append((request.method, request.path, code))
        return _error(status, code, message)

    async def _update_message(self, request: web.Request) -> web.Response:
        """Redaction: Body="" empties the body (Twilio's documented way); Status=canceled
        is for scheduled messages only (not faked)."""
        if (refused := self._cleanup_refused(request)) is not None:
            return refused
        res = self._resources.get(request.match_info["sid"])
        if res is None:
            return _error(404, 20404, f"The requested resource {request.path} was not found")
        form = await request.post()
        if form.get("Body") != "":
            return _error(400, 21602, "Only redaction (Body=\"\") is supported on an existing message.")
        res["body"] = ""
        res["date_updated"] = _rfc2822(datetime.now(UTC))
        self.redacted_messages.append(res["sid"])
        return _json_response(self._public(res))

    async def _delete_message(self, request: web.Request) -> web.Response:
        """Deletes the message and its media; one still being delivered
        (``still_delivering``) is refused with 20009, as Twilio does."""
        if (refused := self._cleanup_refused(request)) is not None:
            return refused
        sid = request.match_info["sid"]
        res = self._resources.get(sid)
        if res is None:
            return _error(404, 20404, f"The requested resource {request.path} was not found")
        if sid in self.still_delivering:
            self.refused_cleanups.append((request.method, request.path, 20009))
            return _error(409, 20009, "Cannot delete this resource before it is complete")
        del self._resources[sid]
        if self.signing_key is None:  # Twilio deletes a message's media with it; SignalWire does not
            for media_sid in self.media_of(sid):
                del self._media[f"{self._account_path}/Messages/{sid}/Media/{media_sid}"]
        self.deleted_messages.append(sid)
        return web.Response(status=204)

    async def _list_media(self, request: web.Request) -> web.Response:
        sid = request.match_info["sid"]
        if sid not in self._resources:
            return _error(404, 20404, f"The requested resource {request.path} was not found")
        items = [
            {
                "sid": media_sid,
                "parent_sid": sid,
                "account_sid": self.account_sid,
                "content_type": self._media[f"{self._account_path}/Messages/{sid}/Media/{media_sid}"][1],
                "uri": f"{self._account_path}/Messages/{sid}/Media/{media_sid}.json",
            }
            for media_sid in self.media_of(sid)
        ]
        return self._page(request, "media_list", items)

    async def _delete_media(self, request: web.Request) -> web.Response:
        if (refused := self._cleanup_refused(request)) is not None:
            return refused
        sid, media_sid = request.match_info["sid"], request.match_info["media"]
        path = f"{self._account_path}/Messages/{sid}/Media/{media_sid}"
        if path not in self._media:
            return _error(404, 20404, f"The requested resource {request.path} was not found")
        del self._media[path]
        self.deleted_media.append(media_sid)
        return web.Response(status=204)

    async def _list_messages(self, request: web.Request) -> web.Response:
        q = request.query
        items = sorted(self._resources.values(), key=lambda r: r["_created"], reverse=True)
        if "To" in q:
            items = [r for r in items if r["to"] == q["To"]]
        if "From" in q:
            items = [r for r in items if r["from"] == q["From"]]
        for name in ("DateSent", "DateSent>", "DateSent<"):
            if name not in q:
                continue
            bound, date_only = _parse_filter_date(q[name])

            def sent(r: dict[str, Any]) -> datetime:
                # Unsent outbound messages have no date_sent; fall back to creation time.
                return r["_date_sent"] or r["_created"]

            if name == "DateSent":
                if date_only:
                    items = [r for r in items if bound <= sent(r) < bound + timedelta(days=1)]
                else:
                    items = [r for r in items if sent(r) == bound]
            elif name == "DateSent>":  # "on or after", as Twilio documents DateSent>=
                items = [r for r in items if sent(r) >= bound]
            else:  # "on or before"
                items = [r for r in items if sent(r) <= bound]
        return self._page(request, "messages", [self._public(r) for r in items])

    async def _list_numbers(self, request: web.Request) -> web.Response:
        items = self.numbers
        if "PhoneNumber" in request.query:
            items = [n for n in items if n["phone_number"] == request.query["PhoneNumber"]]
        return self._page(request, "incoming_phone_numbers", items)

    async def _fetch_service(self, request: web.Request) -> web.Response:
        service = self.services.get(request.match_info["sid"])
        if service is None:
            return _error(404, 20404, f"The requested resource {request.path} was not found")
        return web.json_response(service)

    async def _get_media(self, request: web.Request) -> web.Response:
        media = self._media.get(request.path)
        if request.path in self._media_redirects:
            raise web.HTTPTemporaryRedirect(self._media_redirects[request.path])
        if media is None:
            return _error(404, 20404, f"The requested resource {request.path} was not found")
        data, content_type = media
        return web.Response(body=data, content_type=content_type)

    def _page(self, request: web.Request, key: str, items: list[dict[str, Any]]) -> web.Response:
        """Twilio's 2010-04-01 paging envelope; next_page_uri is relative, as the client expects."""
        page_size = int(request.query.get("PageSize", 50))
        page = int(request.query.get("Page", 0))
        start = page * page_size
        chunk = items[start : start + page_size]
        filters = {k: v for k, v in request.query.items() if k not in {"Page", "PageSize", "PageToken"}}

        def uri(p: int) -> str:
            return f"{request.path}?{urlencode({**filters, 'PageSize': page_size, 'Page': p})}"

        has_next = start + page_size < len(items)
        return _json_response(
            {
                key: chunk,
                "end": start + max(len(chunk) - 1, 0),
                "first_page_uri": uri(0),
                "next_page_uri": uri(page + 1) if has_next else None,
                "previous_page_uri": uri(page - 1) if page > 0 else None,
                "page": page,
                "page_size": page_size,
                "start": start,
                "uri": uri(page),
            }
        )


def make_twilio_client(fake: FakeTwilio) -> Client:
    """Build the real Twilio client against the fake, exactly as production wiring does.

    The library has no base-URL option: ``client.api.base_url`` is the only knob for
    the 2010-04-01 API. Edge/region (from TWILIO_EDGE/TWILIO_REGION) would rewrite the
    hostname, so they are cleared here. Close with ``await client.http_client.close()``.
    """
    client = Client(fake.account_sid, fake.auth_token, http_client=AsyncTwilioHttpClient())
    client.edge = None
    client.region = None
    client.api.base_url = fake.url
    return client
