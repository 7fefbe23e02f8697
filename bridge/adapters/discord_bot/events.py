"""Discord events into the core: a teammate's message in a post, app commands, buttons.

The same command layer as Slack: a message in a conversation post becomes a
ThreadMessage for ThreadCommands (a note, `!r`, any `!` command); app commands build
the equivalent `!` text and run it inline, answering ephemerally; card and reply
buttons (custom_id `smsbridge:<action>:<id>`) go to Actions.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import discord

from bridge.adapters.discord_bot import render
from bridge.adapters.discord_bot.markup import to_markdown
from bridge.adapters.discord_bot.poster import DiscordPoster
from bridge.commands.actions import Actions
from bridge.commands.channel import ChannelCommands
from bridge.commands.replies import CommandReply
from bridge.commands.thread import ThreadCommands
from bridge.inbox.chatstate import ChatState
from bridge.inbox.markup import Rich, own_words
from bridge.inbox.routing import InboxDirectory
from bridge.inbox.types import Author, ThreadMessage

log = logging.getLogger(__name__)

USER_MENTION = re.compile(r"<@!?(\d+)>")
ROLE_MENTION = re.compile(r"<@&(\d+)>")
CHANNEL_MENTION = re.compile(r"<#(\d+)>")
CUSTOM_EMOJI = re.compile(r"<a?:(\w+):\d+>")
EDIT_MODAL = "smsbridge:edit_draft:"


def display_name(user: discord.abc.User | discord.Member) -> str:
    return getattr(user, "display_name", None) or getattr(user, "global_name", None) or user.name


def discord_to_plain(message: discord.Message) -> str:
    """A teammate's text as the customer should read it: mentions become names."""
    names = {u.id: display_name(u) for u in message.mentions}
    text = USER_MENTION.sub(lambda m: "@" + names.get(int(m.group(1)), m.group(1)), message.content)
    guild = message.guild
    roles = {r.id: r.name for r in guild.roles} if guild is not None else {}
    text = ROLE_MENTION.sub(lambda m: "@" + roles.get(int(m.group(1)), "role"), text)

    def channel_name(m: re.Match[str]) -> str:
        channel = guild.get_channel_or_thread(int(m.group(1))) if guild is not None else None
        return "#" + (channel.name if channel is not None else m.group(1))

    text = CHANNEL_MENTION.sub(channel_name, text)
    return CUSTOM_EMOJI.sub(lambda m: f":{m.group(1)}:", text)


