"""Conversion between Slack's mrkdwn-escaped text and the plain text a customer sees.

Slack escapes only &, < and > in message text; everything in <...> is a control
sequence (mention, channel, link, special command).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
_CONTROL = re.compile(r"<([^<>]*)>")
_BROADCASTS = frozenset({"here", "channel", "everyone"})
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def _unescape(text: str) -> str:
    # One pass, so "&amp;lt;" becomes "&lt;" and not "<".
    return _ENTITY.sub(lambda m: _ENTITIES[m.group(1)], text)


def _same_link(url: str, label: str) -> bool:
    """Slack auto-links a typed "example.com" as <http://example.com|example.com>."""
    bare = _SCHEME.sub("", url).rstrip("/")
    return label in (url, bare, bare + "/")


def _control_to_plain(inner: str, user_names: Mapping[str, str]) -> str:
    target, _, label = inner.partition("|")
    target, label = _unescape(target), _unescape(label)
    if target.startswith("@"):  # <@U123> or legacy <@U123|name>
        uid = target[1:]
        return "@" + (user_names.get(uid) or label or uid)
    if target.startswith("#"):  # <#C123|general>; label may be empty
        return "#" + (label or target[1:])
    if target.startswith("!"):
        command = target[1:]
        if command in _BROADCASTS:
            return "@" + command
        if command.startswith("subteam^"):  # <!subteam^S123|@team>
            return label or "@" + command.split("^", 1)[1]
        return label or command  # <!date^...|fallback>
    if target.lower().startswith(("mailto:", "tel:", "sms:")):
        address = target.split(":", 1)[1]
        return address if not label or label == address else f"{label} ({address})"
    if label and not _same_link(target, label):
        return f"{label} ({target})"
    return label or target


def slack_to_plain(text: str, user_names: Mapping[str, str] | None = None) -> str:
    """A teammate's Slack text as the customer should read it; formatting marks are kept."""
    names = user_names or {}
    out: list[str] = []
    pos = 0
    for m in _CONTROL.finditer(text):
        out.append(_unescape(text[pos : m.start()]))
        out.append(_control_to_plain(m.group(1), names))
        pos = m.end()
    out.append(_unescape(text[pos:]))
    return "".join(out)


def escape_for_slack(text: str) -> str:
    """Customer text made inert for Slack: no <!channel>, <@U..> or <url|label> injection.

    Post it without link_names=True / parse="full" (those would turn a bare "@here" into
    a ping) and preferably with unfurl_links=False.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
