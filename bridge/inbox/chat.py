"""The chat contract: what the core asks a chat platform to post, one typed payload per job.

The core queues a `ChatPost` for a conversation's chats (`ChatFanout.post`); each chat
adapter implements `ChatPoster` and is registered once with `register_chat_poster`.
Payloads travel through the outbox as JSON: `encode` and `decode` below are the only
code that reads or writes that JSON, so no handler re-parses a dict.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Protocol, assert_never

from bridge.inbox.markup import (
    Code,
    Link,
    Mention,
    Plain,
    Quote,
    Rich,
    Segment,
    Strong,
    plain,
)
from bridge.inbox.outbox import Job, Outbox

JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]
JsonObject = dict[str, JsonValue]


@dataclass(frozen=True)
class Button:
    """A button under a chat message; a click comes back as `action` with `value`."""

    label: str
    action: str  # e.g. "claim", "undo", "approve"
    value: str
    style: str | None = None  # "primary" | "danger"


@dataclass(frozen=True)
class ChatTarget:
    """Where a chat job posts: a conversation in one chat channel (a Slack channel, a Discord forum)."""

    conversation_id: int
    channel: str
    inbox_id: int


@dataclass(frozen=True)
class ChatMessageRef:
    """A message in a chat, e.g. the teammate's message a reply answers."""

    platform: str
    id: str


# -- the payloads, one per job kind -------------------------------------------------


@dataclass(frozen=True)
class CardRefresh:
    """Create or re-render the conversation's card (the thread's first message)."""

    kind: ClassVar[str] = "card"


@dataclass(frozen=True)
class CustomerText:
    """A customer's text, posted in the thread."""

    kind: ClassVar[str] = "message"
    message_id: int


@dataclass(frozen=True)
class CustomerMedia:
    """One attachment of a customer's text, fetched from the provider and uploaded."""

    kind: ClassVar[str] = "media"
    message_id: int
    index: int


@dataclass(frozen=True)
class ReplyStatus:
    """A reply's status line, posted once and edited as its delivery state changes."""

    kind: ClassVar[str] = "status"
    message_id: int
    reply_to: ChatMessageRef | None = None


# Platforms that show a `Notice` with `for_user` to that teammate alone (Slack's ephemeral
# messages, the web chat). Discord has no ephemeral message outside an interaction: there
# it is a message that mentions the teammate, which everyone in the post can read.
PRIVATE_WHISPERS = frozenset({"slack", "web"})


@dataclass(frozen=True)
class Notice:
    """A bot message in the thread; with `for_user`, shown only to that teammate."""

    kind: ClassVar[str] = "notice"
    text: Rich
    buttons: tuple[Button, ...] = ()
    for_user: str | None = None


@dataclass(frozen=True)
class DraftReview:
    """A draft waiting for approval (and, later, what became of it)."""

    kind: ClassVar[str] = "draft"
    message_id: int


@dataclass(frozen=True)
class MirroredNote:
    """A teammate's note written in another chat, labelled with its author."""

    kind: ClassVar[str] = "mirror"
    author: str
    origin: str  # the platform it was written on
    text: str
    note_kind: str = "note"


@dataclass(frozen=True)
class ChartUpload:
    """A report's charts, uploaded as PNG into the channel where the report was asked.

    It carries the report's parameters, not the pictures: the handler draws them again
    (the period is fixed, so a retry draws the same charts) and no blob waits in the
    database while a chat is down.
    """

    kind: ClassVar[str] = "charts"
    since: str  # ISO datetimes, UTC
    until: str
    zone: str
    requested_by: str
    inbox_id: int | None = None  # the report's scope (None: every inbox)
    agent_id: int | None = None
    # A digest (bridge/inbox/digest.py) posts its report's text first, under this title.
    summary: Rich | None = None
    title: str | None = None


@dataclass(frozen=True)
class ExportUpload:
    """A compliance export (`/sms export`), built and uploaded as a file for the admin who asked.

    Like the charts it carries the request, not the file: the handler builds the file
    from the fixed period (`exports.build_file`), so nothing large waits in the outbox
    and a crash before the upload loses nothing.
    """

    kind: ClassVar[str] = "export"
    export: str  # audit | consent | conversations
    until: str  # ISO datetimes, UTC
    since: str | None  # None: from the first row
    fmt: str  # csv | json
    requested_by: str  # the asker's chat user id
    inbox_id: int | None = None



@dataclass(frozen=True)
class ChannelNotice:
    """A bot message at the top of another channel of the same platform (a rule's
    `notify`), linking to the conversation's thread. It is queued with the conversation's
    posts, after its card, so the thread it links to exists."""

    kind: ClassVar[str] = "relay"
    channel: str  # where it is posted; the target's channel is the thread's home
    text: Rich


