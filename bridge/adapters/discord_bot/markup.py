"""Neutral rich text (bridge.inbox.markup) as Discord markdown.

Values are escaped with discord.py's own helpers: markdown characters are backslashed
and `@everyone` / `@here` / role and user mentions are defused. Posts also carry
`AllowedMentions` that permit only the users smsbridge means to notify.
"""

from __future__ import annotations

import discord

from bridge.inbox.markup import Mention, Text, as_rich, render


def inert(text: str) -> str:
    return discord.utils.escape_mentions(discord.utils.escape_markdown(text))


class _Markdown:
    def plain(self, text: str) -> str:
        return inert(text)

    def strong(self, text: str) -> str:
        return f"**{inert(text)}**"

    def code(self, text: str) -> str:
        # A backtick cannot be escaped inside an inline code span: use a look-alike.
        return "`" + text.replace("`", "ˋ") + "`"

    def mention(self, person: Mention) -> str:
        if person.platform == "discord" and person.user_id.isdigit():
            return f"<@{person.user_id}>"
        return "@" + inert(person.name)

    def quote(self, text: str) -> str:
        return "> " + inert(text).replace("\n", "\n> ")

    def link(self, url: str, label: str) -> str:
        return f"[{inert(label)}](<{url.replace('>', '%3E')}>)"


_MARKDOWN = _Markdown()


def to_markdown(text: Text) -> str:
    return render(text, _MARKDOWN)


def mentioned_users(text: Text) -> list[discord.Object]:
    """The users a rendered text may notify (for AllowedMentions)."""
    return [
        discord.Object(int(s.user_id))
        for s in as_rich(text)
        if isinstance(s, Mention) and s.platform == "discord" and s.user_id.isdigit()
    ]
