"""Neutral rich text (bridge.inbox.markup) as Discord markdown.

Values are escaped with discord.py's own helpers: markdown characters are backslashed
and `@everyone` / `@here` / role and user mentions are defused. Posts also carry
`AllowedMentions` that permit only the users smsbridge means to notify.
"""

from __future__ import annotations

import discord

from bridge.inbox.markup import Code, Link, Mention, Plain, Quote, Strong, Text, as_rich


def inert(text: str) -> str:
    return discord.utils.escape_mentions(discord.utils.escape_markdown(text))


def _code(text: str) -> str:
    # A backtick cannot be escaped inside an inline code span: use a look-alike.
    return text.replace("`", "ˋ")


def to_markdown(text: Text) -> str:
    out: list[str] = []
    for segment in as_rich(text):
        match segment:
            case Plain(text=words):
                out.append(inert(words))
            case Strong(text=words):
                out.append(f"**{inert(words)}**" if words.strip() else inert(words))
            case Code(text=words):
                out.append(f"`{_code(words)}`" if words else "")
            case Mention(platform="discord", user_id=user_id) if user_id.isdigit():
                out.append(f"<@{user_id}>")
            case Mention(name=name):
                out.append("@" + inert(name))
            case Quote(text=words):
                out.append("> " + inert(words).replace("\n", "\n> "))
            case Link(url=url, label=label):
                out.append(f"[{inert(label)}](<{url.replace('>', '%3E')}>)")
    return "".join(out)


def mentioned_users(text: Text) -> list[discord.Object]:
    """The users a rendered text may notify (for AllowedMentions)."""
    return [
        discord.Object(int(s.user_id))
        for s in as_rich(text)
        if isinstance(s, Mention) and s.platform == "discord" and s.user_id.isdigit()
    ]
