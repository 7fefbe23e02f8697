"""The real discord.py client against the loopback Discord fake (tests/fakes/discord_api.py).

These prove the fake is faithful enough for smsbridge's Discord adapter tests: login,
gateway READY/GUILD_CREATE (forum channels, tags, threads), forum posts, tags, files,
user messages, slash commands, autocomplete, buttons, rate limits and refusals.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import discord
import pytest
from discord import app_commands

from tests.fakes.discord_api import FakeDiscord, Intents

GUILD = 1200000000000000001
FORUM = 1300000000000000001
TEXT = 1300000000000000002
AGENT = 1400000000000000001
TAGS = ["open", "waiting", "closed"]


class Bot(discord.Client):
    """A commands-free client with an app command tree, recording what it receives."""

    def __init__(self, intents: discord.Intents, **kwargs: Any) -> None:
        # guild_ready_timeout: on_ready otherwise waits 2 s after the last GUILD_CREATE.
        super().__init__(intents=intents, guild_ready_timeout=0.05, **kwargs)
        self.tree = app_commands.CommandTree(self)
        self.received: asyncio.Queue[discord.Message] = asyncio.Queue()
        self.interactions: list[discord.Interaction] = []
        self.views: list[discord.ui.View] = []

    async def setup_hook(self) -> None:
        for view in self.views:
            self.add_view(view)  # persistent: dispatched by custom_id on any message

    async def on_message(self, message: discord.Message) -> None:
        if message.author.id != self.user.id:  # type: ignore[union-attr]
            await self.received.put(message)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        self.interactions.append(interaction)


def default_intents() -> discord.Intents:
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.message_content = True
    return intents


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(guild_id=GUILD) as fake:
        with fake.patch_discord():
            fake.add_forum_channel(FORUM, "sms-inbox", tags=TAGS)
            fake.add_text_channel(TEXT, "general")
            fake.add_member(AGENT, "agent")
            yield fake


@pytest.fixture
async def start_bot(fake: FakeDiscord) -> AsyncIterator[Callable[..., Awaitable[Bot]]]:
    """Start a Bot (optionally configured before login) and close it after the test."""
    running: list[tuple[Bot, asyncio.Task[None]]] = []

    async def start(intents: discord.Intents | None = None, configure: Callable[[Bot], None] | None = None) -> Bot:
        bot = Bot(intents or default_intents())
        if configure is not None:
            configure(bot)
        task = asyncio.create_task(bot.start(fake.token))
        running.append((bot, task))
        # Poll rather than wait_until_ready(): that raises if called before login started.
        ready = asyncio.create_task(fake.wait_for(bot.is_ready, 5, "on_ready"))
        done, _ = await asyncio.wait({ready, task}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            ready.cancel()
            task.result()  # raise what start() raised
        assert ready in done, "client did not become ready"
        return bot

    yield start
    for bot, task in running:
        await bot.close()
        with contextlib.suppress(Exception):  # start() may already have raised (e.g. 4014)
            await asyncio.wait_for(task, 2)


async def forum_of(bot: Bot) -> discord.ForumChannel:
    forum = bot.get_channel(FORUM)
    assert isinstance(forum, discord.ForumChannel)
    return forum


async def test_login_ready_sees_forum_tags_and_active_threads(
    fake: FakeDiscord, start_bot: Callable[..., Awaitable[Bot]]
) -> None:
    active = fake.add_thread(FORUM, "+14155550101", applied_tags=[fake.tag_id(FORUM, "open")])
    archived = fake.add_thread(FORUM, "+14155550102", archived=True)

    bot = await start_bot()

    assert bot.user is not None and bot.user.id == fake.bot_user_id
    assert bot.application_id == fake.application_id
    forum = await forum_of(bot)
    assert [t.name for t in forum.available_tags] == TAGS
    assert isinstance(bot.get_channel(TEXT), discord.TextChannel)
    thread = bot.get_channel(active.id)
    assert isinstance(thread, discord.Thread) and thread.parent_id == FORUM
    assert [t.name for t in thread.applied_tags] == ["open"]
    assert bot.get_channel(archived.id) is None  # only active threads come with GUILD_CREATE
    guild = bot.get_guild(GUILD)
    assert guild is not None and guild.me is not None
    assert forum.permissions_for(guild.me).send_messages_in_threads
    called = {(m, p) for m, p, _ in fake.calls}
    assert {("GET", "/users/@me"), ("GET", "/oauth2/applications/@me")} <= called
    assert fake.gateway_connections == 1 and fake.active_gateways == 1
    assert fake.identifies[0]["intents"] == default_intents().value


async def test_forum_post_tags_files_and_tag_creation(
    fake: FakeDiscord, start_bot: Callable[..., Awaitable[Bot]]
) -> None:
    bot = await start_bot()
    forum = await forum_of(bot)
    open_tag = discord.utils.get(forum.available_tags, name="open")
    assert open_tag is not None

    embed = discord.Embed(title="+1 415 555 0101", description="first text")
    thread, message = await forum.create_thread(
        name="+14155550101", content="New conversation", embed=embed, applied_tags=[open_tag]
    )

    assert message.id == thread.id  # a forum post's starter message shares the thread id
    stored = fake.threads[thread.id]
    assert stored["name"] == "+14155550101" and stored["parent_id"] == FORUM
    assert stored["applied_tags"] == [open_tag.id]
    assert stored["messages"][0]["content"] == "New conversation"
    assert stored["messages"][0]["embeds"][0]["description"] == "first text"
    # THREAD_CREATE puts the thread into the client's cache.
    await fake.wait_for(lambda: isinstance(bot.get_channel(thread.id), discord.Thread))

    # Create a missing tag by editing the forum, then switch the post to it.
    forum = await forum.edit(available_tags=[*forum.available_tags, discord.ForumTag(name="spam")])
    spam_id = fake.tag_id(FORUM, "spam")
    assert [t["name"] for t in fake.forum_tags(FORUM)] == [*TAGS, "spam"]
    assert spam_id in {t.id for t in forum.available_tags}
    spam = forum.get_tag(spam_id)
    assert spam is not None
    thread = await thread.edit(applied_tags=[spam], name="+14155550101 (spam)")
    assert fake.threads[thread.id]["applied_tags"] == [spam_id]
    await fake.wait_for(lambda: [t.name for t in bot.get_channel(thread.id).applied_tags] == ["spam"])  # type: ignore[union-attr]

    sent = await thread.send("photo from customer", file=discord.File(io.BytesIO(b"\x89PNG..."), "mms.png"))
    assert sent.attachments[0].filename == "mms.png"
    assert await sent.attachments[0].read() == b"\x89PNG..."  # the fake serves attachment URLs
    assert fake.files[-1]["data"] == b"\x89PNG..." and fake.files[-1]["message_id"] == sent.id
    assert [m["content"] for m in fake.messages(thread.id)] == ["New conversation", "photo from customer"]


async def test_user_message_reaches_on_message_with_content(
    fake: FakeDiscord, start_bot: Callable[..., Awaitable[Bot]]
) -> None:
    bot = await start_bot()
    thread, _ = await (await forum_of(bot)).create_thread(name="+14155550101", content="hi")

    mid = await fake.user_message(thread.id, AGENT, "/r On my way!", attachments=[("a.txt", b"hello")])

    msg = await asyncio.wait_for(bot.received.get(), 2)
    assert msg.id == mid and msg.content == "/r On my way!"
    assert isinstance(msg.channel, discord.Thread) and msg.channel.id == thread.id
    assert isinstance(msg.author, discord.Member) and msg.author.id == AGENT
    assert await msg.attachments[0].read() == b"hello"


async def test_without_message_content_intent_text_is_blank(
    fake: FakeDiscord, start_bot: Callable[..., Awaitable[Bot]]
) -> None:
    intents = default_intents()
    intents.message_content = False
    bot = await start_bot(intents)

    await fake.user_message(TEXT, AGENT, "secret")
    assert (await asyncio.wait_for(bot.received.get(), 2)).content == ""
    await fake.user_message(TEXT, AGENT, f"<@{fake.bot_user_id}> visible")
    assert (await asyncio.wait_for(bot.received.get(), 2)).content.endswith("visible")


async def test_privileged_intent_refused_with_4014(fake: FakeDiscord, start_bot: Callable[..., Awaitable[Bot]]) -> None:
    fake.message_content_allowed = False
    with pytest.raises(discord.PrivilegedIntentsRequired):
        await start_bot()


async def test_slash_command_ephemeral_reply_defer_followup_and_autocomplete(
    fake: FakeDiscord, start_bot: Callable[..., Awaitable[Bot]]
) -> None:
    calls: list[str] = []

    async def contact_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=f"Alice {current}", value="+14155550101")]

    def configure(bot: Bot) -> None:
        guild = discord.Object(GUILD)

        @bot.tree.command(name="status", description="Show status", guild=guild)
        async def status(interaction: discord.Interaction, verbose: bool = False) -> None:
            calls.append(f"status verbose={verbose}")
            await interaction.response.send_message("all good", ephemeral=True)

        @bot.tree.command(name="text", description="Text a contact", guild=guild)
        @app_commands.autocomplete(contact=contact_autocomplete)
        async def text(interaction: discord.Interaction, contact: str, body: str) -> None:
            calls.append(f"text {contact} {body}")
            await interaction.response.defer(thinking=True)
            await interaction.followup.send(f"queued for {contact}")

    bot = await start_bot(configure=configure)
    synced = await bot.tree.sync(guild=discord.Object(GUILD))
    assert {c.name for c in synced} == {"status", "text"}
    assert fake.calls_to("PUT", f"/applications/{fake.application_id}/guilds/{GUILD}/commands")
    assert {c["name"] for c in fake.guild_commands[GUILD]} == {"status", "text"}

    iid = await fake.slash_command("status", {"verbose": True}, user_id=AGENT, channel_id=TEXT)
    first = await fake.wait_response(iid)
    assert first["type"] == 4 and first["data"]["content"] == "all good"
    assert first["data"]["flags"] & 64  # ephemeral
    assert calls == ["status verbose=True"]
    assert not any(m["content"] == "all good" for m in fake.messages(TEXT))  # ephemeral: not in the channel

    iid = await fake.slash_command("text", {"contact": "+14155550101", "body": "hi"}, user_id=AGENT, channel_id=TEXT)
    assert (await fake.wait_response(iid))["type"] == 5
    await fake.wait_for(lambda: bool(fake.followups(iid)))
    original = fake.original_response(iid)
    assert original is not None and original["content"] == "queued for +14155550101"  # replaced "thinking..."
    assert fake.messages(TEXT)[-1]["content"] == "queued for +14155550101"

    iid = await fake.autocomplete(
        "text", {"contact": "ali", "body": ""}, focused="contact", user_id=AGENT, channel_id=TEXT
    )
    answer = await fake.wait_response(iid)
    assert answer == {"type": 8, "data": {"choices": [{"name": "Alice ali", "value": "+14155550101"}]}}


async def test_global_sync_is_a_bulk_overwrite_with_stable_ids(
    fake: FakeDiscord, start_bot: Callable[..., Awaitable[Bot]]
) -> None:
    def configure(bot: Bot) -> None:
        @bot.tree.command(name="claim", description="Claim a conversation")
        async def claim(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("claimed")

    bot = await start_bot(configure=configure)
    first = await bot.tree.sync()
    second = await bot.tree.sync()
    assert [c.id for c in first] == [c.id for c in second]
    assert len(fake.calls_to("PUT", f"/applications/{fake.application_id}/commands")) == 2
    assert [c.name for c in await bot.tree.fetch_commands()] == ["claim"]

    iid = await fake.slash_command("claim", {}, user_id=AGENT, channel_id=TEXT)
    assert (await fake.wait_response(iid))["data"]["content"] == "claimed"
    await fake.wait_for(lambda: [m["content"] for m in fake.messages(TEXT)][-1:] == ["claimed"])
    assert bot.interactions[-1].command is not None and bot.interactions[-1].command.name == "claim"


class ClaimView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)
        self.clicked_by: list[int] = []

    @discord.ui.button(label="Claim", custom_id="smsbridge:claim", style=discord.ButtonStyle.primary)
    async def claim(self, interaction: discord.Interaction, button: discord.ui.Button[ClaimView]) -> None:
        self.clicked_by.append(interaction.user.id)
        await interaction.response.edit_message(content=f"claimed by <@{interaction.user.id}>", view=None)


async def test_persistent_button_click_updates_the_message(
    fake: FakeDiscord, start_bot: Callable[..., Awaitable[Bot]]
) -> None:
    view = ClaimView()
    bot = await start_bot(configure=lambda b: b.views.append(view))
    thread, _ = await (await forum_of(bot)).create_thread(name="+14155550101", content="hi")
    sent_with = ClaimView()
    message = await thread.send("New text from +1 415 555 0101", view=sent_with)
    # Forget the message-bound instance, as after a restart: the persistent view (added in
    # setup_hook, matched by custom_id alone) must handle the click.
    sent_with.stop()

    iid = await fake.click_button(message.id, "smsbridge:claim", AGENT)

    response = await fake.wait_response(iid)
    assert response["type"] == 7
    assert view.clicked_by == [AGENT] and sent_with.clicked_by == []
    stored = fake.message(message.id)
    assert stored is not None and stored["content"] == f"claimed by <@{AGENT}>" and stored["components"] == []


async def test_rate_limit_is_waited_out_and_retried(
    fake: FakeDiscord, start_bot: Callable[..., Awaitable[Bot]]
) -> None:
    bot = await start_bot()
    thread, _ = await (await forum_of(bot)).create_thread(name="+14155550101", content="hi")
    fake.rate_limit_next(f"POST /channels/{thread.id}/messages", retry_after=0.2)

    started = time.monotonic()
    await thread.send("after the limit")

    assert time.monotonic() - started >= 0.2
    assert len(fake.calls_to("POST", f"/channels/{thread.id}/messages")) == 2
    assert fake.messages(thread.id)[-1]["content"] == "after the limit"


async def test_an_enforced_nonce_returns_the_first_message(
    fake: FakeDiscord, start_bot: Callable[..., Awaitable[Bot]]
) -> None:
    bot = await start_bot()
    thread, _ = await (await forum_of(bot)).create_thread(name="+14155550101", content="hi")
    first = await thread.send("once", nonce="n1")  # discord.py >= 2.5 sends enforce_nonce with it
    fake.lose_answer_next(f"POST /channels/{thread.id}/messages")  # created, answer lost: discord.py retries
    again = await thread.send("once more", nonce="n2")
    repeated = await thread.send("a new text that reused n1", nonce="n1")

    assert repeated.id == first.id and again.content == "once more"
    assert [m["content"] for m in fake.messages(thread.id)][1:] == ["once", "once more"]
    assert len(fake.calls_to("POST", f"/channels/{thread.id}/messages")) == 4
    fake.nonce_window = 0.0  # Discord forgets a nonce after a few minutes
    assert (await thread.send("later", nonce="n1")).id != first.id


async def test_errors_deleted_threads_and_late_interactions(
    fake: FakeDiscord, start_bot: Callable[..., Awaitable[Bot]]
) -> None:
    bot = await start_bot()
    thread, _ = await (await forum_of(bot)).create_thread(name="+14155550101", content="hi")

    fake.fail_next("/messages", status=403)
    with pytest.raises(discord.Forbidden):
        await thread.send("nope")
    with pytest.raises(discord.HTTPException) as too_long:
        await thread.send("x" * 2001)
    assert too_long.value.code == 50035

    await fake.delete_thread(thread.id)
    with pytest.raises(discord.NotFound) as gone:
        await bot.fetch_channel(thread.id)
    assert gone.value.code == 10003
    await fake.wait_for(lambda: bot.get_channel(thread.id) is None)

    fake.interaction_timeout = 0.0  # every first response is "too late"
    errors: list[int] = []

    @bot.tree.command(name="slow", description="Too slow")  # not synced: the tree dispatches by name
    async def slow(interaction: discord.Interaction) -> None:
        try:
            await interaction.response.send_message("late")
        except discord.NotFound as exc:
            errors.append(exc.code)

    await fake.slash_command("slow", {}, user_id=AGENT, channel_id=TEXT)
    await fake.wait_for(lambda: errors == [10062])


async def test_archived_thread_rejects_edits_until_unarchived(
    fake: FakeDiscord, start_bot: Callable[..., Awaitable[Bot]]
) -> None:
    bot = await start_bot()
    thread, _ = await (await forum_of(bot)).create_thread(name="+14155550101", content="hi")
    thread = await thread.edit(archived=True)
    assert fake.threads[thread.id]["archived"]

    with pytest.raises(discord.HTTPException) as archived:
        await thread.edit(name="renamed")
    assert archived.value.code == 50083
    await thread.send("a reply unarchives it")
    assert not fake.threads[thread.id]["archived"]


async def test_resume_replays_missed_events_and_duplicate_gateways_see_everything(
    fake: FakeDiscord, start_bot: Callable[..., Awaitable[Bot]]
) -> None:
    bot = await start_bot()

    await fake.disconnect_gateway(4000)  # resumable: discord.py reconnects with RESUME
    mid = await fake.user_message(TEXT, AGENT, "sent while disconnected")
    assert (await asyncio.wait_for(bot.received.get(), 2)).id == mid
    assert fake.resumes and fake.gateway_connections == 2 and len(fake.identifies) == 1

    second = await start_bot()  # a second process holding the same shard
    assert fake.active_gateways == 2
    await fake.user_message(TEXT, AGENT, "seen twice")
    assert (await asyncio.wait_for(bot.received.get(), 2)).content == "seen twice"
    assert (await asyncio.wait_for(second.received.get(), 2)).content == "seen twice"
    assert Intents.MESSAGE_CONTENT & fake.identifies[-1]["intents"]


class NoteModal(discord.ui.Modal, title="Add a note"):
    note: discord.ui.TextInput[NoteModal] = discord.ui.TextInput(label="Note", custom_id="note")

    def __init__(self) -> None:
        super().__init__(custom_id="smsbridge:note")
        self.submitted: list[str] = []

    async def on_submit(self, interaction: discord.Interaction) -> None:
        self.submitted.append(self.note.value)
        await interaction.response.send_message("noted", ephemeral=True)


async def test_history_reactions_select_and_modal(fake: FakeDiscord, start_bot: Callable[..., Awaitable[Bot]]) -> None:
    modal = NoteModal()
    picked: list[list[str]] = []

    class Menu(discord.ui.View):
        def __init__(self) -> None:
            super().__init__(timeout=None)

        @discord.ui.select(custom_id="smsbridge:assign", options=[discord.SelectOption(label="Ann", value="ann")])
        async def assign(self, interaction: discord.Interaction, select: discord.ui.Select[Menu]) -> None:
            picked.append(select.values)
            await interaction.response.send_modal(modal)

    bot = await start_bot()
    thread, _ = await (await forum_of(bot)).create_thread(name="+14155550101", content="first")
    ids = [await fake.user_message(thread.id, AGENT, f"m{i}") for i in range(3)]

    newest_first = [m.content async for m in thread.history(limit=10)]
    assert newest_first == ["m2", "m1", "m0", "first"]
    after = [m.content async for m in thread.history(after=discord.Object(ids[0]), limit=10)]
    assert after == ["m1", "m2"]

    msg = thread.get_partial_message(ids[2])
    await msg.add_reaction("✅")
    assert fake.message(ids[2])["reactions"][0]["emoji"]["name"] == "✅"  # type: ignore[index]
    await msg.remove_reaction("✅", discord.Object(fake.bot_user_id))
    assert fake.message(ids[2])["reactions"] == []  # type: ignore[index]

    menu = await thread.send("assign to", view=Menu())
    iid = await fake.select(menu.id, "smsbridge:assign", ["ann"], AGENT)
    assert (await fake.wait_response(iid))["type"] == 9  # modal
    assert picked == [["ann"]]
    iid = await fake.submit_modal("smsbridge:note", {"note": "call back at 5"}, AGENT, thread.id)
    assert (await fake.wait_response(iid))["data"]["content"] == "noted"
    assert modal.submitted == ["call back at 5"]
