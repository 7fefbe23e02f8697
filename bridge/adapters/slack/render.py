"""Block Kit and text for what smsbridge posts in Slack.

Every customer- or teammate-supplied value goes through `markup.inert` / `to_mrkdwn`:
no `<!channel>`, `<@U…>` or stray `*` in a name or a text can ping or reformat anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bridge.adapters.slack.markup import inert, to_mrkdwn
from bridge.adapters.slack.text import escape_for_slack
from bridge.inbox import statuses
from bridge.inbox.chat import Button
from bridge.inbox.markup import rich
from bridge.inbox.views import ConversationView, MessageView

MAX_SECTION = 3000  # Block Kit section text limit
CUSTOMER_ICON = ":speech_balloon:"
ACTION_PREFIX = "smsbridge."


def card_text(view: ConversationView) -> str:
    return to_mrkdwn(rich("{badge} conversation with {title}", badge=view.status.badge, title=view.title))


def slack_time(moment: datetime, token: str = "{ago}") -> str:
    """A time Slack renders in each reader's locale, live ("5 minutes ago")."""
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{token}|{fallback}>"


def card_blocks(view: ConversationView, snippet_names: list[str] | None = None) -> list[dict[str, Any]]:
    name = inert(view.contact_name) if view.contact_name else None
    headline = f"*{name}* · {inert(view.phone_display)}" if name else f"*{inert(view.phone_display)}*"
    facts = [
        f"*Status:* {view.status.badge}",
        f"*Assignee:* {inert(view.assignee_text) if view.assignee_text else 'nobody yet'}",
        f"*Priority:* {view.priority.badge}",
        f"*Inbox:* {inert(view.inbox_name)} · {view.channel_label}",
    ]
    if view.sla_text:
        facts.append(f"⏱️ *SLA:* {view.sla_text}")
    if view.last_inbound_at:
        facts.append(f"*Customer wrote:* {slack_time(view.last_inbound_at)}")
    if view.tags:
        facts.append("*Tags:* " + " ".join(f"`{inert(t)}`" for t in view.tags))
    facts.append(consent_fact(view))
    if not view.phone_valid:
        facts.append("⚠️ Not a phone number — replies cannot be sent")
    details = [f"*{inert(k)}:* {inert(v)}" for k, v in sorted(view.properties.items())]
    if view.timezone:
        details.append(f"*Time zone:* {inert(view.timezone)}")
    if view.notes:
        details.append(f"*Notes:* {inert(view.notes)}")
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"📱 {headline}"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate("  ·  ".join(facts))}]},
    ]
    if details:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": truncate("  ·  ".join(details))}]})
    value = str(view.id)
    elements: list[dict[str, Any]] = [_button("Claim", "claim", value, "primary")] if view.assignee is None else []
    elements += [
        {
            "type": "users_select",
            "action_id": ACTION_PREFIX + "assign",
            "placeholder": {"type": "plain_text", "text": "Assign…"},
        },
        _button("Reopen", "reopen", value) if view.status == "closed" else _button("Close", "close", value),
    ]
    if snippet_names:
        elements.append(
            {
                "type": "static_select",
                "action_id": ACTION_PREFIX + "snippet",
                "placeholder": {"type": "plain_text", "text": "Send snippet…"},
                "options": [
                    {"text": {"type": "plain_text", "text": n[:75]}, "value": f"{value}:{n}"} for n in snippet_names[:100]
                ],
            }
        )
    blocks.append({"type": "actions", "block_id": f"card:{value}", "elements": elements})
    return blocks


def consent_fact(view: ConversationView) -> str:
    """Rule 8 on the card: opted out (when, how), consent on record (when, source), or none."""
    c = view.consent
    when = f" {slack_time(c.at, '{date_short}')}" if c.at else ""
    if c.opted_out:
        return f"{view.consent_icon} *{inert(view.consent_text)}*{when} — replies are blocked"
    return f"{view.consent_icon} {inert(view.consent_text)}{when}"


