"""Neutral rich text (bridge.inbox.markup) as Slack mrkdwn.

Every value is escaped: `& < >` become entities, so no `<!channel>`, `<@U…>` or
`<url|label>` can be injected, and Slack's formatting characters in a value are
replaced by look-alikes so a name like `*Bob` cannot turn the rest of a line bold.
Post the result without `link_names` / `parse="full"` (they would turn a bare `@here`
into a ping).
"""

from __future__ import annotations

import re

from bridge.adapters.slack.text import escape_for_slack
from bridge.inbox.markup import Mention, Rich, Text, as_rich, render

# Look-alikes that Slack does not read as formatting marks.
_LOOKALIKE = {"*": "∗", "_": "ˍ", "~": "∼", "`": "ˋ"}
_MARK = re.compile(r"[*_~`]")


def _swap(match: re.Match[str]) -> str:
    # Slack reads `*`, `_` and `~` as marks only next to a space or punctuation:
    # inside a word (first_name, a*b) they stay as typed, so copied text is intact.
    s, i, mark = match.string, match.start(), match.group()
    if mark != "`" and 0 < i < len(s) - 1 and s[i - 1].isalnum() and s[i + 1].isalnum():
        return mark
    return _LOOKALIKE[mark]


def inert(text: str) -> str:
    """A value made safe for any mrkdwn position (inside bold, code or plain text)."""
    return _MARK.sub(_swap, escape_for_slack(text))


class _Mrkdwn:
    def plain(self, text: str) -> str:
        return inert(text)

    def strong(self, text: str) -> str:
        return f"*{inert(text)}*"

    def code(self, text: str) -> str:
        # Nothing is formatted inside code: only a backtick could end it early.
        return "`" + escape_for_slack(text).replace("`", "ˋ") + "`"

    def mention(self, person: Mention) -> str:
        if person.platform == "slack":
            return f"<@{inert(person.user_id)}>"
        return "@" + inert(person.name)

    def quote(self, text: str) -> str:
        return "> " + inert(text).replace("\n", "\n> ")

    def link(self, url: str, label: str) -> str:
        return f"<{escape_for_slack(url).replace('|', '%7C')}|{inert(label)}>"


_MRKDWN = _Mrkdwn()


def to_mrkdwn(text: Text) -> str:
    return render(text, _MRKDWN)


def to_plain(text: Rich | str) -> str:
    return as_rich(text).plain()
