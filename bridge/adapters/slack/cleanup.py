"""Taking smsbridge's posts back in Slack (bridge/inbox/chat_cleanup.py): an erased
contact's thread, or the text of posts retention removed.

A bot token deletes only the bot's own messages (`chat.delete` answers
`cant_delete_message` for anyone else's): the teammates' messages in an erased
contact's thread stay, and the result of the erasure says so.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bridge.adapters.slack.poster import SlackPoster
from bridge.inbox.chat_cleanup import ErasePosts, RedactPosts
from bridge.inbox.outbox import Job, RetryLater

log = logging.getLogger(__name__)

GONE = frozenset({"message_not_found", "thread_not_found", "channel_not_found", "cant_delete_message", "cant_update_message"})
FILE_GONE = frozenset({"file_not_found", "file_deleted", "cant_delete_file"})


def _error(exc: RetryLater) -> str | None:
    cause = exc.__cause__
    if isinstance(cause, SlackApiError) and isinstance(cause.response.data, dict):
        return str(cause.response.get("error"))
    return None


class SlackCleaner:
    platform = "slack"

    def __init__(self, client: AsyncWebClient, poster: SlackPoster) -> None:
        self.client = client
        self.poster = poster
        self._me: tuple[str, str] | None = None  # (bot user id, bot id)

    async def _identity(self, channel: str) -> tuple[str, str]:
        if self._me is None:
            found: Any = await self.poster._call(channel, lambda: self.client.auth_test())
            self._me = (str(found.get("user_id") or ""), str(found.get("bot_id") or ""))
        return self._me

    async def _thread_posts(self, channel: str, thread: str) -> tuple[list[str], int]:
        """Our posts in the thread (replies first, the card last) and how many are not ours."""
        user, bot = await self._identity(channel)
        ours: list[str] = []
        others = 0
        cursor: str | None = None
        while True:
            async def listing(cursor: str | None = cursor) -> Any:
                return await self.client.conversations_replies(channel=channel, ts=thread, limit=200, cursor=cursor)

            try:
                page: Any = await self.poster._call(channel, listing)
            except RetryLater as exc:
                if _error(exc) in GONE:
                    return ours, others
                raise
            for item in page.get("messages", []):
                if item.get("user") == user or (bot and item.get("bot_id") == bot):
                    ours.append(str(item["ts"]))
                else:
                    others += 1
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
        ours.sort(key=lambda ts: ts == thread)  # the card (the thread's root) goes last
        return ours, others

    async def erase(self, job: Job, request: ErasePosts) -> None:
        channel = request.channel
        ours: list[str] = []
        others = 0
        if request.thread:
            ours, others = await self._thread_posts(channel, request.thread)
        todo = [p for p in request.posts if p not in ours] + ours
        for ts in todo:
            await self._delete(channel, ts)
        if others:
            log.info("erased a thread in %s: %d teammate message(s) stay (a bot cannot delete them)", channel, others)

    async def _delete(self, channel: str, ts: str) -> None:
        try:
            await self.poster._call(channel, lambda: self.client.chat_delete(channel=channel, ts=ts))
        except RetryLater as exc:
            if _error(exc) not in GONE:  # already gone, or not ours: nothing more to do
                raise

    async def redact(self, job: Job, request: RedactPosts) -> None:
        """Edit the posts that showed the text; delete the pictures shared with it (their
        records hold the files' ids)."""
        channel = request.channel
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": request.text}}]
        for file_id in request.pictures:
            await self._delete_file(channel, file_id)
        for ts in request.posts:

            async def edit(ts: str = ts) -> Any:
                return await self.client.chat_update(channel=channel, ts=ts, text=request.text, blocks=blocks)

            try:
                await self.poster._call(channel, edit)
            except RetryLater as exc:
                if _error(exc) not in GONE:
                    raise

    async def _delete_file(self, channel: str, file_id: str) -> None:
        try:
            await self.poster._call(channel, lambda: self.client.files_delete(file=file_id))
        except RetryLater as exc:
            if _error(exc) not in FILE_GONE:
                raise
