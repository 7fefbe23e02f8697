"""Neutral rich text: the core's wording keeps its emphasis, values never become markup."""

from __future__ import annotations

from bridge.adapters.discord_bot.markup import mentioned_users, to_markdown
from bridge.adapters.slack.markup import to_mrkdwn
from bridge.inbox.labels import ConversationStatus, Priority
from bridge.inbox.markup import Mention, join, rich

HOSTILE = "*Bob* <!channel> <@U999> @everyone `x` _y_ [a](http://evil)"


def test_template_emphasis_is_rendered_per_platform() -> None:
    text = rich("Status: **{status}** — use `!s {name}`", status="Closed", name="hello")
    assert to_mrkdwn(text) == "Status: *Closed* — use `!s hello`"
    assert to_markdown(text) == "Status: **Closed** — use `!s hello`"
    assert text.plain() == "Status: Closed — use !s hello"


def test_a_hostile_value_is_inert_on_slack() -> None:
    out = to_mrkdwn(rich("Conversation with {name} (**{name}**)", name=HOSTILE))
    assert "<!channel>" not in out and "<@U999>" not in out
    assert "&lt;!channel&gt;" in out
    # No formatting mark from the value survives: the only * are the template's bold.
    assert out.count("*") == 2 and "`" not in out and "_y_" not in out


def test_a_hostile_value_is_inert_on_discord() -> None:
    out = to_markdown(rich("Conversation with {name}", name=HOSTILE))
    assert "@everyone" not in out  # defused with a zero-width space
    assert "\\*Bob\\*" in out and "\\`x\\`" in out
    assert mentioned_users(rich("{name}", name=HOSTILE)) == []


def test_mentions_notify_only_on_their_own_platform() -> None:
    ana = Mention("discord", "1400000000000000001", "Ana")
    text = rich("Assigned to {who}.", who=ana)
    assert to_markdown(text) == "Assigned to <@1400000000000000001>."
    assert [o.id for o in mentioned_users(text)] == [1400000000000000001]
    assert to_mrkdwn(text) == "Assigned to @Ana."
    assert to_mrkdwn(rich("{who}", who=Mention("slack", "U1", "Ana"))) == "<@U1>"


def test_join_and_concatenation_keep_values_inert() -> None:
    text = join([rich("**Report**"), "<!here>"]) + " end"
    assert to_mrkdwn(text) == "*Report*\n&lt;!here&gt; end"


def test_labels_come_from_one_table() -> None:
    assert ConversationStatus("open").badge == "🟢 Open"
    assert ConversationStatus.NEW not in ConversationStatus.settable()
    assert Priority.named("Urgent").badge == "🔴 Urgent"
    assert Priority.of(7) is Priority.URGENT and Priority.NORMAL.badge == "Normal"
