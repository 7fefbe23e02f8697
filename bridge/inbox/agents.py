"""Teammates and their roles: admin > agent > viewer.

A teammate becomes an Agent the first time they act; configuration (ADMINS, VIEWERS)
decides the role of listed identities and `/sms role` the rest. While ADMINS is unset
(a first run), the people who run the chat workspace are admins: Slack workspace owners
and admins, Discord members with Manage Server; the adapters tell (`Author.platform_admin`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox.db import insert_ignore
from bridge.inbox.models import Agent, utcnow
from bridge.inbox.types import Author

ROLES = ("viewer", "agent", "admin")
_RANK = {role: rank for rank, role in enumerate(ROLES)}

ConfiguredRole = Callable[[str, str], "str | None"]


class Forbidden(Exception):
    def __init__(self, needed: str, action: str) -> None:
        super().__init__(f"{action} needs the {needed} role")
        self.needed = needed
        self.action = action


@dataclass(frozen=True)
class AgentView:
    id: int
    platform: str
    user_id: str
    name: str
    role: str
    away: bool

    def can(self, needed: str) -> bool:
        return _RANK[self.role] >= _RANK[needed]

    def require(self, needed: str, action: str) -> None:
        if not self.can(needed):
            raise Forbidden(needed, action)


def _view(row: Agent) -> AgentView:
    return AgentView(row.id, row.platform, row.user_id, row.name, row.role, row.away)


class Agents:
    def __init__(self, configured_role: ConfiguredRole | None = None, *, platform_admins: bool = False) -> None:
        self.configured_role = configured_role or (lambda _p, _u: None)
        # True while ADMINS is unset: workspace owners/admins are smsbridge admins.
        self.platform_admins = platform_admins

    async def ensure(self, session: AsyncSession, author: Author) -> AgentView:
        forced = self.configured_role(author.platform, author.user_id)
        if forced is None and self.platform_admins and author.platform_admin:
            forced = "admin"
        await insert_ignore(
            session,
            Agent,
            {
                "platform": author.platform,
                "user_id": author.user_id,
                "name": author.label,
                "role": forced or "agent",
                "away": False,
                "created_at": utcnow(),
            },
            ["platform", "user_id"],
        )
        row = (
            await session.execute(select(Agent).where(Agent.platform == author.platform, Agent.user_id == author.user_id))
        ).scalar_one()
        if author.name and row.name != author.name:
            row.name = author.name
        if forced and row.role != forced:
            row.role = forced  # configuration always wins over /sms role
        return _view(row)

    async def get(self, session: AsyncSession, agent_id: int) -> AgentView:
        return _view(await session.get_one(Agent, agent_id))

    async def find(self, session: AsyncSession, platform: str, query: str) -> list[AgentView]:
        """Agents matching a user id exactly, else a name (exact, then prefix), case-insensitive."""
        query = query.strip().lstrip("@")
        by_id = (
            await session.execute(select(Agent).where(Agent.platform == platform, Agent.user_id == query))
        ).scalars().all()
        if by_id:
            return [_view(r) for r in by_id]
        lowered = query.lower()
        rows = (
            await session.execute(
                select(Agent).where(or_(func.lower(Agent.name) == lowered, func.lower(Agent.name).like(f"{lowered}%")))
            )
        ).scalars().all()
        exact = [r for r in rows if r.name.lower() == lowered]
        return [_view(r) for r in (exact or rows)]

    async def admins(self, session: AsyncSession, platform: str) -> list[AgentView]:
        """The admins who have acted on `platform`, by name."""
        rows = (
            await session.execute(
                select(Agent).where(Agent.platform == platform, Agent.role == "admin").order_by(Agent.name).limit(6)
            )
        ).scalars().all()
        return [_view(r) for r in rows]

    async def set_role(self, session: AsyncSession, agent_id: int, role: str) -> None:
        (await session.get_one(Agent, agent_id)).role = role

    async def set_away(self, session: AsyncSession, agent_id: int, away: bool) -> None:
        (await session.get_one(Agent, agent_id)).away = away
