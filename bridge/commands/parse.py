"""The command language, parsed once for every chat platform.

Thread commands start with `!`; anything else in a thread is an internal note. The
reply prefix is matched case-insensitively and must be followed by a space or a line
break, so "!reply" is never read as "!r" + "eply" and "!rush" is an unknown command,
not a send. Channel commands are the words after `/sms`.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

_WORD = re.compile(r"!([A-Za-z][\w-]*)")
STATUSES = ("new", "open", "pending", "escalated", "closed")
PRIORITIES = {"low": -1, "normal": 0, "high": 1, "urgent": 2}
SNIPPET_NAME = re.compile(r"^[\w-]{1,60}$")


# -- thread commands -------------------------------------------------------------


@dataclass(frozen=True)
class Note:
    text: str


@dataclass(frozen=True)
class Reply:
    text: str


@dataclass(frozen=True)
class Draft:
    text: str


@dataclass(frozen=True)
class SendSnippet:
    name: str


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Unknown:
    word: str


@dataclass(frozen=True)
class EmptyReply:
    prefix: str


@dataclass(frozen=True)
class Usage:
    """A known command used wrongly: say how to use it."""

    message: str


@dataclass(frozen=True)
class Claim:
    pass


@dataclass(frozen=True)
class Assign:
    target: str


@dataclass(frozen=True)
class Unassign:
    pass


@dataclass(frozen=True)
class SetStatus:
    status: str


@dataclass(frozen=True)
class Tag:
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()


@dataclass(frozen=True)
class ContactName:
    name: str


@dataclass(frozen=True)
class ContactNote:
    text: str


@dataclass(frozen=True)
class SetProperty:
    key: str
    value: str  # empty removes it


@dataclass(frozen=True)
class SetTimezone:
    zone: str


@dataclass(frozen=True)
class SetPriority:
    level: str


ThreadCommand = (
    Note | Reply | Draft | SendSnippet | Help | Unknown | EmptyReply | Usage | Claim | Assign | Unassign
    | SetStatus | Tag | ContactName | ContactNote | SetProperty | SetTimezone | SetPriority
)


def _rest(stripped: str, word: str) -> str:
    return stripped[1 + len(word) :].strip()


def parse(text: str, reply_prefixes: tuple[str, ...]) -> ThreadCommand:
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
    typed = match.group(1)
    word = typed.lower()
    rest = _rest(stripped, typed)
    if word == "help":
        return Help()
    if word in ("s", "snippet"):
        return SendSnippet(rest.split()[0].lower()) if rest else Usage("Which snippet? `!s NAME` — `/sms snippets` lists them.")
    if word == "draft":
        return Draft(rest) if rest else Usage("`!draft your text` posts a draft for review.")
    if word == "claim":
        return Claim()
    if word == "assign":
        return Assign(rest) if rest else Usage("Whom to? `!assign @name`.")
    if word == "unassign":
        return Unassign()
    if word == "close":
        return SetStatus("closed")
    if word == "reopen":
        return SetStatus("open")
    if word == "status":
        status = rest.lower()
        if status in STATUSES:
            return SetStatus(status)
        return Usage(f"`!status` takes one of: {', '.join(STATUSES)}.")
    if word == "tag":
        return _parse_tags(rest)
    if word == "contact":
        return _parse_contact(rest)
    if word == "prop":
        key, sep, value = rest.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][\w-]{0,40}", key):
            return Usage("`!prop key=value` sets a contact property (`!prop key=` removes it).")
        return SetProperty(key.lower(), value.strip())
    if word == "tz":
        return SetTimezone(rest) if rest else Usage("`!tz America/Chicago` sets the contact's time zone.")
    if word == "priority":
        level = rest.lower()
        if level in PRIORITIES:
            return SetPriority(level)
        return Usage(f"`!priority` takes one of: {', '.join(PRIORITIES)}.")
    return Unknown(typed)


def _parse_tags(rest: str) -> Tag | Usage:
    add: list[str] = []
    remove: list[str] = []
    for token in rest.split():
        name = token[1:] if token[0] in "+-" else token
        name = name.strip().lower()
        if not re.fullmatch(r"[\w-]{1,40}", name):
            return Usage(f"`{token}` is not a tag: use letters, digits, - and _.")
        (remove if token.startswith("-") else add).append(name)
    if not add and not remove:
        return Usage("`!tag +vip -lead` adds and removes tags.")
    return Tag(tuple(add), tuple(remove))


def _parse_contact(rest: str) -> ContactName | ContactNote | Usage:
    field_, _, value = rest.partition(" ")
    value = value.strip()
    if field_.lower() == "name" and value:
        return ContactName(value[:200])
    if field_.lower() == "note" and value:
        return ContactNote(value)
    return Usage("`!contact name Jane Doe` or `!contact note text`.")


def help_text(reply_prefix: str) -> str:
    long_form = " (`!reply` works too)" if reply_prefix.lower() == "!r" else ""
    return (
        "*smsbridge* — anything you write in this thread is an internal note; the customer never sees it.\n"
        f"• `{reply_prefix} your text` sends your text to the customer by SMS{long_form}.\n"
        "• `!s NAME` sends a snippet · `!draft text` posts a draft for review\n"
        "• `!claim` · `!assign @name` · `!unassign`\n"
        "• `!status open|pending|escalated|closed` · `!close` · `!reopen` · `!priority low|normal|high|urgent`\n"
        "• `!tag +vip -lead` · `!contact name Jane Doe` · `!contact note …` · `!prop key=value` · `!tz America/Chicago`\n"
        "• `!help` shows this. In the channel: `/sms help`."
    )


# -- channel commands (/sms ...) -------------------------------------------------


@dataclass(frozen=True)
class NewConversation:
    number: str
    text: str


@dataclass(frozen=True)
class Search:
    query: str


@dataclass(frozen=True)
class ListSnippets:
    pass


@dataclass(frozen=True)
class SnippetAdd:
    name: str
    text: str
    replace: bool = False


@dataclass(frozen=True)
class SnippetDelete:
    name: str


@dataclass(frozen=True)
class Away:
    away: bool


@dataclass(frozen=True)
class SetRole:
    target: str
    role: str


@dataclass(frozen=True)
class ChannelHelp:
    pass


@dataclass(frozen=True)
class ShowReport:
    period: str


ChannelCommand = (
    NewConversation | Search | ListSnippets | SnippetAdd | SnippetDelete | Away | SetRole | ChannelHelp | ShowReport | Usage
)

_NUMBER_PREFIX = re.compile(r"^\s*(\+?[\d\s().\-]{7,20}\d)(?:\s+|$)(.*)$", re.S)


def parse_channel(text: str) -> ChannelCommand:
    stripped = text.strip()
    word, _, rest = stripped.partition(" ")
    word = word.lower()
    rest = rest.strip()
    if word in ("", "help"):
        return ChannelHelp()
    if word == "new":
        match = _NUMBER_PREFIX.match(rest)
        if not match or not match.group(2).strip():
            return Usage("`/sms new +14155550123 your message` opens (or reuses) that number's thread and sends.")
        return NewConversation(match.group(1).strip(), match.group(2).strip())
    if word == "search":
        return Search(rest) if rest else Usage("`/sms search words` finds conversations.")
    if word == "snippets":
        return ListSnippets()
    if word == "snippet":
        action, _, more = rest.partition(" ")
        name, _, body = more.strip().partition(" ")
        action, name = action.lower(), name.lower()
        if action in ("add", "edit") and SNIPPET_NAME.match(name or "") and body.strip():
            return SnippetAdd(name, body.strip(), replace=action == "edit")
        if action == "delete" and SNIPPET_NAME.match(name or ""):
            return SnippetDelete(name)
        return Usage("`/sms snippet add NAME text`, `/sms snippet edit NAME text`, `/sms snippet delete NAME`.")
    if word == "report":
        return ShowReport(rest or "7d")
    if word == "away":
        return Away(True)
    if word == "back":
        return Away(False)
    if word == "role":
        try:
            parts = shlex.split(rest)
        except ValueError:
            parts = rest.split()
        if len(parts) == 2 and parts[1].lower() in ("admin", "agent", "viewer"):
            return SetRole(parts[0], parts[1].lower())
        return Usage("`/sms role @name admin|agent|viewer`.")
    return Usage(f"`/sms {word}` is not a command. {channel_help_text()}")


def channel_help_text() -> str:
    return (
        "`/sms new +14155550123 text` · `/sms search words` · `/sms snippets` · "
        "`/sms snippet add|edit NAME text` · `/sms snippet delete NAME` · `/sms away` · `/sms back` · "
        "`/sms role @name admin|agent|viewer` · `/sms report 7d`"
    )
