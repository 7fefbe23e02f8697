"""Persistent buttons and pickers on smsbridge's Discord posts, as discord.py DynamicItems.

Each item's custom_id (`smsbridge:<action>:<id>`) is matched by a template, so a click
reaches its callback in whichever process holds the gateway, after any restart: no
view is kept in memory per message. The callbacks hand the click to the running
`DiscordHandlers` (the gateway client's `handlers`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord

if TYPE_CHECKING:
    from bridge.adapters.discord_bot.events import DiscordHandlers

CUSTOM_PREFIX = "smsbridge"
# Buttons on cards (claim, close, reopen, record opt-out) and on replies (undo, send
# anyway, discard, approve, edit), Cancel on scheduled texts, Show (no-bodies mode), the
# consent prompt of `/sms new`, `/sms erase`'s Erase / Cancel; the pickers have their own actions below.
BUTTON_ACTIONS = (
    "claim", "close", "reopen", "record_opt_out", "undo", "send_anyway", "discard", "approve", "edit", "cancel_later",
    "show_latest", "show",  # no-bodies mode: read a text privately (the longer name first)
    "confirm_consent", "cancel_consent",  # `/sms new` to a number with no consent on record
    "erase_contact", "erase_cancel",  # `/sms erase` (rule 9)
)
STYLES = {"primary": discord.ButtonStyle.primary, "danger": discord.ButtonStyle.danger}


def custom_id(action: str, value: str | int) -> str:
    return f"{CUSTOM_PREFIX}:{action}:{value}"


def _handlers(interaction: discord.Interaction) -> DiscordHandlers | None:
    client: Any = interaction.client
    return client.handlers if hasattr(client, "handlers") else None


class ActionButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=rf"{CUSTOM_PREFIX}:(?P<action>{'|'.join(BUTTON_ACTIONS)}):(?P<value>[^:]*)",
):
    def __init__(self, action: str, value: str, *, label: str = "", style: discord.ButtonStyle = discord.ButtonStyle.secondary) -> None:
        super().__init__(discord.ui.Button(label=label[:80] or action, style=style, custom_id=custom_id(action, value)))
        self.action = action
        self.value = value

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ActionButton:
        return cls(match["action"], match["value"])

    async def callback(self, interaction: discord.Interaction) -> None:
        handlers = _handlers(interaction)
        if handlers is not None:
            await handlers.on_button(interaction, self.action, self.value)


class AssignPicker(
    discord.ui.DynamicItem[discord.ui.UserSelect[Any]],
    template=rf"{CUSTOM_PREFIX}:assign:(?P<value>[^:]*)",
):
    def __init__(self, value: str) -> None:
        super().__init__(discord.ui.UserSelect(placeholder="Assign…", custom_id=custom_id("assign", value), row=1))
        self.value = value

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> AssignPicker:
        return cls(match["value"])

    async def callback(self, interaction: discord.Interaction) -> None:
        handlers = _handlers(interaction)
        if handlers is not None:
            await handlers.on_assign_picked(interaction, self.value, list(self.item.values))


class SnippetPicker(
    discord.ui.DynamicItem[discord.ui.Select[Any]],
    template=rf"{CUSTOM_PREFIX}:snippet:(?P<value>[^:]*)",
):
    def __init__(self, value: str, names: list[str] | None = None) -> None:
        options = [discord.SelectOption(label=n[:100], value=n[:100]) for n in (names or [])[:25]]
        select: discord.ui.Select[Any] = discord.ui.Select(
            placeholder="Send snippet…", custom_id=custom_id("snippet", value), options=options, row=2
        )
        super().__init__(select)
        self.value = value

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> SnippetPicker:
        return cls(match["value"])

    async def callback(self, interaction: discord.Interaction) -> None:
        handlers = _handlers(interaction)
        if handlers is not None:
            await handlers.on_snippet_picked(interaction, self.value, list(self.item.values))


DYNAMIC_ITEMS = (ActionButton, AssignPicker, SnippetPicker)
