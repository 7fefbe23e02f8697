"""Automatic assignment: a new (or reopened) conversation gets an owner by the inbox's
strategy, `round-robin` or `least-busy`, among its teammates who are not away and below
their cap of open conversations.

Choosing happens in the transaction that files the customer's text, under a lock: the
inbox's `assignment_cursors` row (SELECT ... FOR UPDATE on PostgreSQL, so several
processes take turns; SQLite has one writer) and the candidates' agent rows, in id order
(their open counts span inboxes). So two conversations starting at once are assigned
one after the other, each seeing the other's choice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox import audit
from bridge.inbox.assignment_policy import AssignPolicy, Strategy
from bridge.inbox.db import insert_ignore
from bridge.inbox.fanout import ChatFanout
from bridge.inbox.labels import ConversationStatus
from bridge.inbox.markup import Mention, Rich, rich
from bridge.inbox.models import Agent, AssignmentCursor, Conversation, utcnow
from bridge.inbox.routing import InboxRoute

SYSTEM_ACTOR = "smsbridge"  # the audit log's actor for what smsbridge does by itself


@dataclass(frozen=True)
class Choice:
    """Who got the conversation (None: nobody could take it) and why, in words."""

    agent: Agent | None
    reason: str


def _listed(entries: Sequence[str]) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = []
    for entry in entries:
        platform, _, user_id = entry.rpartition(":")
        clauses.append(and_(Agent.platform == platform, Agent.user_id == user_id) if platform else Agent.user_id == user_id)
    return or_(*clauses)


def _order(pool: Sequence[Agent], entries: Sequence[str]) -> list[Agent]:
    """The pool in the order SMSBRIDGE_AGENTS lists it (by id when it lists nobody)."""
    if not entries:
        return sorted(pool, key=lambda a: a.id)

    def rank(agent: Agent) -> tuple[int, int]:
        for index, entry in enumerate(entries):
            if entry in (f"{agent.platform}:{agent.user_id}", agent.user_id):
                return index, agent.id
        return len(entries), agent.id

    return sorted(pool, key=rank)


async def unknown_agents(session: AsyncSession, policy: AssignPolicy) -> list[str]:
    """Entries of SMSBRIDGE_AGENTS that match no teammate smsbridge knows yet."""
    rows = (await session.execute(select(Agent.platform, Agent.user_id))).all()
    known = {f"{p}:{u}" for p, u in rows} | {u for _p, u in rows}
    return [entry for entry in policy.agents if entry not in known]


class Assigner:
    def __init__(self, fanout: ChatFanout) -> None:
        self.fanout = fanout

    async def conversation_started(self, session: AsyncSession, inbox: InboxRoute, conv: Conversation) -> Choice | None:
        """Give a new or reopened conversation an owner by the inbox's strategy; None when
        the inbox assigns nothing or it already has an owner who is not away."""
        policy = inbox.assignment
        if policy.strategy is Strategy.NONE:
            return None
        if conv.assignee_id is not None:
            holder = await session.get(Agent, conv.assignee_id)
            if holder is not None and not holder.away:
                return None
        return await self.assign(session, inbox, conv, policy.strategy, by=policy.strategy.value)

    async def assign(
        self, session: AsyncSession, inbox: InboxRoute, conv: Conversation, strategy: Strategy, *, by: str
    ) -> Choice:
        """Choose by `strategy` and assign, telling the thread and the audit log; `by` is
        what the card shows ("round-robin", "rule VIP")."""
        choice = await self._choose(session, inbox, strategy)
        if choice.agent is None:
            audit.record(session, SYSTEM_ACTOR, "auto_assign_failed", conv.id, reason=choice.reason, strategy=strategy.value)
            await self.fanout.notice(
                session,
                inbox,
                conv.id,
                rich("⚠️ Nobody could take this conversation by {by}: {reason}. It stays unassigned; `!claim` takes it.",
                     by=by, reason=choice.reason),
            )
            return choice
        agent = choice.agent
        before = conv.assignee_id
        conv.assignee_id = agent.id
        conv.assigned_by = by
        conv.updated_at = utcnow()
        audit.record(session, SYSTEM_ACTOR, "auto_assigned", conv.id, before=before, after=agent.name, by=by, reason=choice.reason)
        await self.fanout.card(session, inbox, conv.id)
        await self.fanout.notice(session, inbox, conv.id, assigned_notice(agent, by, choice.reason))
        return choice

    async def _choose(self, session: AsyncSession, inbox: InboxRoute, strategy: Strategy) -> Choice:
        policy = inbox.assignment
        cursor = await self._lock_cursor(session, inbox.id)
        query = select(Agent).where(Agent.role.in_(("agent", "admin")))
        if policy.agents:
            query = query.where(_listed(policy.agents))
        pool = _order((await session.execute(query.order_by(Agent.id).with_for_update())).scalars().all(), policy.agents)
        if not pool:
            return Choice(None, "no teammate can take conversations yet" if not policy.agents else "none of SMSBRIDGE_AGENTS has used smsbridge yet")
        counts = await self._open_counts(session, [a.id for a in pool])
        # Start after the teammate chosen last: round-robin's turn, least-busy's tie-break.
        start = next((i + 1 for i, a in enumerate(pool) if a.id == cursor.last_agent_id), 0)
        turn = pool[start:] + pool[:start]
        able = [a for a in turn if not a.away and (policy.max_open is None or counts.get(a.id, 0) < policy.max_open)]
        if not able:
            every = "everyone is away" if all(a.away for a in pool) else f"everyone is away or has {policy.max_open} open (SMSBRIDGE_MAX_OPEN)"
            return Choice(None, every)
        if strategy is Strategy.LEAST_BUSY:
            chosen = min(able, key=lambda a: counts.get(a.id, 0))  # min keeps the first of a tie
            reason = f"{counts.get(chosen.id, 0)} open"
        else:
            chosen = able[0]
            reason = "next in turn"
        cursor.last_agent_id = chosen.id
        cursor.updated_at = utcnow()
        return Choice(chosen, reason)

    @staticmethod
    async def _lock_cursor(session: AsyncSession, inbox_id: int) -> AssignmentCursor:
        await insert_ignore(session, AssignmentCursor, {"inbox_id": inbox_id, "last_agent_id": None, "updated_at": utcnow()}, ["inbox_id"])
        found = await session.execute(
            select(AssignmentCursor).where(AssignmentCursor.inbox_id == inbox_id).with_for_update().execution_options(populate_existing=True)
        )
        return found.scalar_one()

    @staticmethod
    async def _open_counts(session: AsyncSession, agent_ids: list[int]) -> dict[int, int]:
        rows = await session.execute(
            select(Conversation.assignee_id, func.count())
            .where(Conversation.assignee_id.in_(agent_ids), Conversation.status != ConversationStatus.CLOSED.value)
            .group_by(Conversation.assignee_id)
        )
        return {int(agent_id or 0): int(n) for agent_id, n in rows.all()}


def assigned_notice(agent: Agent, by: str, reason: str) -> Rich:
    return rich("🤖 Assigned to {who} by {by} ({reason}).", who=Mention(agent.platform, agent.user_id, agent.name), by=by, reason=reason)
