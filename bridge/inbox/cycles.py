"""Conversation cycles: when each round of a conversation starts, is first answered, ends.

A cycle starts when a customer writes to a new conversation or to one that was closed or
pending (a reopen), or when a teammate starts a conversation with `/sms new`. Its first
response is the first teammate reply after the customer's first text *of that cycle*:
a team-started cycle is only answered once the customer has written back. It is resolved
when the conversation is closed (reopening it by hand resumes the same cycle).

The recorder is called from where conversations change; the reports read the table.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox.models import ConversationCycle, Message

# (inbox_id, start, end) -> seconds within the inbox's opening hours, or None when the
# inbox has no hours. Set by the application once business hours are configured.
BusinessSeconds = Callable[[int, datetime, datetime], "int | None"]


def _no_hours(_inbox_id: int, _start: datetime, _end: datetime) -> int | None:
    return None


business_seconds: BusinessSeconds = _no_hours


def _seconds(later: datetime, earlier: datetime) -> int:
    return max(0, round((later - earlier).total_seconds()))


async def _latest(session: AsyncSession, conversation_id: int) -> ConversationCycle | None:
    return (
        await session.execute(
            select(ConversationCycle)
            .where(ConversationCycle.conversation_id == conversation_id)
            .order_by(ConversationCycle.seq.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def _start(
    session: AsyncSession, conversation_id: int, inbox_id: int, origin: str, at: datetime, *, first: bool = False
) -> None:
    """`first`: the conversation was created in this transaction, so its cycle is number 1."""
    last = 0 if first else await session.scalar(
        select(func.max(ConversationCycle.seq)).where(ConversationCycle.conversation_id == conversation_id)
    )
    session.add(
        ConversationCycle(
            conversation_id=conversation_id,
            inbox_id=inbox_id,
            seq=int(last or 0) + 1,
            origin=origin,
            started_at=at,
            customer_at=at if origin == "customer" else None,
        )
    )


async def customer_wrote(
    session: AsyncSession, conversation_id: int, inbox_id: int, at: datetime, *, starts_cycle: bool, new: bool = False
) -> None:
    """A customer's text: `starts_cycle` when the conversation is closed or pending;
    `new` when this transaction created the conversation (its first cycle, no look-up)."""
    latest = None if starts_cycle or new else await _latest(session, conversation_id)
    if latest is None:
        await _start(session, conversation_id, inbox_id, "customer", at, first=new)
    elif latest.customer_at is None:
        latest.customer_at = at  # the answer to a team-started conversation: its clock starts


async def team_started(
    session: AsyncSession, conversation_id: int, inbox_id: int, at: datetime, *, new: bool = False
) -> None:
    """A teammate opened a conversation (`/sms new`); `new` when this transaction created it."""
    await _start(session, conversation_id, inbox_id, "team", at, first=new)


async def teammate_replied(session: AsyncSession, conversation_id: int, reply: Message, at: datetime) -> None:
    latest = await _latest(session, conversation_id)
    if latest is None or latest.customer_at is None or latest.first_response_at is not None:
        return
    latest.first_response_at = at
    latest.first_response_message_id = reply.id
    latest.responder_platform = reply.author_platform
    latest.responder_id = reply.author_id
    latest.first_response_seconds = _seconds(at, latest.customer_at)
    latest.first_response_business_seconds = business_seconds(latest.inbox_id, latest.customer_at, at)


async def status_changed(session: AsyncSession, conversation_id: int, status: str, at: datetime) -> None:
    latest = await _latest(session, conversation_id)
    if latest is None:
        return
    if status == "closed" and latest.resolved_at is None:
        latest.resolved_at = at
        latest.resolution_seconds = _seconds(at, latest.started_at)
        latest.resolution_business_seconds = business_seconds(latest.inbox_id, latest.started_at, at)
    elif status != "closed" and latest.resolved_at is not None:
        latest.resolved_at = latest.resolution_seconds = latest.resolution_business_seconds = None
