"""The sandbox's built-in SMS provider: texts go to a simulated phone in the same
process, never to a carrier. It plays the provider's part exactly where Twilio would:
`sms.send` jobs call `send`, and delivery callbacks move each text to sent, then
delivered (or undelivered for a phone that is switched off)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy import and_, or_, select

from bridge.adapters.platform import Core
from bridge.inbox.delivery import SmsDelivery
from bridge.inbox.models import Message
from bridge.inbox.provider_cleanup import NoProviderCopies, ProviderCleanup
from bridge.inbox.types import InboundSms, SendPlan, SendResult, StatusUpdate

log = logging.getLogger(__name__)

# What a phone shows of a text the team sent: only what a carrier would have carried.
SHOWN = ("queued", "sending", "sent", "delivered", "undelivered", "failed")


class LocalSms:
    """An `SmsProvider` whose recipients are the sandbox page's phones."""

    name = "localsms"

    def __init__(self, on_change: Callable[[], Awaitable[None]] | None = None) -> None:
        self.core: Core | None = None
        self.on_change = on_change
        self.switched_off: set[str] = set()  # numbers whose texts come back undelivered
        self._sids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()

    # -- Platform ------------------------------------------------------------------

    def wire(self, core: Core) -> None:
        self.core = core
        SmsDelivery(core.service.delivery, self, max_age=timedelta(hours=24)).register(core.outbox)
        # The phones show smsbridge's own rows: an erasure or a sweep has already taken
        # them; the provider's cleanup jobs have nothing left to do.
        ProviderCleanup(NoProviderCopies(), "the sandbox").register(core.outbox)

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- SmsProvider ---------------------------------------------------------------

    async def send(self, plan: SendPlan) -> SendResult:
        sid = f"SMLOCAL{next(self._sids):08d}{plan.message_id}"
        task = asyncio.create_task(self._deliver(sid, plan))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return SendResult(sid=sid, status="queued", segments=None)

    async def find_sent(self, plan: SendPlan) -> SendResult | None:
        return None  # a send either returned its id or never happened: nothing is lost in-process

    async def _deliver(self, sid: str, plan: SendPlan) -> None:
        assert self.core is not None
        delivery = self.core.service.delivery
        await asyncio.sleep(0.2)  # as a carrier would: the status line shows the steps
        await delivery.record_status(StatusUpdate(sid, "sent", message_id=plan.message_id))
        await self._changed()
        await asyncio.sleep(0.3)
        if plan.to in self.switched_off:
            await delivery.record_status(
                StatusUpdate(sid, "undelivered", message_id=plan.message_id, error_code="30003",
                             error_text="The recipient's phone is off or unreachable")
            )
        else:
            await delivery.record_status(StatusUpdate(sid, "delivered", message_id=plan.message_id))
        await self._changed()

    async def _changed(self) -> None:
        if self.on_change is not None:
            await self.on_change()

    # -- the phone -----------------------------------------------------------------

    async def receive(self, sender: str, to: str, body: str) -> None:
        """A customer's phone sends a text to the inbox number, as the webhook would bring it."""
        assert self.core is not None
        sid = f"SMPHONE{next(self._sids):08d}"
        await self.core.service.inbound.accept_from_webhook(InboundSms(sid=sid, sender=sender, to=to, body=body))
        await self._changed()

    async def phone(self, number: str) -> list[dict[str, object]]:
        """Every text between `number` and the inbox, as the phone sees them."""
        assert self.core is not None
        async with self.core.db.sessions() as session:
            rows = (
                await session.execute(
                    select(Message)
                    .where(
                        or_(
                            and_(Message.direction == "in", Message.from_number == number),
                            and_(Message.direction == "out", Message.to_number == number, Message.status.in_(SHOWN)),
                        )
                    )
                    .order_by(Message.created_at, Message.id)
                )
            ).scalars().all()
        return [
            {
                "id": m.id,
                "direction": m.direction,
                "body": m.body,
                "status": m.status,
                "kind": m.kind,
                "error": m.error_text,
                "at": m.created_at.isoformat(),
            }
            for m in rows
        ]
