"""Ownership, status and contact details of a conversation, changed by teammates.

Each operation acts in a `TeamContext` (the transaction, the inbox, the conversation and
the teammate acting), records an audit event with before/after, updates the card, and
returns what to tell that teammate as neutral rich text. A user's mistake raises `Refused`.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox import audit, cycles
from bridge.inbox.agents import AgentView
from bridge.inbox.audit import actor_of
from bridge.inbox.db import changed_rows
from bridge.inbox.errors import Refused
from bridge.inbox.fanout import ChatFanout
from bridge.inbox.followups import Followups
from bridge.inbox.labels import ConversationStatus, Priority
from bridge.inbox.markup import Mention, Rich, rich
from bridge.inbox.models import Agent, Contact, Conversation, utcnow
from bridge.inbox.routing import InboxRoute
from bridge.inbox.sla import SlaClocks


def _actor(agent: AgentView) -> str:
    return actor_of(agent.platform, agent.user_id)


def mention(agent: AgentView) -> Mention:
    """A notifying mention on the agent's own chat, their name on the others."""
    return Mention(agent.platform, agent.user_id, agent.name)


@dataclass(frozen=True)
class TeamContext:
    """A teammate acting on one conversation, in one transaction."""

    session: AsyncSession
    inbox: InboxRoute
    conversation: Conversation
    actor: AgentView


