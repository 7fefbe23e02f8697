"""A generated conversation history for report tests: events at chosen times, recorded the
way the service records them (message rows plus bridge/inbox/cycles.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox import cycles
from bridge.inbox.models import (
    Agent,
    ConsentEvent,
    Contact,
    Conversation,
    Inbox,
    Message,
)


class History:
    def __init__(self, session: AsyncSession, first_phone: int = 0) -> None:
        self.session = session
        self.status: dict[int, str] = {}
        self._phones = first_phone

    async def inbox(self, name: str) -> int:
        row = Inbox(name=name, number=f"+1555000{len(name):04d}{name[:2]}")
        self.session.add(row)
        await self.session.flush()
        return row.id

    async def agent(self, platform: str, user_id: str, name: str) -> int:
        row = Agent(platform=platform, user_id=user_id, name=name)
        self.session.add(row)
        await self.session.flush()
        return row.id

    async def conversation(self, inbox_id: int, created_at: datetime) -> int:
        self._phones += 1
        contact = Contact(phone=f"+1415555{self._phones:04d}")
        self.session.add(contact)
        await self.session.flush()
        conv = Conversation(inbox_id=inbox_id, contact_id=contact.id, status="new", created_at=created_at, updated_at=created_at)
        self.session.add(conv)
        await self.session.flush()
        self.status[conv.id] = "created"
        return conv.id

    async def _inbox_of(self, conv_id: int) -> int:
        return (await self.session.get_one(Conversation, conv_id)).inbox_id

    async def text_in(self, conv_id: int, at: datetime) -> None:
        self.session.add(Message(conversation_id=conv_id, direction="in", kind="text", status="received", created_at=at))
        starts = self.status[conv_id] in ("created", "closed", "pending")
        await cycles.customer_wrote(self.session, conv_id, await self._inbox_of(conv_id), at, starts_cycle=starts)
        before = self.status[conv_id]
        await self._set(conv_id, {"created": "new", "closed": "open", "pending": "open"}.get(before, before))

    async def team_new(self, conv_id: int, at: datetime) -> None:
        await cycles.team_started(self.session, conv_id, await self._inbox_of(conv_id), at)
        self.status[conv_id] = "new"

    async def reply(
        self, conv_id: int, at: datetime, who: tuple[str, str, str], *, status: str = "delivered", error: str | None = None,
        kind: str = "reply",
    ) -> None:
        platform, user_id, name = who
        message = Message(
            conversation_id=conv_id, direction="out", kind=kind, status=status, created_at=at,
            author_platform=platform if kind == "reply" else None, author_id=user_id if kind == "reply" else None,
            author_name=name, error_code=error, error_text=f"Carrier said {error}" if error else None,
        )
        self.session.add(message)
        await self.session.flush()
        if kind == "reply" and status not in ("draft", "canceled", "blocked", "held"):
            await cycles.teammate_replied(self.session, conv_id, message, at)
            await self._set(conv_id, "open")

    async def close(self, conv_id: int, at: datetime, status: str = "closed") -> None:
        await cycles.status_changed(self.session, conv_id, status, at)
        await self._set(conv_id, status)

    async def assign(self, conv_id: int, agent_id: int) -> None:
        (await self.session.get_one(Conversation, conv_id)).assignee_id = agent_id

    async def consent(self, phone: str, inbox_id: int, action: str, at: datetime) -> None:
        self.session.add(ConsentEvent(phone=phone, inbox_id=inbox_id, action=action, source="keyword", created_at=at))

    async def _set(self, conv_id: int, status: str) -> None:
        self.status[conv_id] = status
        (await self.session.get_one(Conversation, conv_id)).status = status
        await self.session.flush()
