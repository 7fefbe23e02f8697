"""The audit log: who did what, when, with the state before and after."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox.models import AuditEvent

SYSTEM_ACTOR = "smsbridge"  # what smsbridge does by itself (bridge.inbox.assignment has the same)


def actor_of(platform: str, user_id: str) -> str:
    return f"{platform}:{user_id}"


def record(
    session: AsyncSession,
    actor: str,
    action: str,
    conversation_id: int | None = None,
    *,
    before: Any = None,
    after: Any = None,
    **detail: Any,
) -> None:
    payload = dict(detail)
    if before is not None or after is not None:
        payload.update(before=before, after=after)
    session.add(AuditEvent(actor=actor, action=action, conversation_id=conversation_id, detail=payload))
