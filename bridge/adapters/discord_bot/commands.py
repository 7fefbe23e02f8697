"""The app commands smsbridge offers on Discord, generated from the command registry for
the running bot, `smsbridge discord sync` and manifests/discord-commands.json.

Commands that work in a conversation thread are top-level (`/claim`, `/contact name`,
typed inside a forum post); commands that work in the channel are under `/sms`
(`/sms new`, `/sms snippet add`). A command that works in both places is in both.
Enum arguments become choices, snippet names autocomplete, teammates are user pickers.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import discord
from discord import app_commands

from bridge.commands.arguments import Arg
from bridge.commands.catalog import COMMANDS
from bridge.commands.registry import Command, Registry, Where

if TYPE_CHECKING:
    from bridge.adapters.discord_bot.events import DiscordHandlers

MANIFEST = Path(__file__).resolve().parents[3] / "manifests" / "discord-commands.json"
SMS_DESCRIPTION = "smsbridge: new conversations, search, snippets, reports, away, roles"
GROUP_DESCRIPTIONS = {"contact": "The contact's name and notes", "snippet": "Manage the saved snippets (admins)"}

# App commands with an extra `file` option whose attachment goes out as MMS.
FILE_COMMANDS = frozenset({"reply"})
Runner = Callable[[discord.Interaction, Command, Where, dict[str, object]], Awaitable[None]]


def _description(text: str) -> str:
    text = text[:1].upper() + text[1:]
    return text if len(text) <= 100 else text[:99] + "…"


def _annotation(arg: Arg) -> Any:
    return discord.User if arg.option_kind == "user" else str


def _callback(command: Command, where: Where, need: Callable[[], DiscordHandlers]) -> Callable[..., Awaitable[None]]:
    async def run(interaction: discord.Interaction, **values: object) -> None:
        await need().app_command(interaction, command, where, values)

    params = [inspect.Parameter("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction)]
    for arg in command.args:
        default: object = arg.default if arg.optional else inspect.Parameter.empty
        params.append(inspect.Parameter(arg.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=_annotation(arg), default=default))
    if command.name in FILE_COMMANDS:
        # A file sent with the reply as MMS (Discord only: a typed `!r` carries its own).
        params.append(inspect.Parameter("file", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Optional[discord.Attachment], default=None))  # noqa: UP045 - discord.py reads Optional
    run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]  # discord.py reads the options from it
    return run


def _app_command(command: Command, name: str, where: Where, need: Callable[[], DiscordHandlers]) -> app_commands.Command[Any, ..., None]:
    app = app_commands.Command(name=name, description=_description(command.help), callback=_callback(command, where, need))
    for arg in command.args:
        parameter = app._params[arg.name]
        parameter.description = _description(arg.description)
        if arg.choices():
            parameter.choices = [app_commands.Choice(name=label, value=value) for label, value in arg.choices()]
        if arg.autocomplete == "snippets":
            app.autocomplete(arg.name)(_snippet_names(need))
    if command.name in FILE_COMMANDS:
        app._params["file"].description = "A picture or file to send with it (MMS)"
    return app


def _snippet_names(need: Callable[[], DiscordHandlers]) -> Callable[..., Awaitable[list[app_commands.Choice[str]]]]:
    async def names(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=n, value=n) for n in await need().snippet_choices(current)]

    return names


def _place(parent: app_commands.Group | None, tree: app_commands.CommandTree[Any], words: tuple[str, ...],
           make: Callable[[str], app_commands.Command[Any, ..., None]], groups: dict[tuple[str, ...], app_commands.Group]) -> None:
    """Add a command of one or two words under `parent` (or the tree), making groups as needed."""
    if len(words) == 1:
        if parent is None:
            tree.add_command(make(words[0]))
        else:
            parent.add_command(make(words[0]))
        return
    key = (parent.name if parent else "", words[0])
    group = groups.get(key)
    if group is None:
        group = app_commands.Group(name=words[0], description=GROUP_DESCRIPTIONS.get(words[0], words[0].capitalize()), parent=parent)
        groups[key] = group
        if parent is None:
            tree.add_command(group)
    group.add_command(make(words[1]))


def add_commands(tree: app_commands.CommandTree[Any], handlers: DiscordHandlers | None, registry: Registry = COMMANDS) -> None:
    """Register every command on `tree`; with `handlers=None` (sync only) they cannot run."""

    def need() -> DiscordHandlers:
        if handlers is None:
            raise RuntimeError("smsbridge is not running in this process")
        return handlers

    groups: dict[tuple[str, ...], app_commands.Group] = {}
    on_discord = [c for c in registry if c.works_on("discord")]
    for command in on_discord:
        if command.where & Where.THREAD:
            _place(None, tree, command.words, lambda n, c=command: _app_command(c, n, Where.THREAD, need), groups)
    sms = app_commands.Group(name="sms", description=SMS_DESCRIPTION)
    for command in on_discord:
        if command.where & Where.CHANNEL:
            _place(sms, tree, command.words, lambda n, c=command: _app_command(c, n, Where.CHANNEL, need), groups)
    tree.add_command(sms)

    for app in tree.get_commands():
        app.guild_only = True  # inboxes live in a server; nothing to do in DMs


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
