"""Discord events into the core: a teammate's message in a post, app commands, buttons.

The same command layer as Slack: a message in a conversation post becomes a
ThreadMessage for ThreadCommands (a note, `!r`, any `!` command); app commands
(generated from the command registry) arrive with their declaration and are checked
and run like typed ones, answering ephemerally; card and reply buttons and pickers are
DynamicItems (components.py) that hand their click to Actions.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from typing import Any

import discord

from bridge.adapters.discord_bot import render
from bridge.adapters.discord_bot.markup import to_markdown
from bridge.adapters.discord_bot.poster import DiscordPoster
from bridge.commands.actions import Actions
from bridge.commands.channel import ChannelCommands
from bridge.commands.registry import Command, Where
from bridge.commands.replies import CommandReply, refusal
from bridge.commands.thread import ThreadCommands
from bridge.inbox.chatstate import ChatState
from bridge.inbox.markup import Link, rich
from bridge.inbox.media_files import MAX_TOTAL_BYTES
from bridge.inbox.routing import InboxDirectory
from bridge.inbox.types import Author, OutgoingFile, ThreadMessage

log = logging.getLogger(__name__)

USER_MENTION = re.compile(r"<@!?(\d+)>")
ROLE_MENTION = re.compile(r"<@&(\d+)>")
CHANNEL_MENTION = re.compile(r"<#(\d+)>")
CUSTOM_EMOJI = re.compile(r"<a?:(\w+):\d+>")
EDIT_MODAL = "smsbridge:edit_draft:"


def display_name(user: discord.abc.User | discord.Member) -> str:
    return getattr(user, "display_name", None) or getattr(user, "global_name", None) or user.name


def manages_server(user: discord.abc.User | discord.Member) -> bool:
    """The guild's owner or a member with Manage Server (an admin while ADMINS is unset)."""
    if not isinstance(user, discord.Member):
        return False
    if user.guild.owner_id == user.id:
        return True
    perms = user.guild_permissions
    return bool(perms.manage_guild or perms.administrator)


def author_of(user: discord.abc.User | discord.Member) -> Author:
    return Author("discord", str(user.id), display_name(user), platform_admin=manages_server(user))