ChatPost = (
    CardRefresh | CustomerText | CustomerMedia | ReplyStatus | Notice | DraftReview | MirroredNote | ChartUpload | ExportUpload
    | ChannelNotice
)
CHAT_POSTS: tuple[type[ChatPost], ...] = (
    CardRefresh, CustomerText, CustomerMedia, ReplyStatus, Notice, DraftReview, MirroredNote, ChartUpload, ExportUpload,
    ChannelNotice,
)
CHAT_JOBS = tuple(p.kind for p in CHAT_POSTS)


class ChatPoster(Protocol):
    """A chat platform's side of the contract: one handler per payload type.

    `job` is the outbox job (its id, attempts and age let a handler find an earlier
    attempt's post instead of duplicating it).
    """

    @property
    def platform(self) -> str: ...

    async def card(self, job: Job, to: ChatTarget, post: CardRefresh) -> None: ...

    async def message(self, job: Job, to: ChatTarget, post: CustomerText) -> None: ...

    async def media(self, job: Job, to: ChatTarget, post: CustomerMedia) -> None: ...

    async def status(self, job: Job, to: ChatTarget, post: ReplyStatus) -> None: ...

    async def notice(self, job: Job, to: ChatTarget, post: Notice) -> None: ...

    async def draft(self, job: Job, to: ChatTarget, post: DraftReview) -> None: ...

    async def mirror(self, job: Job, to: ChatTarget, post: MirroredNote) -> None: ...

    async def charts(self, job: Job, to: ChatTarget, post: ChartUpload) -> None: ...

    async def export(self, job: Job, to: ChatTarget, post: ExportUpload) -> None: ...
    async def relay(self, job: Job, to: ChatTarget, post: ChannelNotice) -> None: ...


def job_kind(platform: str, post: ChatPost | type[ChatPost]) -> str:
    return f"{platform}.{post.kind}"


async def deliver(poster: ChatPoster, job: Job, to: ChatTarget, post: ChatPost) -> None:
    """Hand `post` to the poster's handler for its type."""
    match post:
        case CardRefresh():
            await poster.card(job, to, post)
        case CustomerText():
            await poster.message(job, to, post)
        case CustomerMedia():
            await poster.media(job, to, post)
        case ReplyStatus():
            await poster.status(job, to, post)
        case Notice():
            await poster.notice(job, to, post)
        case DraftReview():
            await poster.draft(job, to, post)
        case MirroredNote():
            await poster.mirror(job, to, post)
        case ChartUpload():
            await poster.charts(job, to, post)
        case ExportUpload():
            await poster.export(job, to, post)
        case ChannelNotice():
            await poster.relay(job, to, post)
        case _:
            assert_never(post)


def register_chat_poster(outbox: Outbox, poster: ChatPoster) -> None:
    """Register `poster` for every chat job kind of its platform."""

    def handler(job: Job) -> Awaitable[None]:
        to, post = decode(job.kind, job.payload)
        return deliver(poster, job, to, post)

    for kind in CHAT_JOBS:
        outbox.register(f"{poster.platform}.{kind}", handler)


# -- the JSON payload ----------------------------------------------------------------


def encode(to: ChatTarget, post: ChatPost) -> JsonObject:
    data: JsonObject = {"conversation_id": to.conversation_id, "channel": to.channel, "inbox_id": to.inbox_id}
    match post:
        case CardRefresh():
            pass
        case CustomerText(message_id=message_id) | DraftReview(message_id=message_id):
            data["message_id"] = message_id
        case CustomerMedia(message_id=message_id, index=index):
            data.update(message_id=message_id, index=index)
        case ReplyStatus(message_id=message_id, reply_to=reply_to):
            data["message_id"] = message_id
            if reply_to is not None:
                data["reply_to"] = {"platform": reply_to.platform, "id": reply_to.id}
        case Notice(text=text, buttons=buttons, for_user=for_user):
            data["rich"] = [_encode_segment(s) for s in text]
            if buttons:
                data["buttons"] = [{"label": b.label, "action": b.action, "value": b.value, "style": b.style} for b in buttons]
            if for_user is not None:
                data["user"] = for_user
        case MirroredNote(author=author, origin=origin, text=text, note_kind=note_kind):
            data.update(author=author, origin=origin, text=text, kind=note_kind)
        case ChartUpload(since=since, until=until, zone=zone, requested_by=requested_by, inbox_id=scope_inbox, agent_id=agent_id):
            data.update(since=since, until=until, zone=zone, requested_by=requested_by)
            if post.summary is not None:
                data["rich"] = [_encode_segment(s) for s in post.summary]
                data["title"] = post.title or ""
            if scope_inbox is not None:
                data["scope_inbox"] = scope_inbox
            if agent_id is not None:
                data["agent_id"] = agent_id
        case ExportUpload(export=export, until=until, since=since, fmt=fmt, requested_by=requested_by, inbox_id=scope_inbox):
            data.update(export=export, until=until, since=since, format=fmt, requested_by=requested_by)
            if scope_inbox is not None:
                data["scope_inbox"] = scope_inbox
        case ChannelNotice(channel=channel, text=text):
            data.update(to_channel=channel, rich=[_encode_segment(s) for s in text])
        case _:
            assert_never(post)
    return data


