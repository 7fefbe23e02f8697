"""`/sms new` to a number with no consent on record waits for its author to confirm
they have consent (docs/compliance.md rule 8). The waiting text is kept here, not in a
button: a Discord button carries at most 100 characters, and a button can be forged."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox.db import changed_rows
from bridge.inbox.models import ConsentPrompt, utcnow
from bridge.inbox.types import Author

WAITING = "waiting"
# A confirmation is for the text just typed: a day later, type it again.
LIFETIME = timedelta(days=1)


async def ask(session: AsyncSession, inbox_id: int, phone: str, body: str, author: Author) -> int:
    prompt = ConsentPrompt(
        inbox_id=inbox_id, phone=phone, body=body, author_platform=author.platform, author_id=author.user_id,
        state=WAITING, created_at=utcnow(),
    )
    session.add(prompt)
    await session.flush()
    return prompt.id


async def settle(session: AsyncSession, prompt_id: int, author: Author, state: str) -> ConsentPrompt | None:
    """Move a waiting prompt of `author`'s to `state` (confirmed, canceled); None when it
    is not theirs, no longer waiting or older than a day. One conditional update: a
    double click sends once."""
    done = changed_rows(
        await session.execute(
            update(ConsentPrompt)
            .where(
                ConsentPrompt.id == prompt_id,
                ConsentPrompt.state == WAITING,
                ConsentPrompt.author_platform == author.platform,
                ConsentPrompt.author_id == author.user_id,
                ConsentPrompt.created_at > utcnow() - LIFETIME,
            )
            .values(state=state)
        )
    )
    if not done:
        return None
    return await session.get(ConsentPrompt, prompt_id, populate_existing=True)
