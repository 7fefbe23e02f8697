"""Neutral rich text (bridge.inbox.markup) as Slack mrkdwn.

Every value is escaped: `& < >` become entities, so no `<!channel>`, `<@U…>` or
`<url|label>` can be injected, and Slack's formatting characters in a value are
replaced by look-alikes so a name like `*Bob` cannot turn the rest of a line bold.
Post the result without `link_names` / `parse="full"` (they would turn a bare `@here`
into a ping).
"""

from __future__ import annotations

from bridge.adapters.slack.text import escape_for_slack
from bridge.inbox.markup import Code, Link, Mention, Plain, Rich, Strong, Text, as_rich

# Look-alikes that Slack does not read as formatting marks.
_INERT = str.maketrans({"*": "∗", "_": "ˍ", "~": "∼", "`": "ˋ"})


def inert(text: str) -> str:
    """A value made safe for any mrkdwn position (inside bold, code or plain text)."""
    return escape_for_slack(text).translate(_INERT)


def to_mrkdwn(text: Text) -> str:
    out: list[str] = []
    for segment in as_rich(text):
        match segment:
            case Plain(text=words):
                out.append(inert(words))
            case Strong(text=words):
                out.append(f"*{inert(words)}*" if words.strip() else inert(words))
            case Code(text=words):
                # Nothing is formatted inside code: only a backtick could end it early.
                out.append(f"`{escape_for_slack(words).replace('`', 'ˋ')}`" if words else "")
            case Mention(platform="slack", user_id=user_id):
                out.append(f"<@{inert(user_id)}>")
            case Mention(name=name):
                out.append("@" + inert(name))
            case Link(url=url, label=label):
                out.append(f"<{escape_for_slack(url).replace('|', '%7C')}|{inert(label)}>")
    return "".join(out)


def to_plain(text: Rich | str) -> str:
    return as_rich(text).plain()
