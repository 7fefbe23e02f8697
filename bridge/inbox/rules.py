"""Rules (`[[rule]]` in smsbridge.toml): conditions on a customer's text and actions on its
conversation, run in order when a text is filed; the first matching terminal rule stops
the run. Every rule is checked when settings load (config.RuleConfig), so a broken file
stops `check` and `run` naming the rule and the field and never half-applies.

A rule acting says so in the thread ("📏 Rule VIP: assigned to Ana, tags +vip") and in the
audit log (actor `smsbridge`, action `rule_applied`). A snippet is an automated text
(rule_snippets.py); `notify` posts a notice in another channel through the outbox
(ChatFanout.elsewhere); `status` and `priority` act on the SLA clocks as a teammate's
`!status` and `!priority` do.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import phonenumbers
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.config import RuleConfig
from bridge.inbox import audit, cycles, snippets
from bridge.inbox.assignment import SYSTEM_ACTOR, Assigner, assigned_notice
from bridge.inbox.assignment_policy import Strategy
from bridge.inbox.fanout import ChatFanout
from bridge.inbox.followups import Followups
from bridge.inbox.labels import ConversationStatus, Priority
from bridge.inbox.later import ScheduledMessages
from bridge.inbox.markup import rich
from bridge.inbox.models import Agent, Contact, Conversation, utcnow
from bridge.inbox.outgoing import OutgoingSms
from bridge.inbox.phone import format_phone
from bridge.inbox.routing import InboxRoute
from bridge.inbox.rule_snippets import send_snippet


@dataclass(frozen=True)
class Rule:
    """One checked rule. Empty conditions match everything."""

    name: str
    keywords: tuple[str, ...] = ()  # any of them, as whole words, case-insensitive
    regex: re.Pattern[str] | None = None
    tag: str | None = None  # the contact has this tag
    country: str | None = None  # ISO code of the sender's number ("US")
    inbox: str | None = None
    hours: str | None = None  # "inside" | "outside" the inbox's business hours
    first_message: bool | None = None  # the conversation's first text (True) or not (False)
    assign: str | None = None  # "round-robin", "least-busy" or a teammate "slack:U0123"
    add_tags: tuple[str, ...] = ()
    priority: Priority | None = None
    status: ConversationStatus | None = None
    snippet: str | None = None  # a saved snippet texted to the customer
    notify: tuple[tuple[str, str], ...] = ()  # (platform, channel id) told with a link to the thread
    terminal: bool = True

    def matches(self, text: str, *, tags: list[str], phone: str, inbox: str, open_now: bool, first: bool) -> bool:
        lowered = text.lower()
        if self.keywords and not any(re.search(rf"\b{re.escape(k.lower())}\b", lowered) for k in self.keywords):
            return False
        if self.regex is not None and not self.regex.search(text):
            return False
        if self.tag is not None and self.tag.lower() not in (t.lower() for t in tags):
            return False
        if self.country is not None and _country(phone) != self.country:
            return False
        if self.inbox is not None and self.inbox != inbox:
            return False
        if self.hours is not None and (self.hours == "inside") != open_now:
            return False
        return self.first_message is None or self.first_message == first

    def describe(self) -> str:
        """One line for `/sms rules`: when … → what."""
        when = [f"keyword {' / '.join(self.keywords)}"] if self.keywords else []
        when += [f"text matches /{self.regex.pattern}/"] if self.regex is not None else []
        when += [f"tag {self.tag}"] if self.tag else []
        when += [f"from {self.country}"] if self.country else []
        when += [f"inbox {self.inbox}"] if self.inbox else []
        when += [f"{self.hours} business hours"] if self.hours else []
        when += [("first message" if self.first_message else "not the first message")] if self.first_message is not None else []
        then = [f"assign {self.assign}"] if self.assign else []
        then += [f"tags +{' +'.join(self.add_tags)}"] if self.add_tags else []
        then += [f"priority {self.priority.name.lower()}"] if self.priority is not None else []
        then += [f"status {self.status.value}"] if self.status is not None else []
        then += [f"send snippet {self.snippet}"] if self.snippet else []
        then += [f"notify {', '.join(f'{p}:{c}' for p, c in self.notify)}"] if self.notify else []
        stop = "stops" if self.terminal else "continues"
        return f"{self.name}: when {' and '.join(when) or 'any text'} → {', '.join(then) or 'nothing'} ({stop})"


def _country(phone: str) -> str | None:
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return None
    # The exact region for a valid number, else the calling code's main one (+44: GB).
    return phonenumbers.region_code_for_number(number) or phonenumbers.region_code_for_country_code(number.country_code or 0)


class Rules:
    def __init__(self, fanout: ChatFanout, assigner: Assigner, outgoing: OutgoingSms | None = None) -> None:
        self.fanout = fanout
        self.assigner = assigner
        self.outgoing = outgoing
        self.rules: tuple[Rule, ...] = ()  # set by the composition root from the settings
        self.later: ScheduledMessages | None = None  # holds snippets for quiet hours (set by the service)
        self.followups: Followups | None = None  # pending reminders (set by the service)

    async def run(
        self, session: AsyncSession, inbox: InboxRoute, conv: Conversation, text: str, *, first: bool, now: datetime
    ) -> list[str]:
        """Apply the matching rules in order; the names of those that acted."""
        if not self.rules:
            return []
        contact = await session.get_one(Contact, conv.contact_id)
        open_now = inbox.hours.is_open(now)
        acted: list[str] = []
        for rule in self.rules:
            if not rule.matches(text, tags=list(contact.tags or []), phone=contact.phone, inbox=inbox.name, open_now=open_now, first=first):
                continue
            done = await self._apply(session, inbox, conv, contact, rule, now)
            audit.record(session, SYSTEM_ACTOR, "rule_applied", conv.id, rule=rule.name, actions=done)
            await self.fanout.notice(session, inbox, conv.id, rich("📏 Rule {name}: {done}.", name=rule.name, done="; ".join(done) or "nothing to change"))
            acted.append(rule.name)
            if rule.terminal:
                break
        if acted:
            await self.fanout.card(session, inbox, conv.id)
        return acted

    async def _apply(
        self, session: AsyncSession, inbox: InboxRoute, conv: Conversation, contact: Contact, rule: Rule, now: datetime
    ) -> list[str]:
        done: list[str] = []
        by = f"rule {rule.name}"
        if rule.assign in (Strategy.ROUND_ROBIN.value, Strategy.LEAST_BUSY.value):
            choice = await self.assigner.assign(session, inbox, conv, Strategy(rule.assign), by=by)
            done.append(f"assigned to {choice.agent.name}" if choice.agent else "nobody could take it")
        elif rule.assign:
            platform, _, user_id = rule.assign.rpartition(":")
            query = select(Agent).where(Agent.user_id == user_id)
            agent = (await session.execute(query.where(Agent.platform == platform) if platform else query)).scalars().first()
            if agent is None:
                done.append(f"{rule.assign} is not a teammate smsbridge knows yet, so nobody was assigned")
            else:
                conv.assignee_id, conv.assigned_by = agent.id, by
                audit.record(session, SYSTEM_ACTOR, "auto_assigned", conv.id, after=agent.name, by=by)
                await self.fanout.notice(session, inbox, conv.id, assigned_notice(agent, by, "named by the rule"))
                done.append(f"assigned to {agent.name}")
        if rule.add_tags:
            before = list(contact.tags or [])
            contact.tags = before + [t for t in rule.add_tags if t not in before]
            done.append("tags +" + " +".join(rule.add_tags))
        if rule.priority is not None:
            was, conv.priority = conv.priority, int(rule.priority)
            if self.outgoing is not None and was != conv.priority:
                await self.outgoing.sla.priority_changed(session, inbox, conv)  # a running clock takes its targets
            done.append(f"priority {rule.priority.name.lower()}")
        if rule.status is not None and conv.status != rule.status.value:
            conv.status = rule.status.value
            conv.resolved_at = now if rule.status is ConversationStatus.CLOSED else None
            await cycles.status_changed(session, conv.id, conv.status, utcnow())
            # As when a teammate sets it: closing stops the SLA clocks, pending may remind.
            if rule.status is ConversationStatus.CLOSED and self.outgoing is not None:
                await self.outgoing.sla.closed(session, conv)
            if rule.status is ConversationStatus.PENDING and self.followups is not None:
                await self.followups.went_pending(session, conv)
            done.append(f"status {rule.status.value}")
        if rule.snippet:
            done.append(await send_snippet(session, self.outgoing, self.later, inbox, conv, contact, rule.name, rule.snippet, now))
        for platform, channel in rule.notify:
            notice = rich("📣 Rule {rule}: {who} texted {inbox}.", rule=rule.name, who=contact.name or format_phone(contact.phone), inbox=inbox.name)
            await self.fanout.elsewhere(session, inbox, conv.id, platform, channel, notice)
            done.append(f"notice posted to {platform}:{channel}")
        conv.updated_at = utcnow()
        return done

async def missing_snippets(session: AsyncSession, rules: Sequence[Rule]) -> list[str]:
    """"rule 'X', snippet: no snippet `y`" for each rule naming a snippet that does not exist."""
    known = set(await snippets.names(session))
    return [f"rule {r.name!r}, snippet: no snippet {r.snippet!r} (known: {', '.join(sorted(known)) or 'none'})"
            for r in rules if r.snippet and r.snippet not in known]


def from_config(configs: Sequence[RuleConfig]) -> tuple[Rule, ...]:
    """The checked `[[rule]]` tables as rules, in file order."""
    return tuple(
        Rule(
            name=c.name,
            keywords=tuple(c.keyword or ()),
            regex=re.compile(c.regex) if c.regex is not None else None,
            tag=c.tag,
            country=c.country,
            inbox=c.inbox,
            hours=c.hours,
            first_message=c.first_message,
            assign=c.assign.strip().lower().replace("_", "-") if c.assign and c.assign.strip().lower().replace("_", "-") in _STRATEGIES else c.assign,
            add_tags=tuple(c.add_tags or ()),
            priority=Priority[c.priority.upper()] if c.priority else None,
            status=ConversationStatus(c.status.lower()) if c.status else None,
            snippet=c.snippet,
            notify=tuple((t.partition(":")[0].strip().lower(), t.partition(":")[2].strip()) for t in c.notify or ()),
            terminal=c.terminal,
        )
        for c in configs
    )


_STRATEGIES = (Strategy.ROUND_ROBIN.value, Strategy.LEAST_BUSY.value)
