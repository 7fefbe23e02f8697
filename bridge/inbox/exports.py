"""Compliance exports (docs/compliance.md rule 16): the audit trail, consent records and
conversations as CSV or JSON Lines, streamed so a million rows fit in memory.

Columns come from the models: a column someone adds to `messages`, `audit_events`,
`consent_events`, `suppressions` or `conversations` appears in the export without a
change here. Message bodies, media and template values are never exported (they are the
customer's words; erasure and retention govern them, not the audit).

Rows are read in batches by primary key (keyset pagination, one short session per
batch), so no transaction stays open for the whole export and nothing loads a table.
The audit's two sources (sends and audit events) and consent's two (consent events and
suppressions) are merged by time.
"""

from __future__ import annotations

import asyncio
import bisect
import csv
import gzip
import io
import json
import logging
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO, TextIO, cast

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from bridge.inbox import audit
from bridge.inbox.chat import ExportUpload
from bridge.inbox.db import insert_ignore
from bridge.inbox.models import (
    Agent,
    AuditEvent,
    Base,
    ConsentEvent,
    Contact,
    Conversation,
    Inbox,
    Message,
    Note,
    ProcessedEvent,
    Suppression,
    utcnow,
)
from bridge.inbox.outbox import GiveUp, Job

log = logging.getLogger(__name__)

KINDS = ("audit", "consent", "conversations")
FORMATS = ("csv", "json")
BATCH = 1000
# The customer's words and files: never in an export.
PRIVATE_COLUMNS = frozenset({"body", "media", "content_variables"})

Sessions = async_sessionmaker[AsyncSession]
Row = dict[str, Any]


class BadExport(ValueError):
    """One line naming what is valid."""


@dataclass(frozen=True)
class ExportRequest:
    kind: str  # one of KINDS
    until: datetime  # rows created before this (fixed, so a retried build makes the same file)
    since: datetime | None = None  # None: from the first row
    inbox_id: int | None = None  # None: every inbox

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise BadExport(f"unknown export {self.kind!r}; use one of {', '.join(KINDS)}")

    @property
    def period(self) -> str:
        start = self.since.strftime("%Y-%m-%d %H:%M") if self.since else "the beginning"
        return f"{start} – {self.until:%Y-%m-%d %H:%M} UTC"


def _columns(model: type[Base], *, skip: Sequence[str] = ()) -> list[str]:
    return [c.name for c in model.__table__.columns if c.name not in PRIVATE_COLUMNS and c.name not in skip]


def _union(*groups: Sequence[str]) -> list[str]:
    seen: list[str] = []
    for group in groups:
        seen.extend(name for name in group if name not in seen)
    return seen


def columns(kind: str) -> list[str]:
    """The export's header, read from the models at call time."""
    if kind == "audit":
        return _union(("record", "time", "actor", "action", "inbox"), _columns(Message, skip=("created_at",)),
                      _columns(AuditEvent, skip=("created_at",)))
    if kind == "consent":
        return _union(("record", "time", "inbox"), _columns(ConsentEvent, skip=("created_at",)),
                      _columns(Suppression, skip=("created_at",)))
    if kind == "conversations":
        return _union(("inbox", "contact_phone", "contact_name", "assignee"), _columns(Conversation),
                      ("messages_in", "messages_out", "notes"))
    raise BadExport(f"unknown export {kind!r}; use one of {', '.join(KINDS)}")


# -- reading ------------------------------------------------------------------------


def _in_period(created: Any, request: ExportRequest) -> list[ColumnElement[bool]]:
    where = [created < request.until]
    if request.since is not None:
        where.append(created >= request.since)
    return where


async def _keyset(sessions: Sessions, query: Select[Any], key: Any, batch: int) -> AsyncIterator[Any]:
    """`query`'s rows in `key` order, `batch` at a time, each batch in a short session."""
    last: int | None = None
    while True:
        page = query if last is None else query.where(key > last)
        async with sessions() as session:
            rows = (await session.execute(page.order_by(key).limit(batch))).all()
        for row in rows:
            yield row
        if len(rows) < batch:
            return
        last = rows[-1]._mapping[key.key]


