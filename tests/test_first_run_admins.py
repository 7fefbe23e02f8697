"""Admins on a first run (ADMINS unset): the people who run the chat workspace are
smsbridge admins, `/sms role` adds more, and a refusal says who can grant the role.

Driven through the real slack-bolt and discord.py against the loopback fakes."""

from __future__ import annotations

from typing import Any

from tests.fakes.discord_api import Perms
from tests.harness import DISCORD_ANA, DISCORD_BEN, Harness

MANAGERS = 1500000000000000001  # a Discord role with Manage Server
DISCORD_CAT = 1400000000000000003


async def test_slack_workspace_owners_and_admins_are_admins_until_admins_is_set(databases: Any) -> None:
    h = Harness(databases)
    await h.start()
    try:
        h.slack.add_user("UOWN", "Olga", is_owner=True)
        h.slack.add_user("UADM", "Adam", is_admin=True)

        # Nobody has acted yet: an agent's refusal says how to become an admin.
        refused = (await h.sms_command("snippet add hours We're open 9-6", user="UANA"))["text"]
        assert refused.startswith("Managing snippets needs the admin role; you are agent.")
        assert "Slack workspace owners and admins are admins" in refused
        assert "`ADMINS=slack:UANA`" in refused

        # A workspace owner and a workspace admin can, as themselves.
        assert (await h.sms_command("snippet add hours We're open 9-6", user="UOWN"))["text"] == "Snippet `hours` saved."
        assert (await h.sms_command("snippet edit hours Open 9-6", user="UADM"))["text"] == "Snippet `hours` saved."

        # Now the refusal names the admins to ask.
        refused = (await h.sms_command("snippet delete hours", user="UANA"))["text"]
        assert "Ask an admin (Adam, Olga) to run `/sms role @Ana admin`." in refused

        # `/sms role` makes more admins.
        assert (await h.sms_command("role <@UANA> admin", user="UOWN"))["text"] == "Ana is now admin (was agent)."
        assert (await h.sms_command("snippet delete hours", user="UANA"))["text"] == "Snippet `hours` deleted."
        assert h.sms_sent() == []
    finally:
        await h.stop()


async def test_with_admins_set_the_workspace_owner_is_not_an_admin(databases: Any) -> None:
    h = Harness(databases, admins=["UBEN"])
    await h.start()
    try:
        h.slack.add_user("UOWN", "Olga", is_owner=True)
        refused = (await h.sms_command("snippet add hours x", user="UOWN"))["text"]
        assert refused.startswith("Managing snippets needs the admin role; you are agent.")
        assert "`ADMINS`" in refused
        await h.sms_command("help", user="UBEN")  # Ben acts once: now he is named
        refused = (await h.sms_command("snippet add hours x", user="UOWN"))["text"]
        assert "Ask an admin (Ben) to run `/sms role @Olga admin`." in refused
    finally:
        await h.stop()


async def test_discord_members_with_manage_server_are_admins(databases: Any) -> None:
    h = Harness(databases, discord=True, smsbridge_slack_channel=None)
    assert h.discord is not None
    h.discord.add_role(MANAGERS, "Managers", permissions=Perms.MANAGE_GUILD)
    h.discord.add_member(DISCORD_CAT, "cat", roles=[MANAGERS])
    await h.start()
    try:
        from bridge.adapters.discord_bot.commands import sync_commands

        await sync_commands(h.discord.token, h.discord.guild_id)
        from tests.test_commands import _slash

        refused = await _slash(h, "sms", {"name": "hours", "text": "x"}, subcommand="add", group="snippet", user=DISCORD_BEN)
        assert refused.startswith("Managing snippets needs the admin role; you are agent.")
        assert "Discord members with Manage Server are admins" in refused

        said = await _slash(h, "sms", {"name": "hours", "text": "Open 9-6."}, subcommand="add", group="snippet", user=DISCORD_CAT)
        assert said == "Snippet `hours` saved."
        refused = await _slash(h, "sms", {"name": "hours"}, subcommand="delete", group="snippet", user=DISCORD_ANA)
        assert "Ask an admin (cat) to run `/sms role @ana admin`." in refused
        said = await _slash(h, "sms", {"user": DISCORD_ANA, "role": "admin"}, subcommand="role", user=DISCORD_CAT)
        assert said == "ana is now admin (was agent)."
        assert await _slash(h, "sms", {"name": "hours"}, subcommand="delete", group="snippet") == "Snippet `hours` deleted."
    finally:
        await h.stop()
