"""The `sms.send` job: one stored outbound message to the provider, exactly once."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Protocol

from bridge.inbox.outbox import Job, Outbox, RetryLater
from bridge.inbox.service import InboxService
from bridge.inbox.types import ProviderError, SendPlan, SendResult

log = logging.getLogger(__name__)

# A reply that could not leave within this time is marked failed and the thread says so;
# sending it a day late would surprise the customer more than it helps.
SMS_MAX_AGE = timedelta(hours=24)


class SmsProvider(Protocol):
    async def send(self, plan: SendPlan) -> SendResult: ...

    async def find_sent(self, plan: SendPlan) -> SendResult | None: ...


class SmsDelivery:
    def __init__(self, service: InboxService, provider: SmsProvider) -> None:
        self.service = service
        self.provider = provider

    def register(self, outbox: Outbox) -> None:
        outbox.register("sms.send", self.handle, max_age=SMS_MAX_AGE, on_give_up=self.give_up)

    async def handle(self, job: Job) -> None:
        message_id = int(job.payload["message_id"])
        plan = await self.service.prepare_send(message_id)
        if plan is None:
            return
        try:
            if job.is_retry:
                # The last attempt may have reached the provider before we lost the answer.
                found = await self.provider.find_sent(plan)
                if found is not None:
                    log.info("message %s was already accepted as %s; not sending again", message_id, found.sid)
                    await self.service.mark_accepted(message_id, found)
                    return
            result = await self.provider.send(plan)
        except ProviderError as exc:
            if exc.retryable:
                raise RetryLater(exc.reason, exc.retry_after) from exc
            await self.service.mark_failed(message_id, exc.code, exc.reason, opted_out=exc.opted_out)
            return
        await self.service.mark_accepted(message_id, result)

    async def give_up(self, job: Job, reason: str) -> None:
        await self.service.mark_failed(int(job.payload["message_id"]), None, f"Not sent: the SMS provider could not be reached ({reason})")