def _table_row(row: Any, model: type[Base]) -> Row:
    mapping = row._mapping
    return {name: mapping[name] for name in _names(model)}


@cache
def _names(model: type[Base]) -> tuple[str, ...]:
    """The exported columns of `model` (the models do not change while running)."""
    return tuple(c.name for c in _model_columns(model))


def _model_columns(model: type[Base]) -> list[Any]:
    return [c for c in model.__table__.columns if c.name not in PRIVATE_COLUMNS]


def _sends(sessions: Sessions, request: ExportRequest, batch: int) -> AsyncIterator[Row]:
    query = (
        select(*_model_columns(Message), Inbox.name.label("inbox_name"))
        .join(Conversation, Conversation.id == Message.conversation_id)
        .join(Inbox, Inbox.id == Conversation.inbox_id)
        .where(Message.direction == "out", *_in_period(Message.created_at, request))
    )
    if request.inbox_id is not None:
        query = query.where(Conversation.inbox_id == request.inbox_id)

    async def rows() -> AsyncIterator[Row]:
        async for row in _keyset(sessions, query, Message.__table__.c.id, batch):
            values = _table_row(row, Message)
            actor = f"{values['author_platform']}:{values['author_id']}" if values.get("author_id") else audit.SYSTEM_ACTOR
            yield {"record": "send", "time": values.pop("created_at"), "actor": actor, "action": "send",
                   "inbox": row.inbox_name, **values}

    return rows()


def _audit_events(sessions: Sessions, request: ExportRequest, batch: int) -> AsyncIterator[Row]:
    query = (
        select(*_model_columns(AuditEvent), Inbox.name.label("inbox_name"))
        .outerjoin(Conversation, Conversation.id == AuditEvent.conversation_id)
        .outerjoin(Inbox, Inbox.id == Conversation.inbox_id)
        .where(*_in_period(AuditEvent.created_at, request))
    )
    if request.inbox_id is not None:
        query = query.where(Conversation.inbox_id == request.inbox_id)

    async def rows() -> AsyncIterator[Row]:
        async for row in _keyset(sessions, query, AuditEvent.__table__.c.id, batch):
            values = _table_row(row, AuditEvent)
            yield {"record": "event", "time": values.pop("created_at"), "inbox": row.inbox_name, **values}

    return rows()


def _consent_events(sessions: Sessions, request: ExportRequest, batch: int) -> AsyncIterator[Row]:
    query = (
        select(*_model_columns(ConsentEvent), Inbox.name.label("inbox_name"))
        .outerjoin(Inbox, Inbox.id == ConsentEvent.inbox_id)
        .where(*_in_period(ConsentEvent.created_at, request))
    )
    if request.inbox_id is not None:  # an opt-out of every inbox (no inbox) concerns this one too
        query = query.where(or_(ConsentEvent.inbox_id == request.inbox_id, ConsentEvent.inbox_id.is_(None)))

    async def rows() -> AsyncIterator[Row]:
        async for row in _keyset(sessions, query, ConsentEvent.__table__.c.id, batch):
            values = _table_row(row, ConsentEvent)
            yield {"record": "consent_event", "time": values.pop("created_at"), "inbox": row.inbox_name, **values}

    return rows()


def _suppressions(sessions: Sessions, request: ExportRequest, batch: int, names: dict[int, str]) -> AsyncIterator[Row]:
    query = select(*_model_columns(Suppression)).where(*_in_period(Suppression.created_at, request))
    if request.inbox_id is not None:
        query = query.where(Suppression.scope.in_(("all", f"inbox:{request.inbox_id}")))

    async def rows() -> AsyncIterator[Row]:
        async for row in _keyset(sessions, query, Suppression.__table__.c.id, batch):
            values = _table_row(row, Suppression)
            scope = str(values.get("scope") or "")
            inbox = names.get(int(scope[6:])) if scope.startswith("inbox:") and scope[6:].isdigit() else None
            yield {"record": "suppression", "time": values.pop("created_at"), "inbox": inbox, **values}

    return rows()


