"""Ownership, status and contact details of a conversation, changed by teammates.

Each operation records an audit event with before/after, updates the card, and
returns what to tell the teammate who did it. A user's mistake raises `Refused`.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox import audit
from bridge.inbox.agents import AgentView
from bridge.inbox.audit import actor_of
from bridge.inbox.errors import Refused
from bridge.inbox.fanout import ChatFanout
from bridge.inbox.labels import Priority, status_of
from bridge.inbox.markup import Mention, rich
from bridge.inbox.models import Agent, Contact, Conversation, utcnow
from bridge.inbox.routing import InboxRoute


def _actor(agent: AgentView) -> str:
    return actor_of(agent.platform, agent.user_id)


def mention(agent: AgentView) -> Mention:
    """A notifying mention on the agent's own chat, their name on the others."""
    return Mention(agent.platform, agent.user_id, agent.name)


class Teamwork:
    def __init__(self, fanout: ChatFanout) -> None:
        self.fanout = fanout

    async def claim(self, session: AsyncSession, inbox: InboxRoute, conv: Conversation, agent: AgentView) -> str:
        agent.require("agent", "Claiming")
        # One conditional UPDATE: when two teammates claim at once, exactly one row wins.
        won = await session.execute(
            update(Conversation)
            .where(Conversation.id == conv.id, Conversation.assignee_id.is_(None))
            .values(assignee_id=agent.id, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        await session.refresh(conv)
        if not won.rowcount:
            if conv.assignee_id == agent.id:
                return "You already have this conversation."
            holder = await session.get_one(Agent, conv.assignee_id)
            raise Refused(f"{holder.name} already claimed this conversation. `!assign @you` takes it over.")
        audit.record(session, _actor(agent), "claimed", conv.id, before=None, after=agent.name)
        await self.fanout.card(session, inbox, conv.id)
        await self.fanout.notice(session, inbox, conv.id, rich("🙋 {name} claimed this conversation.", name=agent.name))
        return "It's yours."

    async def assign(
        self, session: AsyncSession, inbox: InboxRoute, conv: Conversation, actor: AgentView, target: AgentView
    ) -> str:
        actor.require("agent", "Assigning")
        if target.role == "viewer":
            raise Refused(f"{target.name} is a viewer and cannot answer customers; ask an admin for `/sms role`.")
        before = (await session.get_one(Agent, conv.assignee_id)).name if conv.assignee_id else None
        if conv.assignee_id == target.id:
            return f"{target.name} already has it."
        conv.assignee_id = target.id
        conv.updated_at = utcnow()
        audit.record(session, _actor(actor), "assigned", conv.id, before=before, after=target.name)
        was = rich(" (was {before})", before=before) if before else ""
        await self.fanout.card(session, inbox, conv.id)
        await self.fanout.notice(
            session, inbox, conv.id, rich("👉 Assigned to {target} by {name}{was}.", target=mention(target), name=actor.name, was=was)
        )
        away = f" Note: {target.name} is away." if target.away else ""
        return f"Assigned to {target.name}.{away}"

    async def unassign(self, session: AsyncSession, inbox: InboxRoute, conv: Conversation, actor: AgentView) -> str:
        actor.require("agent", "Unassigning")
        if conv.assignee_id is None:
            return "Nobody has this conversation."
        before = (await session.get_one(Agent, conv.assignee_id)).name
        conv.assignee_id = None
        conv.updated_at = utcnow()
        audit.record(session, _actor(actor), "unassigned", conv.id, before=before, after=None)
        await self.fanout.card(session, inbox, conv.id)
        await self.fanout.notice(session, inbox, conv.id, rich("↩️ {name} unassigned {before}.", name=actor.name, before=before))
        return "Unassigned."

    async def set_status(
        self, session: AsyncSession, inbox: InboxRoute, conv: Conversation, actor: AgentView, status: str
    ) -> str:
        actor.require("agent", "Changing the status")
        before = conv.status
        if before == status:
            return f"It is already {status}."
        conv.status = status
        conv.updated_at = utcnow()
        conv.resolved_at = utcnow() if status == "closed" else None
        audit.record(session, _actor(actor), "status_changed", conv.id, before=before, after=status)
        await self.fanout.card(session, inbox, conv.id)
        label = status_of(status)
        await self.fanout.notice(
            session,
            inbox,
            conv.id,
            rich("Status: **{status}** (was {before}) — by {name}.", status=label.label if label else status, before=before, name=actor.name),
        )
        return f"Status set to {status}."

    async def set_priority(
        self, session: AsyncSession, inbox: InboxRoute, conv: Conversation, actor: AgentView, level: str
    ) -> str:
        actor.require("agent", "Changing the priority")
        before = conv.priority
        conv.priority = Priority.named(level).value
        audit.record(session, _actor(actor), "priority_changed", conv.id, before=before, after=conv.priority)
        await self.fanout.card(session, inbox, conv.id)
        return f"Priority set to {level}."

    # -- the contact -------------------------------------------------------------

    async def _contact_change(
        self, session: AsyncSession, inbox: InboxRoute, conv: Conversation, actor: AgentView, action: str, before: object, after: object
    ) -> None:
        audit.record(session, _actor(actor), action, conv.id, before=before, after=after)
        await self.fanout.card(session, inbox, conv.id)

    async def tag(
        self, session: AsyncSession, inbox: InboxRoute, conv: Conversation, actor: AgentView, add: tuple[str, ...], remove: tuple[str, ...]
    ) -> str:
        actor.require("agent", "Tagging")
        contact = await session.get_one(Contact, conv.contact_id)
        before = list(contact.tags or [])
        after = [t for t in before if t not in remove] + [t for t in add if t not in before]
        contact.tags = after
        await self._contact_change(session, inbox, conv, actor, "tags_changed", before, after)
        return "Tags: " + (", ".join(after) if after else "none")

    async def contact_name(self, session: AsyncSession, inbox: InboxRoute, conv: Conversation, actor: AgentView, name: str) -> str:
        actor.require("agent", "Renaming a contact")
        contact = await session.get_one(Contact, conv.contact_id)
        before, contact.name = contact.name, name
        await self._contact_change(session, inbox, conv, actor, "contact_renamed", before, name)
        return f"Contact name set to {name}."

    async def contact_note(self, session: AsyncSession, inbox: InboxRoute, conv: Conversation, actor: AgentView, text: str) -> str:
        actor.require("agent", "Editing contact notes")
        contact = await session.get_one(Contact, conv.contact_id)
        before = contact.notes
        contact.notes = f"{before}\n{text}" if before else text
        await self._contact_change(session, inbox, conv, actor, "contact_note_added", before, contact.notes)
        return "Contact note saved."

    async def set_property(
        self, session: AsyncSession, inbox: InboxRoute, conv: Conversation, actor: AgentView, key: str, value: str
    ) -> str:
        actor.require("agent", "Editing contact properties")
        contact = await session.get_one(Contact, conv.contact_id)
        before = dict(contact.properties or {})
        after = dict(before)
        if value:
            after[key] = value
        else:
            after.pop(key, None)
        contact.properties = after
        await self._contact_change(session, inbox, conv, actor, "contact_property_set", before, after)
        return f"{key} = {value}" if value else f"{key} removed."

    async def set_timezone(self, session: AsyncSession, inbox: InboxRoute, conv: Conversation, actor: AgentView, zone: str) -> str:
        actor.require("agent", "Setting a time zone")
        canonical = _zone(zone)
        contact = await session.get_one(Contact, conv.contact_id)
        before, contact.timezone = contact.timezone, canonical
        await self._contact_change(session, inbox, conv, actor, "contact_timezone_set", before, canonical)
        return f"Time zone set to {canonical}."


def _zone(text: str) -> str:
    candidate = text.strip()
    try:
        ZoneInfo(candidate)
        return candidate
    except (ZoneInfoNotFoundError, ValueError):
        pass
    lowered = candidate.lower().replace(" ", "_")
    matches = sorted(z for z in available_timezones() if z.lower() == lowered or z.lower().endswith("/" + lowered))
    if len(matches) == 1:
        return matches[0]
    hint = f" Did you mean {', '.join(matches[:3])}?" if matches else " Use an IANA name such as America/Chicago."
    raise Refused(f"`{candidate}` is not a time zone.{hint}")
