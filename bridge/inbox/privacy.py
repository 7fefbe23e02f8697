"""No-bodies mode (docs/compliance.md rule 14): what chats may show of a message.

An inbox with `no_bodies` keeps customers' words and pictures out of every chat post
smsbridge makes: a text shows up as who sent it, how long it is and how many files it
carries, with a Show button; `!show` (or the button) reads it privately to the teammate
who asks, and each reading is audited. The core decides here; chat adapters only render
what they are given, so no adapter can leak a body it never receives.

Outside a message's own post, smsbridge also quotes bodies in reply status lines and
drafts: `redacted` replaces the body of such a view with its length.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox import audit
from bridge.inbox.chat import Button
from bridge.inbox.markup import Link, Rich, join, quote, rich
from bridge.inbox.models import Message
from bridge.inbox.phone import format_phone
from bridge.inbox.views import MessageView

SHOW = "show"  # the Show button's action: its value is one message's id
SHOW_LATEST = "show_latest"  # value: a conversation id; shows its latest customer texts
LATEST = 5  # texts `!show` reads without a count
MOST = 20  # the most `!show N` reads at once
VIEWED = "body_viewed"  # the audit action of a reading


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def size_text(body: str, media: list[dict[str, str]]) -> str:
    """"42 characters, 1 picture": what a hidden message amounts to."""
    parts = [_count(len(body), "character", "characters")]
    pictures = sum(1 for m in media if str(m.get("content_type") or "").startswith("image/"))
    files = len(media) - pictures
    if pictures:
        parts.append(_count(pictures, "picture", "pictures"))
    if files:
        parts.append(_count(files, "file", "files"))
    return ", ".join(parts)


def arrived(sender: str, body: str, media: list[dict[str, str]]) -> Rich:
    """The thread's line for a customer's text in no-bodies mode."""
    return rich(
        "📩 Text from {who}, {size} — `!show` to read it",
        who=format_phone(sender) if sender else "the customer",
        size=size_text(body, media),
    )


def show_button(message_id: int) -> Button:
    return Button("Show", SHOW, str(message_id))


def latest_button(conversation_id: int) -> Button:
    return Button("Show", SHOW_LATEST, str(conversation_id))


def redacted(view: MessageView) -> MessageView:
    """`view` with its words replaced by their length and its media left out, for a
    status line or a draft in a no-bodies inbox."""
    return replace(view, body=f"({size_text(view.body, view.media)}, hidden: no-bodies mode)", media=[], hidden=True)


def quoted(text: str, hide: bool) -> Rich:
    """`text` quoted, or in a no-bodies inbox (`hide`) only its length."""
    return rich("({size}, hidden: no-bodies mode)", size=size_text(text, [])) if hide else quote(text)


async def latest_texts(session: AsyncSession, conversation_id: int, count: int) -> list[Message]:
    """The conversation's newest `count` customer texts, oldest first."""
    rows = await session.execute(
        select(Message)
        .where(Message.conversation_id == conversation_id, Message.direction == "in")
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(count)
    )
    return list(reversed(rows.scalars().all()))


def reading(messages: list[Message], zone: ZoneInfo) -> Rich:
    """The texts themselves, for the one teammate who asked: time, words, media links."""
    if not messages:
        return rich("The customer has not texted in this conversation yet.")
    parts: list[Rich] = [rich("🔒 Only you see this; the view is recorded.")]
    for m in messages:
        parts.append(rich("**{when}** · {size}", when=_when(m.created_at, zone), size=size_text(m.body, list(m.media or []))))
        if m.body:
            parts.append(quote(m.body))
        for index, item in enumerate(m.media or [], start=1):
            url = str(item.get("url") or "")
            label = f"attachment {index} ({item.get('content_type') or 'file'})"
            parts.append(rich("📎 {link}", link=Link(url, label)) if url.startswith(("http://", "https://")) else rich("📎 {label}", label=label))
    return join(parts)


def record_view(session: AsyncSession, actor: str, conversation_id: int, messages: list[Message], via: str) -> None:
    """Audit one reading: who, which conversation, which messages, how (`!show`, a button)."""
    audit.record(session, actor, VIEWED, conversation_id, message_ids=[m.id for m in messages], via=via)


def _when(at: datetime, zone: ZoneInfo) -> str:
    local = at.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or zone.key}"