def _button(label: str, action: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "action_id": ACTION_PREFIX + action,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def buttons_block(buttons: Sequence[Button]) -> dict[str, Any]:
    return {"type": "actions", "elements": [_button(b.label, b.action, b.value, b.style) for b in buttons]}


def text_blocks(text: str, buttons: Sequence[Button] = ()) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": truncate(text)}}]
    if buttons:
        blocks.append(buttons_block(buttons))
    return blocks


def mirror_text(author: str, origin: str, text: str) -> str:
    return to_mrkdwn(rich("💬 **{author}** ({origin}): {text}", author=author, origin=origin.capitalize(), text=text))


def quote(text: str) -> str:
    return "> " + inert(text).replace("\n", "\n> ")


def draft_text(view: MessageView) -> str:
    return f"{to_mrkdwn(statuses.draft_heading(view))}\n{quote(view.body)}"


def draft_blocks(view: MessageView) -> list[dict[str, Any]]:
    return text_blocks(draft_text(view), statuses.draft_buttons(view))


def edit_modal(view: MessageView) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": ACTION_PREFIX + "edit_draft",
        "private_metadata": str(view.id),
        "title": {"type": "plain_text", "text": "Edit draft"},
        "submit": {"type": "plain_text", "text": "Save"},
        "blocks": [
            {
                "type": "input",
                "block_id": "draft",
                "label": {"type": "plain_text", "text": "Text to the customer"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "text",
                    "multiline": True,
                    "max_length": 1600,
                    "initial_value": view.body,
                },
            }
        ],
    }


def customer_text(view: MessageView) -> tuple[str, bool]:
    """The customer's words and whether Slack may read markup in them (never in theirs:
    posted with `mrkdwn=False` and `& < >` escaped, they show as typed and ping nobody)."""
    if view.body:
        return escape_for_slack(view.body), False
    count = len(view.media)
    return (f"_(sent {count} attachment{'s' if count != 1 else ''})_" if count else "_(empty message)_"), True


def status_text(view: MessageView, contact: str, now: datetime | None = None) -> str:
    state, cost = statuses.delivery_state(view, now)
    icon = statuses.icon(view.status)
    if view.kind in ("compliance", "automated"):
        line = rich("{icon} Automatic reply by smsbridge to {contact} — {state}{cost}", icon=icon, contact=contact, state=state, cost=cost)
        return f"{to_mrkdwn(line)}\n{quote(view.body)}"
    who = rich(" by {name}", name=view.author_name) if view.author_name else ""
    what = statuses.sent_as(view)
    line = rich("{icon} {what}{who} to {contact} — {state}{cost}", icon=icon, what=what, who=who, contact=contact, state=state, cost=cost)
    text = to_mrkdwn(line)
    if view.author_platform not in (None, "slack") or view.kind == "scheduled":
        # Sent from another chat (Discord), or at its time: its text is not in the thread just here.
        text += "\n" + quote(view.body)
    return text


def status_blocks(view: MessageView, contact: str, now: datetime) -> list[dict[str, Any]]:
    return text_blocks(status_text(view, contact, now), statuses.status_buttons(view, now))


# A conversation in a command's answer: (title, detail, thread url, button or None).
LinkRow = tuple[str, str, str | None, dict[str, str] | None]


def command_reply_blocks(text: str, links: list[LinkRow], footer: str | None = None) -> list[dict[str, Any]]:
    """A command's answer: its text, then the conversations it names, linked to their threads."""
    if any(button for *_, button in links):
        return [_section(text), *conversation_rows(links), *([_section(footer)] if footer else [])]
    lines = [text] + [_link_line(title, detail, url) for title, detail, url, _ in links] + ([footer] if footer else [])
    return [{"type": "section", "text": {"type": "mrkdwn", "text": truncate("\n".join(lines))}}]


def conversation_rows(links: list[LinkRow]) -> list[dict[str, Any]]:
    """One section per conversation, its button (Claim) beside it."""
    blocks: list[dict[str, Any]] = []
    for title, detail, url, button in links:
        block = _section(_link_line(title, detail, url))
        if button:
            block["block_id"] = f"queue:{button['value']}"
            block["accessory"] = _button(button["label"], button["action"], button["value"], button.get("style"))
        blocks.append(block)
    return blocks


def home_view(sections: list[tuple[str, list[LinkRow], str | None]], notice: str | None = None) -> dict[str, Any]:
    """The App Home tab: each queue section's heading, conversations and "…and N more"."""
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": "Your SMS queue"}}]
    if notice:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(notice)}]})
    for heading, links, footer in sections:
        blocks += [{"type": "divider"}, _section(heading), *conversation_rows(links)]
        if footer:
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(footer)}]})
    return {"type": "home", "callback_id": ACTION_PREFIX + "home", "blocks": blocks[:100]}  # Slack's cap


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text)}}


def _link_line(title: str, detail: str, url: str | None) -> str:
    name = f"<{url}|{inert(title)}>" if url else inert(title)
    return f"• {name} — {inert(detail)}"


def truncate(text: str, limit: int = MAX_SECTION) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
