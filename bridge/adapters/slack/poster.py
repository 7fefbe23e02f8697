"""Outbox job handlers that post to Slack: cards, customer texts, media, statuses, notices.

Every post carries message metadata naming what it is. A job that runs again after
an attempt whose outcome is unknown (crash, timeout) first looks for that metadata in
the channel, so a retried post is found instead of duplicated.

Slack allows about one post per second per channel with short bursts: posts are paced
per channel (pacing.py); a 429 pauses the whole channel for Retry-After, and jobs of
that channel wait rather than spin.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from bridge import metrics
from bridge.adapters.slack import render
from bridge.adapters.slack.markup import to_mrkdwn
from bridge.adapters.slack.pacing import ChannelPacer, RateLimited
from bridge.adapters.slack.uploads import FileSharer
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
from bridge.inbox.chatstate import ChatState
from bridge.inbox.exports import build_upload
from bridge.inbox.models import utcnow
from bridge.inbox.outbox import GiveUp, Job, RetryLater
from bridge.inbox.report_charts import chart_file_name, draw
from bridge.inbox.types import FetchedMedia, MediaFetcher
from bridge.inbox.views import ConversationView

log = logging.getLogger(__name__)

PLATFORM = "slack"
EVENT_TYPE = "smsbridge_post"
UPLOAD_LIMIT = 1024**3  # Slack takes files up to 1 GB; a larger export is compressed, then split
# Errors that mean this one post can never succeed; anything else is retried (a bot
# not yet invited to the channel, an outage) so nothing is lost meanwhile.
HOPELESS = frozenset({"invalid_blocks", "msg_too_long", "no_text", "invalid_metadata_format", "too_many_attachments"})
T = TypeVar("T")


class SlackPoster:
    """The Slack side of the chat contract (`bridge.inbox.chat.ChatPoster`)."""

    platform = PLATFORM

    def __init__(
        self, client: AsyncWebClient, state: ChatState, media: MediaFetcher | None = None, pacer: ChannelPacer | None = None
    ) -> None:
        self.client = client
        self.state = state
        self.media_fetcher = media
        self.pacer = pacer or ChannelPacer()
        self._files = FileSharer(client, state, self._call, self.pacer, PLATFORM)

    # -- calling Slack ---------------------------------------------------------

    async def _call(self, channel: str, request: Callable[[], Awaitable[T]]) -> T:
        paused = self.pacer.paused_for(channel)
        if paused > 0:
            raise RateLimited(f"channel {channel} paused by Slack rate limit", delay=paused)
        started = time.monotonic()
        try:
            return await request()
        except SlackApiError as exc:
            status = exc.response.status_code
            error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
            if status == 429:
                metrics.CHAT_RATE_LIMITED.labels(PLATFORM).inc()
                delay = float(exc.response.headers.get("Retry-After", exc.response.headers.get("retry-after", 1)))
                self.pacer.pause(channel, delay)
                raise RateLimited(f"Slack rate limit on {channel}", delay=delay) from exc
            if error in HOPELESS:
                raise GiveUp(f"Slack refused the post: {error}") from exc
            if error in ("not_in_channel", "channel_not_found", "invalid_auth", "account_inactive"):
                log.error("Slack says %s for channel %s: invite the bot / check SLACK_BOT_TOKEN", error, channel)
            raise RetryLater(f"Slack answered {status} {error}") from exc
        except (TimeoutError, SlackRequestError, aiohttp.ClientError, OSError) as exc:
            raise RetryLater(f"Slack unreachable: {type(exc).__name__}") from exc
        finally:
            metrics.CHAT_API_SECONDS.labels(PLATFORM).observe(time.monotonic() - started)

    async def _find(self, job: Job, channel: str, thread_ts: str | None, match: dict[str, Any]) -> str | None:
        """The ts of an earlier post of ours carrying `match` in its metadata, if any.
        (A dict, not keywords: the metadata of notices and digests has a "job" key.)"""
        oldest = f"{job.earliest_effect.timestamp():.6f}"
        if thread_ts:
            response = await self._call(
                channel,
                lambda: self.client.conversations_replies(
                    channel=channel, ts=thread_ts, oldest=oldest, include_all_metadata=True, limit=200
                ),
            )
        else:
            response = await self._call(
                channel,
                lambda: self.client.conversations_history(channel=channel, oldest=oldest, include_all_metadata=True, limit=200),
            )
        for item in response.get("messages", []):
            metadata = item.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == EVENT_TYPE and all(payload.get(k) == v for k, v in match.items()):
                return str(item["ts"])
        return None

    async def _post(self, job: Job, channel: str, thread_ts: str | None, meta: dict[str, Any], **fields: Any) -> str:
        if self.pacer.may_have_posted(job):
            found = await self._find(job, channel, thread_ts, meta)
            if found:
                return found
        response = await self.pacer.paced(
            job,
            channel,
            lambda: self._call(
                channel,
                lambda: self.client.chat_postMessage(
                    channel=channel,
                    thread_ts=thread_ts,
                    metadata={"event_type": EVENT_TYPE, "event_payload": meta},
                    unfurl_links=False,
                    unfurl_media=False,
                    **fields,
                ),
            ),
        )
        return str(response["ts"])

    # -- the thread ------------------------------------------------------------

    async def _open_thread(
        self, job: Job, conversation_id: int, channel: str, card: tuple[ConversationView, list[str]] | None = None
    ) -> str:
        """Post the conversation's card, the root of its thread; the caller records it."""
        view, snippet_names = card or await self.state.card(conversation_id)
        return await self._post(
            job,
            channel,
            None,
            {"conversation_id": conversation_id, "part": "card"},
            text=render.card_text(view),
            blocks=render.card_blocks(view, snippet_names),
        )

    async def _thread(self, job: Job, conversation_id: int, channel: str) -> str:
        ts = await self.state.thread(conversation_id, PLATFORM, channel)
        if ts:
            return ts
        ts = await self._open_thread(job, conversation_id, channel)
        await self.state.save_thread(conversation_id, PLATFORM, channel, ts)
        return ts

    async def card(self, job: Job, to: ChatTarget, post: CardRefresh) -> None:
        conversation_id, channel = to.conversation_id, to.channel
        existing = await self.state.thread(conversation_id, PLATFORM, channel)
        if existing is None:
            await self._thread(job, conversation_id, channel)  # a new card is already current
            return
        view, snippet_names = await self.state.card(conversation_id)
        blocks = render.card_blocks(view, snippet_names)
        try:
            await self._call(
                channel,
                lambda: self.client.chat_update(channel=channel, ts=existing, text=render.card_text(view), blocks=blocks),
            )
        except RetryLater as exc:
            if isinstance(exc.__cause__, SlackApiError) and exc.__cause__.response.get("error") == "message_not_found":
                # Someone deleted the card: open a fresh thread rather than lose the conversation.
                await self.state.forget_thread(conversation_id, PLATFORM, channel)
                await self._thread(job, conversation_id, channel)
                return
            raise

    async def message(self, job: Job, to: ChatTarget, post: CustomerText) -> None:
        # One read (thread, text, title; the card too for a new conversation), the posts,
        # one write (the thread it opened, the post, the job done): two transactions.
        channel, message_id = to.channel, post.message_id
        context = await self.state.text_context(to.conversation_id, PLATFORM, channel, message_id)
        opened = None
        thread_ts = context.thread
        if thread_ts is None:
            thread_ts = opened = await self._open_thread(job, to.conversation_id, channel, context.card)
        text, markup = render.customer_text(context.message)
        try:
            ts = await self._post(
                job,
                channel,
                thread_ts,
                {"message_id": message_id, "part": "message"},
                text=render.truncate(text, 39000),
                mrkdwn=markup,
                username=context.title[:80],
                icon_emoji=render.CUSTOMER_ICON,
            )
        except BaseException:
            if opened is not None:
                # The card is posted: keep its thread, so the retry posts only the text.
                # (Should this fail too, the retry finds the card by its metadata.)
                with contextlib.suppress(Exception):
                    await self.state.save_thread(to.conversation_id, PLATFORM, channel, opened)
            raise
        thread = None if opened is None else (to.conversation_id, opened)
        await self.state.save_posted(PLATFORM, channel, "message", message_id, ts, done=job, thread=thread)

    async def media(self, job: Job, to: ChatTarget, post: CustomerMedia) -> None:
        channel, message_id, index = to.channel, post.message_id, post.index
        thread_ts = await self._thread(job, to.conversation_id, channel)
        view = await self.state.message(message_id)
        if index >= len(view.media):
            return  # not shown here (no-bodies mode)
        fetched = await fetch_or_explain(self.media_fetcher, view.media[index])
        if isinstance(fetched, str):
            await self._post(job, channel, thread_ts, {"message_id": message_id, "part": f"media{index}"}, text=fetched)
            return
        await self._files.share(job, channel, thread_ts, message_id, index, fetched)

    async def status(self, job: Job, to: ChatTarget, post: ReplyStatus) -> None:
        view = await self.state.message(post.message_id)
        title = await self.state.title(to.conversation_id)
        now = utcnow()
        await self._post_or_update(
            job, to, post.message_id, "status", render.status_text(view, title, now), render.status_blocks(view, title, now)
        )

    async def draft(self, job: Job, to: ChatTarget, post: DraftReview) -> None:
        view = await self.state.message(post.message_id)
        await self._post_or_update(job, to, post.message_id, "draft", render.draft_text(view), render.draft_blocks(view))

    async def _post_or_update(
        self, job: Job, to: ChatTarget, message_id: int, purpose: str, text: str, blocks: list[dict[str, Any]]
    ) -> None:
        """One message per stored message and purpose, edited in place as it changes."""
        channel = to.channel
        posted = await self.state.posted(PLATFORM, channel, purpose, message_id)
        if posted:
            await self._call(channel, lambda: self.client.chat_update(channel=channel, ts=posted, text=text, blocks=blocks))
            return
        thread_ts = await self._thread(job, to.conversation_id, channel)
        ts = await self._post(job, channel, thread_ts, {"message_id": message_id, "part": purpose}, text=text, blocks=blocks)
        await self.state.save_posted(PLATFORM, channel, purpose, message_id, ts, done=job)

    async def notice(self, job: Job, to: ChatTarget, post: Notice) -> None:
        channel = to.channel
        thread_ts = await self._thread(job, to.conversation_id, channel)
        text = to_mrkdwn(post.text)
        blocks = render.text_blocks(text, post.buttons)
        user = post.for_user
        if user:
            await self._call(
                channel,
                lambda: self.client.chat_postEphemeral(channel=channel, user=user, thread_ts=thread_ts, text=text, blocks=blocks),
            )
            return
        await self._post(job, channel, thread_ts, {"job": job.id, "part": "notice"}, text=text, blocks=blocks)

    async def mirror(self, job: Job, to: ChatTarget, post: MirroredNote) -> None:
        """A teammate's note from another platform, labelled with its author."""
        thread_ts = await self._thread(job, to.conversation_id, to.channel)
        text = render.mirror_text(post.author, post.origin, post.text)
        await self._post(job, to.channel, thread_ts, {"job": job.id, "part": "mirror"}, text=text)

    async def charts(self, job: Job, to: ChatTarget, post: ChartUpload) -> None:
        """A report's charts as PNG files in the channel where the report was asked;
        a digest's text first, as a message of the channel."""
        if post.summary is not None:
            text = to_mrkdwn(post.summary)
            await self._post(job, to.channel, None, {"job": job.id, "part": "digest"}, text=text, blocks=render.text_blocks(text, ()))
        for chart in await draw(self.state.db.sessions, post):
            media = FetchedMedia(chart.png, "image/png", chart_file_name(job, chart.name))
            await self._files.share_in_channel(job, to.channel, media, chart.title)

    async def export(self, job: Job, to: ChatTarget, post: ExportUpload) -> None:
        """A compliance export as a file in a direct message to the admin who asked (it
        holds every customer's number: the channel's other members must not get it); its
        title says what it holds (rows, period). The file is spooled to disk and streamed
        from there; over Slack's 1 GB limit it is gzip-compressed, then split into
        numbered parts. A retry finds the earlier files by name.
        Without the im:write scope the admin is told, privately, in the channel instead."""
        with await build_upload(self.state.db.sessions, post, PLATFORM, job, limit=UPLOAD_LIMIT) as built:
            try:
                await self._files.share_privately(job, post.requested_by, built.parts)
                return
            except RetryLater as exc:
                cause = exc.__cause__
                if not (isinstance(cause, SlackApiError) and cause.response.get("error") == "missing_scope"):
                    raise
        text = (
            f"Your {post.export} export was not sent: the Slack app cannot open a direct message with you "
            "(it needs the im:write scope). Add it from manifests/slack-app.yaml, reinstall the app, then ask again."
        )
        channel = to.channel
        await self._call(channel, lambda: self.client.chat_postEphemeral(channel=channel, user=post.requested_by, text=text))
        log.error("Slack export for %s not sent: the app lacks the im:write scope", post.requested_by)

    async def relay(self, job: Job, to: ChatTarget, post: ChannelNotice) -> None:
        """A rule's notice at the top of another channel, linking to the thread."""
        link = await self.permalink(to.conversation_id, to.channel) if to.channel else None
        text = to_mrkdwn(post.text) + (f" <{link}|Open the thread>" if link else "")
        await self._post(job, post.channel, None, {"job": job.id, "part": "relay"}, text=text, blocks=render.text_blocks(text, ()))

    async def permalink(self, conversation_id: int, channel: str) -> str | None:
        """A link to the conversation's thread, for search results and `/sms new`."""
        ts = await self.state.thread(conversation_id, PLATFORM, channel)
        if ts is None:
            return None
        try:
            response = await self.client.chat_getPermalink(channel=channel, message_ts=ts)
            return str(response["permalink"])
        except Exception:  # noqa: BLE001 - a link is a convenience
            return None

