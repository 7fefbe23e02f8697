"""Outbox job handlers that post to a Discord forum: cards, customer texts, media,
statuses, notices, drafts and notes mirrored from other chats.

Every process can run these jobs: they use REST only (a logged-in client that never
opens the gateway). discord.py waits out 429s itself; a 5xx or a dropped connection
becomes RetryLater, a request Discord can never accept becomes GiveUp.

Discord has no message metadata, so a job that runs again after an attempt whose
outcome is unknown (crash, timeout) is reconciled two ways: every create carries a
nonce with `enforce_nonce` (Discord returns the earlier message instead of posting
again, for a few minutes), and a retry first looks through the post's recent messages
for one of ours with the same content (the card: the same footer).

A deleted forum post (404 Unknown Channel) forgets the thread link and opens a new
post saying the history continues; the job that noticed then posts there.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
import discord

from bridge import metrics
from bridge.adapters.discord_bot import render
from bridge.adapters.discord_bot.markup import mentioned_users, to_markdown
from bridge.inbox import statuses
from bridge.inbox.attachments import fetch_or_explain
from bridge.inbox.chat import (
    CardRefresh,
    ChannelNotice,
    ChartUpload,
    ChatTarget,
    CustomerMedia,
    CustomerText,
    DraftReview,
    ExportUpload,
    MirroredNote,
    Notice,
    ReplyStatus,
)
from bridge.inbox.chat_cleanup import UPLOAD
from bridge.inbox.chatstate import ChatState
from bridge.inbox.exports import ExportFile, build_upload
from bridge.inbox.models import utcnow
from bridge.inbox.outbox import GiveUp, Job, RetryLater
from bridge.inbox.report_charts import chart_file_name, draw
from bridge.inbox.types import MediaFetcher
from bridge.inbox.views import ConversationView

log = logging.getLogger(__name__)

PLATFORM = "discord"
UNKNOWN_CHANNEL = 10003
THREAD_ARCHIVED = 50083
CANNOT_MESSAGE_USER = 50007  # the user does not accept direct messages from this server
ENTITY_TOO_LARGE = 40005  # "Request entity too large" (with HTTP 413): a file over the upload limit
# A bot's files in a direct message: 10 MiB (a server's boosts raise its own channels'
# limit, `guild.filesize_limit`, not a DM's). An export over it is compressed, then split.
DM_UPLOAD_LIMIT = discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES
MIN_UPLOAD_LIMIT = 64 * 1024  # below this a refusal is not about the size: give up
TAG_CACHE_SECONDS = 60.0
ARCHIVE_MINUTES = 10080  # a week: posts stay in the forum's active list longer
CONTINUED = (
    "↪️ The earlier post for this conversation was deleted; this post continues it. "
    "Nothing is lost: its whole history stays in smsbridge (`/sms search {phone}`)."
)
T = TypeVar("T")


class ThreadGone(Exception):
    """The forum post (thread) no longer exists."""


class DiscordRest:
    """A discord.py client used for REST only (logged in lazily, never connected)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.client = discord.Client(intents=discord.Intents(guilds=True))  # never connects: REST only
        self._login_lock = asyncio.Lock()
        self._logged_in = False

    async def ensure(self) -> discord.Client:
        if not self._logged_in:
            async with self._login_lock:
                if not self._logged_in:
                    try:
                        await self.client.login(self.token)
                    except discord.LoginFailure as exc:
                        log.error("Discord refused DISCORD_TOKEN (401): check the bot token")
                        raise RetryLater("Discord token refused", delay=60) from exc
                    except (TimeoutError, discord.HTTPException, aiohttp.ClientError, OSError) as exc:
                        raise RetryLater(f"Discord unreachable: {type(exc).__name__}") from exc
                    self._logged_in = True
        return self.client

    @property
    def bot_id(self) -> int | None:
        return self.client.user.id if self.client.user else None

    async def close(self) -> None:
        try:
            await self.client.close()
        except Exception:  # noqa: BLE001
            pass


async def _collect(history: AsyncIterator[discord.Message]) -> list[discord.Message]:
    return [message async for message in history]


