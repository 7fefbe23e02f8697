"""The real smsbridge process wired to loopback fakes of Slack and Twilio.

Webhooks are signed exactly as the platforms sign them, against PUBLIC_URL (which,
as behind a proxy, is not the loopback address the requests really go to).
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy import text

from bridge.app import SmsBridge
from bridge.config import Settings
from bridge.inbox.clock import ManualClock
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.loopback import DEFAULT_WAIT
from tests.fakes.signing import slack_headers
from tests.fakes.slack_api import FakeSlack
from tests.fakes.twilio_api import FakeTwilio

NUMBER = "+14155550100"  # the shared business number
CUSTOMER = "+14155550101"
OTHER_CUSTOMER = "+14155550102"
CHANNEL = "C0SUPPORT"
PUBLIC_URL = "https://sms.example.com"
BUSINESS = "Acme Bikes"
# Discord (issue 4): a guild with an inbox forum and two teammates.
DISCORD_GUILD = 1200000000000000001
FORUM = 1300000000000000001
DISCORD_ANA = 1400000000000000001
DISCORD_BEN = 1400000000000000002


def _daytime_replies(bridge: SmsBridge) -> None:
    """Live replies are judged at noon in every US zone (18:00 UTC), whatever the hour the
    suite runs: the quiet-hours warning shows only where a test sets the time
    (`bridge.use_clock`)."""
    bridge.service.replies.clock = ManualClock(datetime(2026, 1, 5, 18, 0, tzinfo=UTC))


class Harness:
    def __init__(self, databases: Any, *, discord: bool = False, signalwire: bool = False, clock: Any = None, **overrides: Any) -> None:
        self.databases = databases
        self.overrides = overrides
        self.clock = clock  # a ManualClock for the scheduler's timers (the digest), else real time
        # Discord (issue 4): a FakeDiscord with a forum bound to the default inbox.
        self.discord: FakeDiscord | None = FakeDiscord(guild_id=DISCORD_GUILD) if discord else None
        self.slack = FakeSlack()
        # A SignalWire space signs its webhooks with the project's Signing Key.
        self.twilio = FakeTwilio(signing_key="PSK_" + uuid.uuid4().hex) if signalwire else FakeTwilio()
        self.bridge: SmsBridge | None = None
        self.http: aiohttp.ClientSession | None = None
        self.settings: Settings | None = None

    # -- lifecycle -------------------------------------------------------------

    def make_settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": self.databases.url,
            "public_url": PUBLIC_URL,
            "slack_bot_token": self.slack.bot_token,
            "slack_signing_secret": self.slack.signing_secret,
            "slack_api_url": self.slack.api_url,
            "twilio_account_sid": self.twilio.account_sid,
            "twilio_auth_token": self.twilio.auth_token,
            "twilio_api_url": self.twilio.url,
            "signalwire_signing_key": self.twilio.signing_key,
            "smsbridge_number": NUMBER,
            "smsbridge_slack_channel": CHANNEL,
            "smsbridge_business_name": BUSINESS,
            "undo_seconds": 0,  # tests of Undo set it themselves
            "outbox_retry_base": 0.05,
            "outbox_retry_max": 0.4,
            "slack_post_interval": 0.0,  # FakeSlack has no rate limit unless a test sets one
        }
        if self.discord is not None:
            values.update(
                discord_token=self.discord.token,
                discord_api_url=self.discord.api_base,
                discord_gateway_url=self.discord.gateway_url,
                smsbridge_discord_channel=str(FORUM),
                discord_lease_seconds=0.6,
                discord_ready_timeout=0.05,
            )
        values.update(self.overrides)
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    async def start(self, **overrides: Any) -> None:
        await self.slack.start()
        await self.twilio.start()
        self.slack.set_channel(CHANNEL, "support")
        self.slack.add_user("UANA", "Ana")
        self.slack.add_user("UBEN", "Ben")
        self.twilio.add_number(NUMBER, sms_url=f"{PUBLIC_URL}/twilio/sms")
        if self.discord is not None:
            await self.discord.start()
            self.discord.add_forum_channel(FORUM, "sms-inbox")
            self.discord.add_member(DISCORD_ANA, "ana")
            self.discord.add_member(DISCORD_BEN, "ben")
        db = await self.databases.new()
        self.settings = self.make_settings(**overrides)
        await self._launch(db)
        self.http = aiohttp.ClientSession()
        if self.discord is not None and self.settings.discord_token:
            await self.discord_ready(self.bridge)

    async def restart(self, **overrides: Any) -> None:
        """Stop this process and start a new one on the same database."""
        assert self.bridge is not None
        await self.bridge.stop()
        if overrides:
            self.settings = self.make_settings(**overrides)
        assert self.settings is not None
        await self._launch(self.databases.reopen())

    async def _launch(self, db: Any) -> None:
        """A new smsbridge process on `db`, live replies judged in the daytime."""
        assert self.settings is not None
        self.bridge = SmsBridge(self.settings, db=db)
        _daytime_replies(self.bridge)
        if self.clock is not None:
            self.bridge.scheduler.clock = self.clock
        await self.bridge.start("127.0.0.1", 0)
        self.twilio.public_urls[PUBLIC_URL] = f"http://127.0.0.1:{self.bridge.port}"

    async def follow_clock(self, clock: Any) -> None:
        """The scheduler, the cards and the commands read "now" from `clock` (live
        replies stay judged in the daytime)."""
        assert self.bridge is not None
        self.bridge.scheduler.clock = clock
        self.bridge.core.channel_commands.clock = clock
        self.bridge.core.threads.clock = clock
        self.bridge.scheduler.wake()
        await self.bridge.scheduler.settle()

    async def advance(self, clock: Any, delta: timedelta) -> None:
        """Move `clock` on, fire what fell due and deliver what that queued."""
        assert self.bridge is not None
        clock.advance(delta)
        await self.bridge.scheduler.settle()
        await self.drain()

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()
        if self.bridge is not None:
            await self.bridge.stop()
        await self.slack.stop()
        await self.twilio.stop()
        if self.discord is not None:
            await self.discord.stop()

    def url(self, path: str) -> str:
        assert self.bridge is not None
        return f"http://127.0.0.1:{self.bridge.port}{path}"

    # -- Twilio ----------------------------------------------------------------

    async def twilio_post(
        self,
        path: str,
        params: dict[str, str] | list[tuple[str, str]],
        *,
        sign: bool = True,
        signature: str | None = None,
        body: bytes | None = None,
    ) -> tuple[int, str]:
        assert self.http is not None
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        elif sign:
            headers.update(self.twilio.webhook_headers(PUBLIC_URL + path, params))
        data = body if body is not None else aiohttp.FormData(params if isinstance(params, list) else list(params.items()))
        async with self.http.post(self.url(path), data=data, headers=headers) as response:
            return response.status, await response.text()

    def inbound_params(
        self, body: str, sender: str = CUSTOMER, *, sid: str | None = None, media: list[tuple[str, str]] = (), to: str = NUMBER, **extra: str  # type: ignore[assignment]
    ) -> list[tuple[str, str]]:
        params = [
            ("MessageSid", sid or "SM" + uuid.uuid4().hex),
            ("AccountSid", self.twilio.account_sid),
            ("From", sender),
            ("To", to),
            ("Body", body),
            ("NumMedia", str(len(media))),
            ("NumSegments", "1"),
            ("SmsStatus", "received"),
            ("ApiVersion", "2010-04-01"),
        ]
        for i, (url, content_type) in enumerate(media):
            params += [(f"MediaUrl{i}", url), (f"MediaContentType{i}", content_type)]
        params += list(extra.items())
        return params

    async def text_in(self, body: str, sender: str = CUSTOMER, **kwargs: Any) -> int:
        status, reason = await self.twilio_post("/twilio/sms", self.inbound_params(body, sender, **kwargs))
        assert status == 200, reason
        return status

    async def text_in_kept(self, body: str, sender: str = CUSTOMER, *, picture: bytes | None = None) -> str:
        """A text as Twilio really received it: the fake keeps its Message resource (and
        its picture, under the message's own sid) for list, delete and redaction. Its sid."""
        sid = ("MM" if picture is not None else "SM") + uuid.uuid4().hex
        media = [(self.twilio.add_media(picture, "image/png", message_sid=sid), "image/png")] if picture is not None else []
        self.twilio.add_inbound(sender, NUMBER, body, [url for url, _ in media], sid=sid)
        await self.text_in(body, sender, sid=sid, media=media)
        return sid

    async def status_callback(
        self, sid: str, status: str, *, message_id: int | None = None, error_code: str | None = None
    ) -> tuple[int, str]:
        params = [("MessageSid", sid), ("MessageStatus", status), ("AccountSid", self.twilio.account_sid)]
        if error_code:
            params.append(("ErrorCode", error_code))
        path = "/twilio/status" + (f"?m={message_id}" if message_id is not None else "")
        return await self.twilio_post(path, params)

    # -- Slack -----------------------------------------------------------------

    async def slack_post(
        self, body: str | bytes, content_type: str = "application/json", *, sign: bool = True, timestamp: int | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        assert self.http is not None
        all_headers = {"Content-Type": content_type}
        if sign:
            all_headers.update(slack_headers(self.slack.signing_secret, body, timestamp))
        all_headers.update(headers or {})
        async with self.http.post(self.url("/slack/events"), data=body, headers=all_headers) as response:
            return response.status, await response.text()

    async def slack_event(self, event: dict[str, Any], *, event_id: str | None = None, retry_num: int | None = None) -> int:
        envelope = self.slack.make_event_callback(event, event_id=event_id)
        headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"} if retry_num else None
        status, reason = await self.slack_post(json.dumps(envelope), headers=headers)
        assert status == 200, reason
        return status

    def teammate_event(self, thread_ts: str, text_: str, user: str = "UANA", ts: str | None = None) -> dict[str, Any]:
        return {
            "type": "message",
            "channel": CHANNEL,
            "channel_type": "channel",
            "user": user,
            "text": text_,
            "ts": ts or f"{time.time():.6f}",
            "thread_ts": thread_ts,
            "team": self.slack.team_id,
        }

    async def teammate(self, thread_ts: str, text_: str, user: str = "UANA", **kwargs: Any) -> int:
        return await self.slack_event(self.teammate_event(thread_ts, text_, user), **kwargs)

    async def sms_command(self, text_: str, user: str = "UANA", channel: str = CHANNEL) -> dict[str, Any]:
        """Type `/sms text_` in the channel; returns what Slack would show the user."""
        from urllib.parse import urlencode

        form = urlencode(self.slack.slash_command("/sms", text_, user, channel))
        status, body = await self.slack_post(form, "application/x-www-form-urlencoded")
        assert status == 200, body
        return json.loads(body) if body else {}

    async def click(
        self, action: dict[str, Any], user: str = "UANA", *, message_ts: str | None = None, ephemeral: bool = False, channel: str = CHANNEL
    ) -> dict[str, Any]:
        """Click a button or pick from a menu; returns the app's response_url answer."""
        from urllib.parse import urlencode

        payload = self.slack.block_action(action, user, channel, message_ts, ephemeral=ephemeral)
        rid = payload["response_url"].rsplit("/", 1)[1]
        status, body = await self.slack_post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")
        assert status == 200, body
        return next((r for r in self.slack.responses if r["rid"] == rid), {})

    async def open_home(self, user: str = "UANA") -> dict[str, Any]:
        """Open the app's Home tab as `user`; returns the view smsbridge published."""
        before = self.slack.home_tabs.get(user)
        await self.slack_event(self.slack.home_opened(user))
        await self.slack.wait_for(lambda: self.slack.home_tabs.get(user) is not before, message="the Home tab published")
        return self.slack.home_tabs[user]

    async def click_home(self, action: dict[str, Any], user: str = "UANA") -> dict[str, Any]:
        """Press a button in `user`'s Home tab; returns the view published after it."""
        from urllib.parse import urlencode

        before = self.slack.home_tabs.get(user)
        payload = self.slack.home_action(action, user)
        status, body = await self.slack_post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")
        assert status == 200, body
        await self.slack.wait_for(lambda: self.slack.home_tabs.get(user) is not before, message="the Home tab republished")
        return self.slack.home_tabs[user]

    async def submit_view(self, view: dict[str, Any], values: dict[str, Any], user: str = "UANA") -> tuple[int, str]:
        from urllib.parse import urlencode

        payload = self.slack.view_submission(view, values, user)
        return await self.slack_post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")

    def card_action(self, name: str, root_ts: str | None = None) -> dict[str, Any]:
        """The action element `name` on a card (from the blocks smsbridge posted)."""
        card = self.slack.get(CHANNEL, root_ts) if root_ts else self.roots()[0]
        assert card is not None
        for block in card["blocks"] or []:
            for element in block.get("elements", []):
                if element.get("action_id") == f"smsbridge.{name}":
                    return {**element, "block_id": block.get("block_id", "")}
        raise AssertionError(f"no {name} action on the card: {card['blocks']}")

    # -- Discord (issue 4) -------------------------------------------------------

    async def discord_ready(self, bridge: SmsBridge, timeout: float = DEFAULT_WAIT) -> None:
        """Wait until `bridge` holds the gateway and its client saw READY."""
        assert self.discord is not None

        def ready() -> bool:
            gateway = bridge.discord_gateway
            return bool(gateway and gateway.client and gateway.client.is_ready())

        await self.discord.wait_for(ready, timeout, "the Discord client to be ready")

    def posts(self) -> list[dict[str, Any]]:
        """The inbox forum's posts (threads), oldest first."""
        assert self.discord is not None
        return sorted((t for t in self.discord.threads.values() if t["parent_id"] == FORUM), key=lambda t: t["id"])

    async def first_post(self) -> dict[str, Any]:
        """The first forum post, once smsbridge has recorded it (as a teammate would
        only answer after seeing it: a message in a post not yet recorded is no note)."""
        assert self.discord is not None
        await self.discord.wait_for(lambda: len(self.posts()) >= 1, message="no forum post opened")
        await self.drain()
        return self.posts()[0]

    def post_messages(self, thread_id: int) -> list[dict[str, Any]]:
        assert self.discord is not None
        return self.discord.messages(thread_id)

    def post_tags(self, thread_id: int) -> list[str]:
        assert self.discord is not None
        names = {t["id"]: t["name"] for t in self.discord.forum_tags(FORUM)}
        return [names[t] for t in self.discord.threads[thread_id]["applied_tags"]]

    # -- consent -----------------------------------------------------------------

    async def give_consent(
        self, phone: str, *, inbox_id: int | None = None, actor: str = "import:test.csv", detail: str | None = "test consent"
    ) -> None:
        """Put the number's consent on record (every inbox unless `inbox_id`), as an
        import would: `/sms new` to it then sends without the consent prompt."""
        from bridge.inbox import consent

        assert self.bridge is not None
        async with self.bridge.db.sessions.begin() as session:
            consent.record_consent(session, phone, inbox_id, source="import", actor=actor, detail=detail)

    # -- observing -------------------------------------------------------------

    async def drain(self, timeout: float = 10.0) -> None:
        assert self.bridge is not None
        await self.bridge.worker.drain(timeout)

    def roots(self) -> list[dict[str, Any]]:
        """Conversation cards: the channel's top-level messages, oldest first."""
        return sorted(self.slack.messages(CHANNEL), key=lambda m: float(m["ts"]))

    def thread(self, root_ts: str) -> list[dict[str, Any]]:
        return self.slack.thread(CHANNEL, root_ts)

    async def first_thread(self) -> str:
        """Wait for the first conversation card and return its ts (the thread id), once
        smsbridge has recorded it: a teammate only answers a thread they can see."""
        await self.slack.wait_for(lambda: len(self.roots()) >= 1, message="no conversation card posted")
        await self.slack.wait_for(self._thread_recorded, message="the thread recorded")
        return str(self.roots()[0]["ts"])

    async def _thread_recorded(self) -> bool:
        ts = str(self.roots()[0]["ts"])
        return bool(await self.rows("SELECT id FROM thread_links WHERE thread_id = :ts", ts=ts))

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        assert self.bridge is not None
        async with self.bridge.db.engine.connect() as conn:
            return list((await conn.execute(text(sql), params)).all())

    def sms_sent(self) -> list[dict[str, Any]]:
        return list(self.twilio.messages)
