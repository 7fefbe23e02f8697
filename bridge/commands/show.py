"""`!show`: read a customer's texts privately in a no-bodies inbox (compliance rule 14).

The texts go only to the teammate who asks (Slack's ephemeral message, Discord's
ephemeral interaction answer, the web chat's private reply) and every reading is
audited with who read which messages. Where the answer could be seen by others (a typed
`!show` in a Discord post) it is a Show button instead, whose answer is ephemeral.
"""

from __future__ import annotations

from bridge.commands.arguments import Word
from bridge.commands.context import CommandContext
from bridge.commands.registry import command
from bridge.commands.replies import CommandReply
from bridge.inbox import privacy
from bridge.inbox.audit import actor_of
from bridge.inbox.errors import Refused
from bridge.inbox.markup import rich

COUNT = Word(
    "count", f"How many of the latest customer texts (1–{privacy.MOST}, default {privacy.LATEST})",
    optional=True, pattern=r"\d{1,4}", what="number of texts", shown="N",
)


@command("show", args=(COUNT,), role="agent", doing="Reading customer texts",
         help="shows you alone the customer's latest texts and media links (5, or N); the view is audited")
async def show(ctx: CommandContext, count: str | None = None) -> CommandReply:
    team = ctx.team
    wanted = privacy.LATEST if count is None else int(count)
    if not 1 <= wanted <= privacy.MOST:
        raise Refused(rich("`!show N` reads 1 to {most} texts.", most=privacy.MOST))
    if not ctx.private_answer:
        return CommandReply(
            rich("Press Show to read the latest texts where only you see them."),
            buttons=(privacy.latest_button(team.conversation.id),),
        )
    texts = await privacy.latest_texts(ctx.session, team.conversation.id, wanted)
    if texts:
        privacy.record_view(ctx.session, actor_of(ctx.agent.platform, ctx.agent.user_id), team.conversation.id, texts, via="!show")
    return CommandReply(privacy.reading(texts, team.inbox.hours.zone))
