"""Sharing a picture into a Slack thread once, even when an answer is lost on the way.

Slack's upload is three calls: files.getUploadURLExternal (a file id and an upload
URL), the upload of the bytes, and files.completeUploadExternal, which shares the file
into the thread. When the last answer is lost the picture may already be in the
thread, and uploading it again would show it twice. So the file id is recorded before
the bytes leave, and a job that runs again first looks for that file in the thread,
then tries to complete that same upload, and starts a new one only when Slack no longer
knows the old one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bridge.adapters.slack.pacing import ChannelPacer
from bridge.inbox.chatstate import ChatState
from bridge.inbox.outbox import Job, RetryLater
from bridge.inbox.types import FetchedMedia

# Slack's call wrapper (SlackPoster._call): errors become RetryLater or GiveUp.
CallSlack = Callable[[str, Callable[[], Awaitable[AsyncSlackResponse]]], Awaitable[AsyncSlackResponse]]
# Refusals about the channel or the token, not the upload: starting over would not help.
NOT_ABOUT_THE_UPLOAD = frozenset(
    {"not_in_channel", "channel_not_found", "invalid_auth", "account_inactive", "ratelimited", "is_archived"}
)


class FileSharer:
    def __init__(self, client: AsyncWebClient, state: ChatState, call: CallSlack, pacer: ChannelPacer, platform: str) -> None:
        self.client = client
        self.state = state
        self.call = call
        self.pacer = pacer
        self.platform = platform

    async def share(self, job: Job, channel: str, thread_ts: str, message_id: int, index: int, media: FetchedMedia) -> None:
        """Put `media` (attachment `index` of the message) into the thread, exactly once."""
        purpose = f"upload{index}"
        earlier = await self.state.posted(self.platform, channel, purpose, message_id)
        if earlier is not None:
            if await self._in_thread(job, channel, thread_ts, earlier):
                return
            if await self._complete(job, channel, thread_ts, earlier, media.filename, reusing=True):
                return
        file_id, upload_url = await self._start(channel, media)
        await self.state.replace_posted(self.platform, channel, purpose, message_id, file_id)
        await self._upload(upload_url, media.data)
        await self._complete(job, channel, thread_ts, file_id, media.filename, reusing=False)

    async def share_in_channel(self, job: Job, channel: str, media: FetchedMedia, title: str) -> None:
        """Put `media` into the channel (not a thread) once.

        Its file name is unique to the job, so a retry finds an earlier attempt's file in
        the channel's history; an upload never completed was never shown, and starts over.
        """
        if job.is_retry:
            oldest = f"{(job.created_at - timedelta(minutes=1)).timestamp():.6f}"
            response = await self.call(channel, lambda: self.client.conversations_history(channel=channel, oldest=oldest, limit=200))
            messages: list[dict[str, Any]] = response.get("messages") or []
            if any(shared.get("name") == media.filename for item in messages for shared in item.get("files") or []):
                return
        file_id, upload_url = await self._start(channel, media)
        await self._upload(upload_url, media.data)
        await self._complete(job, channel, None, file_id, title, reusing=False)

    async def share_privately(self, job: Job, user: str, media: FetchedMedia, title: str) -> str:
        """Put `media` into the direct message with `user` once; the DM's channel id.

        Nobody else sees it: a compliance export holds every customer's number. A retry
        finds an earlier attempt's file by its name, unique to the job (files.list with
        files:read: reading the DM's history would need im:history as well).
        """
        opened = await self.call(user, lambda: self.client.conversations_open(users=user))
        channel = str(opened["channel"]["id"])
        if job.is_retry:
            since = int((job.created_at - timedelta(minutes=1)).timestamp())
            response = await self.call(channel, lambda: self.client.files_list(channel=channel, ts_from=since, count=100))
            files: list[dict[str, Any]] = response.get("files") or []
            if any(shared.get("name") == media.filename for shared in files):
                return channel
        file_id, upload_url = await self._start(channel, media)
        await self._upload(upload_url, media.data)
        await self._complete(job, channel, None, file_id, title, reusing=False)
        return channel

    async def _in_thread(self, job: Job, channel: str, thread_ts: str, file_id: str) -> bool:
        oldest = f"{(job.created_at - timedelta(minutes=1)).timestamp():.6f}"
        response = await self.call(
            channel, lambda: self.client.conversations_replies(channel=channel, ts=thread_ts, oldest=oldest, limit=200)
        )
        messages: list[dict[str, Any]] = response.get("messages") or []
        return any(shared.get("id") == file_id for item in messages for shared in item.get("files") or [])

    async def _start(self, channel: str, media: FetchedMedia) -> tuple[str, str]:
        response = await self.call(
            channel, lambda: self.client.files_getUploadURLExternal(filename=media.filename, length=len(media.data))
        )
        return str(response["file_id"]), str(response["upload_url"])

    async def _upload(self, url: str, data: bytes) -> None:
        # The upload URL carries its own authorisation: no token goes with the bytes.
        timeout = aiohttp.ClientTimeout(total=self.client.timeout)
        try:
            if self.client.session is not None:
                async with self.client.session.post(url, data=data, timeout=timeout) as response:
                    status = response.status
            else:
                async with aiohttp.ClientSession(timeout=timeout) as session, session.post(url, data=data) as response:
                    status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise RetryLater(f"Slack file upload failed: {type(exc).__name__}") from exc
        if status != 200:
            raise RetryLater(f"Slack file upload answered {status}")

    async def _complete(
        self, job: Job, channel: str, thread_ts: str | None, file_id: str, title: str, *, reusing: bool
    ) -> bool:
        """Share the uploaded file; False when reusing an upload Slack no longer knows."""
        try:
            await self.pacer.paced(
                job,
                channel,
                lambda: self.call(
                    channel,
                    lambda: self.client.files_completeUploadExternal(
                        files=[{"id": file_id, "title": title}], channel_id=channel, thread_ts=thread_ts
                    ),
                ),
            )
        except RetryLater as exc:
            cause = exc.__cause__
            if reusing and isinstance(cause, SlackApiError) and cause.response.status_code == 200:
                error = cause.response.get("error")
                if error not in NOT_ABOUT_THE_UPLOAD:
                    return False  # e.g. file_not_found: the bytes never arrived, or it expired
            raise
        return True
