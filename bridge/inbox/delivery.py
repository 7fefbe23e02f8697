"""Delivery of outbound SMS: the `sms.send` job, and what the provider says became of each.

`SmsDelivery` runs the job (one stored message to the provider, exactly once);
`DeliveryTracker` records each step on the message (submitting, accepted, failed, the
provider's status callbacks) and re-renders its status line.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import select, update

from bridge import metrics
from bridge.inbox import consent, statuses
from bridge.inbox.clock import Clock, SystemClock
from bridge.inbox.db import Database
from bridge.inbox.later import zone_override
from bridge.inbox.models import Contact, Conversation, Message, utcnow
from bridge.inbox.opt_outs import OptOuts
from bridge.inbox.outbox import Job, Outbox, RetryLater
from bridge.inbox.outgoing import SEND_JOB, OutgoingSms, SendJob
from bridge.inbox.quiet_hours import next_allowed
from bridge.inbox.routing import InboxDirectory
from bridge.inbox.types import ProviderError, SendPlan, SendResult, StatusUpdate
from bridge.inbox.whatsapp import is_whatsapp, outside_window

log = logging.getLogger(__name__)
_COUNTED = ("delivered", "failed", "undelivered")  # outcomes /metrics counts (smsbridge_sms_total)

# A reply that could not leave within this time is marked failed and the thread says so;
# sending it a day late would surprise the customer more than it helps.
SMS_MAX_AGE = timedelta(hours=24)
# A provider's clock may run a little behind ours: its list is read from this long
# before the message was created.
FIND_SLACK = timedelta(minutes=1)


class SmsProvider(Protocol):
    async def send(self, plan: SendPlan) -> SendResult: ...

    async def find_sent(self, plan: SendPlan) -> SendResult | None: ...


class DeliveryTracker:
    def __init__(self, db: Database, directory: InboxDirectory, outgoing: OutgoingSms, opt_outs: OptOuts) -> None:
        self.db = db
        self.directory = directory
        self.outgoing = outgoing
        self.opt_outs = opt_outs
        self.clock: Clock = SystemClock()  # quiet hours are judged by it (tests: a ManualClock)

    async def quiet_wait(self, message_id: int) -> float | None:
        """Seconds a scheduled message must still wait for the recipient's quiet-hours
        window (rule 10 at send time: its job may have waited out an outage), else None."""
        async with self.db.sessions() as session:
            message = await session.get_one(Message, message_id)
            if message.kind != "scheduled" or message.provider_sid or message.status not in ("pending", "retrying"):
                return None
            conv = await session.get_one(Conversation, message.conversation_id)
            contact = await session.get_one(Contact, conv.contact_id)
            zone = self.directory.get(conv.inbox_id).hours.zone.key
        now = self.clock.now()
        until = next_allowed(message.to_number, now, zone_override(contact), zone)
        return (until - now).total_seconds() if until > now else None

    async def prepare_send(self, message_id: int) -> SendPlan | None:
        """The send to make now, or None when it must not (or need not) happen.

        `pending` becomes `submitting` here, in one conditional update: from then on
        Undo can no longer win, so a reply the thread calls canceled never leaves.
        """
        async with self.db.sessions.begin() as session:
            message = await session.get_one(Message, message_id)
            if message.provider_sid or message.status not in ("pending", "submitting", "retrying"):
                return None
            conv = await session.get_one(Conversation, message.conversation_id)
            inbox = self.directory.get(conv.inbox_id)
            if message.kind != "compliance" and await consent.is_suppressed(session, message.to_number, inbox.id):
                # A STOP arrived after this reply was queued (rule 1 holds at send time).
                message.status = "blocked"
                message.error_text = "The customer opted out (texted STOP) before it left"
                message.status_at = utcnow()
                await self.outgoing.status_changed(session, message)
                return None
            if is_whatsapp(message.from_number) and message.content_sid is None and (why := outside_window(conv, utcnow())):
                # The window closed while it waited (an undo window, an outage, a hold):
                # Twilio would refuse it (63016); say so in words instead.
                message.status = "blocked"
                message.error_text = why.removeprefix("Not sent: ")
                message.status_at = utcnow()
                await self.outgoing.status_changed(session, message)
                return None
            body = message.body
            if message.status == "pending":
                # The body is read back from the claiming update: an edit committed
                # just before it (still in the undo window) is what leaves.
                claimed = (
                    await session.execute(
                        update(Message)
                        .where(Message.id == message.id, Message.status == "pending")
                        .values(status="submitting")
                        .returning(Message.id, Message.body)
                        .execution_options(synchronize_session=False)
                    )
                ).first()
                if claimed is None:
                    return None  # undone a moment ago
                body = claimed[1]
            return SendPlan(
                message_id=message.id,
                # A WhatsApp reply leaves from the WhatsApp sender the customer wrote to.
                from_number=message.from_number if is_whatsapp(message.from_number) else inbox.number,
                messaging_service_sid=None if is_whatsapp(message.from_number) else inbox.messaging_service_sid,
                to=message.to_number,
                body=body,
                media_urls=[m["url"] for m in message.media or []],
                created_at_epoch=message.created_at.timestamp(),
                content_sid=message.content_sid,
                content_variables=message.content_variables,
            )

    async def sids_taken(self, plan: SendPlan) -> frozenset[str]:
        """Provider ids of this conversation's other outbound messages that may show in
        the provider's list next to this one (anything that left since it was created)."""
        since = datetime.fromtimestamp(plan.created_at_epoch, UTC) - FIND_SLACK
        async with self.db.sessions() as session:
            conversation_id = await session.scalar(select(Message.conversation_id).where(Message.id == plan.message_id))
            rows = await session.execute(
                select(Message.provider_sid).where(
                    Message.conversation_id == conversation_id,
                    Message.direction == "out",
                    Message.id != plan.message_id,
                    Message.provider_sid.is_not(None),
                    Message.status_at >= since,
                )
            )
            return frozenset(sid for sid in rows.scalars().all() if sid)

    async def mark_retrying(self, message_id: int, attempt: int, why: str) -> None:
        """The provider refused this attempt for now; the outbox tries again (the status
        line says so: "Retrying (Twilio 500), attempt 3")."""
        async with self.db.sessions.begin() as session:
            message = await session.get_one(Message, message_id)
            if message.provider_sid or message.status not in ("submitting", "retrying"):
                return
            message.status = "retrying"
            message.send_attempts = attempt
            message.error_text = why
            message.status_at = utcnow()
            await self.outgoing.status_changed(session, message)

    async def mark_accepted(self, message_id: int, result: SendResult) -> None:
        async with self.db.sessions.begin() as session:
            message = await session.get_one(Message, message_id)
            message.provider_sid = result.sid
            if result.segments:
                message.segments = result.segments
            if message.status == "retrying":
                message.error_text = None  # the refusal is over
            if statuses.moves_forward(message.status, result.status):
                message.status = result.status
                message.status_at = utcnow()
            await self.outgoing.status_changed(session, message)

    async def mark_failed(self, message_id: int, code: str | None, reason: str, *, opted_out: bool = False) -> None:
        async with self.db.sessions.begin() as session:
            message = await session.get_one(Message, message_id)
            if message.provider_sid is not None or message.status in statuses.FINAL:
                return  # it left after all (a callback adopted its sid) or was settled meanwhile
            message.status = "failed"
            message.error_code = code
            message.error_text = reason
            message.status_at = utcnow()
            metrics.record_sms("failed", code)
            if opted_out:
                await self.opt_outs.reported_by_provider(session, message)
            await self.outgoing.status_changed(session, message)

    async def record_status(self, update_: StatusUpdate) -> bool:
        """Apply a provider status callback; False when no message matches."""
        async with self.db.sessions.begin() as session:
            message: Message | None = None
            if update_.message_id is not None:
                message = await session.get(Message, update_.message_id)
                if message is not None and message.provider_sid not in (None, update_.sid):
                    message = None  # the id hint belongs to another send: trust the sid
            if message is None:
                message = (
                    await session.execute(select(Message).where(Message.provider_sid == update_.sid))
                ).scalar_one_or_none()
            if message is None or message.direction != "out":
                return False
            if message.provider_sid is None:
                # We crashed between the provider's answer and our commit: adopt its sid,
                # so the retried job sees the message left and does not send it again.
                message.provider_sid = update_.sid
            if update_.segments:
                message.segments = update_.segments
            if not statuses.moves_forward(message.status, update_.status):
                return True
            message.status = update_.status
            message.status_at = utcnow()
            if update_.error_code or update_.error_text:
                message.error_code = update_.error_code
                message.error_text = update_.error_text
            if update_.status in _COUNTED:
                metrics.record_sms(update_.status, message.error_code)
            if update_.opted_out:
                await self.opt_outs.reported_by_provider(session, message)
            await self.outgoing.status_changed(session, message)
            return True


