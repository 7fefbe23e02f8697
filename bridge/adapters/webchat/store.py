"""The web chat's workspace: threads and their messages, kept in the process.

Every change bumps `version` and wakes the listeners (the page's event stream), which
then read the whole state again: a browser that disconnects mid-update loses nothing,
it reloads the state when it reconnects.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]


@dataclass
class WebMessage:
    id: str
    kind: str  # card | customer | teammate | status | draft | notice | mirror | answer
    author: str
    rich: list[Json]  # the neutral segments; the page renders them with textContent
    buttons: list[Json] = field(default_factory=list)
    for_user: str | None = None  # shown only to this teammate (an ephemeral answer)
    at: float = 0.0
    extra: Json = field(default_factory=dict)

    def as_json(self) -> Json:
        return {
            "id": self.id, "kind": self.kind, "author": self.author, "rich": self.rich, "buttons": self.buttons,
            "for_user": self.for_user, "at": self.at, **self.extra,
        }


@dataclass
class WebThread:
    id: str
    channel: str
    conversation_id: int
    messages: list[WebMessage] = field(default_factory=list)


class WebChatStore:
    def __init__(self) -> None:
        self.threads: dict[str, WebThread] = {}
        self.channel_log: list[WebMessage] = []  # answers to `/sms` typed in the channel
        # Files for download (an `/sms export`): id -> (file name, content type, bytes).
        self.files: dict[str, tuple[str, str, bytes]] = {}
        self.version = 0
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()

    def new_id(self, prefix: str = "m") -> str:
        return f"{prefix}{next(self._ids)}"

    def open_thread(self, channel: str, conversation_id: int) -> WebThread:
        thread = WebThread(self.new_id("t"), channel, conversation_id)
        self.threads[thread.id] = thread
        return thread

    def find(self, message_id: str) -> tuple[WebThread, WebMessage] | None:
        for thread in self.threads.values():
            for message in thread.messages:
                if message.id == message_id:
                    return thread, message
        return None

    def find_by(self, thread_id: str, **extra: Any) -> WebMessage | None:
        """A message of the thread whose extra fields match (a retried job's earlier post)."""
        thread = self.threads.get(thread_id)
        for message in thread.messages if thread else []:
            if all(message.extra.get(k) == v for k, v in extra.items()):
                return message
        return None

    async def changed(self) -> None:
        self.version += 1
        async with self._changed:
            self._changed.notify_all()

    async def wait_change(self, seen: int, timeout: float) -> int:
        """The version once it is past `seen`, or the same one after `timeout` (a keep-alive)."""
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: self.version > seen), timeout)
            except TimeoutError:
                pass
        return self.version

    def snapshot(self, user: str | None) -> Json:
        def visible(m: WebMessage) -> bool:
            return m.for_user is None or m.for_user == user

        return {
            "version": self.version,
            "threads": [
                {
                    "id": t.id,
                    "conversation_id": t.conversation_id,
                    "messages": [m.as_json() for m in t.messages if visible(m)],
                }
                for t in self.threads.values()
            ],
            "channel": [m.as_json() for m in self.channel_log if visible(m)],
        }
