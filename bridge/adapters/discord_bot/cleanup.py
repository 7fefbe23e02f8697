"""Taking smsbridge's posts back in Discord (bridge/inbox/chat_cleanup.py): an erased
contact's forum post is deleted whole (the bot opened it, so it may, teammates'
messages in it included); retention edits the posts that showed a removed text."""

from __future__ import annotations

import discord

from bridge.adapters.discord_bot.poster import DiscordPoster, ThreadGone, call
from bridge.inbox.chat_cleanup import ErasePosts, RedactPosts
from bridge.inbox.outbox import Job


class DiscordCleaner:
    platform = "discord"

    def __init__(self, poster: DiscordPoster) -> None:
        self.poster = poster

    async def erase(self, job: Job, request: ErasePosts) -> None:
        if not request.thread:
            return  # every post of ours about a conversation is in its forum post
        client = await self.poster.rest.ensure()
        thread_id = int(request.thread)
        try:
            await call(lambda: client.http.delete_channel(thread_id, reason="smsbridge: contact erased"))
        except (ThreadGone, discord.NotFound):
            pass  # already deleted

    async def redact(self, job: Job, request: RedactPosts) -> None:
        if not request.thread:
            return
        for posted in request.posts + request.pictures:  # a picture is a message of its own: the same words, no file
            await self.poster._edit(int(request.thread), int(posted), content=request.text, embed=None, attachments=[])