def decode(job_kind: str, data: Mapping[str, object]) -> tuple[ChatTarget, ChatPost]:
    """The target and payload of a chat job (`<platform>.<kind>`); KeyError/ValueError on a malformed one."""
    kind = job_kind.partition(".")[2]
    to = ChatTarget(_int(data["conversation_id"]), str(data["channel"]), _int(data.get("inbox_id", 0)))
    post: ChatPost
    if kind == "card":
        post = CardRefresh()
    elif kind == "message":
        post = CustomerText(_int(data["message_id"]))
    elif kind == "media":
        post = CustomerMedia(_int(data["message_id"]), _int(data["index"]))
    elif kind == "status":
        ref = data.get("reply_to")
        reply_to = ChatMessageRef(str(ref["platform"]), str(ref["id"])) if isinstance(ref, dict) and ref.get("id") else None
        post = ReplyStatus(_int(data["message_id"]), reply_to)
    elif kind == "notice":
        user = data.get("user")
        post = Notice(_decode_text(data), _decode_buttons(data.get("buttons")), str(user) if user else None)
    elif kind == "draft":
        post = DraftReview(_int(data["message_id"]))
    elif kind == "mirror":
        post = MirroredNote(str(data["author"]), str(data["origin"]), str(data["text"]), str(data.get("kind") or "note"))
    elif kind == "charts":
        scope_inbox, agent_id = data.get("scope_inbox"), data.get("agent_id")
        post = ChartUpload(
            str(data["since"]), str(data["until"]), str(data["zone"]), str(data["requested_by"]),
            inbox_id=None if scope_inbox is None else _int(scope_inbox), agent_id=None if agent_id is None else _int(agent_id),
            summary=_decode_text(data) if "rich" in data else None, title=str(data["title"]) if "title" in data else None,
        )
    elif kind == "export":
        since, scope_inbox = data.get("since"), data.get("scope_inbox")
        post = ExportUpload(
            str(data["export"]), str(data["until"]), None if since is None else str(since), str(data["format"]),
            str(data["requested_by"]), inbox_id=None if scope_inbox is None else _int(scope_inbox),
        )
    elif kind == "relay":
        post = ChannelNotice(str(data["to_channel"]), _decode_text(data))
    else:
        raise ValueError(f"not a chat job: {job_kind!r}")
    return to, post


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"not an integer: {value!r}")
    return int(value)


_SEGMENT_TYPES: dict[str, Callable[..., Segment]] = {
    "plain": Plain,
    "strong": Strong,
    "code": Code,
    "mention": Mention,
    "link": Link,
    "quote": Quote,
}


def _encode_segment(segment: Segment) -> JsonObject:
    match segment:
        case Plain(text=text):
            return {"plain": text}
        case Strong(text=text):
            return {"strong": text}
        case Code(text=text):
            return {"code": text}
        case Mention(platform=platform, user_id=user_id, name=name):
            return {"mention": {"platform": platform, "user_id": user_id, "name": name}}
        case Link(url=url, label=label):
            return {"link": {"url": url, "label": label}}
        case Quote(text=text):
            return {"quote": text}
        case _:
            assert_never(segment)


def _decode_segment(item: Mapping[str, object]) -> Segment:
    (name, value), = item.items()
    make = _SEGMENT_TYPES[name]
    if isinstance(value, dict):
        return make(**{str(k): str(v) for k, v in value.items()})
    return make(str(value))


def _decode_text(data: Mapping[str, object]) -> Rich:
    segments = data.get("rich")
    if isinstance(segments, list):
        return Rich(tuple(_decode_segment(s) for s in segments if isinstance(s, dict)))
    # A notice queued by an older version: its text as plain words, with the person its
    # `{mention}` placeholder stood for.
    text, who = str(data.get("text", "")), data.get("mention")
    if isinstance(who, dict) and "{mention}" in text:
        before, _, after = text.partition("{mention}")
        person = Mention(str(who.get("platform", "")), str(who.get("user_id", "")), str(who.get("name", "someone")))
        return Rich((Plain(before), person, Plain(after)))
    return plain(text)


def _decode_buttons(raw: object) -> tuple[Button, ...]:
    if not isinstance(raw, list):
        return ()
    return tuple(
        Button(str(b["label"]), str(b["action"]), str(b["value"]), str(b["style"]) if b.get("style") else None)
        for b in raw
        if isinstance(b, dict)
    )
