"""The chat contract: every payload survives the outbox's JSON, and jobs queued by an
older version (plain-dict payloads) still decode."""

from __future__ import annotations

import json

import pytest

from bridge.inbox.chat import (
    CHAT_JOBS,
    Button,
    CardRefresh,
    ChannelNotice,
    ChartUpload,
    ChatMessageRef,
    ChatPost,
    ChatTarget,
    CustomerMedia,
    CustomerText,
    DraftReview,
    ExportUpload,
    MirroredNote,
    Notice,
    ReplyStatus,
    decode,
    encode,
    job_kind,
)
from bridge.inbox.markup import Link, Mention, quote, rich

TO = ChatTarget(conversation_id=7, channel="C0SUPPORT", inbox_id=1)
POSTS: list[ChatPost] = [
    CardRefresh(),
    CustomerText(11),
    CustomerMedia(11, 2),
    ReplyStatus(12),
    ReplyStatus(12, ChatMessageRef("discord", "1500")),
    Notice(rich("👉 Assigned to {who} by **{name}** `x`", who=Mention("slack", "U1", "Ana"), name="<!channel>")),
    Notice(rich("see {link}", link=Link("https://example.com", "here")) + quote("> them\nagain"), for_user="U2"),
    Notice(rich("⚠️ Record?"), (Button("Record opt-out", "record_opt_out", "7", "danger"), Button("Later", "later", "7"))),
    DraftReview(13),
    MirroredNote("Ana", "slack", "checking *stock*", "note"),
    ChartUpload("2026-11-23T00:00:00+00:00", "2026-11-30T00:00:00+00:00", "Europe/Paris", "UANA"),
    ExportUpload("audit", "2026-11-30T00:00:00Z", "2026-10-31T00:00:00Z", "csv", "UANA"),
    ExportUpload("consent", "2026-11-30T00:00:00Z", None, "json", "1400000000000000001", inbox_id=2),
    ChannelNotice("C0ESCAL", rich("📣 Rule {name}: {who} texted", name="Urgent", who="<!here>")),
]


@pytest.mark.parametrize("post", POSTS, ids=lambda p: type(p).__name__)
def test_every_payload_survives_the_outbox_json(post: ChatPost) -> None:
    kind = job_kind("slack", post)
    stored = json.loads(json.dumps(encode(TO, post)))  # what the outbox keeps
    assert decode(kind, stored) == (TO, post)


def test_each_job_kind_has_one_payload() -> None:
    assert sorted(CHAT_JOBS) == sorted({type(p).kind for p in POSTS})


def test_jobs_queued_by_the_older_version_still_decode() -> None:
    old = {"conversation_id": 7, "channel": "123", "inbox_id": 1, "text": "*Status* changed", "buttons": [
        {"label": "Undo", "action": "undo", "value": "5", "style": "danger"}
    ], "user": "U2"}
    to, post = decode("discord.notice", old)
    assert to == ChatTarget(7, "123", 1)
    assert post == Notice(rich("{t}", t="*Status* changed"), (Button("Undo", "undo", "5", "danger"),), "U2")
    assert decode("slack.status", {"conversation_id": "7", "channel": "C", "message_id": "9"})[1] == ReplyStatus(9)
    assigned = {"conversation_id": 7, "channel": "C", "text": "👉 Assigned to {mention} by Ben.",
                "mention": {"platform": "slack", "user_id": "U1", "name": "Ana"}}
    assert decode("slack.notice", assigned)[1] == Notice(rich("👉 Assigned to {who} by Ben.", who=Mention("slack", "U1", "Ana")))


def test_a_malformed_payload_is_refused() -> None:
    with pytest.raises(KeyError):
        decode("slack.message", {"conversation_id": 7, "channel": "C"})
    with pytest.raises(ValueError, match="not a chat job"):
        decode("slack.unknown", {"conversation_id": 7, "channel": "C"})
