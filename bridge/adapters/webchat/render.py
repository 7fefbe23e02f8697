"""What the web chat shows, as JSON the page renders with `textContent` (never as HTML):
no value from a customer or a teammate can inject markup or script."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, assert_never

from bridge.inbox import statuses
from bridge.inbox.chat import Button
from bridge.inbox.markup import Code, Link, Mention, Plain, Quote, Rich, Strong, rich
from bridge.inbox.views import ConversationView, MessageView

Json = dict[str, Any]


def segments(text: Rich) -> list[Json]:
    out: list[Json] = []
    for segment in text:
        match segment:
            case Plain(text=t):
                out.append({"t": "plain", "v": t})
            case Strong(text=t):
                out.append({"t": "strong", "v": t})
            case Code(text=t):
                out.append({"t": "code", "v": t})
            case Mention(name=name):
                out.append({"t": "mention", "v": "@" + name})
            case Link(url=url, label=label):
                out.append({"t": "link", "v": label, "url": url if url.startswith(("http://", "https://")) else ""})
            case Quote(text=t):
                out.append({"t": "quote", "v": t})
            case _:
                assert_never(segment)
    return out


def buttons(items: Sequence[Button]) -> list[Json]:
    return [{"label": b.label, "action": b.action, "value": b.value, "style": b.style} for b in items]


def card(view: ConversationView, snippet_names: list[str]) -> tuple[list[Json], list[Json], Json]:
    """The card's text, its buttons and its facts (the page shows them as a header)."""
    if view.contact_name:
        head = rich("📱 **{name}** · {phone}", name=view.contact_name, phone=view.phone_display)
    else:
        head = rich("📱 **{phone}**", phone=view.phone_display)
    facts: Json = {
        "status": view.status.badge,
        "assignee": view.assignee or "nobody yet",
        "priority": view.priority.badge,
        "inbox": view.inbox_name,
        "tags": list(view.tags),
        "opted_out": view.opted_out,
        # Rule 8: "Opted out (keyword STOP) 2026-12-01", "No consent on record".
        "consent": view.consent_text + (f" {view.consent.at:%Y-%m-%d}" if view.consent.at else ""),
    }
    value = str(view.id)
    row = [Button("Claim", "claim", value, "primary")] if view.assignee is None else []
    row.append(Button("Reopen", "reopen", value) if view.status == "closed" else Button("Close", "close", value))
    out = buttons(row)
    out.append({"label": "Assign…", "action": "assign", "value": value, "style": None, "picker": "teammate"})
    if snippet_names:
        out.append({"label": "Snippet…", "action": "snippet", "value": value, "style": None, "picker": "snippet",
                    "choices": snippet_names[:100]})
    return segments(head), out, facts


def customer(view: MessageView) -> list[Json]:
    if view.body:
        return [{"t": "plain", "v": view.body}]
    count = len(view.media)
    return [{"t": "plain", "v": f"(sent {count} attachment{'s' if count != 1 else ''})" if count else "(empty message)"}]


def status(view: MessageView, contact: str, now: datetime) -> list[Json]:
    state, cost = statuses.delivery_state(view, now)
    icon = statuses.icon(view.status)
    if view.kind in ("compliance", "automated"):
        line = rich("{icon} Automatic reply to {contact} — {state}{cost}", icon=icon, contact=contact, state=state, cost=cost)
    else:
        who = rich(" by {name}", name=view.author_name) if view.author_name else ""
        line = rich(
            "{icon} {what}{who} to {contact} — {state}{cost}", icon=icon, what=statuses.sent_as(view), who=who, contact=contact,
            state=state, cost=cost,
        )
    # The text itself, always: a snippet or a reply from another chat is not typed here.
    return [*segments(line), {"t": "quote", "v": view.body}]


def draft(view: MessageView) -> list[Json]:
    return [*segments(statuses.draft_heading(view)), {"t": "quote", "v": view.body}]


def mirror(author: str, origin: str, text: str) -> list[Json]:
    return segments(rich("💬 **{author}** ({origin}): {text}", author=author, origin=origin.capitalize(), text=text))