def _conversations(sessions: Sessions, request: ExportRequest, batch: int) -> AsyncIterator[Row]:
    assignee = aliased(Agent)
    activity = [Conversation.created_at < request.until]
    if request.since is not None:  # conversations started or active in the period
        activity.append(or_(Conversation.created_at >= request.since, Conversation.updated_at >= request.since))
    query = (
        select(*_model_columns(Conversation), Inbox.name.label("inbox_name"), Contact.phone.label("contact_phone"),
               Contact.name.label("contact_name"), assignee.name.label("assignee_name"))
        .join(Inbox, Inbox.id == Conversation.inbox_id)
        .join(Contact, Contact.id == Conversation.contact_id)
        .outerjoin(assignee, assignee.id == Conversation.assignee_id)
        .where(*activity)
    )
    if request.inbox_id is not None:
        query = query.where(Conversation.inbox_id == request.inbox_id)

    async def rows() -> AsyncIterator[Row]:
        page: list[Any] = []
        async for row in _keyset(sessions, query, Conversation.__table__.c.id, batch):
            page.append(row)
            if len(page) == batch:
                for item in await _with_counts(sessions, page):
                    yield item
                page = []
        for item in await _with_counts(sessions, page):
            yield item

    return rows()


async def _with_counts(sessions: Sessions, page: list[Any]) -> list[Row]:
    """A page of conversations with their message and note counts (two grouped queries)."""
    if not page:
        return []
    ids = [row.id for row in page]
    async with sessions() as session:
        messages = (
            await session.execute(
                select(Message.conversation_id, Message.direction, func.count())
                .where(Message.conversation_id.in_(ids))
                .group_by(Message.conversation_id, Message.direction)
            )
        ).all()
        notes = dict(
            (await session.execute(
                select(Note.conversation_id, func.count()).where(Note.conversation_id.in_(ids)).group_by(Note.conversation_id)
            )).all()
        )
    counts = {(conv, direction): n for conv, direction, n in messages}
    out = []
    for row in page:
        values = _table_row(row, Conversation)
        out.append({"inbox": row.inbox_name, "contact_phone": row.contact_phone, "contact_name": row.contact_name,
                    "assignee": row.assignee_name, **values, "messages_in": counts.get((row.id, "in"), 0),
                    "messages_out": counts.get((row.id, "out"), 0), "notes": notes.get(row.id, 0)})
    return out


async def _merged(first: AsyncIterator[Row], second: AsyncIterator[Row]) -> AsyncIterator[Row]:
    """Two streams, each in time order, as one in time order."""
    a = await anext(first, None)
    b = await anext(second, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a["time"] <= b["time"]):
            assert a is not None
            yield a
            a = await anext(first, None)
        else:
            yield b
            b = await anext(second, None)


async def _inbox_names(sessions: Sessions) -> dict[int, str]:
    async with sessions() as session:
        return dict((await session.execute(select(Inbox.id, Inbox.name))).all())


async def rows(sessions: Sessions, request: ExportRequest, batch: int = BATCH) -> AsyncIterator[Row]:
    """The export's rows, streamed."""
    if request.kind == "audit":
        source = _merged(_sends(sessions, request, batch), _audit_events(sessions, request, batch))
    elif request.kind == "consent":
        names = await _inbox_names(sessions)
        source = _merged(_consent_events(sessions, request, batch), _suppressions(sessions, request, batch, names))
    else:
        source = _conversations(sessions, request, batch)
    async for row in source:
        yield row


