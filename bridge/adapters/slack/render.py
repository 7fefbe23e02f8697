"""Block Kit and text for what smsbridge posts in Slack."""

from __future__ import annotations

from typing import Any

from bridge.adapters.slack.text import escape_for_slack
from bridge.inbox import statuses
from bridge.inbox.views import ConversationView, MessageView

STATUS_BADGES = {
    "new": "🆕 New",
    "open": "🟢 Open",
    "pending": "⏳ Pending",
    "escalated": "🔺 Escalated",
    "closed": "✅ Closed",
}
STATE_ICONS = {
    "pending": "⏳",
    "accepted": "⏳",
    "queued": "⏳",
    "sending": "📤",
    "sent": "📤",
    "delivered": "✅",
    "read": "👀",
    "undelivered": "❌",
    "failed": "❌",
    "blocked": "🚫",
    "canceled": "↩️",
}
MAX_SECTION = 3000  # Block Kit section text limit
CUSTOMER_ICON = ":speech_balloon:"


def card_text(view: ConversationView) -> str:
    return f"{STATUS_BADGES.get(view.status, view.status)} conversation with {view.title}"


def card_blocks(view: ConversationView) -> list[dict[str, Any]]:
    name = escape_for_slack(view.contact_name) if view.contact_name else None
    headline = f"*{name}* · {view.phone_display}" if name else f"*{escape_for_slack(view.phone_display)}*"
    facts = [
        f"*Status:* {STATUS_BADGES.get(view.status, view.status)}",
        f"*Assignee:* {escape_for_slack(view.assignee) if view.assignee else 'nobody yet'}",
        f"*Inbox:* {escape_for_slack(view.inbox_name)}",
    ]
    if view.opted_out:
        facts.append("🚫 *Opted out* — replies are blocked")
    if not view.phone_valid:
        facts.append("⚠️ Not a phone number — replies cannot be sent")
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"📱 {headline}"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "  ·  ".join(facts)}]},
    ]


def customer_text(view: MessageView) -> str:
    if view.body:
        return escape_for_slack(view.body)
    count = len(view.media)
    return f"_(sent {count} attachment{'s' if count != 1 else ''})_" if count else "_(empty message)_"


def status_text(view: MessageView, contact: str) -> str:
    icon = STATE_ICONS.get(view.status, "•")
    state = statuses.label(view.status)
    if view.status in ("failed", "undelivered", "blocked") and view.error_text:
        state = f"{state}: {escape_for_slack(view.error_text)}"
    cost = ""
    if view.segments and view.status != "blocked":
        cost = f" · {view.segments} segment{'s' if view.segments != 1 else ''}"
        if view.encoding == "UCS-2":
            cost += " (Unicode)"
    if view.kind == "compliance":
        quoted = escape_for_slack(view.body)
        return f"{icon} Automatic reply to {contact} — {state}{cost}\n> {quoted}"
    who = f" by {escape_for_slack(view.author_name)}" if view.author_name else ""
    return f"{icon} SMS{who} to {contact} — {state}{cost}"


def truncate(text: str, limit: int = MAX_SECTION) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
