"""Twilio (or a SignalWire space) as smsbridge's SMS provider."""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta

from twilio.rest import Client

from bridge.adapters.platform import Core
from bridge.adapters.twilio.cleanup import TwilioCleaner
from bridge.adapters.twilio.media import TwilioMediaFetcher
from bridge.adapters.twilio.sender import TwilioSender, make_client
from bridge.config import Settings
from bridge.inbox.delivery import SmsDelivery
from bridge.inbox.provider_cleanup import ProviderCleanup

log = logging.getLogger(__name__)


class TwilioPlatform:
    name = "twilio"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client: Client | None = None
        # Built with the platform (not when wired), so chat platforms can be given it.
        self.media: TwilioMediaFetcher | None = None
        if settings.twilio_account_sid and settings.twilio_auth_token:
            auth_token = settings.twilio_auth_token.get_secret_value()
            self.media = TwilioMediaFetcher(settings.twilio_account_sid, auth_token, settings.twilio_api_url)

    def wire(self, core: Core) -> None:
        s = self.settings
        if not (s.twilio_account_sid and s.twilio_auth_token):
            log.warning("Twilio is not configured: replies wait in the outbox until it is")
            return
        self.client = make_client(s.twilio_account_sid, s.twilio_auth_token.get_secret_value(), s.twilio_api_url)
        sender = TwilioSender(self.client, s.public_url)
        SmsDelivery(core.service.delivery, sender, max_age=timedelta(seconds=s.sms_give_up_seconds)).register(core.outbox)
        # Erasure and retention take the texts back at the provider too (provider_cleanup.py).
        ProviderCleanup(TwilioCleaner(self.client), "SignalWire" if s.signalwire else "Twilio").register(core.outbox)

    async def start(self) -> None:
        pass  # webhooks arrive through the web app; sends run as outbox jobs

    async def stop(self) -> None:
        if self.media is not None:
            await self.media.close()
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.http_client.close()