async def count(sessions: Sessions, request: ExportRequest) -> int:
    """How many rows `rows` yields (for a progress bar)."""

    def total(query: Select[Any]) -> Select[Any]:
        return select(func.count()).select_from(query.subquery())

    async def one(query: Select[Any]) -> int:
        async with sessions() as session:
            return int((await session.execute(total(query))).scalar_one())

    if request.kind == "audit":
        sends = select(Message.id).join(Conversation, Conversation.id == Message.conversation_id).where(
            Message.direction == "out", *_in_period(Message.created_at, request))
        events = select(AuditEvent.id).outerjoin(Conversation, Conversation.id == AuditEvent.conversation_id).where(
            *_in_period(AuditEvent.created_at, request))
        if request.inbox_id is not None:
            sends = sends.where(Conversation.inbox_id == request.inbox_id)
            events = events.where(Conversation.inbox_id == request.inbox_id)
        return await one(sends) + await one(events)
    if request.kind == "consent":
        consent = select(ConsentEvent.id).where(*_in_period(ConsentEvent.created_at, request))
        suppressed = select(Suppression.id).where(*_in_period(Suppression.created_at, request))
        if request.inbox_id is not None:
            consent = consent.where(or_(ConsentEvent.inbox_id == request.inbox_id, ConsentEvent.inbox_id.is_(None)))
            suppressed = suppressed.where(Suppression.scope.in_(("all", f"inbox:{request.inbox_id}")))
        return await one(consent) + await one(suppressed)
    convs = select(Conversation.id).where(Conversation.created_at < request.until)
    if request.since is not None:
        convs = convs.where(or_(Conversation.created_at >= request.since, Conversation.updated_at >= request.since))
    if request.inbox_id is not None:
        convs = convs.where(Conversation.inbox_id == request.inbox_id)
    return await one(convs)


async def inbox_id(sessions: Sessions, name: str) -> int:
    """An inbox's id by its name (any case); BadExport naming the inboxes otherwise."""
    names = await _inbox_names(sessions)
    for ident, known in names.items():
        if known.casefold() == name.strip().casefold():
            return ident
    raise BadExport(f"unknown inbox {name!r}; inboxes: {', '.join(names.values()) or 'none yet'}")


# -- writing ------------------------------------------------------------------------


def iso(value: datetime) -> str:
    """ISO 8601 in UTC, `2026-12-01T14:05:09Z`."""
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    return value


_AS_IS = (str, int, float)  # the csv module writes these (and None, as "") itself


def _cell(value: Any) -> Any:
    if value is None or type(value) in _AS_IS:
        return value
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return str(value)


async def write(
    source: AsyncIterator[Row], header: Sequence[str], fmt: str, out: TextIO, progress: Callable[[int], None] | None = None
) -> int:
    """Write `source` as CSV (a header line, then one line a row) or JSON Lines (one
    object a line, every header key present); the number of rows written."""
    if fmt not in FORMATS:
        raise BadExport(f"unknown format {fmt!r}; use csv or json")
    written = 0
    writer = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
    if writer is not None:
        writer.writerow(header)
    async for row in source:
        if writer is not None:
            writer.writerow([_cell(row.get(name)) for name in header])
        else:
            out.write(json.dumps({name: _plain(row.get(name)) for name in header}, ensure_ascii=False, default=str) + "\n")
        written += 1
        if progress is not None:
            progress(written)
    return written


def record_export(session: AsyncSession, actor: str, request: ExportRequest, fmt: str, written: int, via: str) -> None:
    """The export itself goes on the audit trail: who, what, which period, how many rows."""
    audit.record(
        session, actor, "exported", export=request.kind, since=iso(request.since) if request.since else None,
        until=iso(request.until), inbox_id=request.inbox_id, rows=written, format=fmt, via=via,
    )


# -- a file for a chat upload --------------------------------------------------------

SPOOL_CHUNK = 1024 * 1024  # bytes copied at a time between the spooled files
FILL = 0.9  # a part aims at this share of the limit (its compression is estimated)


class ExportTooLarge(ValueError):
    """One stretch of rows does not fit the platform's limit even compressed."""


@dataclass(frozen=True)
class ExportPart:
    path: Path  # a spooled file, deleted with its ExportFile
    filename: str
    size: int  # bytes, as uploaded
    rows: int
    number: int  # 1-based
    title: str  # what the message with this file says

    def read_bytes(self) -> bytes:
        return self.path.read_bytes()