async def read_attachment(attachment: discord.Attachment) -> OutgoingFile | str:
    """A Discord attachment's bytes for an MMS, or why it cannot go."""
    if attachment.size > MAX_TOTAL_BYTES:
        return f"{attachment.filename} is {attachment.size / (1024 * 1024):.1f} MB; an MMS carries at most {MAX_TOTAL_BYTES // (1024 * 1024)} MB."
    try:
        data = await attachment.read()
    except discord.HTTPException as exc:
        return f"smsbridge could not download {attachment.filename} from Discord ({exc.status}); try again."
    return OutgoingFile(attachment.filename, attachment.content_type or "application/octet-stream", data)


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
        tm = await self._thread_message(message, client, f"discord:{message.id}")
        if tm is not None:
            outcome = await self.threads.handle(tm)
            log.debug("discord message %s in %s: %s", message.id, message.channel.id, outcome)

    async def on_edit(self, message: discord.Message, client: discord.Client) -> None:
        """A teammate edited a message in a post: a note takes the new text, a `!r` still
        in its undo window changes, one already sent is not sent again."""
        edited = message.edited_at.isoformat() if message.edited_at else "?"
        tm = await self._thread_message(message, client, f"discord:edit:{message.id}:{edited}")
        if tm is not None:
            outcome = await self.threads.edited(tm)
            log.debug("discord message %s edited in %s: %s", message.id, message.channel.id, outcome)

    async def on_delete(self, channel_id: int, message_id: int) -> None:
        outcome = await self.threads.deleted("discord", str(channel_id), str(message_id))
        log.debug("discord message %s deleted in %s: %s", message_id, channel_id, outcome)

    async def _thread_message(self, message: discord.Message, client: discord.Client, event_key: str) -> ThreadMessage | None:
        if message.author.bot or message.webhook_id is not None or message.guild is None:
            return None
        if message.type not in (discord.MessageType.default, discord.MessageType.reply):
            return None
        parent = await self._parent_of(message.channel, client)
        if parent is None or str(parent) not in self.forums():
            return None
        if not self.content_intent:
            # Without MESSAGE_CONTENT the text is blank: storing it as a note would lie.
            return None
        text = discord_to_plain(message)
        attachments: list[OutgoingFile] = []
        unreadable: list[str] = []
        if message.attachments and self._is_reply(text):
            # A reply's files go as MMS (never as a CDN link pasted into the text).
            for attachment in message.attachments:
                got = await read_attachment(attachment)
                if isinstance(got, OutgoingFile):
                    attachments.append(got)
                else:
                    unreadable.append(got)
        elif message.attachments:
            text = "\n".join([text, *(a.url for a in message.attachments)]).strip()
        me = client.user.id if client.user else None
        mentions = tuple(Author("discord", str(u.id), display_name(u)) for u in message.mentions if u.id != me)
        return ThreadMessage(
            platform="discord",
            channel=str(parent),
            thread_id=str(message.channel.id),
            message_id=str(message.id),
            author=author_of(message.author),
            text=text,
            event_key=event_key,
            mentions=mentions,
            attachments=tuple(attachments),
            unreadable=tuple(unreadable),
        )

    def _is_reply(self, text: str) -> bool:
        head = text.lstrip().lower()
        return any(
            head.startswith(p) and (len(head) == len(p) or head[len(p)].isspace())
            for p in self.threads.service.options.reply_prefixes
        )

    # -- app commands ------------------------------------------------------------

    @staticmethod
    def author(interaction: discord.Interaction) -> Author:
        return author_of(interaction.user)

    async def app_command(self, interaction: discord.Interaction, command: Command, where: Where, values: dict[str, object]) -> None:
        """An app command, checked against its declaration like a typed one; answered ephemerally.

        A thread command runs in the forum post it is used in; a channel command (`/sms …`)
        in the channel, or in the forum of the post it is used in."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        values = dict(values)
        file = values.pop("file", None)
        attachments: tuple[OutgoingFile, ...] = ()
        unreadable: tuple[str, ...] = ()
        if isinstance(file, discord.Attachment):
            got = await read_attachment(file)
            attachments, unreadable = ((got,), ()) if isinstance(got, OutgoingFile) else ((), (got,))
        raw: dict[str, str | None] = {}
        mentions: list[Author] = []
        for name, value in values.items():
            if isinstance(value, (discord.User, discord.Member)):
                who = Author("discord", str(value.id), display_name(value))
                mentions.append(who)
                raw[name] = f"@{who.label}"
            else:
                raw[name] = None if value is None else str(value)
        parsed = self.threads.registry.bind(command, raw, where)
        channel = interaction.channel
        parent = await self._parent_of(channel, interaction.client) if channel is not None else None
        in_post = parent is not None and str(parent) in self.forums()
        if where is Where.THREAD and not in_post and command.where & Where.CHANNEL:
            where = Where.CHANNEL  # e.g. /report outside a post: the channel's answer
        if where is Where.THREAD:
            if not in_post:
                await self._answer(interaction, refusal(rich("Use this inside a conversation's forum post.")))
                return
            result = await self.threads.run(
                ThreadMessage(
                    platform="discord",
                    channel=str(parent),
                    thread_id=str(interaction.channel_id),
                    message_id=str(interaction.id),
                    author=self.author(interaction),
                    text=f"/{command.name}",
                    event_key=f"discord:i{interaction.id}",
                    mentions=tuple(mentions),
                    attachments=attachments,
                    unreadable=unreadable,
                ),
                inline=True,
                parsed=parsed,
            )
            queued = result.outcome == "queued"
            reply = result.reply or CommandReply(
                rich("Done. The status line in the post shows its delivery.") if queued else rich("Done.")
            )
        else:
            here = str(parent) if in_post else str(interaction.channel_id)
            reply = await self.channel.handle("discord", here, self.author(interaction), "", tuple(mentions), parsed=parsed)
        await self._answer(interaction, reply)

    async def snippet_choices(self, current: str) -> list[str]:
        names = await self.state.snippet_names()
        current = current.lower().strip()
        return [n for n in names if current in n.lower()][:25]

    async def _answer(self, interaction: discord.Interaction, reply: CommandReply) -> None:
        lines = [to_markdown(reply.text)]
        for link in reply.links:
            forum = await self.state.chat_channel(link.conversation_id, "discord")
            url = await self.poster.post_url(link.conversation_id, forum, interaction.guild_id) if forum else None
            if url:
                lines.append(to_markdown(rich("• {link} — {detail}", link=Link(url, link.title), detail=link.detail)))
            else:
                lines.append(to_markdown(rich("• {title} — {detail} (no post yet)", title=link.title, detail=link.detail)))
        if reply.footer is not None:
            lines.append(to_markdown(reply.footer))
        # A conversation's own button (Claim) names it: the buttons sit below the list.
        named = [replace(link.button, label=f"{link.button.label} · {link.title}"[:80]) for link in reply.links if link.button]
        view = render.buttons_view([*reply.buttons, *named])
        kwargs: dict[str, Any] = {"ephemeral": True, "allowed_mentions": render.NO_MENTIONS}
        if view is not None:
            kwargs["view"] = view
        await interaction.followup.send(render.truncate("\n".join(lines), render.MAX_CONTENT), **kwargs)

    # -- buttons, menus and the draft editor ------------------------------------

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Only the draft editor's modal: buttons and pickers are DynamicItems (components.py)."""
        if interaction.type != discord.InteractionType.modal_submit:
            return
        data: dict[str, Any] = dict(interaction.data or {})
        raw = str(data.get("custom_id", ""))
        if raw.startswith(EDIT_MODAL):
            await self._edit_submitted(interaction, raw.removeprefix(EDIT_MODAL), data)

    async def on_button(self, interaction: discord.Interaction, action: str, value: str) -> None:
        if action == "edit":
            await self._open_editor(interaction, value)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self._answer(interaction, await self.actions.handle(self.author(interaction), action, value))

    async def on_assign_picked(
        self, interaction: discord.Interaction, value: str, picked: list[discord.Member | discord.User]
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        if not picked:
            await self._answer(interaction, refusal(rich("Pick a teammate to assign.")))
            return
        who = picked[0]
        target = Author("discord", str(who.id), display_name(who))
        await self._answer(interaction, await self.actions.handle(self.author(interaction), "assign", value, target=target))

    async def on_snippet_picked(self, interaction: discord.Interaction, value: str, picked: list[str]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        choice = picked[0] if picked else None
        await self._answer(interaction, await self.actions.handle(self.author(interaction), "snippet", value, choice=choice))

    async def _open_editor(self, interaction: discord.Interaction, value: str) -> None:
        if not value.isdigit():
            await interaction.response.send_message("That button is out of date.", ephemeral=True)
            return
        view = await self.state.draft_for_editor(int(value))
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
            await self._answer(interaction, refusal(rich("That draft is out of date.")))
            return
        reply = await self.actions.edit_draft(self.author(interaction), int(value), text)
        await self._answer(interaction, reply)
