"""The app commands smsbridge offers on Discord, defined once for the running bot,
`smsbridge discord sync` and manifests/discord-commands.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

if TYPE_CHECKING:
    from bridge.adapters.discord_bot.events import DiscordHandlers

MANIFEST = Path(__file__).resolve().parents[3] / "manifests" / "discord-commands.json"
STATUSES = ["open", "pending", "escalated", "closed"]


def add_commands(tree: app_commands.CommandTree[Any], handlers: DiscordHandlers | None) -> None:
    """Register every command on `tree`; with `handlers=None` (sync only) they cannot run."""

    def need() -> DiscordHandlers:
        if handlers is None:
            raise RuntimeError("smsbridge is not running in this process")
        return handlers

    @tree.command(name="reply", description="Text the customer of this conversation (SMS)")
    @app_commands.describe(text="What the customer receives")
    async def reply(interaction: discord.Interaction, text: str) -> None:
        await need().thread_command(interaction, lambda prefix: f"{prefix} {text}")

    @tree.command(name="claim", description="Take this conversation")
    async def claim(interaction: discord.Interaction) -> None:
        await need().thread_command(interaction, lambda _: "!claim")

    @tree.command(name="assign", description="Assign this conversation to a teammate")
    @app_commands.describe(user="Who answers it from now on")
    async def assign(interaction: discord.Interaction, user: discord.User) -> None:
        from bridge.adapters.discord_bot.events import display_name
        from bridge.inbox.types import Author

        who = Author("discord", str(user.id), display_name(user))
        await need().thread_command(interaction, lambda _: f"!assign @{who.label}", (who,))

    async def snippet_names(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=n, value=n) for n in await need().snippet_choices(current)]

    @tree.command(name="snippet", description="Send a saved snippet to the customer")
    @app_commands.describe(name="The snippet's name")
    @app_commands.autocomplete(name=snippet_names)
    async def snippet(interaction: discord.Interaction, name: str) -> None:
        await need().thread_command(interaction, lambda _: f"!s {name}")

    @tree.command(name="close", description="Close this conversation")
    async def close(interaction: discord.Interaction) -> None:
        await need().thread_command(interaction, lambda _: "!close")

    @tree.command(name="status", description="Set this conversation's status")
    @app_commands.describe(status="The new status")
    @app_commands.choices(status=[app_commands.Choice(name=s.capitalize(), value=s) for s in STATUSES])
    async def status(interaction: discord.Interaction, status: app_commands.Choice[str]) -> None:
        await need().thread_command(interaction, lambda _: f"!status {status.value}")

    sms = app_commands.Group(name="sms", description="smsbridge: new conversations, search, snippets, away")

    @sms.command(name="new", description="Text a number: opens (or reuses) its conversation")
    @app_commands.describe(number="Phone number, e.g. +14155550123", text="The first text")
    async def sms_new(interaction: discord.Interaction, number: str, text: str) -> None:
        await need().channel_command(interaction, f"new {number} {text}")

    @sms.command(name="search", description="Find conversations by words, names or numbers")
    async def sms_search(interaction: discord.Interaction, query: str) -> None:
        await need().channel_command(interaction, f"search {query}")

    @sms.command(name="snippets", description="List the saved snippets")
    async def sms_snippets(interaction: discord.Interaction) -> None:
        await need().channel_command(interaction, "snippets")

    @sms.command(name="away", description="Stop routing new conversations to you")
    async def sms_away(interaction: discord.Interaction) -> None:
        await need().channel_command(interaction, "away")

    @sms.command(name="back", description="Route new conversations to you again")
    async def sms_back(interaction: discord.Interaction) -> None:
        await need().channel_command(interaction, "back")

    @sms.command(name="help", description="What smsbridge can do")
    async def sms_help(interaction: discord.Interaction) -> None:
        await need().channel_command(interaction, "help")

    tree.add_command(sms)

    @tree.command(name="report", description="Response times and volumes")
    @app_commands.describe(period="e.g. 24h, 7d or 30d")
    async def report(interaction: discord.Interaction, period: str = "7d") -> None:
        await need().channel_command(interaction, f"report {period}")

    for command in tree.get_commands():
        command.guild_only = True  # inboxes live in a server; nothing to do in DMs


def manifest() -> list[dict[str, Any]]:
    """The commands as Discord's bulk-overwrite API takes them."""
    client = discord.Client(intents=discord.Intents.none())
    tree: app_commands.CommandTree[Any] = app_commands.CommandTree(client)
    add_commands(tree, None)
    return [command.to_dict(tree) for command in tree.get_commands()]


def write_manifest(path: Path = MANIFEST) -> None:
    path.write_text(json.dumps(manifest(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


async def sync_commands(token: str, guild_id: int | None = None) -> list[str]:
    """Upload the commands (one bulk overwrite): to one server when `guild_id` is given
    (instant), else globally (may take up to an hour to show everywhere)."""
    client = discord.Client(intents=discord.Intents(guilds=True))  # REST only
    try:
        await client.login(token)
        tree: app_commands.CommandTree[Any] = app_commands.CommandTree(client)
        add_commands(tree, None)
        if guild_id is not None:
            guild = discord.Object(guild_id)
            tree.copy_global_to(guild=guild)
            synced = await tree.sync(guild=guild)
        else:
            synced = await tree.sync()
        return [command.name for command in synced]
    finally:
        await client.close()