async def call(request: Callable[[], Awaitable[T]]) -> T:
    """Run one Discord request, turning failures into the outbox's RetryLater / GiveUp."""
    started = time.monotonic()
    try:
        return await request()
    except discord.NotFound as exc:
        if exc.code == UNKNOWN_CHANNEL:
            raise ThreadGone(str(exc)) from exc
        raise
    except discord.RateLimited as exc:
        metrics.CHAT_RATE_LIMITED.labels(PLATFORM).inc()
        raise RetryLater("Discord rate limit", delay=exc.retry_after) from exc
    except discord.DiscordServerError as exc:
        raise RetryLater(f"Discord answered {exc.status}") from exc
    except discord.Forbidden as exc:
        # Permissions can be fixed: keep the job (nothing lost) and say what is wrong.
        log.error("Discord refused (%s %s): the bot lacks a permission in the forum; run `smsbridge check`", exc.code, exc.text)
        raise RetryLater(f"Discord forbidden: {exc.text}", delay=60) from exc
    except discord.HTTPException as exc:
        if exc.status == 429:
            metrics.CHAT_RATE_LIMITED.labels(PLATFORM).inc()
        if exc.status == 401:
            raise RetryLater("Discord token refused", delay=60) from exc
        if exc.code == THREAD_ARCHIVED:
            raise
        if 400 <= exc.status < 500 and exc.status != 429:
            raise GiveUp(f"Discord refused the request: {exc.status} {exc.code} {exc.text}") from exc
        raise RetryLater(f"Discord answered {exc.status}") from exc
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise RetryLater(f"Discord unreachable: {type(exc).__name__}") from exc
    finally:
        metrics.CHAT_API_SECONDS.labels(PLATFORM).observe(time.monotonic() - started)


