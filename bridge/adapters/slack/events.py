"""Slack events into the core: the bolt app, its authorization and its listeners.

The listeners live in `listeners/`, one module per job (thread messages, the `/sms`
command, buttons, modals), each registering itself on the app.

Bolt runs with process_before_response, so the note or reply (and its outbox jobs)
is committed before Slack gets its 200: a crash before that makes Slack retry, and
the event_id makes the retry a no-op.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.web.async_client import AsyncWebClient

from bridge.adapters.slack.listeners import register_listeners
from bridge.adapters.slack.listeners.context import (
    ListenerContext,
    SlackHandlers,
    UserNames,
)
from bridge.adapters.slack.listeners.messages import thread_message_from_event

__all__ = ["BotIdentity", "SlackHandlers", "UserNames", "build_bolt_app", "thread_message_from_event"]

log = logging.getLogger(__name__)


class _HideTokenIgnoredWarning(logging.Filter):
    """Bolt warns that the client's token is ignored once `authorize` is given. It is
    not: the client keeps it for every API call. Hide that one misleading line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "will be ignored" not in record.getMessage()


logging.getLogger("slack_bolt.AsyncApp").addFilter(_HideTokenIgnoredWarning())


class BotIdentity:
    """The bot's own identity (auth.test), fetched once and shared with bolt.

    Bolt's own lookup answers 200 with an apology when the Web API is down, which
    would make Slack drop the event; callers check `ensure()` first and answer 503
    instead, so Slack delivers the event again later.
    """

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._result: dict[str, Any] | None = None

    async def ensure(self) -> bool:
        if self._result is None:
            try:
                response = await self.client.auth_test()
                found = dict(response.data) if isinstance(response.data, dict) else None
                if found is not None:
                    found["app_id"] = await self._app_id(found.get("bot_id"))
                self._result = found
            except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
                log.warning("Slack auth.test failed: %s", exc)
        return self._result is not None

    async def _app_id(self, bot_id: object) -> str | None:
        """auth.test names the workspace; bots.info names the app (requests' api_app_id)."""
        if not isinstance(bot_id, str) or not bot_id:
            return None
        try:
            bot = (await self.client.bots_info(bot=bot_id)).get("bot") or {}
        except Exception as exc:  # noqa: BLE001 - the workspace check still holds
            log.warning("Slack bots.info failed (%s): requests are checked by workspace only", exc)
            return None
        app_id = bot.get("app_id")
        return app_id if isinstance(app_id, str) else None

    def org_wide(self) -> bool:
        """Installed for a whole Enterprise Grid organisation rather than one workspace."""
        return bool((self._result or {}).get("is_enterprise_install"))

    def installation(self) -> tuple[str | None, str | None, str | None]:
        """(app id, team id, enterprise id) this bot is installed as; call after ensure()."""
        found = self._result or {}
        return found.get("app_id"), found.get("team_id"), found.get("enterprise_id")

    async def result(self) -> AuthorizeResult:
        if not await self.ensure():
            raise RuntimeError("Slack Web API unreachable: bot identity unknown")
        assert self._result is not None
        return AuthorizeResult.from_auth_test_response(
            auth_test_response=self._result,  # type: ignore[arg-type]
            bot_token=self.client.token,
        )


def build_bolt_app(
    client: AsyncWebClient, handlers: SlackHandlers, signing_secret: str | None, identity: BotIdentity
) -> AsyncApp:
    async def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        return await identity.result()  # a single workspace: always our own bot

    app = AsyncApp(
        client=client,
        authorize=authorize,
        signing_secret=signing_secret or "socket-mode",
        request_verification_enabled=bool(signing_secret),
        process_before_response=True,
    )
    register_listeners(app, ListenerContext(handlers, UserNames(client)))
    return app
