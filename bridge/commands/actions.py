"""Buttons and pickers: on the card (claim, assign, close, snippet) and on replies
(undo, send anyway, discard, approve)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bridge.commands.grants import role_refusal
from bridge.commands.replies import CommandReply, refusal
from bridge.commands.sending import text_first
from bridge.inbox import audit, consent, consent_prompts, privacy, snippets
from bridge.inbox.agents import AgentView, Forbidden
from bridge.inbox.audit import actor_of
from bridge.inbox.erasure_text import result as erased
from bridge.inbox.errors import Refused
from bridge.inbox.labels import ConversationStatus
from bridge.inbox.later import LATER
from bridge.inbox.markup import as_rich, plain, rich
from bridge.inbox.models import Contact, Conversation, Message, Timer
from bridge.inbox.phone import format_phone, parse_phone
from bridge.inbox.service import InboxService, ReplyRequest, SendOutcome
from bridge.inbox.teamwork import TeamContext, Teamwork
from bridge.inbox.types import Author

CARD_ACTIONS = ("claim", "assign", "close", "reopen", "snippet", "record_opt_out")
MESSAGE_ACTIONS = ("undo", "send_anyway", "discard", "approve")
TIMER_ACTIONS = ("cancel_later",)  # a scheduled text's Cancel (value: the timer id)
# No-bodies mode's Show (value: a customer text's id) and Show latest (a conversation id).
SHOW_ACTIONS = (privacy.SHOW, privacy.SHOW_LATEST)
PROMPT_ACTIONS = ("confirm_consent", "cancel_consent")  # `/sms new` without consent on record (value: the prompt id)
_GONE = "That text is no longer waiting (already sent or canceled, a day old, or not yours)."
ERASE_ACTIONS = ("erase_contact", "erase_cancel")  # `/sms erase`'s Erase / Cancel (value: the contact id)


class Actions:
    def __init__(self, service: InboxService) -> None:
        self.service = service
        self.team = Teamwork(service.fanout, service.sla, service.followups)

    async def handle(
        self, author: Author, action: str, value: str, *, target: Author | None = None, choice: str | None = None
    ) -> CommandReply:
        """`value` is a conversation id for card actions, a message id for reply actions."""
        try:
            ident = int(value)
        except ValueError:
            return refusal(rich("That button is out of date."))
        if action == "erase_contact":
            await self.service.erasure.prepare()  # the hash's pepper, committed before it files anything
        async with self.service.db.sessions.begin() as session:
            agent = await self.service.agents.ensure(session, author)
            try:
                if action in CARD_ACTIONS:
                    return await self._card(session, agent, author, action, ident, target, choice)
                if action in MESSAGE_ACTIONS:
                    return await self._message(session, agent, action, ident)
                if action in TIMER_ACTIONS:
                    return await self._cancel_later(session, agent, ident)
                if action in SHOW_ACTIONS:
                    return await self._show(session, agent, action, ident)
                if action in PROMPT_ACTIONS:
                    return await self._consent_prompt(session, agent, author, action, ident)
                if action in ERASE_ACTIONS:
                    return await self._erase(session, agent, action, ident)
            except Forbidden as exc:
                conversation = ident if action in CARD_ACTIONS else None
                return refusal(await role_refusal(
                    session, self.service.agents, agent, exc.action, exc.needed, command=action, conversation_id=conversation,
                ))
            except Refused as exc:
                return refusal(exc.text)
        return refusal(rich("Unknown action {action}.", action=action))

    async def _card(
        self, session: AsyncSession, agent: AgentView, author: Author, action: str, conversation_id: int, target: Author | None, choice: str | None
    ) -> CommandReply:
        conv = await session.get(Conversation, conversation_id)
        if conv is None:
            return refusal(rich("That conversation no longer exists."))
        inbox = self.service.directory.get(conv.inbox_id)
        team = TeamContext(session, inbox, conv, agent)
        if action == "claim":
            return CommandReply(await self.team.claim(team))
        if action == "assign":
            if target is None:
                return refusal(rich("Pick a teammate to assign."))
            who = await self.service.agents.ensure(session, target)
            return CommandReply(await self.team.assign(team, who))
        if action == "record_opt_out":
            agent.require("agent", "Recording an opt-out")
            return CommandReply(plain(await self.service.record_opt_out(session, conv, agent)))
        if action in ("close", "reopen"):
            status = ConversationStatus.CLOSED if action == "close" else ConversationStatus.OPEN
            return CommandReply(await self.team.set_status(team, status))
        # snippet: send the chosen snippet through the normal reply path
        if not choice:
            return refusal(rich("Pick a snippet."))
        text = await snippets.render(session, choice, inbox, conv, agent)
        result = await self.service.submit_reply(
            session, ReplyRequest(inbox=inbox, conv=conv, agent=agent, author=author, text=text, audit={"snippet": choice})
        )
        if result.outcome is SendOutcome.QUEUED:
            return CommandReply(rich("Sending snippet `{name}`.", name=choice))
        said = as_rich(result.message) if result.message else rich("Not sent ({outcome}).", outcome=result.outcome)
        return CommandReply(said, ok=result.outcome is SendOutcome.DRAFTED, outcome=result.outcome)

    async def _consent_prompt(
        self, session: AsyncSession, agent: AgentView, author: Author, action: str, prompt_id: int
    ) -> CommandReply:
        """`/sms new`'s "I have consent" (recorded in the teammate's name, then sent) or Cancel."""
        if action == "cancel_consent":
            if await consent_prompts.settle(session, prompt_id, author, "canceled") is None:
                return refusal(rich(_GONE))
            return CommandReply(rich("Canceled: nothing was sent."))
        agent.require("agent", "Texting a customer")
        prompt = await consent_prompts.settle(session, prompt_id, author, "confirmed")
        if prompt is None:
            return refusal(rich(_GONE))
        inbox = self.service.directory.get(prompt.inbox_id)
        phone = parse_phone(prompt.phone)
        actor = actor_of(agent.platform, agent.user_id)
        consent.record_consent(
            session, phone.key, inbox.id, source="teammate", actor=actor, detail="confirmed having consent before /sms new"
        )
        answer = await text_first(self.service, session, inbox, phone, agent, author, prompt.body)
        conversation_id = answer.links[0].conversation_id if answer.links else None
        audit.record(session, actor, "consent_recorded", conversation_id, phone=phone.key, via="sms new")
        return answer

    async def _erase(self, session: AsyncSession, agent: AgentView, action: str, contact_id: int) -> CommandReply:
        """Rule 9: the admin confirmed (or canceled) `/sms erase`."""
        agent.require("admin", "Erasing a contact")
        contact = await session.get(Contact, contact_id)
        if contact is None:
            return refusal(rich("That contact no longer exists (already erased?): nothing changed."))
        if action == "erase_cancel":
            return CommandReply(rich("Canceled: nothing was erased."))
        number = contact.phone
        done = await self.service.erasure.erase_in(session, number, actor_of(agent.platform, agent.user_id), contact_id=contact_id)
        if done is None:
            return refusal(rich("That contact no longer exists (already erased?): nothing changed."))
        return CommandReply(erased(format_phone(number), done))

    async def _cancel_later(self, session: AsyncSession, agent: AgentView, timer_id: int) -> CommandReply:
        agent.require("agent", "Canceling a scheduled text")
        timer = await session.get(Timer, timer_id)
        if timer is None or timer.kind != LATER or timer.conversation_id is None:
            return refusal(rich("That scheduled text no longer exists."))
        if not await self.service.later.cancel(session, timer_id):
            return refusal(rich("Too late: it is no longer waiting (sent, held under a new time, or canceled)."))
        conv = await session.get_one(Conversation, timer.conversation_id)
        inbox = self.service.directory.get(conv.inbox_id)
        text = str((timer.payload or {}).get("text", ""))
        await self.service.fanout.notice(
            session, inbox, conv.id,
            rich("🗑️ {name} canceled a scheduled text:\n", name=agent.name) + privacy.quoted(text, inbox.no_bodies),
        )
        return CommandReply(rich("Canceled: it will not be sent."))

    async def _show(self, session: AsyncSession, agent: AgentView, action: str, ident: int) -> CommandReply:
        """A customer's text (or the latest ones), answered only to the teammate who
        clicked (every platform answers a click privately), and audited."""
        agent.require("agent", "Reading customer texts")
        if action == privacy.SHOW:
            message = await session.get(Message, ident)
            if message is None or message.direction != "in":
                return refusal(rich("That text no longer exists."))
            conversation_id, texts = message.conversation_id, [message]
        else:
            conversation_id = ident
            texts = await privacy.latest_texts(session, conversation_id, privacy.LATEST)
        conv = await session.get(Conversation, conversation_id)
        if conv is None:
            return refusal(rich("That conversation no longer exists."))
        if texts:
            privacy.record_view(session, actor_of(agent.platform, agent.user_id), conv.id, texts, via="button")
        return CommandReply(privacy.reading(texts, self.service.directory.get(conv.inbox_id).hours.zone))

    async def _message(self, session: AsyncSession, agent: AgentView, action: str, message_id: int) -> CommandReply:
        message = await session.get(Message, message_id)
        if message is None:
            return refusal(rich("That reply no longer exists."))
        own = message.author_platform == agent.platform and message.author_id == agent.user_id
        if action == "undo":
            if not own and not agent.can("admin"):
                raise Refused(rich("Only its author or an admin can undo a reply."))
            if await self.service.cancel(session, message_id, agent, statuses_=("pending",)):
                return CommandReply(rich("Undone: nothing was sent."))
            await session.refresh(message)
            if message.status == "canceled":  # undone (or discarded) before: it never left
                return refusal(rich("Already undone: nothing was sent."))
            return refusal(rich("Too late: it has already gone out."))
        if action == "discard":
            if not own and not agent.can("admin"):
                raise Refused(rich("Only its author or an admin can discard it."))
            done = await self.service.cancel(session, message_id, agent, statuses_=("held", "draft"))
            return CommandReply(rich("Discarded.")) if done else refusal(rich("It is no longer waiting."))
        if action == "send_anyway":
            if not own:
                raise Refused(rich("Only its author can send a held reply."))
            answer = await self.service.send_held(session, message_id, agent)
            return CommandReply(plain(answer)) if answer else refusal(rich("It is no longer waiting."))
        # approve a draft
        agent.require("agent", "Approving a draft")
        conv = await session.get_one(Conversation, message.conversation_id)
        inbox = self.service.directory.get(conv.inbox_id)
        if inbox.approval_role is not None and agent.role == inbox.approval_role:
            raise Forbidden("admin", "Approving drafts in this inbox")
        answer = await self.service.approve_draft(session, message_id, agent)
        if answer is None:
            return refusal(rich("It is no longer waiting."))
        return CommandReply(rich("Approved by {name}: {answer}", name=agent.name, answer=answer))

    async def edit_draft(self, author: Author, message_id: int, text: str) -> CommandReply:
        async with self.service.db.sessions.begin() as session:
            agent = await self.service.agents.ensure(session, author)
            if not agent.can("agent"):
                audit.record(session, actor_of(agent.platform, agent.user_id), "command_refused",
                             command="edit_draft", needed="agent", role=agent.role)
                return refusal(rich("Editing drafts needs the agent role."))
            done = await self.service.edit_draft(session, message_id, text, agent)
        return CommandReply(rich("Draft updated.")) if done else refusal(rich("That draft can no longer be edited."))
