"""Thread commands about the contact's consent (docs/compliance.md rule 8): read its
history, and record an opt-out or consent in a teammate's name."""

from __future__ import annotations

from sqlalchemy import select, tuple_

from bridge.commands.arguments import Text
from bridge.commands.context import CommandContext
from bridge.commands.registry import command
from bridge.commands.replies import CommandReply
from bridge.inbox import consent
from bridge.inbox.markup import Rich, join, rich
from bridge.inbox.models import Agent, ConsentEvent, Contact
from bridge.inbox.opt_outs import MAX_REASON
from bridge.inbox.phone import format_phone

SHOWN = 15  # events `!consent` lists; the consent export has every one
_ACTIONS = {
    "opt_out": "opted out of this inbox",
    "opt_out_all": "opted out of every inbox",
    "opt_in": "opted back in",
    "consent": "consent given",
}


@command("consent", role="viewer",
         help="shows you the contact's consent history: what changed, when, how, who recorded it and why")
async def show_consent(ctx: CommandContext) -> CommandReply:
    team = ctx.team
    contact = await ctx.session.get_one(Contact, team.conversation.contact_id)
    state = await consent.consent_state(
        ctx.session, contact.phone, team.inbox.id, texted_in=team.conversation.last_inbound_at is not None
    )
    events, total = await consent.history(ctx.session, contact.phone, team.inbox.id, SHOWN)
    names = await _names(ctx, events)
    now = {"opted_out": "🚫 opted out", "consent": "✅ consent on record", "none": "⚪ no consent on record"}[state.state]
    lines = [rich("**Consent of {phone}** in {inbox}: {now}. Newest first:", phone=format_phone(contact.phone),
                  inbox=team.inbox.name, now=now)]
    lines += [_line(e, names) for e in events]
    if not events:
        lines.append(rich("Nothing recorded yet (no STOP, START, import or teammate record)."))
    if total > len(events):
        lines.append(rich("…and {n} older.", n=total - len(events)))
    return CommandReply(join(lines))


def _line(event: ConsentEvent, names: dict[str, str]) -> Rich:
    what = _ACTIONS.get(event.action, event.action)
    who = _who(event.actor, names)
    line = rich("• {when} — **{what}** · {source} · by {who}", when=f"{event.created_at:%Y-%m-%d %H:%M} UTC",
                what=what, source=event.source, who=who)
    if event.raw_text:
        line += rich(" · texted “{text}”", text=event.raw_text.strip()[:80])
    if event.detail:
        line += rich(" · “{why}”", why=event.detail[:200])
    return line


def _who(actor: str | None, names: dict[str, str]) -> str:
    if actor is None:
        return "unknown (recorded before smsbridge kept it)"
    if actor == consent.KEYWORD_ACTOR:
        return "the contact"
    if actor == consent.PROVIDER_ACTOR:
        return "the provider (carrier opt-out)"
    if actor.startswith("import:"):
        return f"import of {actor.removeprefix('import:')}"
    platform = actor.partition(":")[0]
    return f"{names[actor]} ({platform})" if actor in names else actor


async def _names(ctx: CommandContext, events: list[ConsentEvent]) -> dict[str, str]:
    """Teammates' names for the actors "slack:U123", "discord:42"."""
    pairs = {tuple(e.actor.split(":", 1)) for e in events if e.actor and e.actor.count(":") >= 1}
    pairs = {p for p in pairs if len(p) == 2 and p[0] != "import"}
    if not pairs:
        return {}
    rows = await ctx.session.execute(
        select(Agent.platform, Agent.user_id, Agent.name).where(tuple_(Agent.platform, Agent.user_id).in_(list(pairs)))
    )
    return {f"{platform}:{user}": name for platform, user, name in rows}


REASON = Text("reason", "Why (recorded with your name)", optional=True, max_length=MAX_REASON, shown="reason")


@command("optout", args=(REASON,), role="agent", doing="Recording an opt-out",
         help="opts the contact out of this inbox in your name; nothing is texted to them")
async def opt_out(ctx: CommandContext, reason: str | None = None) -> CommandReply:
    team = ctx.team
    return CommandReply(await ctx.service.opt_outs.teammate_opt_out(ctx.session, team.conversation, ctx.agent, reason))


@command("optin", args=(Text("how", "How the customer gave their consent (required to lift an opt-out)", optional=True,
                             max_length=MAX_REASON, shown="how they consented"),),
         role="agent", doing="Recording consent",
         help="records the contact's consent in your name; lifting an opt-out needs how they renewed it")
async def opt_in(ctx: CommandContext, how: str | None = None) -> CommandReply:
    team = ctx.team
    return CommandReply(await ctx.service.opt_outs.teammate_opt_in(ctx.session, team.conversation, ctx.agent, how))
