"""A refusal for a missing role that says who can grant it.

A new team's first `/sms snippet add` must not end at "needs the admin role": the
answer names the admins to ask, or, when there are none yet, how to become one.

Every refusal is also an audit event (`command_refused`, docs/compliance.md rule 16):
this is the one place every command, button and picker refused for a role passes.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox import audit
from bridge.inbox.agents import Agents, AgentView
from bridge.inbox.markup import Rich, rich

# Who the platform itself makes an admin while ADMINS is unset (bridge.inbox.agents).
_WORKSPACE_ADMINS = {
    "slack": "Slack workspace owners and admins are admins",
    "discord": "Discord members with Manage Server are admins",
    "web": "in the sandbox everyone on the page is an admin",
}


async def role_refusal(
    session: AsyncSession, agents: Agents, agent: AgentView, doing: Rich | str, needed: str, *, command: str,
    conversation_id: int | None = None,
) -> Rich:
    """`<doing> needs the <needed> role; you are <role>.` and who can change that; the
    refusal of `command` (its name, or a button's action) is audited."""
    audit.record(
        session, audit.actor_of(agent.platform, agent.user_id), "command_refused", conversation_id,
        command=command, needed=needed, role=agent.role,
    )
    head = rich("{doing} needs the {needed} role; you are {mine}.", doing=doing, needed=needed, mine=agent.role)
    admins = [a for a in await agents.admins(session, agent.platform) if a.id != agent.id]
    if admins:
        names = ", ".join(a.name for a in admins[:5])
        return head + rich(" Ask an admin ({names}) to run `/sms role @{me} {needed}`.", names=names, me=agent.name, needed=needed)
    if agents.platform_admins:
        how = _WORKSPACE_ADMINS.get(agent.platform, "the chat workspace's owners are admins")
        return head + rich(
            " No admin has used smsbridge here yet: {how} and can run `/sms role @{me} {needed}`, "
            "or set `ADMINS={platform}:{user}` in the settings.",
            how=how, me=agent.name, needed=needed, platform=agent.platform, user=agent.user_id,
        )
    return head + rich(
        " Admins are listed in the `ADMINS` setting; ask one of them, or add `{platform}:{user}` to it.",
        platform=agent.platform, user=agent.user_id,
    )