class Teamwork:
    def __init__(self, fanout: ChatFanout, sla: SlaClocks | None = None, followups: Followups | None = None) -> None:
        self.fanout = fanout
        self.sla = sla
        self.followups = followups

    async def claim(self, ctx: TeamContext) -> Rich:
        session, inbox, conv, agent = ctx.session, ctx.inbox, ctx.conversation, ctx.actor
        agent.require("agent", "Claiming")
        # One conditional UPDATE: when two teammates claim at once, exactly one row wins.
        won = changed_rows(
            await session.execute(
                update(Conversation)
                .where(Conversation.id == conv.id, Conversation.assignee_id.is_(None))
                .values(assignee_id=agent.id, assigned_by=None, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
        )
        await session.refresh(conv)
        if not won:
            if conv.assignee_id == agent.id:
                return rich("You already have this conversation.")
            holder = await session.get_one(Agent, conv.assignee_id)
            raise Refused(rich("{holder} already claimed this conversation. `!assign @you` takes it over.", holder=holder.name))
        audit.record(session, _actor(agent), "claimed", conv.id, before=None, after=agent.name)
        await self.fanout.card(session, inbox, conv.id)
        await self.fanout.notice(session, inbox, conv.id, rich("🙋 {name} claimed this conversation.", name=agent.name))
        return rich("It's yours.")

    async def assign(self, ctx: TeamContext, target: AgentView) -> Rich:
        session, inbox, conv, actor = ctx.session, ctx.inbox, ctx.conversation, ctx.actor
        actor.require("agent", "Assigning")
        if target.role == "viewer":
            raise Refused(
                rich("{name} is a viewer and cannot answer customers; ask an admin for `/sms role`.", name=target.name)
            )
        before = (await session.get_one(Agent, conv.assignee_id)).name if conv.assignee_id else None
        if conv.assignee_id == target.id:
            return rich("{name} already has it.", name=target.name)
        conv.assignee_id = target.id
        conv.assigned_by = None
        conv.updated_at = utcnow()
        audit.record(session, _actor(actor), "assigned", conv.id, before=before, after=target.name)
        was = rich(" (was {before})", before=before) if before else ""
        await self.fanout.card(session, inbox, conv.id)
        await self.fanout.notice(
            session, inbox, conv.id, rich("👉 Assigned to {target} by {name}{was}.", target=mention(target), name=actor.name, was=was)
        )
        answer = rich("Assigned to {name}.", name=target.name)
        return answer + rich(" Note: {name} is away.", name=target.name) if target.away else answer

    async def unassign(self, ctx: TeamContext) -> Rich:
        session, inbox, conv, actor = ctx.session, ctx.inbox, ctx.conversation, ctx.actor
        actor.require("agent", "Unassigning")
        if conv.assignee_id is None:
            return rich("Nobody has this conversation.")
        before = (await session.get_one(Agent, conv.assignee_id)).name
        conv.assignee_id = None
        conv.assigned_by = None
        conv.updated_at = utcnow()
        audit.record(session, _actor(actor), "unassigned", conv.id, before=before, after=None)
        await self.fanout.card(session, inbox, conv.id)
        await self.fanout.notice(session, inbox, conv.id, rich("↩️ {name} unassigned {before}.", name=actor.name, before=before))
        return rich("Unassigned.")

    async def set_status(self, ctx: TeamContext, new: ConversationStatus) -> Rich:
        session, inbox, conv, actor = ctx.session, ctx.inbox, ctx.conversation, ctx.actor
        status = new.value
        actor.require("agent", "Changing the status")
        before = conv.status
        if before == status:
            return rich("It is already {status}.", status=status)
        conv.status = status
        conv.updated_at = utcnow()
        conv.resolved_at = utcnow() if status == "closed" else None
        await cycles.status_changed(session, conv.id, status, conv.updated_at)
        if status == "closed" and self.sla is not None:
            await self.sla.closed(session, conv)
        if status == "pending" and self.followups is not None:
            await self.followups.went_pending(session, conv)
        audit.record(session, _actor(actor), "status_changed", conv.id, before=before, after=status)
        await self.fanout.card(session, inbox, conv.id)
        await self.fanout.notice(
            session, inbox, conv.id, rich("Status: **{status}** (was {before}) — by {name}.", status=new.label, before=before, name=actor.name)
        )
        return rich("Status set to {status}.", status=status)

    async def set_priority(self, ctx: TeamContext, level: Priority) -> Rich:
        session, inbox, conv, actor = ctx.session, ctx.inbox, ctx.conversation, ctx.actor
        actor.require("agent", "Changing the priority")
        before = conv.priority
        conv.priority = int(level)
        audit.record(session, _actor(actor), "priority_changed", conv.id, before=before, after=conv.priority)
        if self.sla is not None and before != conv.priority:
            await self.sla.priority_changed(session, inbox, conv)  # its own SLA targets apply from now
        await self.fanout.card(session, inbox, conv.id)
        return rich("Priority set to {level}.", level=level.name.lower())

    # -- the contact -------------------------------------------------------------

    async def _contact_change(self, ctx: TeamContext, action: str, before: object, after: object) -> None:
        audit.record(ctx.session, _actor(ctx.actor), action, ctx.conversation.id, before=before, after=after)
        await self.fanout.card(ctx.session, ctx.inbox, ctx.conversation.id)

    async def tag(self, ctx: TeamContext, add: tuple[str, ...], remove: tuple[str, ...]) -> Rich:
        ctx.actor.require("agent", "Tagging")
        contact = await ctx.session.get_one(Contact, ctx.conversation.contact_id)
        before = list(contact.tags or [])
        after = [t for t in before if t not in remove] + [t for t in add if t not in before]
        contact.tags = after
        await self._contact_change(ctx, "tags_changed", before, after)
        return rich("Tags: {tags}", tags=", ".join(after) if after else "none")

    async def contact_name(self, ctx: TeamContext, name: str) -> Rich:
        ctx.actor.require("agent", "Renaming a contact")
        contact = await ctx.session.get_one(Contact, ctx.conversation.contact_id)
        before, contact.name = contact.name, name
        await self._contact_change(ctx, "contact_renamed", before, name)
        return rich("Contact name set to {name}.", name=name)

    async def contact_note(self, ctx: TeamContext, text: str) -> Rich:
        ctx.actor.require("agent", "Editing contact notes")
        contact = await ctx.session.get_one(Contact, ctx.conversation.contact_id)
        before = contact.notes
        contact.notes = f"{before}\n{text}" if before else text
        await self._contact_change(ctx, "contact_note_added", before, contact.notes)
        return rich("Contact note saved.")

    async def set_property(self, ctx: TeamContext, key: str, value: str) -> Rich:
        ctx.actor.require("agent", "Editing contact properties")
        contact = await ctx.session.get_one(Contact, ctx.conversation.contact_id)
        before = dict(contact.properties or {})
        after = dict(before)
        if value:
            after[key] = value
        else:
            after.pop(key, None)
        contact.properties = after
        await self._contact_change(ctx, "contact_property_set", before, after)
        return rich("{key} = {value}", key=key, value=value) if value else rich("{key} removed.", key=key)

    async def set_timezone(self, ctx: TeamContext, zone: str) -> Rich:
        ctx.actor.require("agent", "Setting a time zone")
        canonical = _zone(zone)
        contact = await ctx.session.get_one(Contact, ctx.conversation.contact_id)
        before, contact.timezone = contact.timezone, canonical
        await self._contact_change(ctx, "contact_timezone_set", before, canonical)
        return rich("Time zone set to {zone}.", zone=canonical)


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
    if matches:
        raise Refused(rich("`{zone}` is not a time zone. Did you mean {some}?", zone=candidate, some=", ".join(matches[:3])))
    raise Refused(rich("`{zone}` is not a time zone. Use an IANA name such as America/Chicago.", zone=candidate))