@dataclass
class ExportFile:
    """An export spooled to a temporary directory, as the files to upload: one file, or
    (over the platform's limit) the same gzip-compressed, or numbered compressed parts.
    `close` (or leaving a `with` block) deletes the files."""

    parts: list[ExportPart]
    content_type: str
    rows: int
    summary: str  # "Audit export: 12 rows, 2026-11-01 00:00 – 2026-12-01 00:00 UTC (CSV)"
    _spool: tempfile.TemporaryDirectory[str] | None = None

    @property
    def compressed(self) -> bool:
        return self.content_type == "application/gzip"

    def close(self) -> None:
        if self._spool is not None:
            self._spool.cleanup()
            self._spool = None

    def __enter__(self) -> ExportFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _ByteCounter:
    """A text sink writing UTF-8 to a binary file and counting the bytes (the offsets
    where a part may start are row boundaries: a CSV cell may hold a line break)."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.bytes = 0

    def write(self, text: str) -> int:
        data = text.encode()
        self.out.write(data)
        self.bytes += len(data)
        return len(text)


def _header_bytes(header: Sequence[str], fmt: str) -> bytes:
    """What `write` puts before the first row: the CSV header line (JSON Lines: nothing)."""
    if fmt != "csv":
        return b""
    line = io.StringIO()
    csv.writer(line, lineterminator="\n").writerow(header)
    return line.getvalue().encode()


def _gzip(source: Path, start: int, end: int, target: Path, prefix: bytes = b"") -> int:
    """`prefix` then bytes `start`..`end` of `source`, gzip-compressed into `target`
    (no name or time in the gzip header: a retried job makes the same file); its size."""
    with open(source, "rb") as src, open(target, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as out:
        out.write(prefix)
        src.seek(start)
        left = end - start
        while left > 0:
            chunk = src.read(min(SPOOL_CHUNK, left))
            if not chunk:
                break
            out.write(chunk)
            left -= len(chunk)
    return target.stat().st_size


def _split(
    raw: Path, raw_size: int, gz_size: int, header: bytes, marks: list[tuple[int, int]], limit: int, spool: Path
) -> list[tuple[Path, int, int, int]]:
    """Compressed parts of `raw`, each under `limit` and cut at row boundaries (`marks`:
    byte offset and rows before it), each starting with the header: (path, size, first
    row, rows). Every row is in exactly one part; ExportTooLarge when a stretch between
    two marks does not fit."""
    offsets = [offset for offset, _rows in marks]
    budget = max(1, int(limit * FILL * raw_size / max(gz_size, 1)))  # raw bytes a part may take
    parts: list[tuple[Path, int, int, int]] = []
    i = 0
    while i < len(marks) - 1:
        start, rows_before = marks[i]
        j = max(i + 1, bisect.bisect_right(offsets, start + budget - len(header)) - 1)
        target = spool / f"part{len(parts) + 1}"
        size = _gzip(raw, start, offsets[j], target, header)
        if size > limit:
            if j == i + 1:
                raise ExportTooLarge(f"rows {rows_before + 1}–{marks[j][1]} take {size} bytes compressed, over the limit of {limit}")
            budget = max(1, int(budget * limit / size * FILL))
            continue
        parts.append((target, size, rows_before + 1, marks[j][1] - rows_before))
        i = j
    return parts


async def build_file(
    sessions: Sessions, request: ExportRequest, fmt: str, *, actor: str, via: str, once_key: str, filename: str,
    limit: int | None = None,
) -> ExportFile:
    """The export as files for a chat upload, spooled to a temporary directory (never
    whole in memory): one file when it fits `limit` bytes (None: no limit), else
    gzip-compressed, else numbered compressed parts under the limit, each a valid file
    of its own (the CSV header in each, whole JSON lines). Recorded on the audit trail
    once per `once_key` (a retried upload job builds it again but is audited once)."""
    header = columns(request.kind)
    head = _header_bytes(header, fmt)
    step = max(1, min(limit // 16, SPOOL_CHUNK)) if limit is not None else None
    spool = tempfile.TemporaryDirectory(prefix="smsbridge-export-")
    try:
        folder = Path(spool.name)
        raw = folder / "export"
        marks: list[tuple[int, int]] = [(len(head), 0)]  # row boundaries about `step` bytes apart
        with open(raw, "wb") as out:  # noqa: ASYNC230 - a local temporary file, written row by row between queries
            sink = _ByteCounter(out)

            def mark(written: int) -> None:
                if step is not None and sink.bytes - marks[-1][0] >= step:
                    marks.append((sink.bytes, written))

            written = await write(rows(sessions, request), header, fmt, cast(TextIO, sink), progress=mark)
            raw_size = sink.bytes
        if marks[-1][0] != raw_size:
            marks.append((raw_size, written))
        async with sessions.begin() as session:
            if await insert_ignore(session, ProcessedEvent, {"key": f"export:{once_key}"[:200], "created_at": utcnow()}, ["key"]):
                record_export(session, actor, request, fmt, written, via)
        kind = request.kind.capitalize()
        content_type = "text/csv" if fmt == "csv" else "application/x-ndjson"
        if limit is None or raw_size <= limit:
            summary = f"{kind} export: {written} rows, {request.period} ({fmt.upper()})"
            part = ExportPart(raw, filename, raw_size, written, 1, summary)
            return ExportFile([part], content_type, written, summary, spool)
        packed = folder / "export.gz"
        gz_size = await asyncio.to_thread(_gzip, raw, 0, raw_size, packed)  # CPU: off the event loop
        if gz_size <= limit:
            summary = f"{kind} export: {written} rows, {request.period} ({fmt.upper()}, gzip-compressed)"
            part = ExportPart(packed, f"{filename}.gz", gz_size, written, 1, summary)
            return ExportFile([part], "application/gzip", written, summary, spool)
        packed.unlink()
        pieces = await asyncio.to_thread(_split, raw, raw_size, gz_size, head, marks, limit, folder)
        raw.unlink()
        total = len(pieces)
        summary = f"{kind} export: {written} rows in {total} parts, {request.period} ({fmt.upper()}, gzip-compressed)"
        stem, dot, extension = filename.partition(".")
        parts = [
            ExportPart(
                path, f"{stem}-part{number}of{total}{dot}{extension}.gz", size, count, number,
                f"{kind} export, part {number} of {total}: rows {first}–{first + count - 1} of {written}, "
                f"{request.period} ({fmt.upper()}, gzip-compressed)",
            )
            for number, (path, size, first, count) in enumerate(pieces, start=1)
        ]
        return ExportFile(parts, "application/gzip", written, summary, spool)
    except BaseException:
        spool.cleanup()
        raise


async def build_upload(
    sessions: Sessions, post: ExportUpload, platform: str, job: Job, *, limit: int | None = None
) -> ExportFile:
    """The files an `ExportUpload` job uploads (`build_file`; `limit`: the platform's
    upload limit in bytes). Their names carry the job's creation time and id, so a
    retried job (which builds the same files: the period is fixed) recognises its
    earlier uploads; it is audited once per job."""
    request = ExportRequest(
        post.export, until=datetime.fromisoformat(post.until),
        since=datetime.fromisoformat(post.since) if post.since else None, inbox_id=post.inbox_id,
    )
    extension = "csv" if post.fmt == "csv" else "jsonl"
    filename = f"smsbridge-{post.export}-{job.created_at:%Y%m%d-%H%M%S}-{job.id}.{extension}"
    once = f"{platform}:{job.id}@{job.created_at.isoformat()}"
    try:
        return await build_file(
            sessions, request, post.fmt, actor=audit.actor_of(platform, post.requested_by), via=platform, once_key=once,
            filename=filename, limit=limit,
        )
    except ExportTooLarge as exc:  # building it again would not make it smaller
        log.error("%s export for %s not sent: %s", platform, post.requested_by, exc)
        raise GiveUp(f"export too large for {platform}: {exc}") from exc
