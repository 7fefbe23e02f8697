"""The data model (docs/architecture.md) as SQLAlchemy 2 models. Every change here needs a migration."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bridge.inbox.labels import ConversationStatus, Priority


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC, on SQLite and PostgreSQL alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


class Base(DeclarativeBase):
    pass


class Inbox(Base):
    __tablename__ = "inboxes"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    number: Mapped[str | None] = mapped_column(String(40), unique=True)
    messaging_service_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    business_name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    # E.164 when the sender parsed as a phone number, else the raw sender id.
    phone: Mapped[str] = mapped_column(String(64), unique=True)
    phone_valid: Mapped[bool] = mapped_column(Boolean, default=True)
    name: Mapped[str | None] = mapped_column(String(200))
    timezone: Mapped[str | None] = mapped_column(String(64))
    notes: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    properties: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Agent(Base):
    """A teammate, known by a Slack and/or Discord identity."""

    __tablename__ = "agents"
    __table_args__ = (UniqueConstraint("platform", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="agent")  # admin | agent | viewer
    away: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Snippet(Base):
    """A canned response; `{name}`-style variables are filled when it is sent."""

    __tablename__ = "snippets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    body: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("inbox_id", "contact_id"),
        # A contact's conversations in every inbox (STOPALL, search by contact).
        Index("ix_conversations_contact", "contact_id"),
        Index("ix_conversations_report", "status", "inbox_id", "assignee_id"),  # backlog, open now (0013)
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    status: Mapped[str] = mapped_column(String(20), default=ConversationStatus.NEW.value)  # a ConversationStatus
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    priority: Mapped[int] = mapped_column(Integer, default=Priority.NORMAL.value)  # a Priority
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_outbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Why the assignee has it when smsbridge chose them ("round-robin", "rule VIP"); None
    # when a teammate claimed or assigned it.
    assigned_by: Mapped[str | None] = mapped_column(String(60))
    # The running SLA clocks (bridge/inbox/sla.py): which reply clock and when it runs
    # out, and when the resolution clock does; None when none runs.
    reply_clock: Mapped[str | None] = mapped_column(String(20))
    reply_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolve_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Message(Base):
    """An SMS in or out. Outbound rows exist before the provider sees them."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_conversation", "conversation_id", "id"),
        # Reports read the edges of a period, and an agent's texts, by time.
        Index("ix_messages_created", "created_at"),
        # Reports read a period's failed texts without the rest.
        Index(
            "ix_messages_failed",
            "created_at",
            sqlite_where=text("status IN ('failed', 'undelivered')"),
            postgresql_where=text("status IN ('failed', 'undelivered')"),
        ),
        # The queue: a conversation's first customer text since the last reply (0008).
        Index("ix_messages_wait", "conversation_id", "direction", "created_at"),
        # An edited `!r` finds the reply it asked for (0014).
        Index("ix_messages_origin", "author_platform", "origin_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    direction: Mapped[str] = mapped_column(String(3))  # "in" | "out"
    kind: Mapped[str] = mapped_column(String(20), default="text")  # text|reply|compliance|automated|scheduled
    body: Mapped[str] = mapped_column(Text, default="")
    media: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    provider_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(20))
    error_code: Mapped[str | None] = mapped_column(String(20))
    error_text: Mapped[str | None] = mapped_column(Text)
    segments: Mapped[int | None] = mapped_column(Integer)
    encoding: Mapped[str | None] = mapped_column(String(10))
    from_number: Mapped[str] = mapped_column(String(64), default="")
    to_number: Mapped[str] = mapped_column(String(64), default="")
    author_platform: Mapped[str | None] = mapped_column(String(20))
    author_id: Mapped[str | None] = mapped_column(String(100))
    author_name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Until then a reply can still be undone (UNDO_SECONDS).
    send_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Attempts at handing it to the provider so far (shown while the provider refuses it).
    send_attempts: Mapped[int | None] = mapped_column(Integer)
    # The chat message (Slack ts, Discord id) that asked for this reply, so an edit of it
    # changes a reply still in its undo window and is refused once it has left.
    origin_id: Mapped[str | None] = mapped_column(String(100))
    # An approved WhatsApp template (Content API) sent instead of free text (0014).
    content_sid: Mapped[str | None] = mapped_column(String(64))
    content_variables: Mapped[dict[str, str] | None] = mapped_column(JSON)