class SmsDelivery:
    """The `sms.send` job."""

    def __init__(self, tracker: DeliveryTracker, provider: SmsProvider, max_age: timedelta = SMS_MAX_AGE) -> None:
        self.tracker = tracker
        self.provider = provider
        self.max_age = max_age

    def register(self, outbox: Outbox) -> None:
        outbox.register(SEND_JOB, self.handle, max_age=self.max_age, on_give_up=self.give_up)

    async def handle(self, job: Job) -> None:
        message_id = SendJob.of(job).message_id
        wait = await self.tracker.quiet_wait(message_id)
        if wait is not None:
            raise RetryLater("held by the recipient's quiet hours", wait)
        plan = await self.tracker.prepare_send(message_id)
        if plan is None:
            return
        try:
            if job.is_retry:
                # The last attempt may have reached the provider before we lost the answer.
                # It is looked up rather than sent again; our other messages' ids are left
                # out, so a template (whose text the provider renders) or a text identical
                # to an earlier one is matched with its own attempt only.
                plan = dataclasses.replace(plan, taken_sids=await self.tracker.sids_taken(plan))
                found = await self.provider.find_sent(plan)
                if found is not None:
                    log.info("message %s was already accepted as %s; not sending again", message_id, found.sid)
                    await self.tracker.mark_accepted(message_id, found)
                    return
            result = await self.provider.send(plan)
        except ProviderError as exc:
            if exc.retryable:
                await self.tracker.mark_retrying(message_id, job.attempts, exc.summary)
                raise RetryLater(f"{exc.summary}: {exc.reason}", exc.retry_after) from exc
            log.info("text %s refused by the provider (error %s); marked failed", message_id, exc.code or "none")
            await self.tracker.mark_failed(message_id, exc.code, exc.reason, opted_out=exc.opted_out)
            return
        await self.tracker.mark_accepted(message_id, result)
        metrics.record_sms("sent")

    async def give_up(self, job: Job, reason: str) -> None:
        await self.tracker.mark_failed(SendJob.of(job).message_id, None, f"Not sent: {reason}")
