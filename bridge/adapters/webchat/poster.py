"""The web chat's side of the chat contract (`bridge.inbox.chat.ChatPoster`).

Like the Slack and Discord posters it reads what to show from `ChatState`, records the
thread and the posts it edits later, and finds its earlier post when a job runs again.
"""

from __future__ import annotations

import time

from bridge.adapters.webchat import render
from bridge.adapters.webchat.store import WebChatStore, WebMessage, WebThread
from bridge.inbox import statuses
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
from bridge.inbox.outbox import Job

PLATFORM = "web"


class WebChatPoster:
    platform = PLATFORM

    def __init__(self, store: WebChatStore, state: ChatState) -> None:
        self.store = store
        self.state = state

    async def _thread(self, conversation_id: int, channel: str) -> WebThread:
        thread_id = await self.state.thread(conversation_id, PLATFORM, channel)
        if thread_id and thread_id in self.store.threads:
            return self.store.threads[thread_id]
        thread = self.store.open_thread(channel, conversation_id)
        thread.messages.append(WebMessage(self.store.new_id(), "card", "smsbridge", [], at=time.time(), extra={"part": "card"}))
        await self._render_card(thread)
        await self.state.save_thread(conversation_id, PLATFORM, channel, thread.id)
        return thread

    async def _render_card(self, thread: WebThread) -> None:
        view = await self.state.conversation(thread.conversation_id)
        text, buttons, facts = render.card(view, await self.state.snippet_names())
        card = thread.messages[0]
        card.rich, card.buttons, card.extra = text, buttons, {"part": "card", "facts": facts, "phone": view.phone}

    async def _add(self, thread: WebThread, message: WebMessage) -> WebMessage:
        thread.messages.append(message)
        await self.store.changed()
        return message

    async def _once(self, job: Job, thread: WebThread, kind: str, author: str, rich: list[render.Json], **key: object) -> WebMessage:
        """Post unless a previous run of this job already did (found by its key)."""
        found = self.store.find_by(thread.id, **key)
        if found is not None:
            return found
        return await self._add(thread, WebMessage(self.store.new_id(), kind, author, rich, at=time.time(), extra=dict(key)))

    async def card(self, job: Job, to: ChatTarget, post: CardRefresh) -> None:
        thread = await self._thread(to.conversation_id, to.channel)
        await self._render_card(thread)
        await self.store.changed()

    async def message(self, job: Job, to: ChatTarget, post: CustomerText) -> None:
        thread = await self._thread(to.conversation_id, to.channel)
        view = await self.state.message(post.message_id)
        title = await self.state.title(to.conversation_id)
        posted = await self._once(job, thread, "customer", title, render.customer(view), message_id=post.message_id, part="message")
        await self.state.save_posted(PLATFORM, to.channel, "message", post.message_id, posted.id, done=job)

    async def media(self, job: Job, to: ChatTarget, post: CustomerMedia) -> None:
        thread = await self._thread(to.conversation_id, to.channel)
        view = await self.state.message(post.message_id)
        if post.index >= len(view.media):
            return  # not shown here (no-bodies mode)
        item = view.media[post.index]
        label = f"📎 attachment {post.index + 1} ({item.get('content_type') or 'file'})"
        await self._once(job, thread, "customer", await self.state.title(to.conversation_id), [{"t": "plain", "v": label}],
                         message_id=post.message_id, part=f"media{post.index}")

    async def status(self, job: Job, to: ChatTarget, post: ReplyStatus) -> None:
        view = await self.state.message(post.message_id)
        title = await self.state.title(to.conversation_id)
        now = utcnow()
        await self._post_or_update(job, to, post.message_id, "status", render.status(view, title, now),
                                   render.buttons(statuses.status_buttons(view, now)), view.status)

    async def draft(self, job: Job, to: ChatTarget, post: DraftReview) -> None:
        view = await self.state.message(post.message_id)
        await self._post_or_update(job, to, post.message_id, "draft", render.draft(view),
                                   render.buttons(statuses.draft_buttons(view)), view.status)

    async def _post_or_update(
        self, job: Job, to: ChatTarget, message_id: int, purpose: str, rich: list[render.Json], buttons: list[render.Json], state: str
    ) -> None:
        thread = await self._thread(to.conversation_id, to.channel)
        posted = await self.state.posted(PLATFORM, to.channel, purpose, message_id)
        found = self.store.find(posted) if posted else None
        if found is None:
            message = await self._once(job, thread, purpose, "smsbridge", rich, message_id=message_id, part=purpose)
            await self.state.save_posted(PLATFORM, to.channel, purpose, message_id, message.id, done=job)
        else:
            message = found[1]
        message.rich, message.buttons = rich, buttons
        message.extra["state"] = state
        await self.store.changed()

    async def notice(self, job: Job, to: ChatTarget, post: Notice) -> None:
        thread = await self._thread(to.conversation_id, to.channel)
        found = self.store.find_by(thread.id, job=_key(job))
        if found is None:
            await self._add(thread, WebMessage(self.store.new_id(), "notice", "smsbridge", render.segments(post.text),
                                               render.buttons(post.buttons), post.for_user, time.time(), {"job": _key(job)}))

    async def mirror(self, job: Job, to: ChatTarget, post: MirroredNote) -> None:
        thread = await self._thread(to.conversation_id, to.channel)
        await self._once(job, thread, "mirror", post.author, render.mirror(post.author, post.origin, post.text), job_id=_key(job))

    async def relay(self, job: Job, to: ChatTarget, post: ChannelNotice) -> None:
        """The web chat has one channel: a rule's notice elsewhere is Slack's or Discord's."""

    async def charts(self, job: Job, to: ChatTarget, post: ChartUpload) -> None:
        # The page has no file viewer: a line says where the charts are (the report's text
        # answer already carries the numbers).
        self.store.channel_log.append(
            WebMessage(self.store.new_id(), "notice", "smsbridge",
                       [{"t": "plain", "v": f"📊 Report charts for {post.since[:10]} – {post.until[:10]} (shown in Slack/Discord)"}],
                       at=time.time())
        )
        await self.store.changed()

    async def export(self, job: Job, to: ChatTarget, post: ExportUpload) -> None:
        """A compliance export as a download link only the asker sees (`GET /api/files/<id>`)."""
        if any(m.extra.get("job") == _key(job) for m in self.store.channel_log):
            return
        # Built on disk; the page's store keeps files in memory (no size limit to split for).
        with await build_upload(self.state.db.sessions, post, PLATFORM, job) as built:
            [part] = built.parts
            data = part.read_bytes()
        file_id = self.store.new_id("f")
        self.store.files[file_id] = (part.filename, built.content_type, data)
        rich = [{"t": "plain", "v": f"📄 {built.summary}: "}, {"t": "link", "v": part.filename, "url": f"/api/files/{file_id}"}]
        self.store.channel_log.append(
            WebMessage(self.store.new_id(), "notice", "smsbridge", rich, for_user=post.requested_by, at=time.time(),
                       extra={"job": _key(job)})
        )
        await self.store.changed()


def _key(job: Job) -> str:
    """A job's identity across its retries: done jobs are deleted and SQLite reuses their ids."""
    return f"{job.id}@{job.created_at.isoformat()}"
