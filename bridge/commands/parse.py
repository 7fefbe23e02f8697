"""The thread command language, parsed once for every chat platform.

Anything that does not start with `!` is an internal note. The reply prefix is
matched case-insensitively and must be followed by a space or a line break, so
"!reply" is never read as "!r" + "eply" and "!rush" is an unknown command, not a send.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = re.compile(r"!([A-Za-z][\w-]*)")


@dataclass(frozen=True)
class Note:
    text: str


@dataclass(frozen=True)
class Reply:
    text: str


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Unknown:
    word: str


@dataclass(frozen=True)
class EmptyReply:
    prefix: str


Command = Note | Reply | Help | Unknown | EmptyReply


def parse(text: str, reply_prefixes: tuple[str, ...]) -> Command:
    stripped = text.strip()
    lowered = stripped.lower()
    for prefix in sorted(reply_prefixes, key=len, reverse=True):
        if lowered == prefix:
            return EmptyReply(prefix)
        if lowered.startswith(prefix) and stripped[len(prefix)].isspace():
            body = stripped[len(prefix) :].strip()
            return Reply(body) if body else EmptyReply(prefix)
    match = _WORD.match(stripped)
    if match is None:
        return Note(text)
    word = match.group(1).lower()
    if word == "help":
        return Help()
    return Unknown(match.group(1))


def help_text(reply_prefix: str) -> str:
    return (
        "*smsbridge* — anything you write in this thread is an internal note; the customer never sees it.\n"
        f"• `{reply_prefix} your text` sends your text to the customer by SMS"
        + (" (`!reply` works too)" if reply_prefix.lower() == "!r" else "")
        + ".\n• `!help` shows this."
    )
