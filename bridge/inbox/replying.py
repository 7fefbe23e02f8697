"""Teammates' replies to a customer: the reply policy, collision hold, drafts and undo.

A reply is refused (role, length, not a phone), blocked (opted out, rule 1), kept as a
draft for approval, held when another teammate answered a moment ago, or queued,
with an undo window when UNDO_SECONDS is set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox import audit, consent, media_files, privacy, whatsapp
from bridge.inbox.agents import AgentView
from bridge.inbox.audit import actor_of
from bridge.inbox.chat import DraftReview
from bridge.inbox.clock import Clock, SystemClock
from bridge.inbox.fanout import ChatFanout
from bridge.inbox.later import local_text, zone_override
from bridge.inbox.markup import Text, rich
from bridge.inbox.models import Contact, Conversation, Message, utcnow
from bridge.inbox.opt_outs import OPTED_OUT
from bridge.inbox.outgoing import OutgoingSms
from bridge.inbox.phone import format_phone
from bridge.inbox.quiet_hours import window_for
from bridge.inbox.routing import InboxDirectory, InboxRoute
from bridge.inbox.segments import count_segments
from bridge.inbox.types import Author, OutgoingFile

MAX_SMS_BODY = 1600  # Twilio refuses longer bodies (error 21617)


class SendOutcome(StrEnum):
    QUEUED = "queued"
    DRAFTED = "drafted"
    HELD = "held"
    FORBIDDEN = "forbidden"
    OPTED_OUT = "opted_out"
    NOT_A_PHONE = "not_a_phone"
    TOO_LONG = "too_long"
    EMPTY = "empty"
    REFUSED_MEDIA = "refused_media"  # an attachment MMS cannot carry
    OUTSIDE_WINDOW = "outside_window"  # WhatsApp: more than 24 h since the customer wrote


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
    media: tuple[OutgoingFile, ...] = ()  # files sent with it as MMS
    template: whatsapp.TemplateSend | None = None  # an approved WhatsApp template; text is its filled copy
    audit: dict[str, Any] = field(default_factory=dict)

    @property
    def actor(self) -> str:
        return actor_of(self.author.platform, self.author.user_id)


@dataclass(frozen=True)
class ReplyResult:
    outcome: SendOutcome
    message: Text | None  # what to tell the author, when anything
    message_id: int | None = None


class Replies:
    def __init__(
        self,
        outgoing: OutgoingSms,
        fanout: ChatFanout,
        directory: InboxDirectory,
        *,
        undo_seconds: float = 0.0,
        collision_seconds: float = 120.0,
    ) -> None:
        self.outgoing = outgoing
        self.fanout = fanout
        self.directory = directory
        self.undo_seconds = undo_seconds
        self.collision_seconds = collision_seconds
        self.clock: Clock = SystemClock()  # quiet-hours warnings read it (tests: a ManualClock)

    async def submit(self, session: AsyncSession, request: ReplyRequest) -> ReplyResult:
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
            await self.fanout.notice(
                session, inbox, conv.id, rich("Not sent: `{phone}` is not a phone number smsbridge can text.", phone=contact.phone)
            )
            return ReplyResult(SendOutcome.NOT_A_PHONE, None)
        if await consent.is_suppressed(session, contact.phone, inbox.id):
            await self._blocked(session, inbox, conv, contact, request)
            return ReplyResult(SendOutcome.OPTED_OUT, None)
        channel = await whatsapp.channel_of(session, conv.id)
        if request.media and (why := media_files.problem(request.media, whatsapp=channel.is_whatsapp)):
            return ReplyResult(SendOutcome.REFUSED_MEDIA, f"Not sent: {why}")
        if request.template is not None and not channel.is_whatsapp:
            return ReplyResult(SendOutcome.OUTSIDE_WINDOW, "Not sent: templates are for WhatsApp conversations; this customer texts by SMS.")
        if channel.is_whatsapp and request.template is None and (why := whatsapp.outside_window(conv, utcnow())):
            return ReplyResult(SendOutcome.OUTSIDE_WINDOW, why)
        to = channel.to(contact.phone)
        needs_approval = request.draft or (inbox.approval_role is not None and agent.role == inbox.approval_role)
        if needs_approval:
            message = self.outgoing.new_message(inbox, conv, to, text, "reply", request.author, status="draft")
            message.origin_id = request.origin_id
            message.from_number = channel.sender or message.from_number
            self._template(message, request)
            session.add(message)
            await session.flush()
            await media_files.attach(session, message, request.media)
            audit.record(session, request.actor, "draft_created", conv.id, message_id=message.id, text=text)
            await self._draft_changed(session, inbox, message)
            return ReplyResult(SendOutcome.DRAFTED, None, message.id)
        if not request.force:
            other = await self._recent_teammate_reply(session, conv, request.author)
            if other is not None:
                message = self.outgoing.new_message(inbox, conv, to, text, "reply", request.author, status="held")
                message.origin_id = request.origin_id
                message.from_number = channel.sender or message.from_number
                self._template(message, request)
                session.add(message)
                await session.flush()
                await media_files.attach(session, message, request.media)
                ago = int((utcnow() - other.created_at).total_seconds())
                held = rich("⚠️ Held: {who} already replied {ago} s ago:\n", who=other.author_name or "a teammate", ago=ago)
                return ReplyResult(SendOutcome.HELD, held + privacy.quoted(other.body, inbox.no_bodies) + "\nSend yours too?", message.id)
        message = await self.outgoing.queue(
            session, inbox, conv, to, text, kind="reply", author=request.author, reply_to=request.origin_id,
            delay=self.undo_seconds, channel=channel,
        )
        self._template(message, request)
        await media_files.attach(session, message, request.media)
        audit.record(session, request.actor, "reply_queued", conv.id, message_id=message.id, **request.audit)
        await self._quiet_hours_warning(session, inbox, conv, contact)
        return ReplyResult(SendOutcome.QUEUED, None, message.id)

    async def _quiet_hours_warning(self, session: AsyncSession, inbox: InboxRoute, conv: Conversation, contact: Contact) -> None:
        """A live reply goes at once whatever the hour (rule 10 holds only what smsbridge
        starts on its own), but the thread shows the recipient's time when it is late."""
        window = window_for(contact.phone, zone_override(contact), inbox.hours.zone.key)
        now = self.clock.now()
        if window.allowed_at(now):
            return
        local = ", ".join(f"{local_text(now, zone)} ({zone.key})" for zone in window.zones[:3])
        await self.fanout.notice(
            session,
            inbox,
            conv.id,
            rich(
                "⚠️ Sent at once, but it is {local} for the customer, outside {start}–{end} their time. "
                "Scheduled and automated texts wait for that window.",
                local=local, start=f"{window.start:%H:%M}", end=f"{window.end:%H:%M}",
            ),
        )

    @staticmethod
    def _template(message: Message, request: ReplyRequest) -> None:
        if request.template is not None:
            message.content_sid = request.template.content_sid
            message.content_variables = request.template.variables

    async def _blocked(self, session: AsyncSession, inbox: InboxRoute, conv: Conversation, contact: Contact, request: ReplyRequest) -> None:
        # Rule 1: never reaches the provider; the attempt is kept and audited.
        message = self.outgoing.new_message(inbox, conv, contact.phone, request.text, "reply", request.author, status="blocked")
        message.error_text = OPTED_OUT
        session.add(message)
        await session.flush()
        audit.record(session, request.actor, "send_blocked_opt_out", conv.id, message_id=message.id, to=contact.phone)
        await self.fanout.notice(
            session,
            inbox,
            conv.id,
            rich(
                "🚫 Not sent: {phone} opted out of texts from this number. Nothing reaches them until they text START "
                "(or a teammate records their renewed consent with `!optin`).",
                phone=format_phone(contact.phone),
            ),
        )

    async def _recent_teammate_reply(self, session: AsyncSession, conv: Conversation, author: Author) -> Message | None:
        """Another teammate's reply since the customer's latest text, within the window."""
        if self.collision_seconds <= 0:
            return None
        since = utcnow() - timedelta(seconds=self.collision_seconds)
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

    # -- what waits for a teammate: held replies and drafts -----------------------------

    async def send_held(self, session: AsyncSession, message_id: int, actor: AgentView) -> str | None:
        """"Send anyway" on a reply held by the collision check; None when it no longer waits."""
        return await self._send_waiting(session, message_id, actor, "held")

    async def approve_draft(self, session: AsyncSession, message_id: int, actor: AgentView) -> str | None:
        """Send an approved draft; None when it is no longer a draft."""
        return await self._send_waiting(session, message_id, actor, "draft")

    async def _send_waiting(self, session: AsyncSession, message_id: int, actor: AgentView, waiting_as: str) -> str | None:
        message = await session.get_one(Message, message_id)
        if message.status != waiting_as:
            return None
        conv = await session.get_one(Conversation, message.conversation_id)
        inbox = self.directory.get(conv.inbox_id)
        # What a `!r` is checked against is checked again now: the draft may have waited
        # for hours (rule 1, WhatsApp's window, the quiet-hours warning).
        if await consent.is_suppressed(session, message.to_number, inbox.id):
            message.status = "blocked"
            message.error_text = OPTED_OUT
            await self.outgoing.status_changed(session, message)
            return "Not sent: the customer has opted out since."
        if whatsapp.is_whatsapp(message.from_number) and message.content_sid is None:
            if why := whatsapp.outside_window(conv, utcnow()):
                return why + " It is still waiting: approve it once they have written again, or discard it."
        author = Author(message.author_platform or actor.platform, message.author_id or actor.user_id, message.author_name)
        await self.outgoing.queue(
            session, inbox, conv, message.to_number, message.body, kind="reply", author=author,
            delay=self.undo_seconds if waiting_as == "held" else 0.0, message=message,
        )
        if waiting_as == "draft":
            await self._draft_changed(session, inbox, message)
        audit.record(session, actor_of(actor.platform, actor.user_id), f"{waiting_as}_released", conv.id, message_id=message.id)
        await self._quiet_hours_warning(session, inbox, conv, await session.get_one(Contact, conv.contact_id))
        return "Sending."

    async def cancel(self, session: AsyncSession, message_id: int, actor: AgentView, *, statuses_: tuple[str, ...]) -> bool:
        """Undo a reply still waiting (pending in its undo window, held, or a draft)."""
        # Only a draft has a draft message to update: an undone or discarded reply has none.
        was = await session.scalar(select(Message.status).where(Message.id == message_id))
        canceled = await session.scalar(
            update(Message)
            .where(Message.id == message_id, Message.status.in_(statuses_))
            .values(status="canceled", status_at=utcnow(), error_text=f"Canceled by {actor.name}")
            .returning(Message.id)
            .execution_options(synchronize_session=False)
        )
        if canceled is None:
            return False
        message = await session.get_one(Message, message_id)
        await session.refresh(message)
        conv = await session.get_one(Conversation, message.conversation_id)
        audit.record(session, actor_of(actor.platform, actor.user_id), "reply_canceled", conv.id, message_id=message_id)
        await self.outgoing.status_changed(session, message)
        if was == "draft":
            await self._draft_changed(session, self.directory.get(conv.inbox_id), message)
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
        await self._draft_changed(session, self.directory.get(conv.inbox_id), message)
        return True

    async def edit_unsent(self, session: AsyncSession, message: Message, text: str, actor: AgentView) -> bool:
        """Change a reply that has not left (in its undo window, held or a draft);
        False once it has left, which a conditional update decides against the sender."""
        if message.status == "draft":
            return await self.edit_draft(session, message.id, text, actor)
        info = count_segments(text)
        changed = (
            await session.execute(
                update(Message)
                .where(Message.id == message.id, Message.status.in_(("pending", "held")))
                .values(body=text, segments=info.segments, encoding=info.encoding)
                .returning(Message.id)
                .execution_options(synchronize_session=False)
            )
        ).first()
        if changed is None:
            return False
        before = message.body
        await session.refresh(message)
        audit.record(session, actor_of(actor.platform, actor.user_id), "reply_edited", message.conversation_id, message_id=message.id, before=before, after=text)
        await self.outgoing.status_changed(session, message)
        return True

    async def _draft_changed(self, session: AsyncSession, inbox: InboxRoute, message: Message) -> None:
        await self.fanout.post(session, inbox, message.conversation_id, DraftReview(message.id), dedupe=f"draft:{message.id}")