@dataclass
class DiscordHandlers:
    threads: ThreadCommands
    channel: ChannelCommands
    actions: Actions
    poster: DiscordPoster
    state: ChatState
    directory: InboxDirectory
    reply_prefix: str = "!r"
    # Set by the gateway: False when MESSAGE_CONTENT is not granted (text arrives blank).
    content_intent: bool = True
    _parents: dict[int, int] = field(default_factory=dict)

    def forums(self) -> set[str]:
        return {r.chats["discord"] for r in self.directory.all() if "discord" in r.chats}

    async def _parent_of(self, channel: Any, client: discord.Client) -> int | None:
        """The forum a post belongs to (fetched when the thread is not cached)."""
        parent = getattr(channel, "parent_id", None)
        if parent is not None:
            return int(parent)
        channel_id = getattr(channel, "id", None)
        if channel_id is None:
            return None
        if channel_id in self._parents:
            return self._parents[channel_id]
        try:
            fetched = await client.fetch_channel(channel_id)
        except discord.HTTPException:
            return None
        parent = getattr(fetched, "parent_id", None)
        if parent is not None:
            self._parents[channel_id] = int(parent)
        return int(parent) if parent is not None else None

    # -- messages in a post -----------------------------------------------------

    async def on_message(self, message: discord.Message, client: discord.Client) -> None:
        if message.author.bot or message.webhook_id is not None or message.guild is None:
            return
        if message.type not in (discord.MessageType.default, discord.MessageType.reply):
            return
        parent = await self._parent_of(message.channel, client)
        if parent is None or str(parent) not in self.forums():
            return
        if not self.content_intent:
            # Without MESSAGE_CONTENT the text is blank: storing it as a note would lie.
            return
        text = discord_to_plain(message)
        if message.attachments:
            text = "\n".join([text, *(a.url for a in message.attachments)]).strip()
        me = client.user.id if client.user else None
        mentions = tuple(Author("discord", str(u.id), display_name(u)) for u in message.mentions if u.id != me)
        outcome = await self.threads.handle(
            ThreadMessage(
                platform="discord",
                channel=str(parent),
                thread_id=str(message.channel.id),
                message_id=str(message.id),
                author=Author("discord", str(message.author.id), display_name(message.author)),
                text=text,
                event_key=f"discord:{message.id}",
                mentions=mentions,
            )
        )
        log.debug("discord message %s in %s: %s", message.id, message.channel.id, outcome)

    # -- app commands ------------------------------------------------------------

    @staticmethod
    def author(interaction: discord.Interaction) -> Author:
        return Author("discord", str(interaction.user.id), display_name(interaction.user))

    async def thread_command(
        self, interaction: discord.Interaction, text: Callable[[str], str], mentions: tuple[Author, ...] = ()
    ) -> None:
        """An app command inside a post, run as its `!` equivalent; answered ephemerally."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        channel = interaction.channel
        parent = await self._parent_of(channel, interaction.client) if channel is not None else None
        if parent is None or str(parent) not in self.forums():
            await self._answer(interaction, CommandReply("Use this inside a conversation's forum post.", ok=False))
            return
        result = await self.threads.run(
            ThreadMessage(
                platform="discord",
                channel=str(parent),
                thread_id=str(interaction.channel_id),
                message_id=str(interaction.id),
                author=self.author(interaction),
                text=text(self.reply_prefix),
                event_key=f"discord:i{interaction.id}",
                mentions=mentions,
            ),
            inline=True,
        )
        reply = result.reply or CommandReply("Done. The status line in the post shows its delivery." if result.outcome == "queued" else "Done.")
        await self._answer(interaction, reply)

    async def channel_command(self, interaction: discord.Interaction, text: str, mentions: tuple[Author, ...] = ()) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        channel = interaction.channel
        parent = await self._parent_of(channel, interaction.client) if channel is not None else None
        where = str(parent) if parent is not None and str(parent) in self.forums() else str(interaction.channel_id)
        reply = await self.channel.handle("discord", where, self.author(interaction), text, mentions)
        if text.startswith("report") and "is not a command" in str(reply.text):
            reply = CommandReply("Reports are not available yet.", ok=False)
        await self._answer(interaction, reply)

    async def snippet_choices(self, current: str) -> list[str]:
        names = await self.state.snippet_names()
        current = current.lower().strip()
        return [n for n in names if current in n.lower()][:25]

    async def _answer(self, interaction: discord.Interaction, reply: CommandReply) -> None:
        lines = [to_markdown(reply.text if isinstance(reply.text, Rich) else own_words(reply.text))]
        for link in reply.links:
            forum = await self.state.chat_channel(link.conversation_id, "discord")
            url = await self.poster.post_url(link.conversation_id, forum, interaction.guild_id) if forum else None
            title, detail = render.esc(link.title), render.esc(link.detail)
            lines.append(f"• [{title}]({url}) — {detail}" if url else f"• {title} — {detail} (no post yet)")
        view = render.buttons_view(reply.buttons)
        kwargs: dict[str, Any] = {"ephemeral": True, "allowed_mentions": render.NO_MENTIONS}
        if view is not None:
            kwargs["view"] = view
        await interaction.followup.send(render.truncate("\n".join(lines), render.MAX_CONTENT), **kwargs)

    # -- buttons, menus and the draft editor ------------------------------------

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        data: dict[str, Any] = dict(interaction.data or {})
        raw = str(data.get("custom_id", ""))
        if interaction.type == discord.InteractionType.modal_submit and raw.startswith(EDIT_MODAL):
            await self._edit_submitted(interaction, raw.removeprefix(EDIT_MODAL), data)
            return
        if interaction.type != discord.InteractionType.component:
            return
        parsed = render.parse_custom_id(raw)
        if parsed is None:
            return
        action, value = parsed
        if action == "edit":
            await self._open_editor(interaction, value)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        target: Author | None = None
        choice: str | None = None
        values = [str(v) for v in data.get("values") or []]
        if action == "assign":
            if not values:
                await self._answer(interaction, CommandReply("Pick a teammate to assign.", ok=False))
                return
            users = (data.get("resolved") or {}).get("users") or {}
            picked = users.get(values[0]) or {}
            name = picked.get("global_name") or picked.get("username") or values[0]
            target = Author("discord", values[0], name)
        elif action == "snippet":
            choice = values[0] if values else None
        reply = await self.actions.handle(self.author(interaction), action, value, target=target, choice=choice)
        await self._answer(interaction, reply)

    async def _open_editor(self, interaction: discord.Interaction, value: str) -> None:
        if not value.isdigit():
            await interaction.response.send_message("That button is out of date.", ephemeral=True)
            return
        view = await self.state.message(int(value))
        modal = discord.ui.Modal(title="Edit draft", custom_id=EDIT_MODAL + value, timeout=None)
        modal.add_item(
            discord.ui.TextInput(
                label="Text to the customer", custom_id="text", style=discord.TextStyle.paragraph,
                default=view.body[:1600], max_length=1600,
            )
        )
        modal.stop()  # answered by custom_id in on_interaction, not by discord.py's modal store
        await interaction.response.send_modal(modal)

    async def _edit_submitted(self, interaction: discord.Interaction, value: str, data: dict[str, Any]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        text = ""
        for row in data.get("components") or []:
            for comp in row.get("components") or [row.get("component") or {}]:
                if comp.get("custom_id") == "text":
                    text = str(comp.get("value") or "")
        if not value.isdigit():
            await self._answer(interaction, CommandReply("That draft is out of date.", ok=False))
            return
        reply = await self.actions.edit_draft(self.author(interaction), int(value), text)
        await self._answer(interaction, reply)
