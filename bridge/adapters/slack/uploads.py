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

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bridge.adapters.slack.pacing import ChannelPacer
from bridge.inbox.chat_cleanup import UPLOAD
from bridge.inbox.chatstate import ChatState
from bridge.inbox.outbox import Job, RetryLater
from bridge.inbox.types import FetchedMedia

# Slack's call wrapper (SlackPoster._call): errors become RetryLater or GiveUp.
CallSlack = Callable[[str, Callable[[], Awaitable[AsyncSlackResponse]]], Awaitable[AsyncSlackResponse]]
# Refusals about the channel or the token, not the upload: starting over would not help.
NOT_ABOUT_THE_UPLOAD = frozenset(
    {"not_in_channel", "channel_not_found", "invalid_auth", "account_inactive", "ratelimited", "is_archived"}
)


class LocalFile(Protocol):
    """A file on disk to share (an export's part)."""

    @property
    def path(self) -> Path: ...
    @property
    def filename(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def title(self) -> str: ...


class FileSharer:
    def __init__(self, client: AsyncWebClient, state: ChatState, call: CallSlack, pacer: ChannelPacer, platform: str) -> None:
        self.client = client
        self.state = state
        self.call = call
        self.pacer = pacer
        self.platform = platform

    async def share(self, job: Job, channel: str, thread_ts: str, message_id: int, index: int, media: FetchedMedia) -> None:
        """Put `media` (attachment `index` of the message) into the thread, exactly once."""
        purpose = f"{UPLOAD}{index}"
        earlier = await self.state.posted(self.platform, channel, purpose, message_id)
        if earlier is not None:
            if await self._in_thread(job, channel, thread_ts, earlier):
                return
            if await self._complete(job, channel, thread_ts, earlier, media.filename, reusing=True):
                return
        file_id, upload_url = await self._start(channel, media.filename, len(media.data))
        await self.state.replace_posted(self.platform, channel, purpose, message_id, file_id)
        await self._upload(upload_url, media.data)
        await self._complete(job, channel, thread_ts, file_id, media.filename, reusing=False)

    async def share_in_channel(self, job: Job, channel: str, media: FetchedMedia, title: str) -> None:
        """Put `media` into the channel (not a thread) once.

        Its file name is unique to the job, so a retry finds an earlier attempt's file in
        the channel's history; an upload never completed was never shown, and starts over.
        """
        if job.is_retry:
            oldest = f"{job.earliest_effect.timestamp():.6f}"
            response = await self.call(channel, lambda: self.client.conversations_history(channel=channel, oldest=oldest, limit=200))
            messages: list[dict[str, Any]] = response.get("messages") or []
            if any(shared.get("name") == media.filename for item in messages for shared in item.get("files") or []):
                return
        file_id, upload_url = await self._start(channel, media.filename, len(media.data))
        await self._upload(upload_url, media.data)
        await self._complete(job, channel, None, file_id, title, reusing=False)

    async def share_privately(self, job: Job, user: str, files: Sequence[LocalFile]) -> str:
        """Put `files` (spooled on disk, streamed from there) into the direct message with
        `user`, each once, in order; the DM's channel id.

        Nobody else sees them: a compliance export holds every customer's number. A retry
        finds an earlier attempt's files by their names, unique to the job (files.list with
        files:read: reading the DM's history would need im:history as well), and sends only
        the ones missing.
        """
        opened = await self.call(user, lambda: self.client.conversations_open(users=user))
        channel = str(opened["channel"]["id"])
        shared: set[str] = set()
        if job.is_retry:
            since = str(int(job.earliest_effect.timestamp()))  # slack_sdk takes it as a string
            response = await self.call(channel, lambda: self.client.files_list(channel=channel, ts_from=since, count=100))
            shared = {str(item.get("name")) for item in response.get("files") or []}
        for file in files:
            if file.filename in shared:
                continue
            file_id, upload_url = await self._start(channel, file.filename, file.size)
            await self._upload(upload_url, file.path)
            await self._complete(job, channel, None, file_id, file.title, reusing=False)
        return channel

    async def _in_thread(self, job: Job, channel: str, thread_ts: str, file_id: str) -> bool:
        oldest = f"{job.earliest_effect.timestamp():.6f}"
        response = await self.call(
            channel, lambda: self.client.conversations_replies(channel=channel, ts=thread_ts, oldest=oldest, limit=200)
        )
        messages: list[dict[str, Any]] = response.get("messages") or []
        return any(shared.get("id") == file_id for item in messages for shared in item.get("files") or [])

    async def _start(self, channel: str, filename: str, length: int) -> tuple[str, str]:
        response = await self.call(
            channel, lambda: self.client.files_getUploadURLExternal(filename=filename, length=length)
        )
        return str(response["file_id"]), str(response["upload_url"])

    async def _upload(self, url: str, data: bytes | Path) -> None:
        """POST the bytes (a file on disk is streamed from it, not read whole)."""
        if isinstance(data, Path):
            with data.open("rb") as file:  # aiohttp reads it in chunks
                # A large file takes longer than a call: no total limit, only between chunks.
                await self._post(url, file, aiohttp.ClientTimeout(total=None, sock_read=self.client.timeout))
            return
        await self._post(url, data, aiohttp.ClientTimeout(total=self.client.timeout))

    async def _post(self, url: str, data: bytes | BinaryIO, timeout: aiohttp.ClientTimeout) -> None:
        # The upload URL carries its own authorisation: no token goes with the bytes.
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
