"""Commands that text a customer: replies, drafts, snippets and `/sms new`."""

from __future__ import annotations

import re
import shlex
from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession

from bridge.commands.arguments import PhoneNumber, SnippetName, Text, Word
from bridge.commands.context import CommandContext
from bridge.commands.registry import Where, command
from bridge.commands.replies import Button, CommandReply, ConversationLink, ThreadOutcome
from bridge.inbox import consent, consent_prompts, snippets, whatsapp
from bridge.inbox import phone as phones
from bridge.inbox.agents import AgentView
from bridge.inbox.errors import Refused
from bridge.inbox.markup import Rich, as_rich, join, rich
from bridge.inbox.phone import format_phone, parse_phone
from bridge.inbox.routing import InboxRoute
from bridge.inbox.service import InboxService, ReplyRequest, ReplyResult, SendOutcome
from bridge.inbox.types import Author, OutgoingFile

MESSAGE = Text("text", "What the customer receives", shown="your text")


def reply_answer(result: ReplyResult) -> CommandReply:
    """What to tell the author of a reply; a held one gets Send anyway / Discard."""
    text = as_rich(result.message) if result.message else Rich()
    if result.outcome is SendOutcome.HELD and result.message_id is not None:
        held = str(result.message_id)
        buttons = (Button("Send anyway", "send_anyway", held, "primary"), Button("Discard", "discard", held, "danger"))
        return CommandReply(text, buttons=buttons, outcome=result.outcome)
    return CommandReply(text, outcome=result.outcome)


def custom_emoji_left_out(ctx: CommandContext, text: str) -> tuple[str, Rich]:
    """The typed text without custom workspace emoji (a phone cannot show them), and a
    word to its author about each one left out."""
    if not ctx.custom_emoji:
        return text, Rich()
    for name in ctx.custom_emoji:
        text = re.sub(rf" ?:{re.escape(name)}:(?::skin-tone-[2-6]:)?", "", text)
    names = ", ".join(f":{name}:" for name in ctx.custom_emoji)
    warning = rich(
        "Left out {names}: a custom emoji of this workspace, which the customer's phone cannot show.\n", names=names
    )
    return text.strip(), warning


async def submit_typed(ctx: CommandContext, text: str, *, draft: bool = False) -> CommandReply:
    """A reply or draft as the teammate typed it, custom emoji left out with a warning."""
    text, warning = custom_emoji_left_out(ctx, text)
    if not text:
        raise Refused(warning + rich("Nothing else to send."))
    if ctx.unreadable:
        raise Refused(rich("Not sent: {why}", why=" ".join(ctx.unreadable)))
    answer = reply_answer(await submit(ctx, text, draft=draft, media=ctx.attachments))
    if not warning:
        return answer
    return replace(answer, text=warning + answer.text)


async def submit(
    ctx: CommandContext, text: str, *, draft: bool = False, snippet: str | None = None, media: tuple[OutgoingFile, ...] = ()
) -> ReplyResult:
    team = ctx.team
    return await ctx.service.submit_reply(
        ctx.session,
        ReplyRequest(
            inbox=team.inbox,
            conv=team.conversation,
            agent=ctx.agent,
            author=ctx.author,
            text=text,
            origin_id=ctx.origin_id,
            draft=draft,
            media=media,
            audit={"snippet": snippet} if snippet else {},
        ),
    )


@command("reply", by_prefix=True, args=(MESSAGE,), role="agent", doing="Texting the customer",
         help="sends your text to the customer by SMS, attributed to you")
async def reply(ctx: CommandContext, text: str) -> CommandReply:
    return await submit_typed(ctx, text)


@command("draft", args=(Text("text", "The draft's text"),), role="agent", doing="Writing a draft",
         help="posts a draft with Approve & send / Edit / Discard")
async def draft(ctx: CommandContext, text: str) -> CommandReply:
    return await submit_typed(ctx, text, draft=True)


@command("snippet", aliases=("s",), args=(SnippetName("name", "The snippet's name", what="snippet name"),),
         role="agent", doing="Texting the customer", help="sends a snippet with its variables filled")
async def send_snippet(ctx: CommandContext, name: str) -> CommandReply:
    team = ctx.team
    text = await snippets.render(ctx.session, name, team.inbox, team.conversation, ctx.agent)
    return reply_answer(await submit(ctx, text, snippet=name))


def _values(text: str) -> list[str]:
    """A template's values, space-separated; "quoted values" may hold spaces."""
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


@command("template", args=(Word("name", "The template's name", what="template name"),
                           Text("values", "Its variables in order ({{1}} {{2}}…)", optional=True, shown="values…")),
         role="agent", doing="Texting the customer",
         help="sends an approved WhatsApp template with its variables (the only thing WhatsApp allows after 24 h)")
