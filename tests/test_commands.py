"""The command registry as users meet it, through the real slack-bolt and discord.py:
generated help per role and platform, every command on Discord (snippets, roles,
reports), refusals that say why, and escaping of what teammates type."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from bridge.commands.catalog import COMMANDS
from bridge.commands.context import CommandContext
from bridge.commands.registry import Where
from bridge.commands.replies import CommandReply
from bridge.inbox.markup import rich
from tests.harness import DISCORD_ANA, DISCORD_BEN, FORUM, Harness


def _whispers(h: Harness, user: str) -> list[str]:
    return [e["text"] for e in h.slack.ephemerals if e["user"] == user]


async def _thread(h: Harness) -> str:
    await h.text_in("Hi, is my bike ready?")
    root = await h.first_thread()
    await h.drain()
    return root


# -- Slack: help per role ---------------------------------------------------------


async def test_slack_help_lists_only_what_each_role_may_use(databases: Any) -> None:
    h = Harness(databases, admins=["UBEN"], viewers=["UCAT"])
    await h.start()
    try:
        h.slack.add_user("UCAT", "Cat")
        root = await _thread(h)
        for user in ("UANA", "UBEN", "UCAT"):
            await h.teammate(root, "!help", user=user)
        await h.drain()
        [agent] = _whispers(h, "UANA")
        [admin] = _whispers(h, "UBEN")
        [viewer] = _whispers(h, "UCAT")
        assert "`!r your text` — sends your text to the customer by SMS" in agent
        assert "`!claim`" in agent and "`!status open|pending|escalated|closed`" in agent
        assert "`!snippet NAME`" in agent and "(also `!s`)" in agent
        assert "`!r your text`" not in viewer and "`!claim`" not in viewer
        assert "`!help`" in viewer and "`!snippets`" in viewer
        assert "more need a higher role than yours (viewer)" in viewer
        assert "higher role" not in admin
        # Channel-only commands are not thread commands.
        assert "`!new" not in agent and "/sms snippet add" not in agent

        agent_channel = (await h.sms_command("help"))["text"]
        admin_channel = (await h.sms_command("help", user="UBEN"))["text"]
        assert "`/sms new +14155550123 text`" in agent_channel
        assert "`/sms role`" not in agent_channel and "`/sms snippet add" not in agent_channel
        assert "`/sms role @name admin|agent|viewer`" in admin_channel
        assert "`/sms snippet add NAME text`" in admin_channel and "`/sms snippet delete NAME`" in admin_channel
        assert "`/sms report [today|7d|30d|FROM..TO] [INBOX] [@name]`" in admin_channel
        assert (await h.sms_command(""))["text"] == agent_channel  # a bare /sms is help
    finally:
        await h.stop()


async def test_a_teammate_whose_name_has_spaces_gets_a_role(databases: Any) -> None:
    h = Harness(databases, admins=["UANA"])
    await h.start()
    try:
        h.slack.add_user("UCAT", "Cat Stevens")
        answer = await h.sms_command("role <@UCAT> viewer")  # Slack sends the mention; it reads "@Cat Stevens viewer"
        assert answer["text"] == "Cat Stevens is now viewer (was agent)."
        assert (await h.sms_command("role <@UCAT> boss"))["text"].startswith("`/sms role` takes one of: admin, agent, viewer.")
    finally:
        await h.stop()


async def test_a_command_typed_in_the_wrong_place_says_where_it_works(harness: Harness) -> None:
    root = await _thread(harness)
    answer = await harness.sms_command("claim")
    assert answer["text"] == "`/sms claim` works inside a conversation thread: `!claim`."
    await harness.teammate(root, "!new +14155550199 hello")
    await harness.drain()
    assert _whispers(harness, "UANA") == ["`!new` works in the channel: `/sms new +14155550123 text`."]
    assert harness.sms_sent() == []
    usage = await harness.sms_command("snippet rename a b")
    assert usage["text"].startswith("Usage: `/sms snippet add NAME text` `/sms snippet edit NAME text`")


# -- a command declared for one platform ---------------------------------------------


@pytest.fixture
def slack_only_command() -> Iterator[None]:
    @COMMANDS.command("ping", platforms=("slack",), help="answers pong")
    async def ping(ctx: CommandContext) -> CommandReply:
        return CommandReply(rich("pong from {who}", who=ctx.agent.name))

    yield
    COMMANDS.remove(COMMANDS.get("ping"))


@pytest.fixture
async def both(databases: Any, slack_only_command: None) -> AsyncIterator[Harness]:
    h = Harness(databases, discord=True, collision_seconds=0, admins=[f"discord:{DISCORD_ANA}", "UANA"])
    await h.start()
    yield h
    await h.stop()


async def test_a_command_for_one_platform_is_refused_on_the_other_with_the_reason(both: Harness) -> None:
    assert both.discord is not None
    await both.text_in("hello")
    root = await both.first_thread()
    post = await both.first_post()

    await both.teammate(root, "!ping")
    await both.drain()
    assert _whispers(both, "UANA") == ["pong from Ana"]

    await both.discord.user_message(post["id"], DISCORD_ANA, "!ping")
    await both.discord.wait_for(
        lambda: any("works on Slack only" in m["content"] for m in both.post_messages(post["id"])), message="the refusal"
    )
    [refusal] = [m["content"] for m in both.post_messages(post["id"]) if "works on Slack only" in m["content"]]
    assert refusal == f"<@{DISCORD_ANA}> `!ping` works on Slack only."
    # It is not offered on Discord, nor in Discord's help.
    from bridge.adapters.discord_bot.commands import manifest

    assert "ping" not in {c["name"] for c in manifest()}
    await both.discord.user_message(post["id"], DISCORD_ANA, "!help")
    await both.discord.wait_for(
        lambda: any("internal note" in m["content"] for m in both.post_messages(post["id"])), message="the help"
    )
    [help_text] = [m["content"] for m in both.post_messages(post["id"]) if "internal note" in m["content"]]
    assert "`!ping`" not in help_text and "`!claim`" in help_text
    assert both.sms_sent() == []


# -- Discord: every command ------------------------------------------------------------


async def _slash(h: Harness, name: str, options: dict[str, Any] | None = None, *, user: int = DISCORD_ANA,
                 channel: int = FORUM, subcommand: str | None = None, group: str | None = None) -> str:
    assert h.discord is not None
    iid = await h.discord.slash_command(name, options or {}, user_id=user, channel_id=channel, subcommand=subcommand, group=group)
    await h.discord.wait_for(lambda: bool(h.discord.followups(iid)), message=f"the answer to /{name}")  # type: ignore[union-attr]
    await h.drain()
    followup = h.discord.followups(iid)[0]
    assert followup["flags"] & 64  # only the asker sees it
    return str(followup["content"])


async def test_discord_manages_snippets(dh_admin: Harness) -> None:
    assert dh_admin.discord is not None
    await dh_admin.text_in("when are you open?")
    post = await dh_admin.first_post()

    said = await _slash(dh_admin, "sms", {"name": "hours", "text": "We're open 9-6, {first_name}."}, subcommand="add", group="snippet")
    assert said == "Snippet `hours` saved."
    said = await _slash(dh_admin, "sms", {"name": "hours", "text": "Open 9-6."}, subcommand="add", group="snippet")
    assert said == "Snippet `hours` exists; `/sms snippet edit hours …` changes it."
    said = await _slash(dh_admin, "sms", {"name": "hours", "text": "We're open 9-6."}, subcommand="edit", group="snippet")
    assert said == "Snippet `hours` saved."
    refused = await _slash(dh_admin, "sms", {"name": "hours", "text": "x"}, subcommand="edit", group="snippet", user=DISCORD_BEN)
    assert refused == "Managing snippets needs the admin role; you are agent. Ask an admin (ana) to run `/sms role @ben admin`."
    listed = await _slash(dh_admin, "sms", subcommand="snippets")
    assert "• `hours` — We're open 9-6." in listed

    said = await _slash(dh_admin, "snippet", {"name": "hours"}, channel=post["id"], user=DISCORD_BEN)
    assert said.startswith("Done.")
    assert [m["Body"] for m in dh_admin.sms_sent()] == ["We're open 9-6."]

    assert await _slash(dh_admin, "sms", {"name": "hours"}, subcommand="delete", group="snippet") == "Snippet `hours` deleted."
    assert await _slash(dh_admin, "sms", {"name": "hours"}, subcommand="delete", group="snippet") == "No snippet `hours`."
    bad = await _slash(dh_admin, "sms", {"name": "two words", "text": "x"}, subcommand="add", group="snippet")
    assert bad.startswith("`/sms snippet add` `two words` is not a valid snippet name.")
    audit = await dh_admin.rows("SELECT action FROM audit_events WHERE action LIKE 'snippet%' ORDER BY id")
    assert [r[0] for r in audit] == ["snippet_saved", "snippet_saved", "snippet_deleted"]


async def test_discord_sets_roles_and_shows_reports(dh_admin: Harness) -> None:
    assert dh_admin.discord is not None
    await dh_admin.text_in("hello")
    post = await dh_admin.first_post()

    refused = await _slash(dh_admin, "sms", {"user": DISCORD_ANA, "role": "viewer"}, subcommand="role", user=DISCORD_BEN)
    assert refused == (
        "Changing roles needs the admin role; you are agent."
        f" Admins are listed in the `ADMINS` setting; ask one of them, or add `discord:{DISCORD_BEN}` to it."
    )
    said = await _slash(dh_admin, "sms", {"user": DISCORD_BEN, "role": "viewer"}, subcommand="role")
    assert said == "ben is now viewer (was agent)."
    refused = await _slash(dh_admin, "claim", channel=post["id"], user=DISCORD_BEN)
    assert refused == "Claiming needs the agent role; you are viewer. Ask an admin (ana) to run `/sms role @ben agent`."

    report = await _slash(dh_admin, "sms", {"period": "30d"}, subcommand="report")
    assert report.startswith("**Report, last 30d**") and "New conversations: 1" in report
    # /report in a post, as before, and the default period.
    assert (await _slash(dh_admin, "report", channel=post["id"])).startswith("**Report, last 7d**")
    assert await _slash(dh_admin, "sms", {"period": "forever"}, subcommand="report") == (
        "`forever` is neither a period nor an inbox. Periods: today, 24h, 7d, 30d, 2w or FROM..TO dates"
        " (e.g. 2026-11-01..2026-12-01, TO not included). Inboxes: default."
        " Usage: `/sms report [today|7d|30d|FROM..TO] [INBOX] [@name]`."
    )


async def test_discord_help_per_role_and_place(dh_admin: Harness) -> None:
    assert dh_admin.discord is not None
    await dh_admin.text_in("hello")
    post = await dh_admin.first_post()
    admin = await _slash(dh_admin, "sms", subcommand="help")
    agent = await _slash(dh_admin, "sms", subcommand="help", user=DISCORD_BEN)
    assert "`/sms snippet add NAME text`" in admin and "`/sms role @name admin|agent|viewer`" in admin
    assert "`/sms snippet add" not in agent and "`/sms role" not in agent and "`/sms new" in agent
    in_post = await _slash(dh_admin, "help", channel=post["id"], user=DISCORD_BEN)
    assert "internal note" in in_post and "`!claim`" in in_post and "`!r your text`" in in_post


async def test_what_a_teammate_types_cannot_ping_or_format(dh_admin: Harness) -> None:
    assert dh_admin.discord is not None
    await dh_admin.text_in("hello")
    post = await dh_admin.first_post()
    said = await _slash(dh_admin, "contact", {"name": "**Bob** @everyone"}, channel=post["id"], subcommand="name")
    assert said == "Contact name set to \\*\\*Bob\\*\\* @\u200beveryone."
    await dh_admin.discord.user_message(post["id"], DISCORD_BEN, "!tz <@&1> *x*")
    await dh_admin.discord.wait_for(lambda: any("not a time zone" in m["content"] for m in dh_admin.post_messages(post["id"])), message="tz")
    [answer] = [m for m in dh_admin.post_messages(post["id"]) if "not a time zone" in m["content"]]
    assert [int(u["id"]) for u in answer["mentions"]] == [DISCORD_BEN] and not answer["mention_roles"]


async def test_slack_escapes_what_a_teammate_types(harness: Harness) -> None:
    root = await _thread(harness)
    await harness.teammate(root, "!contact name *Bob* <!channel> & co")
    await harness.drain()
    [answer] = _whispers(harness, "UANA")
    assert "<!channel>" not in answer and "*Bob*" not in answer
    assert answer.startswith("Contact name set to ∗Bob∗ ") and "&amp; co" in answer


# -- generated documents ------------------------------------------------------------


def test_readme_command_tables_are_generated_from_the_registry() -> None:
    from bridge.commands.docs import README, render_readme

    current = README.read_text(encoding="utf-8")
    assert current == render_readme(current), "README.md command tables are stale: python -m bridge.commands.docs"


def test_every_thread_command_is_an_app_command_and_every_channel_command_is_under_sms() -> None:
    from bridge.adapters.discord_bot.commands import manifest

    by_name = {c["name"]: c for c in manifest()}
    sms = {o["name"]: o for o in by_name["sms"]["options"]}
    for command in COMMANDS:
        if command.where & Where.THREAD:
            assert command.words[0] in by_name, command.name
        if command.where & Where.CHANNEL:
            assert command.words[0] in sms, command.name
    status = {o["name"]: o for o in by_name["status"]["options"]}["status"]
    assert [c["value"] for c in status["choices"]] == ["open", "pending", "escalated", "closed"]
    assert {o["name"]: o for o in by_name["snippet"]["options"]}["name"]["autocomplete"] is True
    assert {o["name"]: o for o in by_name["assign"]["options"]}["user"]["type"] == 6  # a user picker


def test_a_declaration_and_its_handler_must_agree() -> None:
    from bridge.commands.arguments import Text
    from bridge.commands.registry import Registry

    registry = Registry()

    async def wrong(ctx: CommandContext, body: str) -> CommandReply:
        raise AssertionError("never run")

    with pytest.raises(TypeError, match="takes \\['body'\\], its declaration has \\['text'\\]"):
        registry.command("note", args=(Text("text", "the note"),), help="adds a note")(wrong)
    with pytest.raises(ValueError, match="clashes"):
        COMMANDS.command("s", help="clashes with the snippet alias")(wrong)
    assert "note" not in {c.name for c in registry}


async def test_discord_new_conversation_and_search_link_to_posts(dh_admin: Harness) -> None:
    assert dh_admin.discord is not None
    await dh_admin.give_consent("+14155550109")  # else /sms new asks first (test_consent.py)
    said = await _slash(dh_admin, "sms", {"number": "(415) 555-0109", "text": "Your bike is ready"}, subcommand="new")
    assert said.startswith("Texting: (415) 555-0109. Follow it in the thread.")
    await dh_admin.discord.wait_for(lambda: len(dh_admin.posts()) == 1, message="the new post")
    await dh_admin.drain()
    assert [m["Body"] for m in dh_admin.sms_sent()] == ["Your bike is ready"]
    found = await _slash(dh_admin, "sms", {"query": "bike"}, subcommand="search")
    post = dh_admin.posts()[0]
    assert found.startswith("1 conversation(s) for “bike”, newest first:")
    assert f"(<https://discord.com/channels/{dh_admin.discord.guild_id}/{post['id']}>)" in found
    bad = await _slash(dh_admin, "sms", {"number": "12", "text": "hi"}, subcommand="new")
    assert bad == "`12` is not a valid phone number. Try the full number, e.g. +14155550123."
    assert len(dh_admin.sms_sent()) == 1