class MediaFile(Base):
    """A file a teammate attached to a reply, served to the provider without
    credentials at PUBLIC_URL/media/<token> until it expires (0014)."""

    __tablename__ = "media_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Note(Base):
    """A teammate's message in a thread: internal, never sent to the customer."""

    __tablename__ = "notes"
    __table_args__ = (UniqueConstraint("platform", "platform_message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    platform: Mapped[str] = mapped_column(String(20))
    platform_message_id: Mapped[str] = mapped_column(String(100))
    author_id: Mapped[str] = mapped_column(String(100))
    author_name: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ThreadLink(Base):
    """Where a conversation lives in a chat: its channel and thread root."""

    __tablename__ = "thread_links"
    __table_args__ = (
        UniqueConstraint("conversation_id", "platform", "channel"),
        UniqueConstraint("platform", "channel", "thread_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    platform: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(100))
    thread_id: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChatRef(Base):
    """A chat message the bot posted for a stored message (e.g. a reply's status line)."""

    __tablename__ = "chat_refs"
    __table_args__ = (UniqueConstraint("platform", "channel", "purpose", "message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(100))
    purpose: Mapped[str] = mapped_column(String(20))
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"))
    posted_id: Mapped[str] = mapped_column(String(100))


class OutboxJob(Base):
    """Work a request caused, committed with it, delivered later by a worker."""

    __tablename__ = "outbox_jobs"
    __table_args__ = (
        # The claim reads only this index: the pending heads of their queues, by lane
        # and due time (docs/outbox.md). Blocked and running jobs are not in it.
        Index(
            "ix_outbox_ready",
            "lane",
            "run_after",
            "id",
            postgresql_where=text("head IS NOT NULL"),
            sqlite_where=text("head IS NOT NULL"),
        ),
        Index("ix_outbox_queue", "queue", "id"),
        Index("ix_outbox_owner", "owner", postgresql_where=text("owner IS NOT NULL"), sqlite_where=text("owner IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    queue: Mapped[str] = mapped_column(String(120))  # jobs of one queue run in id order
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    state: Mapped[str] = mapped_column(String(10), default="pending")  # pending|running|done|dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_after: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # unused since 0009 (owner + heartbeat)
    # 0: chat posts, sends and other downstream work; 1: filing new texts (runs after lane 0).
    lane: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    # True while the job is pending and heads its queue (no earlier open job); else NULL.
    head: Mapped[bool | None] = mapped_column(Boolean)
    # The worker instance running it (outbox_instances.id) while state is "running".
    owner: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxInstance(Base):
    """A live outbox worker; `beats` grows while it lives, and its jobs are taken over when not."""

    __tablename__ = "outbox_instances"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    machine: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    beats: Mapped[int] = mapped_column(Integer, default=0)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProcessedEvent(Base):
    """Platform event ids already handled (Slack retries an event up to 3 times)."""

    __tablename__ = "processed_events"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Suppression(Base):
    """A number that must not be texted: scope "all" or "inbox:<id>"."""

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("phone", "scope"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InstallSecret(Base):
    """A secret made once per installation and kept in its database (0016): the pepper
    that hashes erased numbers (bridge/inbox/pseudonyms.py) must outlive any config change."""

    __tablename__ = "install_secrets"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConsentEvent(Base):
    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(64), index=True)
    inbox_id: Mapped[int | None] = mapped_column(ForeignKey("inboxes.id"))
    action: Mapped[str] = mapped_column(String(20))  # opt_out | opt_out_all | opt_in | consent
    source: Mapped[str] = mapped_column(String(20))  # keyword | provider | teammate | import
    raw_text: Mapped[str | None] = mapped_column(Text)  # the customer's own words, when they caused it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Who recorded it (0015): "slack:U123", "discord:42", "import:<file>", "contact"
    # (the customer's keyword), "provider"; and the reason a teammate or a file gave.
    actor: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[str | None] = mapped_column(Text)


class ConsentPrompt(Base):
    """A `/sms new` to a number with no consent on record, waiting for its author to
    confirm they have consent (or cancel) (0015). Nothing is sent before that."""

    __tablename__ = "consent_prompts"

    id: Mapped[int] = mapped_column(primary_key=True)
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id"))
    phone: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    author_platform: Mapped[str] = mapped_column(String(20))
    author_id: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(20), default="waiting")  # waiting | confirmed | canceled
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AssignmentCursor(Base):
    """Per inbox, the teammate automatic assignment chose last. Its row is locked while
    choosing, so two conversations starting at once are assigned one after the other
    (on PostgreSQL across processes too) and never both to the same teammate by a race."""

    __tablename__ = "assignment_cursors"

    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id"), primary_key=True)
    last_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SlaBreach(Base):
    """An SLA clock that ran out before the team answered (or resolved): reports count them."""

    __tablename__ = "sla_breaches"
    __table_args__ = (Index("ix_sla_breaches_when", "breached_at", "inbox_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id"))
    clock: Mapped[str] = mapped_column(String(20))  # first_reply | next_reply | resolution
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    breached_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Lease(Base):
    """Who holds a process-wide role (e.g. the Discord gateway), until when."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Timer(Base):
    """Something to do at a time (a scheduled message, an SLA warning), fired once.

    Fired and cancelled timers stay as history, so a key is never scheduled twice.
    """

    __tablename__ = "timers"
    __table_args__ = (
        Index("ix_timers_due", "state", "due_at"),
        Index("ix_timers_conversation", "conversation_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(60))
    key: Mapped[str] = mapped_column(String(200), unique=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    state: Mapped[str] = mapped_column(String(10), default="pending")  # pending|fired|cancelled|dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ConversationCycle(Base):
    """One round of a conversation: from a customer's text (or a teammate's `/sms new`)
    until it is closed. A text to a closed or pending conversation starts the next one.

    Durations are stored in whole seconds when they end, so reports aggregate integers
    the same way on every database; the business-hours columns stay empty until an
    inbox's opening hours are known to the recorder.
    """

    __tablename__ = "conversation_cycles"
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq"),
        # Every column a report reads, after the period and inbox: index-only reads (0013).
        Index(
            "ix_cycles_report", "started_at", "inbox_id", "origin", "seq", "first_response_seconds", "resolution_seconds",
            "first_response_business_seconds", "resolution_business_seconds", "responder_platform", "responder_id",
            "first_response_at",
        ),
        # Per teammate, then start: the report's GROUP BY responder without a sort (0017).
        Index(
            "ix_cycles_responder", "responder_platform", "responder_id", "started_at", "inbox_id", "first_response_seconds",
            "first_response_business_seconds",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id"))
    seq: Mapped[int] = mapped_column(Integer)  # 1: the conversation's first cycle; more: reopened
    origin: Mapped[str] = mapped_column(String(10))  # customer | team
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The customer's first text of the cycle: the first-response clock starts here.
    customer_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    responder_platform: Mapped[str | None] = mapped_column(String(20))
    responder_id: Mapped[str | None] = mapped_column(String(100))
    first_response_seconds: Mapped[int | None] = mapped_column(Integer)
    first_response_business_seconds: Mapped[int | None] = mapped_column(Integer)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_seconds: Mapped[int | None] = mapped_column(Integer)
    resolution_business_seconds: Mapped[int | None] = mapped_column(Integer)


class ReportMessageHour(Base):
    """Messages counted per UTC hour, inbox and kind, kept by database triggers
    (migration 0008) as messages are stored or change status: a month's report reads a
    few thousand of these rows instead of a million messages. On PostgreSQL `shard`
    (message id % 4) spreads concurrent writers of one hour over several rows (SQLite: 0);
    reports sum over it."""

    __tablename__ = "report_message_hours"

    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    inbox_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    direction: Mapped[str] = mapped_column(String(3), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    error_code: Mapped[str] = mapped_column(String(20), primary_key=True)  # "" when none
    author_platform: Mapped[str] = mapped_column(String(20), primary_key=True)  # "" when none
    author_id: Mapped[str] = mapped_column(String(100), primary_key=True)  # "" when none
    shard: Mapped[int] = mapped_column(Integer, primary_key=True)
    messages: Mapped[int] = mapped_column(Integer)
