"""Buttons and pickers: on the card (claim, assign, close, snippet) and on replies
(undo, send anyway, discard, approve)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bridge.commands.replies import CommandReply
from bridge.inbox.agents import AgentView, Forbidden
from bridge.inbox.models import Conversation, Message
from bridge.inbox.service import InboxService, ReplyRequest, SendOutcome
from bridge.inbox import snippets
from bridge.inbox.errors import Refused
from bridge.inbox.teamwork import Teamwork
from bridge.inbox.types import Author

CARD_ACTIONS = ("claim", "assign", "close", "reopen", "snippet", "record_opt_out")
MESSAGE_ACTIONS = ("undo", "send_anyway", "discard", "approve")


class Actions:
    def __init__(self, service: InboxService) -> None:
        self.service = service
        self.team = Teamwork(service.fanout)

    async def handle(
        self, author: Author, action: str, value: str, *, target: Author | None = None, choice: str | None = None
    ) -> CommandReply:
        """`value` is a conversation id for card actions, a message id for reply actions."""
        try:
            ident = int(value)
        except ValueError:
            return CommandReply("That button is out of date.", ok=False)
        async with self.service.db.sessions.begin() as session:
            agent = await self.service.agents.ensure(session, author)
            try:
                if action in CARD_ACTIONS:
                    return await self._card(session, agent, author, action, ident, target, choice)
                if action in MESSAGE_ACTIONS:
                    return await self._message(session, agent, action, ident)
            except Forbidden as exc:
                return CommandReply(f"{exc.action} needs the {exc.needed} role; you are {agent.role}.", ok=False)
            except Refused as exc:
                return CommandReply(str(exc), ok=False)
        return CommandReply(f"Unknown action {action}.", ok=False)

    async def _card(
        self, session: AsyncSession, agent: AgentView, author: Author, action: str, conversation_id: int, target: Author | None, choice: str | None
    ) -> CommandReply:
        conv = await session.get(Conversation, conversation_id)
        if conv is None:
            return CommandReply("That conversation no longer exists.", ok=False)
        inbox = self.service.directory.get(conv.inbox_id)
        if action == "claim":
            return CommandReply(await self.team.claim(session, inbox, conv, agent))
        if action == "assign":
            if target is None:
                return CommandReply("Pick a teammate to assign.", ok=False)
            who = await self.service.agents.ensure(session, target)
            return CommandReply(await self.team.assign(session, inbox, conv, agent, who))
        if action == "record_opt_out":
            agent.require("agent", "Recording an opt-out")
            return CommandReply(await self.service.record_opt_out(session, conv, agent))
        if action in ("close", "reopen"):
            status = "closed" if action == "close" else "open"
            return CommandReply(await self.team.set_status(session, inbox, conv, agent, status))
        # snippet: send the chosen snippet through the normal reply path
        if not choice:
            return CommandReply("Pick a snippet.", ok=False)
        text = await snippets.render(session, choice, inbox, conv, agent)
        result = await self.service.submit_reply(
            session, ReplyRequest(inbox=inbox, conv=conv, agent=agent, author=author, text=text, audit={"snippet": choice})
        )
        if result.outcome is SendOutcome.QUEUED:
            return CommandReply(f"Sending snippet `{choice}`.")
        return CommandReply(result.message or f"Not sent ({result.outcome}).", ok=result.outcome is SendOutcome.DRAFTED)

    async def _message(self, session: AsyncSession, agent: AgentView, action: str, message_id: int) -> CommandReply:
        message = await session.get(Message, message_id)
        if message is None:
            return CommandReply("That reply no longer exists.", ok=False)
        own = message.author_platform == agent.platform and message.author_id == agent.user_id
        if action == "undo":
            if not own and not agent.can("admin"):
                raise Refused("Only its author or an admin can undo a reply.")
            done = await self.service.cancel(session, message_id, agent, statuses_=("pending",))
            return CommandReply("Undone: nothing was sent." if done else "Too late: it has already gone out.", ok=done)
        if action == "discard":
            if not own and not agent.can("admin"):
                raise Refused("Only its author or an admin can discard it.")
            done = await self.service.cancel(session, message_id, agent, statuses_=("held", "draft"))
            return CommandReply("Discarded." if done else "It is no longer waiting.", ok=done)
        if action == "send_anyway":
            if not own:
                raise Refused("Only its author can send a held reply.")
            answer = await self.service.send_held(session, message_id, agent)
            return CommandReply(answer or "It is no longer waiting.", ok=answer is not None)
        # approve a draft
        agent.require("agent", "Approving a draft")
        conv = await session.get_one(Conversation, message.conversation_id)
        inbox = self.service.directory.get(conv.inbox_id)
        if inbox.approval_role is not None and agent.role == inbox.approval_role:
            raise Forbidden("admin", "Approving drafts in this inbox")
        answer = await self.service.approve_draft(session, message_id, agent)
        return CommandReply(f"Approved by {agent.name}: {answer}" if answer else "It is no longer waiting.", ok=answer is not None)

    async def edit_draft(self, author: Author, message_id: int, text: str) -> CommandReply:
        async with self.service.db.sessions.begin() as session:
            agent = await self.service.agents.ensure(session, author)
            if not agent.can("agent"):
                return CommandReply("Editing drafts needs the agent role.", ok=False)
            done = await self.service.edit_draft(session, message_id, text, agent)
        return CommandReply("Draft updated." if done else "That draft can no longer be edited.", ok=done)
