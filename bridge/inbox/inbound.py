"""Customers' texts, from the provider's webhook into their conversation.

Three steps, each its own entry point:
- `accept_from_webhook`: answer the webhook fast. An ordinary text is only kept (one
  INSERT of the job that files it); a consent keyword is filed at once.
- `file_from_job`: the `sms.inbound` job a worker runs a moment later.
- `file_text`: store the text in its conversation, once, and queue what follows (chat
  posts, card refresh, keyword answers).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import IntegrityError

from bridge.inbox import audit, cycles, privacy
from bridge.inbox.assignment import Assigner
from bridge.inbox.autoreplies import AutoReplies
from bridge.inbox.chat import CustomerMedia, CustomerText, Notice
from bridge.inbox.conversations import Conversations
from bridge.inbox.db import Database
from bridge.inbox.fanout import ChatFanout
from bridge.inbox.intake import Intake
from bridge.inbox.keywords import Keyword, classify_keyword, looks_like_opt_out
from bridge.inbox.labels import ConversationStatus
from bridge.inbox.markup import rich
from bridge.inbox.models import Contact, Message, utcnow
from bridge.inbox.opt_outs import OptOuts
from bridge.inbox.outbox import Job, RetryLater
from bridge.inbox.phone import parse_phone
from bridge.inbox.routing import InboxDirectory, UnknownInbox
from bridge.inbox.rules import Rules
from bridge.inbox.sla import SlaClocks
from bridge.inbox.types import InboundSms

log = logging.getLogger(__name__)

FILE_JOB = "sms.inbound"
CARD_CLOCK_STEP = timedelta(seconds=60)


@dataclass(frozen=True)
class Received:
    message_id: int | None
    conversation_id: int | None
    duplicate: bool
    keyword: Keyword | None = None


class InboundTexts:
    def __init__(
        self,
        db: Database,
        directory: InboxDirectory,
        intake: Intake,
        fanout: ChatFanout,
        conversations: Conversations,
        opt_outs: OptOuts,
        auto_replies: AutoReplies,
        assigner: Assigner | None = None,
        sla: SlaClocks | None = None,
        rules: Rules | None = None,
    ) -> None:
        self.db = db
        self.directory = directory
        self.intake = intake
        self.fanout = fanout
        self.conversations = conversations
        self.opt_outs = opt_outs
        self.auto_replies = auto_replies
        self.assigner = assigner or Assigner(fanout)
        self.sla = sla or SlaClocks(fanout, directory)
        self.rules = rules or Rules(fanout, self.assigner)

    async def accept_from_webhook(self, sms: InboundSms) -> bool:
        """Answer a provider's webhook: keep the text durably, fast; False for a repeat.

        An ordinary text costs one INSERT here (the job that files it, deduplicated
        by MessageSid) and is filed into its conversation by a worker a moment later. A
        consent keyword (STOP, START, HELP) is filed before the webhook is answered, so
        an opt-out is recorded before anything else can happen (docs/compliance.md rule 2).
        """
        inbox = self.directory.match(sms.to, sms.messaging_service_sid)  # UnknownInbox: 404
        phone = parse_phone(sms.sender)
        if phone.valid and classify_keyword(sms.body) is not None:
            return not (await self.file_text(sms)).duplicate
        return await self.intake.submit(
            queue=f"inbound:{inbox.id}:{phone.key}",  # one customer's texts stay in order
            payload=sms.to_payload(),
            dedupe_key=f"in:{sms.sid}",
        )

    async def file_from_job(self, job: Job) -> None:
        """The `sms.inbound` job: file an accepted text into its conversation."""
        try:
            await self.file_text(InboundSms.from_payload(job.payload), done=job)
        except UnknownInbox as exc:
            # The inbox was removed from the configuration after the text arrived.
            raise RetryLater(f"{exc}; keeping the text until the inbox is configured again") from exc

    async def file_text(self, sms: InboundSms, *, done: Job | None = None) -> Received:
        """Store a customer's text once, whatever the number of webhook retries.

        A repeat is caught by the unique MessageSid when its row is inserted (the whole
        transaction rolls back) rather than looked up first: repeats are rare, and the
        look-up cost one statement for every text.

        `done` (the `sms.inbound` job) is completed in the same transaction: the text is
        filed and its job finished together, one commit instead of two.
        """
        inbox = self.directory.match(sms.to, sms.messaging_service_sid)
        phone = parse_phone(sms.sender)
        keyword = classify_keyword(sms.body) if phone.valid else None
        try:
            async with self.db.sessions.begin() as session:
                # Rule 2: the opt-out is recorded before anything else happens.
                consent_changed = await self.opt_outs.apply_keyword(session, keyword, phone.key, inbox, sms.body)
                now = utcnow()
                conv, created = await self.conversations.find_or_create(session, inbox.id, phone, last_inbound_at=now)
                if sms.profile_name:
                    contact = await session.get_one(Contact, conv.contact_id)
                    contact.name = contact.name or sms.profile_name  # a teammate's name for them wins
                message = Message(
                    conversation_id=conv.id,
                    direction="in",
                    kind="text",
                    body=sms.body,
                    media=[{"url": m.url, "content_type": m.content_type} for m in sms.media],
                    provider_sid=sms.sid,
                    status="received",
                    from_number=phone.key,
                    to_number=sms.to,
                    created_at=now,
                )
                session.add(message)
                await session.flush()
                previous = None if created else conv.last_inbound_at
                if not created:  # a new one was inserted with these already
                    conv.last_inbound_at = now
                    conv.updated_at = now
                was_closed = conv.status == ConversationStatus.CLOSED
                reopened = was_closed or conv.status == ConversationStatus.PENDING
                if reopened:
                    # The customer wrote again: it needs attention, and the audit trail says why it reopened.
                    audit.record(session, audit.SYSTEM_ACTOR, "status_changed", conv.id, before=conv.status,
                                 after=ConversationStatus.OPEN.value, reason="customer_texted")
                    conv.status = ConversationStatus.OPEN.value
                await cycles.customer_wrote(session, conv.id, inbox.id, now, starts_cycle=reopened, new=created)
                # The text first: a new conversation's first post creates its thread and card.
                if inbox.no_bodies:
                    # Rule 14: that it arrived, from whom, its size; `!show` reads it privately.
                    summary = privacy.arrived(phone.key, sms.body, message.media)
                    await self.fanout.post(session, inbox, conv.id, Notice(summary, (privacy.show_button(message.id),)))
                else:
                    await self.fanout.post(session, inbox, conv.id, CustomerText(message.id))
                    for index in range(len(sms.media)):
                        await self.fanout.post(session, inbox, conv.id, CustomerMedia(message.id, index))
                await self.rules.run(session, inbox, conv, sms.body, first=created, now=self.sla.now())
                closed_by_rule = conv.status == ConversationStatus.CLOSED  # nothing to assign or answer
                if (created or was_closed) and not closed_by_rule:
                    # A conversation that starts (or starts again) finds its owner.
                    await self.assigner.conversation_started(session, inbox, conv)
                if not closed_by_rule:
                    await self.sla.customer_wrote(session, inbox, conv, message.id, starts=created or was_closed)
                if not created and (reopened or previous is None or now - previous > CARD_CLOCK_STEP):
                    # The card's "customer wrote … ago" is rendered live by the chat app;
                    # refreshing it for every text of a burst would only spend rate limit.
                    await self.fanout.card(session, inbox, conv.id)
                if created and not phone.valid:
                    await self.fanout.notice(
                        session,
                        inbox,
                        conv.id,
                        rich(
                            "⚠️ The sender `{sender}` is not a phone number smsbridge can text; "
                            "their messages are kept, but replies cannot be sent.",
                            sender=sms.sender,
                        ),
                    )
                if keyword is not None:
                    await self.opt_outs.answer_keyword(
                        session, keyword, consent_changed, inbox, conv, phone.key, sms.body,
                        provider_answered=bool(sms.provider_opt_out_type),
                    )
                elif phone.valid and looks_like_opt_out(sms.body):
                    await self.opt_outs.flag_request(session, inbox, conv, phone.key)
                elif phone.valid:
                    # Never in answer to a keyword or a request to stop (compliance rules 3-6).
                    await self.auto_replies.answer(session, inbox, conv, phone.key, first_text=previous is None)
                if done is not None:
                    await self.fanout.outbox.complete_in(session, done)
                return Received(message.id, conv.id, duplicate=False, keyword=keyword)
        except IntegrityError:
            if done is not None:
                done.finished = False  # its completion was rolled back with the rest
            # This MessageSid is stored already (a webhook retried, or delivered twice at once).
            log.info("inbound %s stored already; treating as duplicate", sms.sid)
            return Received(None, None, duplicate=True)
