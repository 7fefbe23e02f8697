"""The inbox core: inbound texts, teammates' thread messages, replies and their status.

Every public method is one transaction that records the fact and the outbox jobs it
causes (chat posts, SMS sends). Nothing here talks to a platform.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.commands import parse as commands
from bridge.inbox import consent, statuses
from bridge.inbox.db import Database, insert_ignore
from bridge.inbox.keywords import (
    Keyword,
    classify_keyword,
    help_reply,
    opt_in_confirmation,
    opt_out_confirmation,
)
from bridge.inbox.models import AuditEvent, Contact, Conversation, Message, Note, ProcessedEvent, ThreadLink, utcnow
from bridge.inbox.outbox import Outbox
from bridge.inbox.phone import PhoneNumber, format_phone, guess_timezone, parse_phone
from bridge.inbox.routing import InboxDirectory, InboxRoute
from bridge.inbox.segments import count_segments
from bridge.inbox.types import Author, InboundSms, SendPlan, SendResult, StatusUpdate, ThreadMessage

log = logging.getLogger(__name__)

MAX_SMS_BODY = 1600  # Twilio refuses longer bodies (error 21617)
SMS_QUEUE = "sms:conv:{}"


def _word(body: str) -> str:
    """The keyword as typed, letters only (safe to show in chat markup)."""
    return re.sub(r"[^\w]", "", body).upper() or "keyword"


class SendOutcome(StrEnum):
    QUEUED = "queued"
    OPTED_OUT = "opted_out"
    NOT_A_PHONE = "not_a_phone"
    TOO_LONG = "too_long"
    EMPTY = "empty"


class ThreadOutcome(StrEnum):
    DUPLICATE = "duplicate"
    NOT_A_CONVERSATION = "not_a_conversation"
    NOTE = "note"
    HELP = "help"
    UNKNOWN_COMMAND = "unknown_command"


@dataclass(frozen=True)
class Received:
    message_id: int | None
    conversation_id: int | None
    duplicate: bool
    keyword: Keyword | None = None


@dataclass(frozen=True)
class ServiceOptions:
    reply_prefixes: tuple[str, ...] = ("!reply", "!r")
    reply_prefix: str = "!r"
    # auto | smsbridge | provider: who sends STOP/START/HELP answers.
    compliance_replies: str = "auto"


class InboxService:
    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        directory: InboxDirectory,
        options: ServiceOptions | None = None,
        chat_platforms: frozenset[str] = frozenset(),
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.directory = directory
        self.options = options or ServiceOptions()
        self.chat_platforms = set(chat_platforms)

    # -- inbound SMS -----------------------------------------------------------

    async def receive_sms(self, sms: InboundSms) -> Received:
        """Store a customer's text once, whatever the number of webhook retries."""
        inbox = self.directory.match(sms.to, sms.messaging_service_sid)
        phone = parse_phone(sms.sender)
        keyword = classify_keyword(sms.body) if phone.valid else None
        try:
            async with self.db.sessions.begin() as session:
                existing = await session.scalar(select(Message.id).where(Message.provider_sid == sms.sid))
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
                conv.last_inbound_at = now
                conv.updated_at = now
                if conv.status in ("closed", "pending"):
                    conv.status = "open"  # the customer wrote again: it needs attention
                await self._chat(session, inbox, conv.id, "card", {}, dedupe=f"card:{conv.id}")
                await self._chat(session, inbox, conv.id, "message", {"message_id": message.id})
                for index in range(len(sms.media)):
                    await self._chat(session, inbox, conv.id, "media", {"message_id": message.id, "index": index})
                if created and not phone.valid:
                    await self._notice(
                        session,
                        inbox,
                        conv.id,
                        f"⚠️ The sender `{sms.sender}` is not a phone number smsbridge can text; "
                        "their messages are kept, but replies cannot be sent.",
                    )
                await self._answer_keyword(session, keyword, consent_changed, inbox, conv, phone, sms)
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
            await self._notice(
                session, inbox, conv.id, f"🚫 The customer opted out of texts from {scope} ({_word(sms.body)}). Replies are blocked until they text START."
            )
            if changed:
                reply = opt_out_confirmation(business)
        elif keyword is Keyword.OPT_IN:
            await self._notice(session, inbox, conv.id, f"✅ The customer opted back in ({_word(sms.body)}). Replies can be sent again.")
            if changed:
                reply = opt_in_confirmation(business)
        elif keyword is Keyword.HELP:
            reply = help_reply(business, inbox.help_text)
        if keyword is not Keyword.HELP:
            await self._chat(session, inbox, conv.id, "card", {}, dedupe=f"card:{conv.id}")
        if keyword is Keyword.OPT_OUT_ALL or (changed and keyword is Keyword.OPT_IN):
            # STOPALL (and a START lifting it) changes what every inbox may send this
            # contact: refresh their cards in the other inboxes too (rule 12). Not only
            # when `changed`: STOPALL after a STOP here is no news here, but it is there.
            await self._refresh_other_cards(session, conv)
        if reply and not provider_answers:
            await self._queue_sms(session, inbox, conv, phone.key, reply, kind="compliance", author=None)

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
            await self._chat(session, other_inbox, other_id, "card", {}, dedupe=f"card:{other_id}")

    async def _contact_id(self, session: AsyncSession, phone: PhoneNumber) -> int:
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
            return new_id
        return (await session.execute(select(Contact.id).where(Contact.phone == phone.key))).scalar_one()

    async def _conversation(self, session: AsyncSession, inbox_id: int, contact_id: int) -> tuple[Conversation, bool]:
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
        conv = (
            await session.execute(
                select(Conversation).where(Conversation.inbox_id == inbox_id, Conversation.contact_id == contact_id)
            )
        ).scalar_one()
        return conv, False

    # -- teammates in a thread -------------------------------------------------

    async def handle_thread_message(self, tm: ThreadMessage) -> ThreadOutcome | SendOutcome:
        async with self.db.sessions.begin() as session:
            if await insert_ignore(session, ProcessedEvent, {"key": tm.event_key, "created_at": utcnow()}, ["key"]) is None:
                return ThreadOutcome.DUPLICATE
            link = (
                await session.execute(
                    select(ThreadLink).where(
                        ThreadLink.platform == tm.platform,
                        ThreadLink.channel == tm.channel,
                        ThreadLink.thread_id == tm.thread_id,
                    )
                )
            ).scalar_one_or_none()
            if link is None:
                return ThreadOutcome.NOT_A_CONVERSATION
            conv = await session.get_one(Conversation, link.conversation_id)
            inbox = self.directory.get(conv.inbox_id)
            command = commands.parse(tm.text, self.options.reply_prefixes)
            match command:
                case commands.Reply(text=text):
                    return await self._reply(session, inbox, conv, text, tm)
                case commands.EmptyReply(prefix=prefix):
                    await self._whisper(session, inbox, conv.id, tm, f"Nothing to send: write the text after `{prefix}`, e.g. `{prefix} Thanks, we're on it!`")
                    return SendOutcome.EMPTY
                case commands.Help():
                    await self._whisper(session, inbox, conv.id, tm, commands.help_text(self.options.reply_prefix))
                    return ThreadOutcome.HELP
                case commands.Unknown(word=word):
                    await self._whisper(
                        session,
                        inbox,
                        conv.id,
                        tm,
                        f"`!{word}` is not a command, so nothing was sent. "
                        f"To text the customer write `{self.options.reply_prefix} your message`; `!help` lists commands.",
                    )
                    return ThreadOutcome.UNKNOWN_COMMAND
                case _:
                    await insert_ignore(
                        session,
                        Note,
                        {
                            "conversation_id": conv.id,
                            "platform": tm.platform,
                            "platform_message_id": tm.message_id,
                            "author_id": tm.author.user_id,
                            "author_name": tm.author.name,
                            "body": tm.text,
                            "created_at": utcnow(),
                        },
                        ["platform", "platform_message_id"],
                    )
                    return ThreadOutcome.NOTE

    async def _reply(
        self, session: AsyncSession, inbox: InboxRoute, conv: Conversation, text: str, tm: ThreadMessage
    ) -> SendOutcome:
        contact = await session.get_one(Contact, conv.contact_id)
        if len(text) > MAX_SMS_BODY:
            await self._whisper(session, inbox, conv.id, tm, f"Not sent: the text is {len(text)} characters; an SMS can carry at most {MAX_SMS_BODY}. Split it into shorter replies.")
            return SendOutcome.TOO_LONG
        if not contact.phone_valid:
            await self._notice(session, inbox, conv.id, f"Not sent: `{contact.phone}` is not a phone number smsbridge can text.")
            return SendOutcome.NOT_A_PHONE
        if await consent.is_suppressed(session, contact.phone, inbox.id):
            # Rule 1: never reaches the provider; the attempt is kept and audited.
            message = Message(
                conversation_id=conv.id,
                direction="out",
                kind="reply",
                body=text,
                status="blocked",
                error_text="The customer opted out (texted STOP)",
                from_number=inbox.number or inbox.messaging_service_sid or "",
                to_number=contact.phone,
                author_platform=tm.author.platform,
                author_id=tm.author.user_id,
                author_name=tm.author.name,
                status_at=utcnow(),
            )
            session.add(message)
            await session.flush()
            session.add(
                AuditEvent(
                    actor=f"{tm.author.platform}:{tm.author.user_id}",
                    action="send_blocked_opt_out",
                    conversation_id=conv.id,
                    detail={"message_id": message.id, "to": contact.phone},
                )
            )
            await self._notice(
                session,
                inbox,
                conv.id,
                f"🚫 Not sent: {format_phone(contact.phone)} opted out of texts from this number. "
                "Nothing reaches them until they text START.",
            )
            return SendOutcome.OPTED_OUT
        await self._queue_sms(session, inbox, conv, contact.phone, text, kind="reply", author=tm.author, reply_to=tm.message_id)
        return SendOutcome.QUEUED

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
    ) -> Message:
        info = count_segments(text)
        now = utcnow()
        message = Message(
            conversation_id=conv.id,
            direction="out",
            kind=kind,
            body=text,
            status="pending",
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
        session.add(message)
        await session.flush()
        if kind == "reply":
            conv.last_outbound_at = now
            conv.updated_at = now
            if conv.status == "new":
                conv.status = "open"
                await self._chat(session, inbox, conv.id, "card", {}, dedupe=f"card:{conv.id}")
        await self.outbox.enqueue(
            session, queue=SMS_QUEUE.format(conv.id), kind="sms.send", payload={"message_id": message.id}, dedupe_key=f"sms:{message.id}"
        )
        payload: dict[str, Any] = {"message_id": message.id}
        if reply_to and author:
            payload["reply_to"] = {"platform": author.platform, "id": reply_to}
        await self._chat(session, inbox, conv.id, "status", payload, dedupe=f"status:{message.id}")
        return message

    async def _chat(
        self, session: AsyncSession, inbox: InboxRoute, conversation_id: int, what: str, payload: dict[str, Any], *, dedupe: str | None = None, platforms: set[str] | None = None
    ) -> None:
        """Queue a chat job on every platform the inbox is bound to, in conversation order."""
        for platform, channel in inbox.chats.items():
            if platform not in self.chat_platforms or (platforms is not None and platform not in platforms):
                continue
            await self.outbox.enqueue(
                session,
                queue=f"{platform}:conv:{conversation_id}",
                kind=f"{platform}.{what}",
                payload={**payload, "conversation_id": conversation_id, "channel": channel, "inbox_id": inbox.id},
                dedupe_key=f"{platform}:{dedupe}" if dedupe else None,
            )

    async def _notice(self, session: AsyncSession, inbox: InboxRoute, conversation_id: int, text: str) -> None:
        await self._chat(session, inbox, conversation_id, "notice", {"text": text})

    async def _whisper(self, session: AsyncSession, inbox: InboxRoute, conversation_id: int, tm: ThreadMessage, text: str) -> None:
        """A reply only the author sees (ephemeral where the platform has it)."""
        await self._chat(
            session, inbox, conversation_id, "notice", {"text": text, "user": tm.author.user_id}, platforms={tm.platform}
        )

    # -- delivery --------------------------------------------------------------

    async def prepare_send(self, message_id: int) -> SendPlan | None:
        """The send to make now, or None when it must not (or need not) happen."""
        async with self.db.sessions.begin() as session:
            message = await session.get_one(Message, message_id)
            if message.provider_sid or message.status != "pending":
                return None
            conv = await session.get_one(Conversation, message.conversation_id)
            inbox = self.directory.get(conv.inbox_id)
            if message.kind != "compliance" and await consent.is_suppressed(session, message.to_number, inbox.id):
                # A STOP arrived after this reply was queued (rule 1 holds at send time).
                message.status = "blocked"
                message.error_text = "The customer opted out (texted STOP) before it left"
                message.status_at = utcnow()
                await self._chat(session, inbox, conv.id, "status", {"message_id": message.id}, dedupe=f"status:{message.id}")
                return None
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
        await self._chat(session, inbox, conv.id, "card", {}, dedupe=f"card:{conv.id}")

    async def _status_changed(self, session: AsyncSession, message: Message) -> None:
        conv = await session.get_one(Conversation, message.conversation_id)
        inbox = self.directory.get(conv.inbox_id)
        await self._chat(session, inbox, conv.id, "status", {"message_id": message.id}, dedupe=f"status:{message.id}")

    async def set_status_if_pending(self, message_id: int, status: str) -> None:
        async with self.db.sessions.begin() as session:
            await session.execute(
                update(Message).where(Message.id == message_id, Message.status == "pending").values(status=status, status_at=utcnow())
            )
