"""Consent as the thread sees it: keywords (STOP, START, HELP), opt-outs recorded by a
teammate or reported by the provider, and the confirmations the customer is owed.

The consent records themselves live in `consent.py`; this module decides what follows
from them: a notice in the thread, refreshed cards, a confirmation SMS.
"""

from __future__ import annotations

import re

from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox import audit, consent
from bridge.inbox.agents import AgentView
from bridge.inbox.audit import actor_of
from bridge.inbox.chat import Button
from bridge.inbox.conversations import Conversations
from bridge.inbox.errors import Refused
from bridge.inbox.fanout import ChatFanout
from bridge.inbox.keywords import (
    Keyword,
    help_reply,
    opt_in_confirmation,
    opt_out_confirmation,
)
from bridge.inbox.markup import Rich, rich
from bridge.inbox.models import Contact, Conversation, Message
from bridge.inbox.outgoing import OutgoingSms
from bridge.inbox.routing import InboxDirectory, InboxRoute

OPTED_OUT = "The customer opted out"
MAX_REASON = 500  # a teammate's reason, as stored and shown


def _word(body: str) -> str:
    """The keyword as typed, letters only."""
    return re.sub(r"[^\w]", "", body).upper() or "keyword"


class OptOuts:
    def __init__(
        self,
        fanout: ChatFanout,
        outgoing: OutgoingSms,
        conversations: Conversations,
        directory: InboxDirectory,
        compliance_replies: str = "auto",  # auto | smsbridge | provider: who answers STOP/START/HELP
    ) -> None:
        self.fanout = fanout
        self.outgoing = outgoing
        self.conversations = conversations
        self.directory = directory
        self.compliance_replies = compliance_replies

    async def apply_keyword(self, session: AsyncSession, keyword: Keyword | None, phone: str, inbox: InboxRoute, body: str) -> bool:
        """Record what a consent keyword asks for; True when it changed anything."""
        if keyword in (Keyword.OPT_OUT, Keyword.OPT_OUT_ALL):
            return await consent.opt_out(
                session, phone, inbox.id, everywhere=keyword is Keyword.OPT_OUT_ALL, source="keyword", raw_text=body
            )
        if keyword is Keyword.OPT_IN:
            return await consent.opt_in(session, phone, inbox.id, source="keyword", raw_text=body)
        return False

    async def answer_keyword(
        self,
        session: AsyncSession,
        keyword: Keyword,
        changed: bool,
        inbox: InboxRoute,
        conv: Conversation,
        phone: str,
        body: str,
        *,
        provider_answered: bool,
    ) -> None:
        """Tell the thread, refresh the cards, and text the confirmation the customer is owed."""
        provider_answers = self.compliance_replies == "provider" or (self.compliance_replies == "auto" and provider_answered)
        business = inbox.business_name or inbox.name
        reply: str | None = None
        if keyword in (Keyword.OPT_OUT, Keyword.OPT_OUT_ALL):
            scope = "every number of ours" if keyword is Keyword.OPT_OUT_ALL else "this number"
            await self.fanout.notice(
                session,
                inbox,
                conv.id,
                rich(
                    "🚫 The customer opted out of texts from {scope} ({word}). Replies are blocked until they text START.",
                    scope=scope,
                    word=_word(body),
                ),
            )
            if changed:
                reply = opt_out_confirmation(business)
        elif keyword is Keyword.OPT_IN:
            await self.fanout.notice(
                session, inbox, conv.id, rich("✅ The customer opted back in ({word}). Replies can be sent again.", word=_word(body))
            )
            if changed:
                reply = opt_in_confirmation(business)
        elif keyword is Keyword.HELP:
            reply = help_reply(business, inbox.help_text)
        if keyword is not Keyword.HELP:
            await self.fanout.card(session, inbox, conv.id)
        if keyword is Keyword.OPT_OUT_ALL or (changed and keyword is Keyword.OPT_IN):
            # STOPALL (and a START lifting it) changes what every inbox may send this
            # contact: refresh their cards in the other inboxes too (rule 12). Not only
            # when `changed`: STOPALL after a STOP here is no news here, but it is there.
            await self.conversations.refresh_other_cards(session, conv)
        if reply and not provider_answers:
            await self.outgoing.queue(session, inbox, conv, phone, reply, kind="compliance", author=None)

    async def flag_request(self, session: AsyncSession, inbox: InboxRoute, conv: Conversation, phone: str) -> None:
        """Rule 6: free text that reads like "stop texting me" is flagged with one click to
        record it (consent can be revoked by any reasonable means)."""
        if await consent.is_suppressed(session, phone, inbox.id):
            return
        await self.fanout.notice(
            session,
            inbox,
            conv.id,
            "⚠️ This reads like a request to stop texting. Consent can be revoked in any reasonable "
            "way: if that is what they mean, record the opt-out.",
            buttons=(Button("Record opt-out", "record_opt_out", str(conv.id), "danger"),),
        )

    async def record_by_teammate(self, session: AsyncSession, conv: Conversation, actor: AgentView) -> str:
        """A teammate records an opt-out the customer asked for in their own words."""
        inbox = self.directory.get(conv.inbox_id)
        contact = await session.get_one(Contact, conv.contact_id)
        actor_id = actor_of(actor.platform, actor.user_id)
        if not await consent.opt_out(
            session, contact.phone, inbox.id, everywhere=False, source="teammate", raw_text=None,
            actor=actor_id, detail="the customer asked in their own words (flagged message)",
        ):
            return "They had already opted out."
        audit.record(session, actor_id, "opt_out_recorded", conv.id, phone=contact.phone)
        await self.fanout.card(session, inbox, conv.id)
        await self.fanout.notice(
            session,
            inbox,
            conv.id,
            rich("🚫 {name} recorded the customer's opt-out. Replies are blocked until they text START.", name=actor.name),
        )
        if self.compliance_replies != "provider":
            # The provider saw no keyword, so it sent no confirmation: send the one owed (rule 3).
            await self.outgoing.queue(
                session, inbox, conv, contact.phone, opt_out_confirmation(inbox.business_name or inbox.name), kind="compliance", author=None
            )
        return "Opt-out recorded."

    async def teammate_opt_out(self, session: AsyncSession, conv: Conversation, actor: AgentView, reason: str | None) -> Rich:
        """`!optout [reason]`: recorded with who and why; the customer is sent nothing
        (a teammate's decision owes no confirmation text)."""
        inbox = self.directory.get(conv.inbox_id)
        contact = await session.get_one(Contact, conv.contact_id)
        actor_id = actor_of(actor.platform, actor.user_id)
        reason = reason[:MAX_REASON] if reason else None
        if await consent.is_suppressed(session, contact.phone, inbox.id):
            return rich("They had already opted out; nothing changed.")
        await consent.opt_out(
            session, contact.phone, inbox.id, everywhere=False, source="teammate", raw_text=None, actor=actor_id, detail=reason
        )
        audit.record(session, actor_id, "opt_out_recorded", conv.id, phone=contact.phone, reason=reason)
        await self.fanout.card(session, inbox, conv.id)
        said = rich("🚫 {name} recorded an opt-out", name=actor.name)
        said += rich(": {reason}", reason=reason) if reason else rich(".")
        said += rich(" Nothing was texted to the customer; replies are blocked until they text START or a teammate records renewed consent with `!optin`.")
        await self.fanout.notice(session, inbox, conv.id, said)
        return rich("Opt-out recorded; nothing was sent to the customer.")

    async def teammate_opt_in(self, session: AsyncSession, conv: Conversation, actor: AgentView, reason: str | None) -> Rich:
        """`!optin [how]`: consent on record from a teammate. Lifting an opt-out needs the
        teammate to say how the customer renewed their consent (rule 8): a click alone
        is no record of consent."""
        inbox = self.directory.get(conv.inbox_id)
        contact = await session.get_one(Contact, conv.contact_id)
        actor_id = actor_of(actor.platform, actor.user_id)
        reason = reason[:MAX_REASON] if reason else None
        state = await consent.consent_state(session, contact.phone, inbox.id, texted_in=False)
        if state.opted_out:
            carrier = (
                rich(" Their carrier also blocks our texts until they text START themselves.") if state.source == "provider" else rich("")
            )
            if not reason:
                when = f" on {state.at:%Y-%m-%d}" if state.at else ""
                how = f" ({state.source}{' ' + state.how if state.how else ''})" if state.source else ""
                raise Refused(
                    rich("They opted out{how}{when}. Lift it only with their renewed consent, and say how you got it: "
                         "`!optin they asked by phone today to get texts again`.", how=how, when=when) + carrier
                )
            changed = await consent.opt_in(
                session, contact.phone, inbox.id, source="teammate", raw_text=None, actor=actor_id, detail=reason
            )
            audit.record(session, actor_id, "opt_in_recorded", conv.id, phone=contact.phone, reason=reason)
            await self.fanout.card(session, inbox, conv.id)
            if changed:
                await self.conversations.refresh_other_cards(session, conv)
            await self.fanout.notice(
                session, inbox, conv.id,
                rich("✅ {name} recorded the customer's renewed consent: {reason}. Replies can be sent again.", name=actor.name, reason=reason)
                + carrier,
            )
            return rich("Opt-out lifted; their renewed consent is on record.")
        consent.record_consent(session, contact.phone, inbox.id, source="teammate", actor=actor_id, detail=reason)
        audit.record(session, actor_id, "consent_recorded", conv.id, phone=contact.phone, reason=reason)
        await self.fanout.card(session, inbox, conv.id)
        said = rich("✅ {name} recorded the customer's consent to be texted", name=actor.name)
        said += rich(": {reason}", reason=reason) if reason else rich(".")
        await self.fanout.notice(session, inbox, conv.id, said)
        return rich("Consent recorded.")

    async def reported_by_provider(self, session: AsyncSession, message: Message) -> None:
        """Rule 7: the provider says the recipient opted out; believe it."""
        conv = await session.get_one(Conversation, message.conversation_id)
        await consent.opt_out(session, message.to_number, conv.inbox_id, everywhere=False, source="provider", raw_text=None)
        await self.fanout.card(session, self.directory.get(conv.inbox_id), conv.id)
