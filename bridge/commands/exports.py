"""`/sms export KIND [days] [csv|json]`: an admin's compliance export (docs/compliance.md
rule 16), built and uploaded off the request path as an outbox job, so a crash or a
chat outage delays the file but never loses it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from bridge.commands.arguments import Arg, BadArgument, Choice, MissingArgument
from bridge.commands.context import CommandContext
from bridge.commands.registry import Where, command
from bridge.commands.replies import CommandReply
from bridge.inbox import audit
from bridge.inbox.chat import ExportUpload
from bridge.inbox.exports import iso
from bridge.inbox.markup import rich

DEFAULT_DAYS = 30  # a chat upload holds the whole file in memory: a month unless asked
MAX_DAYS = 3650


class ExportKind(StrEnum):
    AUDIT = "audit"
    CONSENT = "consent"
    CONVERSATIONS = "conversations"


class ExportFormat(StrEnum):
    CSV = "csv"
    JSON = "json"


@dataclass(frozen=True)
class OneWordChoice(Choice):
    """A Choice that takes one word, so arguments may follow it."""

    def take(self, rest: str, *, last: bool = False) -> tuple[object, str]:
        return Arg.take(self, rest, last=last)


_DAYS = re.compile(r"([0-9]+)d?", re.IGNORECASE)


@dataclass(frozen=True)
class Days(Arg):
    """A number of days, `90` or `90d` (as `/sms report 7d` writes a period); when the
    word is not one, it is left for the next argument (`/sms export audit json` keeps the
    default period)."""

    def _placeholder(self) -> str:
        return "days"

    def take(self, rest: str, *, last: bool = False) -> tuple[object, str]:
        word, _, after = rest.strip().partition(" ")
        if not _DAYS.fullmatch(word):
            raise MissingArgument
        return self.convert(word), after.strip()

    def convert(self, text: str) -> object:
        found = _DAYS.fullmatch(text.strip())
        if found is None or len(found[1]) > len(str(MAX_DAYS)) or not 1 <= int(found[1]) <= MAX_DAYS:
            raise BadArgument(rich("`{value}` is not a number of days from 1 to {most} (e.g. `90` or `90d`).", value=text, most=MAX_DAYS))
        return int(found[1])


KIND = OneWordChoice("kind", "What to export", values=tuple(ExportKind))
DAYS = Days("days", f"Only the last N days, e.g. 90 or 90d (default {DEFAULT_DAYS})", optional=True)
FORMAT = Choice("format", "csv (default) or json (JSON Lines)", optional=True, values=tuple(ExportFormat))


@command("export", args=(KIND, DAYS, FORMAT), role="admin", where=Where.CHANNEL, doing="Exporting records",
         help="the audit trail, consent records or conversations as a CSV or JSON Lines file (default 30 days)")
async def export(ctx: CommandContext, kind: ExportKind, days: int | None, format: ExportFormat | None) -> CommandReply:
    fmt = format or ExportFormat.CSV
    period = days or DEFAULT_DAYS
    until = ctx.clock.now()
    since = until - timedelta(days=period)
    # Full precision: a period cut to the second would leave out a send made a moment ago.
    upload = ExportUpload(kind.value, until.isoformat(), since.isoformat(), fmt.value, ctx.agent.user_id)
    # Built and uploaded by the outbox: the request only records it and queues the job.
    await ctx.service.fanout.to_channel(ctx.session, ctx.platform, ctx.channel, upload)
    audit.record(
        ctx.session, audit.actor_of(ctx.agent.platform, ctx.agent.user_id), "export_requested",
        export=kind.value, since=iso(since), until=iso(until), format=fmt.value,
    )
    return CommandReply(rich(
        "Exporting {kind} records of the last {days} days as {fmt}; {where}",
        kind=kind.value, days=period, fmt="CSV" if fmt is ExportFormat.CSV else "JSON Lines", where=_where_it_goes(ctx.platform),
    ))


def _where_it_goes(platform: str) -> str:
    """Where the file will be: only the asker gets it (it holds customers' numbers)."""
    if platform == "slack":
        return "the file will come to you alone, in a direct message from smsbridge, with its row count."
    if platform == "discord":
        return "the file will come to you alone, in a direct message from the bot (allow direct messages from this server's members)."
    return "a download link only you can see will appear here, with its row count."
