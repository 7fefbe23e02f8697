import pytest

from bridge.adapters.slack.text import escape_for_slack, slack_to_plain


@pytest.mark.parametrize(
    ("slack", "plain"),
    [
        ("a &amp; b &lt;c&gt;", "a & b <c>"),
        ("&amp;lt; stays literal", "&lt; stays literal"),
        ("hi <@U123>", "hi @alice"),
        ("hi <@U999>", "hi @U999"),
        ("hi <@U999|bob>", "hi @bob"),
        ("see <#C123|general>", "see #general"),
        ("see <#C123|>", "see #C123"),
        ("<https://x.com|label>", "label (https://x.com)"),
        ("<https://x.com|https://x.com>", "https://x.com"),
        ("<https://x.com>", "https://x.com"),
        ("<http://example.com|example.com>", "example.com"),  # Slack's auto-link of typed text
        ("<https://x.com/?a=1&amp;b=2|A &amp; B>", "A & B (https://x.com/?a=1&b=2)"),
        ("<mailto:a@b.c|a@b.c>", "a@b.c"),
        ("<mailto:a@b.c>", "a@b.c"),
        ("<mailto:a@b.c|email us>", "email us (a@b.c)"),
        ("<!here> <!channel> <!everyone>", "@here @channel @everyone"),
        ("<!subteam^S1|@ops>", "@ops"),
        ("<!date^1392734382^{date}|Feb 18, 2014>", "Feb 18, 2014"),
        ("*bold* _italic_ ~strike~ `code`", "*bold* _italic_ ~strike~ `code`"),
        ("Grüße 😀 «ok» 日本", "Grüße 😀 «ok» 日本"),
        ("", ""),
    ],
)
def test_slack_to_plain(slack: str, plain: str) -> None:
    assert slack_to_plain(slack, {"U123": "alice"}) == plain


def test_slack_to_plain_without_mapping() -> None:
    assert slack_to_plain("<@U123> ok") == "@U123 ok"


def test_escape_for_slack() -> None:
    assert escape_for_slack("<!channel> & <@U1> <https://evil|bank>") == (
        "&lt;!channel&gt; &amp; &lt;@U1&gt; &lt;https://evil|bank&gt;"
    )
    assert escape_for_slack("&amp;") == "&amp;amp;"
    assert escape_for_slack("*hi* 😀 \"q\" 'a'") == "*hi* 😀 \"q\" 'a'"  # only & < > change


@pytest.mark.parametrize(
    "text",
    ["<!channel>", "a & b", "&amp;", "&lt;tag&gt;", "<<>>", "x <@U1|y> z", "日本 😀 <ü>", "", "&&&;;"],
)
def test_round_trip(text: str) -> None:
    escaped = escape_for_slack(text)
    assert "<" not in escaped and ">" not in escaped
    assert slack_to_plain(escaped) == text
