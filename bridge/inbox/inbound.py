"""Customers' texts, from the provider's webhook into their conversation.

Three steps, each its own entry point:
- `accept_from_webhook`: answer the webhook fast. An ordinary text is only kept (one
  INSERT of the job that files it); a consent keyword is filed at once.
- `file_from_job`: the `sms.inbound` job a worker runs a moment later.
- `file_text`: store the text in its conversation, once, and queue what follows (chat
  posts, card refresh, keyword answers).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox import audit, cycles, privacy
from bridge.inbox.assignment import Assigner
from bridge.inbox.autoreplies import AutoReplies
from bridge.inbox.chat import CustomerMedia, CustomerText, Notice
from bridge.inbox.conversations import Conversations, new_contact_row
from bridge.inbox.db import Database, database_unavailable, insert_pending_together
from bridge.inbox.fanout import ChatFanout
from bridge.inbox.intake import Intake
from bridge.inbox.keywords import Keyword, classify_keyword, looks_like_opt_out
from bridge.inbox.labels import ConversationStatus, Priority
from bridge.inbox.markup import rich
from bridge.inbox.models import Contact, Conversation, ConversationCycle, Message, utcnow
from bridge.inbox.opt_outs import OptOuts
from bridge.inbox.outbox import Job, RetryLater
from bridge.inbox.phone import PhoneNumber, parse_phone, sender_key
from bridge.inbox.routing import InboxDirectory, InboxRoute, UnknownInbox
from bridge.inbox.rules import Rules
from bridge.inbox.sla import SlaClocks
from bridge.inbox.types import InboundSms

log = logging.getLogger(__name__)

FILE_JOB = "sms.inbound"
MAX_FILING_BATCH = 100
# Every sender of a batch with their contact and conversations (one per inbox), one statement.
_SENDERS = (
    select(Contact.id, Contact.phone, Conversation)
    .outerjoin(Conversation, Conversation.contact_id == Contact.id)
    .where(Contact.phone.in_(bindparam("phones", expanding=True)))
)
CARD_CLOCK_STEP = timedelta(seconds=60)


@dataclass
class _Filing:
    job: Job
    sms: InboundSms
    inbox: InboxRoute
    phone: PhoneNumber
    future: asyncio.Future[None]


def _one_per_sender(queued: list[_Filing]) -> tuple[list[_Filing], list[_Filing]]:
    """(this batch, for the next): texts of one sender to one inbox share a queue, so
    they never run at once; should they, the later one waits for the next batch."""
    seen: set[tuple[int, str]] = set()
    batch: list[_Filing] = []
    later: list[_Filing] = []
    for filing in queued:
        key = (filing.inbox.id, filing.phone.key)
        (later if key in seen else batch).append(filing)
        seen.add(key)
    return batch, later


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


def _message_row(conversation_id: int, sms: InboundSms, phone: PhoneNumber, now: datetime) -> dict[str, Any]:
    return {
        "conversation_id": conversation_id,
        "direction": "in",
        "kind": "text",
        "body": sms.body,
        "media": [{"url": m.url, "content_type": m.content_type} for m in sms.media],
        "provider_sid": sms.sid,
        "status": "received",
        "from_number": phone.key,
        "to_number": sms.to,
        "created_at": now,
    }


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
        self._filing: list[_Filing] = []
        self._filer: asyncio.Task[None] | None = None
        insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
        contacts = cast(Table, Contact.__table__)
        # Built once: constructing it costs more than running it.
        self._new_contacts = (
            insert(contacts).on_conflict_do_nothing(index_elements=["phone"]).returning(contacts.c.id, contacts.c.phone)
        )

    async def accept_from_webhook(self, sms: InboundSms) -> bool:
        """Answer a provider's webhook: keep the text durably, fast; False for a repeat.

        An ordinary text costs one INSERT here (the job that files it, deduplicated
        by MessageSid) and is filed into its conversation by a worker a moment later. A
        consent keyword (STOP, START, HELP) is filed before the webhook is answered, so
        an opt-out is recorded before anything else can happen (docs/compliance.md rule 2).
        """
        inbox = self.directory.match(sms.to, sms.messaging_service_sid)  # UnknownInbox: 404
        if classify_keyword(sms.body) is not None and parse_phone(sms.sender).valid:
            return not (await self.file_text(sms)).duplicate
        return await self.intake.submit(
            queue=f"inbound:{inbox.id}:{sender_key(sms.sender)}",  # one customer's texts stay in order
            payload=sms.to_payload(),
            dedupe_key=f"in:{sms.sid}",
        )

    async def file_from_job(self, job: Job) -> None:
        """The `sms.inbound` job: file an accepted text into its conversation.

        Jobs running at the same moment are filed together, in one transaction (see
        `_file_batches`); this returns once the commit holding this text is done.
        """
        try:
            sms = InboundSms.from_payload(job.payload)
            inbox = self.directory.match(sms.to, sms.messaging_service_sid)
        except UnknownInbox as exc:
            # The inbox was removed from the configuration after the text arrived.
            raise RetryLater(f"{exc}; keeping the text until the inbox is configured again") from exc
        phone = parse_phone(sms.sender)
        if phone.valid and classify_keyword(sms.body) is not None:
            # A consent keyword (rare here: the webhook files those at once) goes alone.
            await self._file_alone(sms, job)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._filing.append(_Filing(job, sms, inbox, phone, future))
        if self._filer is None or self._filer.done():
            self._filer = asyncio.create_task(self._file_batches(), name="inbound-filer")
        await future

    async def _file_alone(self, sms: InboundSms, job: Job) -> None:
        try:
            await self.file_text(sms, done=job)
        except UnknownInbox as exc:
            raise RetryLater(f"{exc}; keeping the text until the inbox is configured again") from exc

    async def _file_batches(self) -> None:
        """File every text queued meanwhile, a batch a transaction (a group commit, as the
        intake and the chat records do): one statement per table for the batch instead
        of one per text, and one commit. A batch that fails (a repeated MessageSid, one
        bad text) is filed again text by text, so each text's fate is its own."""
        while self._filing:
            batch, later = _one_per_sender(self._filing[:MAX_FILING_BATCH])
            self._filing = later + self._filing[MAX_FILING_BATCH:]
            try:
                await self._file_together(batch)
            except Exception as exc:  # noqa: BLE001 - handed to the callers, or retried alone
                for filing in batch:
                    filing.job.finished = False  # rolled back with the rest
                if database_unavailable(exc):
                    for filing in batch:
                        _settle(filing.future, exc)
                    continue
                if len(batch) > 1:
                    log.info("filing %s texts together failed (%s); filing them one by one", len(batch), type(exc).__name__)
                for filing in batch:
                    try:
                        await self._file_alone(filing.sms, filing.job)
                    except Exception as one:  # noqa: BLE001 - this text's own error
                        _settle(filing.future, one)
                    else:
                        _settle(filing.future, None)
                continue
            for filing in batch:
                _settle(filing.future, None)

    async def _file_together(self, batch: list[_Filing]) -> None:
        """`file_text` for several texts (no keywords, each from another sender or to
        another inbox) in one transaction: one look-up of the senders, one INSERT each
        of the new contacts, the new conversations, the messages, and (at the commit)
        the cycles and the chat jobs; one DELETE of the jobs."""
        async with self.db.sessions.begin() as session:
            now = utcnow()
            contacts: dict[str, int] = {}
            convs: dict[tuple[int, str], Conversation] = {}
            phones = sorted({f.phone.key for f in batch})
            for contact_id, phone_key, conv in (await session.execute(_SENDERS, {"phones": phones})).all():
                contacts[phone_key] = contact_id
                if conv is not None:
                    convs[(conv.inbox_id, phone_key)] = conv
            created_contacts: set[str] = set()
            unknown = {f.phone.key: f.phone for f in batch if f.phone.key not in contacts}
            if unknown:
                conn = await session.connection()
                rows = await conn.execute(self._new_contacts, [new_contact_row(phone, now) for phone in unknown.values()])
                for contact_id, phone_key in rows.all():
                    contacts[phone_key] = contact_id
                    created_contacts.add(phone_key)
            created: set[int] = set()  # batch positions whose conversation this transaction made
            fresh: dict[tuple[int, int], tuple[int, str]] = {}  # (inbox, contact) -> key in convs
            fresh_rows: list[dict[str, Any]] = []
            for position, filing in enumerate(batch):
                key = (filing.inbox.id, filing.phone.key)
                if key in convs:
                    continue
                created.add(position)
                if filing.phone.key in created_contacts:
                    # A contact this transaction created has no conversation anywhere
                    # yet (as in find_or_create): a plain INSERT is safe.
                    contact_id = contacts[filing.phone.key]
                    fresh[(filing.inbox.id, contact_id)] = key
                    fresh_rows.append({
                        "contact_id": contact_id,
                        "inbox_id": filing.inbox.id,
                        "status": ConversationStatus.NEW.value,
                        "priority": Priority.NORMAL.value,
                        "last_inbound_at": now,
                        "created_at": now,
                        "updated_at": now,
                    })
                    continue
                # A known contact new to this inbox, or one another process created a
                # moment ago: the careful way, on its own.
                conv, made = await self.conversations.find_or_create(session, filing.inbox.id, filing.phone, last_inbound_at=now)
                convs[key] = conv
                if not made:
                    created.discard(position)
            if fresh:
                # One INSERT for all of them; the rows come back in any order.
                for conv in await session.scalars(insert(Conversation).returning(Conversation), fresh_rows):
                    convs[fresh[(conv.inbox_id, conv.contact_id)]] = conv
            message_rows: list[dict[str, Any]] = []
            for filing in batch:
                conv = convs[(filing.inbox.id, filing.phone.key)]
                if filing.sms.profile_name:
                    contact = await session.get_one(Contact, conv.contact_id)
                    contact.name = contact.name or filing.sms.profile_name
                message_rows.append(_message_row(conv.id, filing.sms, filing.phone, now))
            # One INSERT; a repeated MessageSid fails the batch here.
            messages = {m.provider_sid: m for m in await session.scalars(insert(Message).returning(Message), message_rows)}
            for position, filing in enumerate(batch):
                conv = convs[(filing.inbox.id, filing.phone.key)]
                await self._after_stored(
                    session, filing.sms, filing.inbox, filing.phone, None, False, conv, position in created,
                    messages[filing.sms.sid], now,
                )
            # What they queued: one INSERT each for the cycles and the jobs, not one a row.
            with session.no_autoflush:  # the first would flush the others row by row
                await insert_pending_together(session, ConversationCycle)
                await self.fanout.outbox.insert_added_together(session)
            await self.fanout.outbox.complete_many_in(session, [filing.job for filing in batch])

    async def _after_stored(
        self,
        session: AsyncSession,
        sms: InboundSms,
        inbox: InboxRoute,
        phone: PhoneNumber,
        keyword: Keyword | None,
        consent_changed: bool,
        conv: Conversation,
        created: bool,
        message: Message,
        now: datetime,
    ) -> None:
        """Everything a stored text sets off: status, cycle, chat posts, rules, owner, clocks,
        answers. `message` is flushed (it has its id); `conv` is not yet updated for it."""
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
                message = Message(**_message_row(conv.id, sms, phone, now))
                session.add(message)
                await session.flush()
                await self._after_stored(session, sms, inbox, phone, keyword, consent_changed, conv, created, message, now)
                if done is not None:
                    await self.fanout.outbox.complete_in(session, done)
                return Received(message.id, conv.id, duplicate=False, keyword=keyword)
        except IntegrityError:
            if done is not None:
                done.finished = False  # its completion was rolled back with the rest
            # This MessageSid is stored already (a webhook retried, or delivered twice at once).
            log.info("inbound %s stored already; treating as duplicate", sms.sid)
            return Received(None, None, duplicate=True)