async def send_template(ctx: CommandContext, name: str, values: str | None = None) -> CommandReply:
    spec = next((t for t in ctx.service.options.templates if t.name == name), None)
    if spec is None:
        known = ", ".join(f"`{t.name}`" for t in ctx.service.options.templates) or "none configured"
        raise Refused(rich("No WhatsApp template `{name}`; `/sms templates` lists them ({known}).", name=name, known=known))
    filled = whatsapp.fill(spec, _values(values or ""))
    if isinstance(filled, str):
        raise Refused(rich("{why}", why=filled))
    template, shown = filled
    team = ctx.team
    result = await ctx.service.submit_reply(
        ctx.session,
        ReplyRequest(inbox=team.inbox, conv=team.conversation, agent=ctx.agent, author=ctx.author, text=shown,
                     origin_id=ctx.origin_id, template=template, audit={"template": name}),
    )
    return reply_answer(result)


@command("templates", where=Where.BOTH, help="lists the approved WhatsApp templates `!template` can send")
async def list_templates(ctx: CommandContext) -> CommandReply:
    templates = ctx.service.options.templates
    if not templates:
        return CommandReply(rich("No WhatsApp templates configured; add `[[whatsapp_template]]` tables to smsbridge.toml."))
    lines = [
        rich("• `{name}` ({n} value(s)) — {text}", name=t.name, n=t.variables, text=(t.text or t.content_sid)[:120])
        for t in templates
    ]
    return CommandReply(join([rich("WhatsApp templates (send with `!template NAME values…` in a thread):"), *lines]))


def _inbox_for(ctx: CommandContext) -> InboxRoute:
    directory = ctx.service.directory
    bound = directory.by_channel(ctx.platform, ctx.channel)
    if bound:
        return bound[0]
    every = directory.all()
    if len(every) == 1:
        return every[0]
    raise Refused(rich("This channel is not an inbox channel; use `/sms new` in the inbox's channel."))


@command(
    "new",
    args=(PhoneNumber("number", "Phone number, e.g. +14155550123"), Text("text", "The first text")),
    role="agent",
    where=Where.CHANNEL,
    doing="Texting a customer",
    help="opens (or reuses) that number's conversation and sends; asks you first if no consent is on record",
)
async def new(ctx: CommandContext, number: str, text: str) -> CommandReply:
    phone = parse_phone(number)
    if not phone.valid:
        raise Refused(rich("`{number}` is not a valid phone number. Try the full number, e.g. +14155550123.", number=number))
    inbox = _inbox_for(ctx)
    suppressed = await consent.is_suppressed(ctx.session, phone.key, inbox.id)
    if not suppressed and not await consent.may_start(ctx.session, phone.key, inbox.id):
        # Rule 8: a number that never texted us, with no consent on record, is texted
        # only once the teammate confirms they have consent; the click is recorded. An
        # opted-out number (an erased one too) is refused below, without a prompt.
        prompt = await consent_prompts.ask(ctx.session, inbox.id, phone.address, text, ctx.author)
        buttons = (
            Button("I have consent to text this number", "confirm_consent", str(prompt), "primary"),
            Button("Cancel", "cancel_consent", str(prompt), "danger"),
        )
        said = rich(
            "Not sent yet: {title} has never texted {inbox} and has no consent on record. "
            "Text them only if they agreed to get texts from you; confirming puts that on record in your name.",
            title=format_phone(phone.key), inbox=inbox.name,
        )
        return CommandReply(said, buttons=buttons, outcome=ThreadOutcome.DONE)
    return await text_first(ctx.service, ctx.session, inbox, phone, ctx.agent, ctx.author, text)


async def text_first(
    service: InboxService, session: AsyncSession, inbox: InboxRoute, phone: phones.PhoneNumber, agent: AgentView, author: Author, text: str
) -> CommandReply:
    """Open (or reuse) the number's conversation and send the first text: `/sms new`."""
    conv, created = await service.open_conversation(session, inbox, phone)
    result = await service.submit_reply(
        session, ReplyRequest(inbox=inbox, conv=conv, agent=agent, author=author, text=text, force=True)
    )
    title = format_phone(phone.key)
    link = ConversationLink(conv.id, title, "new conversation" if created else "existing conversation")
    if result.outcome in (SendOutcome.QUEUED, SendOutcome.DRAFTED):
        verb = "Draft posted for review" if result.outcome is SendOutcome.DRAFTED else "Texting"
        return CommandReply(rich("{verb}: {title}. Follow it in the thread.", verb=verb, title=title), links=(link,))
    said = as_rich(result.message) if result.message else rich("Not sent ({outcome}); see the thread.", outcome=result.outcome)
    return CommandReply(said, links=(link,), ok=False, outcome=result.outcome)
