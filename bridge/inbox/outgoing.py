"""Outbound SMS rows and their send jobs: what every part that texts a customer shares.

A queued send is three things in the caller's transaction: the message row, its
`sms.send` outbox job (one queue per conversation, so replies leave in order) and its
status line in every chat.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox import cycles, whatsapp
from bridge.inbox.chat import ChatMessageRef, ReplyStatus
from bridge.inbox.fanout import ChatFanout
from bridge.inbox.models import Conversation, Message, utcnow
from bridge.inbox.outbox import Job, Outbox
from bridge.inbox.routing import InboxDirectory, InboxRoute
from bridge.inbox.segments import count_segments
from bridge.inbox.sla import SlaClocks
from bridge.inbox.types import Author

SMS_QUEUE = "sms:conv:{}"
SEND_JOB = "sms.send"


@dataclass(frozen=True)
class SendJob:
    """The `sms.send` job's payload: the stored message to send."""

    message_id: int

    def payload(self) -> dict[str, int]:
        return {"message_id": self.message_id}

    @classmethod
    def of(cls, job: Job) -> SendJob:
        return cls(int(job.payload["message_id"]))


class OutgoingSms:
    def __init__(self, outbox: Outbox, fanout: ChatFanout, directory: InboxDirectory, sla: SlaClocks | None = None) -> None:
        self.outbox = outbox
        self.fanout = fanout
        self.directory = directory
        self.sla = sla or SlaClocks(fanout, directory)

    @staticmethod
    def new_message(
        inbox: InboxRoute, conv: Conversation, to: str, text: str, kind: str, author: Author | None, *, status: str,
        at: datetime | None = None,
    ) -> Message:
        info = count_segments(text)
        now = at or utcnow()
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

    async def queue(
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
        at: datetime | None = None,
        channel: whatsapp.Channel | None = None,
    ) -> Message:
        """Queue a send (a new message, or `message` waiting as held or draft).

        A new message goes on the conversation's channel (`channel`, else the one the
        customer last wrote on): every automatic text — keyword answers, auto-replies,
        scheduled texts, a rule's snippet — answers a WhatsApp customer on WhatsApp, from
        the sender they wrote to. `at` is when it counts as sent for the Florida limit
        (the caller's clock)."""
        now = utcnow()
        if message is None:
            channel = channel or await whatsapp.channel_of(session, conv.id)
            message = self.new_message(inbox, conv, channel.to(whatsapp.bare(to)), text, kind, author, status="pending", at=at)
            message.from_number = channel.sender or message.from_number
            message.origin_id = reply_to
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
            await cycles.teammate_replied(session, conv.id, message, now)
            await self.sla.replied(session, inbox, conv)  # a reply stops the reply clock
            if conv.status == "new":
                conv.status = "open"
                await self.fanout.card(session, inbox, conv.id)
        await self.outbox.enqueue(
            session,
            queue=SMS_QUEUE.format(conv.id),
            kind=SEND_JOB,
            payload=SendJob(message.id).payload(),
            dedupe_key=f"sms:{message.id}",
            delay=delay,
        )
        origin = ChatMessageRef(author.platform, reply_to) if reply_to and author else None
        await self.fanout.post(session, inbox, conv.id, ReplyStatus(message.id, origin), dedupe=f"status:{message.id}")
        return message

    async def status_changed(self, session: AsyncSession, message: Message) -> None:
        """Re-render the message's status line in every chat."""
        conv = await session.get_one(Conversation, message.conversation_id)
        inbox = self.directory.get(conv.inbox_id)
        await self.fanout.post(session, inbox, conv.id, ReplyStatus(message.id), dedupe=f"status:{message.id}")
