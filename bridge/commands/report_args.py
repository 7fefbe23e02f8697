"""`/sms report [today|7d|30d|FROM..TO] [inbox] [@agent]`: the words made into a report scope.

The three are optional and may come in any order: a word that reads as a period is the
period, a word starting with `@` (or a mention) is the teammate, any other word names an
inbox. A word that is none of them gets a private answer listing what is valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bridge.commands.context import CommandContext
from bridge.inbox import report_queries
from bridge.inbox.errors import Refused
from bridge.inbox.markup import Rich, rich
from bridge.inbox.report_period import PERIOD_HELP, BadPeriod, parse_period
from bridge.inbox.report_queries import Scope
from bridge.inbox.routing import InboxRoute

USAGE = "/sms report [today|7d|30d|FROM..TO] [INBOX] [@name]"
_LISTED = 20  # teammates named in an answer; more would drown it


@dataclass(frozen=True)
class ReportRequest:
    scope: Scope
    label: str  # "last 7d", "2026-11-01..2026-11-08"
    where: str  # "every inbox", "inbox north", "inbox north · Ana"


def _zone(chosen: InboxRoute | None, routes: list[InboxRoute]) -> ZoneInfo:
    """The chosen inbox's zone; else the zone every inbox shares; else UTC."""
    if chosen is not None:
        return chosen.hours.zone
    zones = {route.hours.zone.key for route in routes}
    return ZoneInfo(zones.pop()) if len(zones) == 1 else ZoneInfo("UTC")


async def report_request(ctx: CommandContext, period: str | None, inbox: str | None, agent: str | None) -> ReportRequest:
    """Sort the typed words into period, inbox and teammate; Refused (private) on a bad one."""
    words = [w for w in (period, inbox) if w]
    teammate = agent
    # `/sms report @Ana Smith`: the teammate came first and took the other slots.
    for index, word in enumerate(words):
        if word.startswith("@"):
            teammate = " ".join([*words[index:], *([agent] if agent else [])])
            words = words[:index]
            break
    routes = ctx.service.directory.all()
    by_name = {route.name.lower(): route for route in routes}
    now = ctx.clock.now()
    period_word: str | None = None
    chosen: InboxRoute | None = None
    for word in words:
        if word.lower() in by_name and chosen is None:
            chosen = by_name[word.lower()]
        elif period_word is None and _is_period(word, now):
            period_word = word
        else:
            raise Refused(_unknown_word(word, routes))
    zone = _zone(chosen, routes)
    try:
        span = parse_period(period_word, zone, now)
    except BadPeriod as exc:
        raise Refused(rich("{why}. Usage: `{usage}`.", why=str(exc), usage=USAGE)) from None
    agent_id, agent_name = await _teammate(ctx, teammate)
    where = f"inbox {chosen.name}" if chosen is not None else "every inbox"
    if agent_name:
        where += f" · {agent_name}'s conversations"
    scope = Scope(span.since, span.until, zone, inbox_id=chosen.id if chosen else None, agent_id=agent_id)
    return ReportRequest(scope, span.label, where)


def _is_period(word: str, now: datetime) -> bool:
    """True for a word meant as a period, even a wrong one (`2026-13-01..2026-12-01`, `900d`)."""
    try:
        parse_period(word, ZoneInfo("UTC"), now)
    except BadPeriod:
        return ".." in word or word[:1].isdigit()
    return True


def _unknown_word(word: str, routes: list[InboxRoute]) -> Rich:
    names = ", ".join(sorted(route.name for route in routes)) or "none configured"
    return rich(
        "`{word}` is neither a period nor an inbox. Periods: {periods}. Inboxes: {names}. Usage: `{usage}`.",
        word=word, periods=PERIOD_HELP, names=names, usage=USAGE,
    )


async def _teammate(ctx: CommandContext, typed: str | None) -> tuple[int | None, str | None]:
    if not typed and not ctx.mentions:
        return None, None
    if ctx.mentions:
        who = ctx.mentions[0]
        found = await ctx.service.agents.find(ctx.session, who.platform, who.user_id)
    else:
        assert typed is not None
        found = await ctx.service.agents.find(ctx.session, ctx.platform, typed)
    if len(found) == 1:
        return found[0].id, found[0].name
    everyone = await report_queries.agent_choices(ctx.session)
    names = ", ".join(name for _id, _platform, _user, name in everyone[:_LISTED]) or "nobody yet"
    if len(everyone) > _LISTED:
        names += f" and {len(everyone) - _LISTED} more"
    asked = typed or (ctx.mentions[0].label if ctx.mentions else "")
    what = "matches several teammates" if found else "is not a teammate smsbridge knows"
    raise Refused(rich("`{asked}` {what}. Teammates: {names}. Usage: `{usage}`.", asked=asked, what=what, names=names, usage=USAGE))
