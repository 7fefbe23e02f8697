"""The inbox core: inbound texts, teammates' thread messages, replies and their status.

Every public method is one transaction that records the fact and the outbox jobs it
causes (chat posts, SMS sends). Nothing here talks to a platform.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox import audit, consent, statuses
from bridge.inbox.agents import Agents, AgentView
from bridge.inbox.audit import actor_of
from bridge.inbox.db import Database, insert_ignore
from bridge.inbox.fanout import ChatFanout
from bridge.inbox.intake import Intake
from bridge.inbox.keywords import (
    Keyword,
    classify_keyword,
    help_reply,
    looks_like_opt_out,
    opt_in_confirmation,
    opt_out_confirmation,
)
from bridge.inbox.models import Contact, Conversation, Message, utcnow
from bridge.inbox.outbox import Job, Outbox, RetryLater
from bridge.inbox.phone import PhoneNumber, format_phone, guess_timezone, parse_phone
from bridge.inbox.routing import InboxDirectory, InboxRoute, UnknownInbox
from bridge.inbox.segments import count_segments
from bridge.inbox.types import Author, InboundSms, SendPlan, SendResult, StatusUpdate

log = logging.getLogger(__name__)

MAX_SMS_BODY = 1600  # Twilio refuses longer bodies (error 21617)
SMS_QUEUE = "sms:conv:{}"
CARD_CLOCK_STEP = timedelta(seconds=60)
# Built once: the hot path of every inbound text.
_CONTACT_BY_PHONE = select(Contact.id).where(Contact.phone == bindparam("phone"))
_CONVERSATION_OF = select(Conversation).where(
    Conversation.inbox_id == bindparam("inbox_id"), Conversation.contact_id == bindparam("contact_id")
)
_MESSAGE_BY_SID = select(Message.id).where(Message.provider_sid == bindparam("sid"))


def _word(body: str) -> str:
    """The keyword as typed, letters only (safe to show in chat markup)."""
    return re.sub(r"[^\w]", "", body).upper() or "keyword"


class SendOutcome(StrEnum):
    QUEUED = "queued"
    DRAFTED = "drafted"
    HELD = "held"
    FORBIDDEN = "forbidden"
    OPTED_OUT = "opted_out"
    NOT_A_PHONE = "not_a_phone"
    TOO_LONG = "too_long"
    EMPTY = "empty"


@dataclass(frozen=True)
class Received:
    message_id: int | None
    conversation_id: int | None
    duplicate: bool
    keyword: Keyword | None = None


@dataclass(frozen=True)
class ReplyRequest:
    inbox: InboxRoute
    conv: Conversation
    agent: AgentView
    author: Author
    text: str
    origin_id: str | None = None  # the chat message that asked for it
    draft: bool = False  # explicitly a draft for review (`!draft`)
    force: bool = False  # skip the collision hold ("Send anyway")
    audit: dict[str, Any] = field(default_factory=dict)

    @property
    def actor(self) -> str:
        return actor_of(self.author.platform, self.author.user_id)


@dataclass(frozen=True)
class ReplyResult:
    outcome: SendOutcome
    message: str | None  # what to tell the author, when anything
    message_id: int | None = None


@dataclass(frozen=True)
class ServiceOptions:
    reply_prefixes: tuple[str, ...] = ("!reply", "!r")
    reply_prefix: str = "!r"
    # auto | smsbridge | provider: who sends STOP/START/HELP answers.
    compliance_replies: str = "auto"
    undo_seconds: float = 0.0
    collision_seconds: float = 120.0


class InboxService:
    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        directory: InboxDirectory,
        options: ServiceOptions | None = None,
        chat_platforms: frozenset[str] = frozenset(),
        agents: Agents | None = None,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.directory = directory
        self.options = options or ServiceOptions()
        self.fanout = ChatFanout(outbox, set(chat_platforms))
        self.intake = Intake(db, outbox.wake)
        self.agents = agents or Agents()

    # -- inbound SMS -----------------------------------------------------------

    async def accept_sms(self, sms: InboundSms) -> bool:
        """Answer a provider's webhook: keep the text durably, fast; False for a repeat.

        An ordinary text costs one INSERT here (the job that processes it, deduplicated
        by MessageSid) and is filed into its conversation by a worker a moment later. A
        consent keyword (STOP, START, HELP) is processed before the webhook is answered,
        so an opt-out is recorded before anything else can happen (docs/compliance.md rule 2).
        """
        inbox = self.directory.match(sms.to, sms.messaging_service_sid)  # UnknownInbox: 404
        phone = parse_phone(sms.sender)
        if phone.valid and classify_keyword(sms.body) is not None:
            return not (await self.receive_sms(sms)).duplicate
        return await self.intake.submit(
            queue=f"inbound:{inbox.id}:{phone.key}",  # one customer's texts stay in order
            payload=sms.to_payload(),
            dedupe_key=f"in:{sms.sid}",
        )

    async def process_inbound(self, job: Job) -> None:
        """The `sms.inbound` job: file an accepted text into its conversation."""
        try:
            await self.receive_sms(InboundSms.from_payload(job.payload))
        except UnknownInbox as exc:
            # The inbox was removed from the configuration after the text arrived.
            raise RetryLater(f"{exc}; keeping the text until the inbox is configured again") from exc

    async def receive_sms(self, sms: InboundSms) -> Received:
        """Store a customer's text once, whatever the number of webhook retries."""
        inbox = self.directory.match(sms.to, sms.messaging_service_sid)
        phone = parse_phone(sms.sender)
        keyword = classify_keyword(sms.body) if phone.valid else None
        try:
            async with self.db.sessions.begin() as session:
                existing = await session.scalar(_MESSAGE_BY_SID, {"sid": sms.sid})
                if existing is not None:
                    return Received(existing, None, duplicate=True)
                # Rule 2: the opt-out is recorded before anything else happens.
                consent_changed = await self._apply_keyword(session, keyword, phone.key, inbox, sms.body)
                contact_id = await self._contact_id(session, phone)
                conv, created = await self._conversation(session, inbox.id, contact_id)
                now = utcnow()
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
                previous = conv.last_inbound_at
                conv.last_inbound_at = now
                conv.updated_at = now
                reopened = conv.status in ("closed", "pending")
                if reopened:
                    conv.status = "open"  # the customer wrote again: it needs attention
                # The text first: a new conversation's first post creates its thread and card.
                await self.fanout.chat(session, inbox, conv.id, "message", {"message_id": message.id})
                for index in range(len(sms.media)):
                    await self.fanout.chat(session, inbox, conv.id, "media", {"message_id": message.id, "index": index})
                if not created and (reopened or previous is None or now - previous > CARD_CLOCK_STEP):
                    # The card's "customer wrote … ago" is rendered live by the chat app;
                    # refreshing it for every text of a burst would only spend rate limit.
                    await self.fanout.card(session, inbox, conv.id)
                if created and not phone.valid:
                    await self.fanout.notice(
                        session,
                        inbox,
                        conv.id,
                        f"⚠️ The sender `{sms.sender}` is not a phone number smsbridge can text; "
                        "their messages are kept, but replies cannot be sent.",
                    )
                await self._answer_keyword(session, keyword, consent_changed, inbox, conv, phone, sms)
                if keyword is None and phone.valid and looks_like_opt_out(sms.body):
                    await self._flag_opt_out(session, inbox, conv, phone.key)
                return Received(message.id, conv.id, duplicate=False, keyword=keyword)
        except IntegrityError:
            # A concurrent delivery of the same webhook won the unique MessageSid.
            log.info("inbound %s stored concurrently; treating as duplicate", sms.sid)
            return Received(None, None, duplicate=True)

    async def _apply_keyword(
        self, session: AsyncSession, keyword: Keyword | None, phone: str, inbox: InboxRoute, body: str
    ) -> bool:
        if keyword in (Keyword.OPT_OUT, Keyword.OPT_OUT_ALL):
            return await consent.opt_out(
                session, phone, inbox.id, everywhere=keyword is Keyword.OPT_OUT_ALL, source="keyword", raw_text=body
            )
        if keyword is Keyword.OPT_IN:
            return await consent.opt_in(session, phone, inbox.id, source="keyword", raw_text=body)
        return False

    async def _answer_keyword(
        self,
        session: AsyncSession,
        keyword: Keyword | None,
        changed: bool,
        inbox: InboxRoute,
        conv: Conversation,
        phone: PhoneNumber,
        sms: InboundSms,
    ) -> None:
        if keyword is None:
            return
        provider_answers = self.options.compliance_replies == "provider" or (
            self.options.compliance_replies == "auto" and bool(sms.provider_opt_out_type)
        )
        business = inbox.business_name or inbox.name
        reply: str | None = None
        if keyword in (Keyword.OPT_OUT, Keyword.OPT_OUT_ALL):
            scope = "every number of ours" if keyword is Keyword.OPT_OUT_ALL else "this number"
            await self.fanout.notice(
                session, inbox, conv.id, f"🚫 The customer opted out of texts from {scope} ({_word(sms.body)}). Replies are blocked until they text START."
            )
            if changed:
                reply = opt_out_confirmation(business)
        elif keyword is Keyword.OPT_IN:
            await self.fanout.notice(session, inbox, conv.id, f"✅ The customer opted back in ({_word(sms.body)}). Replies can be sent again.")
            if changed:
                reply = opt_in_confirmation(business)
        elif keyword is Keyword.HELP:
            reply = help_reply(business, inbox.help_text)
        if keyword is not Keyword.HELP:
            await self.fanout.card(session, inbox, conv.id)
        if keyword is Keyword.OPT_OUT_ALL or (changed and keyword is Keyword.OPT_IN):
            # STOPALL (and a START lifting it) changes what every inbox may send this
            # contact: refresh their cards in the other inboxes too (rule 12). Not only
            # when `changed`: STOPALL after a STOP here is no news here, but it is there.
            await self._refresh_other_cards(session, conv)
        if reply and not provider_answers:
            await self._queue_sms(session, inbox, conv, phone.key, reply, kind="compliance", author=None)

    async def _flag_opt_out(self, session: AsyncSession, inbox: InboxRoute, conv: Conversation, phone: str) -> None:
        """Rule 6: free text that reads like "stop texting me" is flagged with one click to
        record it (consent can be revoked by any reasonable means)."""
        if await consent.is_suppressed(session, phone, inbox.id):
            return
        await self.fanout.notice(
            session,
            inbox,
            conv.id,
            "⚠️ This reads like a request to stop texting. Consent can be revoked in any reasonable "
            "way: if that is what they mean, record the opt-out.",
            buttons=[{"label": "Record opt-out", "action": "record_opt_out", "value": str(conv.id), "style": "danger"}],
        )

    async def record_opt_out(self, session: AsyncSession, conv: Conversation, actor: AgentView) -> str:
        """A teammate records an opt-out the customer asked for in their own words."""
        inbox = self.directory.get(conv.inbox_id)
        contact = await session.get_one(Contact, conv.contact_id)
        if not await consent.opt_out(session, contact.phone, inbox.id, everywhere=False, source="teammate", raw_text=None):
            return "They had already opted out."
        audit.record(session, actor_of(actor.platform, actor.user_id), "opt_out_recorded", conv.id, phone=contact.phone)
        await self.fanout.card(session, inbox, conv.id)
        await self.fanout.notice(session, inbox, conv.id, f"🚫 {actor.name} recorded the customer's opt-out. Replies are blocked until they text START.")
        if self.options.compliance_replies != "provider":
            # The provider saw no keyword, so it sent no confirmation: send the one owed (rule 3).
            await self._queue_sms(
                session, inbox, conv, contact.phone, opt_out_confirmation(inbox.business_name or inbox.name), kind="compliance", author=None
            )
        return "Opt-out recorded."

    async def _refresh_other_cards(self, session: AsyncSession, conv: Conversation) -> None:
        others = await session.execute(
            select(Conversation.id, Conversation.inbox_id).where(
                Conversation.contact_id == conv.contact_id, Conversation.id != conv.id
            )
        )
        for other_id, other_inbox_id in others.all():
            try:
                other_inbox = self.directory.get(other_inbox_id)
            except KeyError:
                continue  # an inbox no longer configured has no chat to update
            await self.fanout.card(session, other_inbox, other_id)

    async def _contact_id(self, session: AsyncSession, phone: PhoneNumber) -> int:
        # Most texts come from known customers: look first, insert only when new. The
        # insert ignores a conflict, so two first texts at once still make one contact.
        found = await session.scalar(_CONTACT_BY_PHONE, {"phone": phone.key})
        if found is not None:
            return int(found)
        new_id = await insert_ignore(
            session,
            Contact,
            {
                "phone": phone.key,
                "phone_valid": phone.valid,
                "timezone": guess_timezone(phone.e164) if phone.e164 else None,
                "created_at": utcnow(),
            },
            ["phone"],
        )
        if new_id is not None:
            return int(new_id)
        return int(await session.scalar(_CONTACT_BY_PHONE, {"phone": phone.key}))

    async def _conversation(self, session: AsyncSession, inbox_id: int, contact_id: int) -> tuple[Conversation, bool]:
        found = await self._find_conversation(session, inbox_id, contact_id)
        if found is not None:
            return found, False
        now = utcnow()
        new_id = await insert_ignore(
            session,
            Conversation,
            {
                "inbox_id": inbox_id,
                "contact_id": contact_id,
                "status": "new",
                "priority": 0,
                "created_at": now,
                "updated_at": now,
            },
            ["inbox_id", "contact_id"],
        )
        if new_id is not None:
            return await session.get_one(Conversation, new_id), True
        found = await self._find_conversation(session, inbox_id, contact_id)
        assert found is not None  # the conflicting row exists
        return found, False

    @staticmethod
    async def _find_conversation(session: AsyncSession, inbox_id: int, contact_id: int) -> Conversation | None:
        return (
            await session.execute(_CONVERSATION_OF, {"inbox_id": inbox_id, "contact_id": contact_id})
        ).scalar_one_or_none()

    # -- replies ---------------------------------------------------------------

    async def open_conversation(self, session: AsyncSession, inbox: InboxRoute, phone: PhoneNumber) -> tuple[Conversation, bool]:
        """The contact's conversation in this inbox, created when new (`/sms new`)."""
        contact_id = await self._contact_id(session, phone)
        conv, created = await self._conversation(session, inbox.id, contact_id)
        if created:
            await self.fanout.card(session, inbox, conv.id)
        return conv, created

    async def submit_reply(self, session: AsyncSession, request: ReplyRequest) -> ReplyResult:
        """A teammate asks to text the customer: refuse, hold, draft or queue it."""
        inbox, conv, agent, text = request.inbox, request.conv, request.agent, request.text
        if not agent.can("agent"):
            return ReplyResult(SendOutcome.FORBIDDEN, "Not sent: texting the customer needs the agent role (you are a viewer).")
        if not text.strip():
            return ReplyResult(SendOutcome.EMPTY, "Nothing to send.")
        if len(text) > MAX_SMS_BODY:
            return ReplyResult(
                SendOutcome.TOO_LONG,
                f"Not sent: the text is {len(text)} characters; an SMS can carry at most {MAX_SMS_BODY}. Split it into shorter replies.",
            )
        contact = await session.get_one(Contact, conv.contact_id)
        if not contact.phone_valid:
            await self.fanout.notice(session, inbox, conv.id, f"Not sent: `{contact.phone}` is not a phone number smsbridge can text.")
            return ReplyResult(SendOutcome.NOT_A_PHONE, None)
        if await consent.is_suppressed(session, contact.phone, inbox.id):
            await self._blocked(session, inbox, conv, contact, request)
            return ReplyResult(SendOutcome.OPTED_OUT, None)
        needs_approval = request.draft or (inbox.approval_role is not None and agent.role == inbox.approval_role)
        if needs_approval:
            message = self._new_outbound(inbox, conv, contact.phone, text, "reply", request.author, status="draft")
            session.add(message)
            await session.flush()
            audit.record(session, request.actor, "draft_created", conv.id, message_id=message.id, text=text)
            await self.fanout.chat(session, inbox, conv.id, "draft", {"message_id": message.id}, dedupe=f"draft:{message.id}")
            return ReplyResult(SendOutcome.DRAFTED, None, message.id)
        if not request.force:
            other = await self._recent_teammate_reply(session, conv, request.author)
            if other is not None:
                message = self._new_outbound(inbox, conv, contact.phone, text, "reply", request.author, status="held")
                session.add(message)
                await session.flush()
                ago = int((utcnow() - other.created_at).total_seconds())
                return ReplyResult(
                    SendOutcome.HELD,
                    f"⚠️ Held: {other.author_name or 'a teammate'} already replied {ago} s ago:\n> {other.body}\nSend yours too?",
                    message.id,
                )
        message = await self._queue_sms(
            session, inbox, conv, contact.phone, text, kind="reply", author=request.author, reply_to=request.origin_id,
            delay=self.options.undo_seconds,
        )
        audit.record(session, request.actor, "reply_queued", conv.id, message_id=message.id, **request.audit)
        return ReplyResult(SendOutcome.QUEUED, None, message.id)

    async def _blocked(self, session: AsyncSession, inbox: InboxRoute, conv: Conversation, contact: Contact, request: ReplyRequest) -> None:
        # Rule 1: never reaches the provider; the attempt is kept and audited.
        message = self._new_outbound(inbox, conv, contact.phone, request.text, "reply", request.author, status="blocked")
        message.error_text = "The customer opted out (texted STOP)"
        session.add(message)
        await session.flush()
        audit.record(session, request.actor, "send_blocked_opt_out", conv.id, message_id=message.id, to=contact.phone)
        await self.fanout.notice(
            session,
            inbox,
            conv.id,
            f"🚫 Not sent: {format_phone(contact.phone)} opted out of texts from this number. "
            "Nothing reaches them until they text START.",
        )

    async def _recent_teammate_reply(self, session: AsyncSession, conv: Conversation, author: Author) -> Message | None:
        """Another teammate's reply since the customer's latest text, within the window."""
        if self.options.collision_seconds <= 0:
            return None
        since = utcnow() - timedelta(seconds=self.options.collision_seconds)
        if conv.last_inbound_at is not None and conv.last_inbound_at > since:
            since = conv.last_inbound_at
        return (
            await session.execute(
                select(Message)
                .where(
                    Message.conversation_id == conv.id,
                    Message.direction == "out",
                    Message.kind == "reply",
                    Message.created_at >= since,
                    Message.status.not_in(("blocked", "canceled", "draft", "held")),
                    or_(Message.author_id != author.user_id, Message.author_platform != author.platform),
                )
                .order_by(Message.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()

    def _new_outbound(
        self, inbox: InboxRoute, conv: Conversation, to: str, text: str, kind: str, author: Author | None, *, status: str
    ) -> Message:
        info = count_segments(text)
        now = utcnow()
        return Message(
            conversation_id=conv.id,
            direction="out",
            kind=kind,
            body=text,
            status=status,
            segments=info.segments,
            encoding=info.encoding,
            from_number=inbox.number or inbox.messaging_service_sid or "",
            to_number=to,
            author_platform=author.platform if author else None,
            author_id=author.user_id if author else None,
            author_name=author.name if author else "smsbridge",
            created_at=now,
            status_at=now,
        )

    async def _queue_sms(
        self,
        session: AsyncSession,
        inbox: InboxRoute,
        conv: Conversation,
        to: str,
        text: str,
        *,
        kind: str,
        author: Author | None,
        reply_to: str | None = None,
        delay: float = 0.0,
        message: Message | None = None,
    ) -> Message:
        """Queue a send: the message row, its outbox job and its status line, together."""
        now = utcnow()
        if message is None:
            message = self._new_outbound(inbox, conv, to, text, kind, author, status="pending")
            session.add(message)
        else:
            message.status = "pending"
            message.status_at = now
        message.send_after = now + timedelta(seconds=delay) if delay > 0 else None
        await session.flush()
        if kind == "reply":
            conv.last_outbound_at = now
            conv.updated_at = now
            conv.first_response_at = conv.first_response_at or now
            if conv.status == "new":
                conv.status = "open"
                await self.fanout.card(session, inbox, conv.id)
        await self.outbox.enqueue(
            session,
            queue=SMS_QUEUE.format(conv.id),
            kind="sms.send",
            payload={"message_id": message.id},
            dedupe_key=f"sms:{message.id}",
            delay=delay,
        )
        payload: dict[str, Any] = {"message_id": message.id}
        if reply_to and author:
            payload["reply_to"] = {"platform": author.platform, "id": reply_to}
        await self.fanout.chat(session, inbox, conv.id, "status", payload, dedupe=f"status:{message.id}")
        return message

    async def release(self, session: AsyncSession, message_id: int, actor: AgentView, *, from_status: str) -> str | None:
        """Send a held reply or an approved draft; None when it is no longer waiting."""
        message = await session.get_one(Message, message_id)
        if message.status != from_status:
            return None
        conv = await session.get_one(Conversation, message.conversation_id)
        inbox = self.directory.get(conv.inbox_id)
        if await consent.is_suppressed(session, message.to_number, inbox.id):
            message.status = "blocked"
            message.error_text = "The customer opted out (texted STOP)"
            await self._status_changed(session, message)
            return "Not sent: the customer has opted out since."
        author = Author(message.author_platform or actor.platform, message.author_id or actor.user_id, message.author_name)
        await self._queue_sms(
            session, inbox, conv, message.to_number, message.body, kind="reply", author=author,
            delay=self.options.undo_seconds if from_status == "held" else 0.0, message=message,
        )
        if from_status == "draft":
            await self.fanout.chat(session, inbox, conv.id, "draft", {"message_id": message.id}, dedupe=f"draft:{message.id}")
        audit.record(session, actor_of(actor.platform, actor.user_id), f"{from_status}_released", conv.id, message_id=message.id)
        return "Sending."

    async def cancel(self, session: AsyncSession, message_id: int, actor: AgentView, *, statuses_: tuple[str, ...]) -> bool:
        """Undo a reply still waiting (pending in its undo window, held, or a draft)."""
        # Only a draft has a draft message to update: an undone or discarded reply has none.
        was = (await session.execute(select(Message.status).where(Message.id == message_id))).scalar_one_or_none()
        result = await session.execute(
            update(Message)
            .where(Message.id == message_id, Message.status.in_(statuses_))
            .values(status="canceled", status_at=utcnow(), error_text=f"Canceled by {actor.name}")
            .execution_options(synchronize_session=False)
        )
        if not result.rowcount:
            return False
        message = await session.get_one(Message, message_id)
        await session.refresh(message)
        conv = await session.get_one(Conversation, message.conversation_id)
        inbox = self.directory.get(conv.inbox_id)
        audit.record(session, actor_of(actor.platform, actor.user_id), "reply_canceled", conv.id, message_id=message_id)
        await self._status_changed(session, message)
        if was == "draft":
            await self.fanout.chat(session, inbox, conv.id, "draft", {"message_id": message.id}, dedupe=f"draft:{message.id}")
        return True

    async def edit_draft(self, session: AsyncSession, message_id: int, text: str, actor: AgentView) -> bool:
        message = await session.get_one(Message, message_id)
        if message.status != "draft" or not text.strip() or len(text) > MAX_SMS_BODY:
            return False
        before = message.body
        message.body = text.strip()
        info = count_segments(message.body)
        message.segments, message.encoding = info.segments, info.encoding
        conv = await session.get_one(Conversation, message.conversation_id)
        audit.record(session, actor_of(actor.platform, actor.user_id), "draft_edited", conv.id, before=before, after=message.body)
        await self.fanout.chat(session, self.directory.get(conv.inbox_id), conv.id, "draft", {"message_id": message.id}, dedupe=f"draft:{message.id}")
        return True

    # -- delivery --------------------------------------------------------------

    async def prepare_send(self, message_id: int) -> SendPlan | None:
        """The send to make now, or None when it must not (or need not) happen.

        `pending` becomes `submitting` here, in one conditional update: from then on
        Undo can no longer win, so a reply the thread calls canceled never leaves.
        """
        async with self.db.sessions.begin() as session:
            message = await session.get_one(Message, message_id)
            if message.provider_sid or message.status not in ("pending", "submitting"):
                return None
            conv = await session.get_one(Conversation, message.conversation_id)
            inbox = self.directory.get(conv.inbox_id)
            if message.kind != "compliance" and await consent.is_suppressed(session, message.to_number, inbox.id):
                # A STOP arrived after this reply was queued (rule 1 holds at send time).
                message.status = "blocked"
                message.error_text = "The customer opted out (texted STOP) before it left"
                message.status_at = utcnow()
                await self._status_changed(session, message)
                return None
            if message.status == "pending":
                claimed = await session.execute(
                    update(Message)
                    .where(Message.id == message.id, Message.status == "pending")
                    .values(status="submitting")
                    .execution_options(synchronize_session=False)
                )
                if not claimed.rowcount:
                    return None  # undone a moment ago
            return SendPlan(
                message_id=message.id,
                from_number=inbox.number,
                messaging_service_sid=inbox.messaging_service_sid,
                to=message.to_number,
                body=message.body,
                media_urls=[m["url"] for m in message.media or []],
                created_at_epoch=message.created_at.timestamp(),
            )

    async def mark_accepted(self, message_id: int, result: SendResult) -> None:
        async with self.db.sessions.begin() as session:
            message = await session.get_one(Message, message_id)
            message.provider_sid = result.sid
            if result.segments:
                message.segments = result.segments
            if statuses.moves_forward(message.status, result.status):
                message.status = result.status
                message.status_at = utcnow()
            await self._status_changed(session, message)

    async def mark_failed(self, message_id: int, code: str | None, reason: str, *, opted_out: bool = False) -> None:
        async with self.db.sessions.begin() as session:
            message = await session.get_one(Message, message_id)
            message.status = "failed"
            message.error_code = code
            message.error_text = reason
            message.status_at = utcnow()
            if opted_out:
                await self._provider_opt_out(session, message)
            await self._status_changed(session, message)

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
            if update_.opted_out:
                await self._provider_opt_out(session, message)
            await self._status_changed(session, message)
            return True

    async def _provider_opt_out(self, session: AsyncSession, message: Message) -> None:
        """Rule 7: the provider says the recipient opted out; believe it."""
        conv = await session.get_one(Conversation, message.conversation_id)
        await consent.opt_out(session, message.to_number, conv.inbox_id, everywhere=False, source="provider", raw_text=None)
        inbox = self.directory.get(conv.inbox_id)
        await self.fanout.card(session, inbox, conv.id)

    async def _status_changed(self, session: AsyncSession, message: Message) -> None:
        conv = await session.get_one(Conversation, message.conversation_id)
        inbox = self.directory.get(conv.inbox_id)
        await self.fanout.chat(session, inbox, conv.id, "status", {"message_id": message.id}, dedupe=f"status:{message.id}")