class DiscordPoster:
    """The Discord side of the chat contract (`bridge.inbox.chat.ChatPoster`)."""

    platform = PLATFORM

    def __init__(self, rest: DiscordRest, state: ChatState, media: MediaFetcher | None = None) -> None:
        self.rest = rest
        self.state = state
        self.media_fetcher = media
        self._forums: dict[int, tuple[float, discord.ForumChannel, dict[str, discord.ForumTag]]] = {}

    # -- the forum and its tags ------------------------------------------------

    async def forum(self, forum_id: int, *, fresh: bool = False) -> tuple[discord.ForumChannel, dict[str, discord.ForumTag]]:
        cached = self._forums.get(forum_id)
        if cached and not fresh and cached[0] > time.monotonic():
            return cached[1], cached[2]
        client = await self.rest.ensure()
        try:
            channel = await call(lambda: client.fetch_channel(forum_id))
        except ThreadGone as exc:
            log.error("Discord channel %s does not exist: check SMSBRIDGE_DISCORD_CHANNEL", forum_id)
            raise RetryLater(f"forum channel {forum_id} not found", delay=60) from exc
        if not isinstance(channel, discord.ForumChannel):
            log.error("Discord channel %s is a %s, not a forum: SMSBRIDGE_DISCORD_CHANNEL must be a forum channel", forum_id, channel.type)
            raise RetryLater(f"channel {forum_id} is not a forum", delay=60)
        channel, tags = await self._ensure_tags(channel)
        self._forums[forum_id] = (time.monotonic() + TAG_CACHE_SECONDS, channel, tags)
        return channel, tags

    async def _ensure_tags(self, forum: discord.ForumChannel) -> tuple[discord.ForumChannel, dict[str, discord.ForumTag]]:
        """The status tags (New, Open, …), created on the forum when missing."""
        by_name = {t.name.lower(): t for t in forum.available_tags}
        missing = [label for label in render.STATUS_TAGS.values() if label.lower() not in by_name]
        if missing and len(forum.available_tags) + len(missing) <= 20:
            try:
                forum = await call(
                    lambda: forum.edit(available_tags=[*forum.available_tags, *(discord.ForumTag(name=n) for n in missing)])
                )
                by_name = {t.name.lower(): t for t in forum.available_tags}
            except (RetryLater, GiveUp) as exc:
                log.error(
                    "could not create the status tags %s on forum %s (%s): give the bot Manage Channels or create them by hand",
                    ", ".join(missing), forum.id, exc,
                )
        elif missing:
            log.error("forum %s has no room for the status tags %s (20 tags at most)", forum.id, ", ".join(missing))
        tags = {status: by_name[label.lower()] for status, label in render.STATUS_TAGS.items() if label.lower() in by_name}
        return forum, tags

    # -- the post --------------------------------------------------------------

    async def _thread(self, job: Job, conversation_id: int, forum_id: int, *, previous: str | None = None) -> int:
        existing = await self.state.thread(conversation_id, PLATFORM, str(forum_id))
        if existing:
            return int(existing)
        view = await self.state.conversation(conversation_id)
        forum, tags = await self.forum(forum_id)
        found = await self._find_post(forum, conversation_id, view) if job.is_retry or previous else None
        if found is None:
            tag = tags.get(view.status)
            extra: dict[str, Any] = {"content": CONTINUED.format(phone=view.phone)} if previous else {}
            card_view = render.card_view(view, await self.state.snippet_names())
            created = await call(
                lambda: forum.create_thread(
                    name=render.post_title(view),
                    embed=render.card_embed(view),
                    view=card_view,
                    applied_tags=[tag] if tag else [],
                    allowed_mentions=render.NO_MENTIONS,
                    auto_archive_duration=ARCHIVE_MINUTES,
                    **extra,
                )
            )
            found = created.thread.id
        await self.state.save_thread(conversation_id, PLATFORM, str(forum_id), str(found))
        # A concurrent job may have saved another post first: the saved one wins.
        return int(await self.state.thread(conversation_id, PLATFORM, str(forum_id)) or found)

    async def _find_post(self, forum: discord.ForumChannel, conversation_id: int, view: ConversationView) -> int | None:
        """An earlier attempt's post for this conversation (its card's footer names it)."""
        client = await self.rest.ensure()
        try:
            threads = await call(lambda: forum.guild.active_threads())
        except (RetryLater, GiveUp, ThreadGone):
            return None
        footer = render.CARD_FOOTER.format(conversation_id)
        for thread in threads:
            if thread.parent_id != forum.id or thread.owner_id != self.rest.bot_id or thread.name != render.post_title(view):
                continue
            try:
                starter = await call(lambda thread=thread: client.get_partial_messageable(thread.id).fetch_message(thread.id))
            except (ThreadGone, discord.NotFound, RetryLater, GiveUp):
                continue
            if any(e.footer and e.footer.text == footer for e in starter.embeds):
                return thread.id
        return None

    async def _in_thread(self, job: Job, conversation_id: int, forum_id: int, action: Callable[[int], Awaitable[T]]) -> T:
        """Run `action(thread_id)`; if the post was deleted, open a new one and run it there."""
        thread_id = await self._thread(job, conversation_id, forum_id)
        try:
            return await self._unarchiving(thread_id, lambda: action(thread_id))
        except ThreadGone:
            log.warning("forum post %s of conversation %s was deleted: opening a new one", thread_id, conversation_id)
            await self.state.forget_thread(conversation_id, PLATFORM, str(forum_id))
            thread_id = await self._thread(job, conversation_id, forum_id, previous=str(thread_id))
            return await self._unarchiving(thread_id, lambda: action(thread_id))

    async def _unarchiving(self, thread_id: int, action: Callable[[], Awaitable[T]]) -> T:
        try:
            return await action()
        except discord.HTTPException as exc:
            if exc.code != THREAD_ARCHIVED:
                raise
        client = await self.rest.ensure()
        await call(lambda: client.http.edit_channel(thread_id, archived=False))
        return await action()

    def _channel(self, thread_id: int) -> discord.PartialMessageable:
        return self.rest.client.get_partial_messageable(thread_id, type=discord.ChannelType.public_thread)

    async def _recent(self, job: Job, thread_id: int) -> list[discord.Message]:
        """Our own messages in the post since shortly before the job was created."""
        after = discord.Object(discord.utils.time_snowflake(job.earliest_effect))
        channel = self._channel(thread_id)

        async def fetch() -> list[discord.Message]:
            return [m async for m in channel.history(limit=100, after=after, oldest_first=True)]

        return [m for m in await call(fetch) if m.author.id == self.rest.bot_id]

    async def _send(
        self,
        job: Job,
        conversation_id: int,
        forum_id: int,
        chunks: list[str],
        *,
        view: discord.ui.View | None = None,
        allowed: discord.AllowedMentions = render.NO_MENTIONS,
        reference: dict[str, str] | None = None,
        file: tuple[bytes, str] | None = None,
    ) -> int:
        """Post `chunks` in order (each ≤ 2000 characters); the first one's id."""
        await self.rest.ensure()

        async def attempt(thread_id: int) -> int:
            done: dict[str, int] = {}
            if job.is_retry:
                for m in await self._recent(job, thread_id):
                    if m.content in chunks and (file is None or any(a.filename == file[1] for a in m.attachments)):
                        done.setdefault(m.content, m.id)
            ids: list[int] = []
            channel = self._channel(thread_id)
            for index, chunk in enumerate(chunks):
                if chunk in done:
                    ids.append(done[chunk])
                    continue
                last = index == len(chunks) - 1
                # Job ids can be reused once a job is done (SQLite): its creation time makes
                # the nonce unique, or Discord would answer a new text with an old message.
                nonce = f"{job.id:x}.{int(job.created_at.timestamp() * 1000):x}.{index}"  # ≤ 25 characters
                kwargs: dict[str, Any] = {"nonce": nonce, "allowed_mentions": allowed}
                if last and view is not None:
                    kwargs["view"] = view
                if index == 0 and reference:
                    kwargs["reference"] = discord.MessageReference(
                        message_id=int(reference["id"]), channel_id=thread_id, fail_if_not_exists=False
                    )
                if index == 0 and file is not None:
                    kwargs["file"] = discord.File(io.BytesIO(file[0]), filename=file[1])
                sent = await call(lambda chunk=chunk, kwargs=kwargs: channel.send(chunk, **kwargs))
                ids.append(sent.id)
            return ids[0]

        return await self._in_thread(job, conversation_id, forum_id, attempt)

    async def _edit(self, thread_id: int, message_id: int, **fields: Any) -> bool:
        """Edit one of our messages; False when it is gone."""
        await self.rest.ensure()
        message = self._channel(thread_id).get_partial_message(message_id)
        try:
            await self._unarchiving(thread_id, lambda: call(lambda: message.edit(**fields)))
        except (ThreadGone, discord.NotFound):
            return False
        return True

    # -- job handlers ----------------------------------------------------------

    async def card(self, job: Job, to: ChatTarget, post: CardRefresh) -> None:
        conversation_id, forum_id = to.conversation_id, int(to.channel)
        existing = await self.state.thread(conversation_id, PLATFORM, str(forum_id))
        if existing is None:
            await self._thread(job, conversation_id, forum_id)  # a new card is already current
            return
        thread_id = int(existing)
        view = await self.state.conversation(conversation_id)
        if not await self._edit(thread_id, thread_id, embed=render.card_embed(view), view=render.card_view(view, await self.state.snippet_names())):
            # The post (or its card) was deleted: open a fresh one rather than lose the conversation.
            await self.state.forget_thread(conversation_id, PLATFORM, str(forum_id))
            await self._thread(job, conversation_id, forum_id, previous=str(thread_id))
            return
        await self._apply_tags(forum_id, thread_id, view)

    async def _apply_tags(self, forum_id: int, thread_id: int, view: ConversationView) -> None:
        """The post's status tag (other tags a teammate applied are kept) and its title."""
        client = await self.rest.ensure()
        _, tags = await self.forum(forum_id)
        try:
            data: dict[str, Any] = await call(lambda: client.http.get_channel(thread_id))
        except ThreadGone:
            return
        status_ids = {t.id for t in tags.values()}
        current = [int(t) for t in data.get("applied_tags") or []]
        wanted = [t for t in current if t not in status_ids][:4]
        tag = tags.get(view.status)
        if tag is not None:
            wanted.append(tag.id)
        changes: dict[str, Any] = {}
        if wanted != current:
            changes["applied_tags"] = [str(t) for t in wanted]
        if data.get("name") != render.post_title(view):
            changes["name"] = render.post_title(view)
        if not changes:
            return
        if (data.get("thread_metadata") or {}).get("archived"):
            changes["archived"] = False
        try:
            await call(lambda: client.http.edit_channel(thread_id, **changes))
        except GiveUp as exc:
            # e.g. a tag deleted by hand a moment ago: refresh the tags next time.
            self._forums.pop(forum_id, None)
            raise RetryLater(str(exc)) from exc

    async def message(self, job: Job, to: ChatTarget, post: CustomerText) -> None:
        view = await self.state.message(post.message_id)
        conv = await self.state.conversation(to.conversation_id)
        first = await self._send(job, to.conversation_id, int(to.channel), render.customer_chunks(view, conv.title))
        await self.state.save_posted(PLATFORM, to.channel, "message", post.message_id, str(first), done=job)

    async def media(self, job: Job, to: ChatTarget, post: CustomerMedia) -> None:
        conversation_id, forum_id = to.conversation_id, int(to.channel)
        view = await self.state.message(post.message_id)
        if post.index >= len(view.media):
            return  # not shown here (no-bodies mode)
        fetched = await fetch_or_explain(self.media_fetcher, view.media[post.index])
        if isinstance(fetched, str):
            await self._send(job, conversation_id, forum_id, [render.truncate(fetched, render.MAX_CONTENT)])
            return
        posted = await self._send(job, conversation_id, forum_id, [f"📎 {render.esc(fetched.filename)}"], file=(fetched.data, fetched.filename))
        # Recorded, so retention can take the picture back (chat_cleanup.RedactPosts).
        await self.state.save_posted(PLATFORM, to.channel, f"{UPLOAD}{post.index}", post.message_id, str(posted), done=job)

    async def status(self, job: Job, to: ChatTarget, post: ReplyStatus) -> None:
        conversation_id, forum_id = to.conversation_id, int(to.channel)
        view = await self.state.message(post.message_id)
        conv = await self.state.conversation(conversation_id)
        now = utcnow()
        text = render.status_text(view, conv.title, now)
        buttons = render.buttons_view(statuses.status_buttons(view, now))
        posted = await self.state.posted(PLATFORM, to.channel, "status", post.message_id)
        thread = await self.state.thread(conversation_id, PLATFORM, to.channel)
        if posted and thread:
            await self._edit(int(thread), int(posted), content=text, view=buttons, allowed_mentions=render.NO_MENTIONS)
            return
        reply_to = post.reply_to
        reference = {"id": reply_to.id} if reply_to and reply_to.platform == PLATFORM and reply_to.id.isdigit() else None
        first = await self._send(job, conversation_id, forum_id, [text], view=buttons, reference=reference)
        await self.state.save_posted(PLATFORM, to.channel, "status", post.message_id, str(first), done=job)

    async def draft(self, job: Job, to: ChatTarget, post: DraftReview) -> None:
        conversation_id, forum_id = to.conversation_id, int(to.channel)
        view = await self.state.message(post.message_id)
        text = render.draft_text(view)
        buttons = render.buttons_view(statuses.draft_buttons(view))
        posted = await self.state.posted(PLATFORM, to.channel, "draft", post.message_id)
        thread = await self.state.thread(conversation_id, PLATFORM, to.channel)
        if posted and thread:
            await self._edit(int(thread), int(posted), content=text, view=buttons, allowed_mentions=render.NO_MENTIONS)
            return
        first = await self._send(job, conversation_id, forum_id, [text], view=buttons)
        await self.state.save_posted(PLATFORM, to.channel, "draft", post.message_id, str(first), done=job)

    async def notice(self, job: Job, to: ChatTarget, post: Notice) -> None:
        text = to_markdown(post.text)
        users = mentioned_users(post.text)
        if post.for_user and post.for_user.isdigit():
            # Discord has no ephemeral message outside an interaction: a message that
            # starts by mentioning the one teammate it is for (and pings only them).
            text = f"<@{int(post.for_user)}> {text}"
            users = [discord.Object(int(post.for_user))]
        allowed = discord.AllowedMentions(everyone=False, roles=False, users=users) if users else render.NO_MENTIONS
        chunks = render.split_text(text, render.MAX_CONTENT)
        await self._send(
            job, to.conversation_id, int(to.channel), chunks, view=render.buttons_view(post.buttons), allowed=allowed
        )

    async def charts(self, job: Job, to: ChatTarget, post: ChartUpload) -> None:
        """A report's charts as PNG attachments of a forum post of their own.

        A forum holds posts, not messages: the charts open a post named for the report.
        Their file names are unique to the job, so a retry finds an earlier attempt's post.
        """
        drawn = [(chart, chart_file_name(job, chart.name)) for chart in await draw(self.state.db.sessions, post)]
        if not drawn and post.summary is None:
            return
        forum, _tags = await self.forum(int(to.channel))
        names = {name for _chart, name in drawn}
        title = post.title or f"Report charts {post.since[:10]} – {post.until[:10]}"
        if job.is_retry and await self._find_charts(forum, names, title if not drawn else None):
            return
        # A digest opens the post with its text; the charts' own post with its title.
        chunks = render.split_text(to_markdown(post.summary), render.MAX_CONTENT) if post.summary is not None else [title]
        created = await call(
            lambda: forum.create_thread(
                name=title[:100], content=chunks[0], allowed_mentions=render.NO_MENTIONS, auto_archive_duration=ARCHIVE_MINUTES
            )
        )
        for index, chunk in enumerate(chunks[1:], start=1):
            nonce = f"d{job.id:x}.{int(job.created_at.timestamp() * 1000):x}.{index}"
            thread = self._channel(created.thread.id)
            await call(lambda thread=thread, chunk=chunk, nonce=nonce: thread.send(chunk, nonce=nonce, allowed_mentions=render.NO_MENTIONS))
        if not drawn:
            return
        # The pictures follow in a message with a nonce: when its answer is lost, the
        # resent request is recognised instead of posting the charts twice.
        files = [discord.File(io.BytesIO(chart.png), filename=name, description=chart.title) for chart, name in drawn]
        nonce = f"c{job.id:x}.{int(job.created_at.timestamp() * 1000):x}"
        channel = self._channel(created.thread.id)
        await call(lambda: channel.send(files=files, nonce=nonce, allowed_mentions=render.NO_MENTIONS))

    async def export(self, job: Job, to: ChatTarget, post: ExportUpload) -> None:
        """A compliance export as an attachment in a direct message to the admin who asked
        (it holds every customer's number: the forum's other members must not get it),
        with what it holds in words. The file is spooled to disk and sent from there; over
        the upload limit it is gzip-compressed, then split into numbered parts, one
        message each. The file names are unique to the job, so a retry finds the earlier
        messages and sends only what is missing. When Discord refuses a file as too large
        (its limit lower than DM_UPLOAD_LIMIT) before any part went out, the export is
        split again for the size Discord took as too large."""
        client = await self.rest.ensure()
        dm = await call(lambda: client.create_dm(discord.Object(int(post.requested_by))))
        limit = DM_UPLOAD_LIMIT
        while True:
            with await build_upload(self.state.db.sessions, post, PLATFORM, job, limit=limit) as built:
                refused = await self._send_export(job, dm, post, built)
            if refused is None:
                return
            if refused <= MIN_UPLOAD_LIMIT:
                raise GiveUp(f"Discord refused an export file of {refused} bytes as too large")
            limit = max(MIN_UPLOAD_LIMIT, refused // 2)
            log.warning("Discord refused an export file of %s bytes as too large; splitting under %s bytes", refused, limit)

    async def _send_export(self, job: Job, dm: discord.DMChannel, post: ExportUpload, built: ExportFile) -> int | None:
        """Send the export's files not sent yet; the size of a first file Discord refused as too large."""
        sent = await self._sent_files(dm, len(built.parts) + 10) if job.is_retry else set()
        stamp = int(job.created_at.timestamp() * 1000)
        for part in built.parts:
            if part.filename in sent:
                continue
            file = discord.File(part.path, filename=part.filename, description=part.title[:1024])
            # One nonce a part (the first keeps the single file's): a resent request is recognised.
            nonce = f"e{job.id:x}.{stamp:x}" + (f".{part.number}" if part.number > 1 else "")
            try:
                await call(lambda file=file, part=part, nonce=nonce: dm.send(  # type: ignore[misc]
                    content=part.title[: render.MAX_CONTENT], file=file, nonce=nonce, allowed_mentions=render.NO_MENTIONS))
            except RetryLater as exc:
                if isinstance(exc.__cause__, discord.Forbidden) and exc.__cause__.code == CANNOT_MESSAGE_USER:
                    # Their privacy settings refuse direct messages from this server: waiting will not help.
                    log.error("Discord export for %s not sent: they do not accept direct messages from this server", post.requested_by)
                    raise GiveUp("the admin does not accept direct messages from this server") from exc
                raise
            except GiveUp as exc:
                cause = exc.__cause__
                too_large = isinstance(cause, discord.HTTPException) and (cause.status == 413 or cause.code == ENTITY_TOO_LARGE)
                if too_large and not sent and part.number == 1:
                    return part.size
                raise
            finally:
                file.close()
            sent.add(part.filename)
        return None

    async def _sent_files(self, dm: discord.DMChannel, limit: int) -> set[str]:
        history = dm.history(limit=limit)
        messages = await call(lambda: _collect(history))
        return {a.filename for m in messages for a in m.attachments}

    async def _find_charts(self, forum: discord.ForumChannel, names: set[str], title: str | None = None) -> bool:
        """True when an earlier attempt posted these charts (or, without charts, a post named `title`)."""
        client = await self.rest.ensure()
        threads = await call(lambda: forum.guild.active_threads())
        for thread in threads:
            if thread.parent_id != forum.id or thread.owner_id != self.rest.bot_id:
                continue
            if title is not None:
                if thread.name == title[:100]:
                    return True
                continue
            history = client.get_partial_messageable(thread.id).history(limit=5)
            try:
                sent = await call(lambda history=history: _collect(history))
            except (ThreadGone, discord.NotFound, RetryLater, GiveUp):
                continue
            if any(names & {a.filename for a in message.attachments} for message in sent):
                return True
        return False

    async def mirror(self, job: Job, to: ChatTarget, post: MirroredNote) -> None:
        """A teammate's note from another platform, labelled with its author."""
        chunks = render.mirror_text(post.author, post.origin, post.text)
        await self._send(job, to.conversation_id, int(to.channel), chunks)

    async def relay(self, job: Job, to: ChatTarget, post: ChannelNotice) -> None:
        """A rule's notice in another (text) channel; `<#thread>` links to the post."""
        thread = await self.state.thread(to.conversation_id, PLATFORM, to.channel) if to.channel else None
        text = to_markdown(post.text) + (f" <#{thread}>" if thread else "")
        await self.rest.ensure()
        channel = self._channel(int(post.channel))
        if job.is_retry and any(m.content == text for m in await self._recent(job, int(post.channel))):
            return  # an earlier attempt posted it
        nonce = f"{job.id:x}.{int(job.created_at.timestamp() * 1000):x}.r"
        await call(lambda: channel.send(render.split_text(text, render.MAX_CONTENT)[0], nonce=nonce, allowed_mentions=render.NO_MENTIONS))

    async def post_url(self, conversation_id: int, forum_id: str, guild_id: int | None) -> str | None:
        thread = await self.state.thread(conversation_id, PLATFORM, forum_id)
        if thread is None or guild_id is None:
            return None
        return f"https://discord.com/channels/{guild_id}/{thread}"

