"""Logging setup that keeps secrets, phone numbers and message text out of every line.

Cleaning happens when a record is created (a log record factory), not in one handler:
then every handler sees the cleaned record, tracebacks and exception arguments included,
whoever added the handler (a test's caplog, an error tracker).

- Secrets (tokens, signing secrets) are replaced by `***` at every level.
- Below DEBUG, phone numbers are masked (`+1415•••0101`) and library lines known to
  carry whole request bodies are shortened; `LOG_LEVEL=DEBUG` shows them as they are.

`LOG_FORMAT=json` writes one JSON object per line (time, level, logger, message, the
cleaned traceback) with the ids of what was being worked on: `log_context(job_id=...,
conversation_id=...)` (the outbox sets it around each job) puts them on every line
logged inside, by smsbridge and by the libraries it calls.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

# "+14155550101", "whatsapp:+14155550101" and the URL-encoded "%2B14155550101".
_PHONE = re.compile(r"(?<![\w+%])(\+|%2B)([1-9]\d{6,14})(?!\d)", re.IGNORECASE)
# Library loggers whose INFO lines carry request URLs with numbers and bodies (twilio's
# request log) or client addresses and query strings (aiohttp's access log).
_CHATTY_LIBRARIES = ("twilio", "aiohttp.access")
# Libraries whose DEBUG lines can echo request headers (tokens).
_NOISY_LIBRARIES = ("slack_sdk", "slack_bolt", "asyncio", "discord")
_BOLT_UNHANDLED = "Unhandled request"
_HANDLER_NAME = "smsbridge"
# Ids of the job / conversation being worked on (ints and short kinds, never text).
_CONTEXT: ContextVar[dict[str, int | str] | None] = ContextVar("smsbridge_log_context", default=None)
_CONTEXT_ATTR = "smsbridge_context"


@contextlib.contextmanager
def log_context(**ids: int | str | None) -> Iterator[None]:
    """Every line logged inside carries these ids (None values are left out)."""
    token = _CONTEXT.set({**(_CONTEXT.get() or {}), **{k: v for k, v in ids.items() if v is not None}})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def mask_phone(number: str) -> str:
    """`+14155550101` → `+1415•••0101`: enough to tell numbers apart, not to dial one."""
    match = _PHONE.search(number)
    if match is None:
        return number
    return number[: match.start()] + _mask_match(match) + number[match.end() :]


def _mask_match(match: re.Match[str]) -> str:
    prefix, digits = match.group(1), match.group(2)
    keep = 4 if len(digits) > 8 else 2
    return f"{prefix}{digits[:keep]}•••{digits[-keep:]}"


class LogPrivacy:
    """Cleans one log record in place (message, exception text, stack)."""

    def __init__(self, secrets: Iterable[str], *, mask_personal_data: bool) -> None:
        # Short values would match ordinary words; no real token is that short.
        self.secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)
        self.mask_personal_data = mask_personal_data

    def text(self, value: str) -> str:
        for secret in self.secrets:
            if secret in value:
                value = value.replace(secret, "***")
        if self.mask_personal_data:
            value = _PHONE.sub(_mask_match, value)
        return value

    def clean(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the line
            message = f"{record.msg!r} {record.args!r}"
        cleaned = self.text(message)
        if self.mask_personal_data and record.name.startswith("slack_bolt") and message.startswith(_BOLT_UNHANDLED):
            # Bolt appends the whole request body (message text, user ids) to this warning.
            cleaned = f"{_BOLT_UNHANDLED} (body hidden; LOG_LEVEL=DEBUG shows it)"
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.text(record.exc_text)
        if record.stack_info:
            record.stack_info = self.text(record.stack_info)


class RedactSecrets(logging.Filter):
    """The same cleaning as a handler filter, for a handler outside setup_logging."""

    def __init__(self, secrets: list[str], *, mask_personal_data: bool = False) -> None:
        super().__init__()
        self.privacy = LogPrivacy(secrets, mask_personal_data=mask_personal_data)

    def filter(self, record: logging.LogRecord) -> bool:
        self.privacy.clean(record)
        return True


_BASE_FACTORY: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()


def install_privacy(privacy: LogPrivacy) -> None:
    """Clean every record this process creates from now on."""

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = _BASE_FACTORY(*args, **kwargs)
        privacy.clean(record)
        setattr(record, _CONTEXT_ATTR, _CONTEXT.get())
        return record

    logging.setLogRecordFactory(factory)


def uninstall_privacy() -> None:
    logging.setLogRecordFactory(_BASE_FACTORY)


class JsonFormatter(logging.Formatter):
    """One JSON object per line. Reads only what the privacy factory cleaned: the
    message, the traceback text and the ids of `log_context`, never the raw arguments."""

    # Ids a call may pass as `extra=` too (log.info(..., extra={"job_id": 3})).
    ID_FIELDS = ("conversation_id", "job_id", "job_kind", "message_id", "timer_id")

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, _CONTEXT_ATTR, None) or {})
        for name in self.ID_FIELDS:
            value = getattr(record, name, None)
            if isinstance(value, (int, str)) and not isinstance(value, bool):
                line[name] = value
        if record.exc_text:
            line["exception"] = record.exc_text
        elif record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False, default=str)


def setup_logging(level: str, secrets: list[str], stream: TextIO | None = None, fmt: str = "text") -> logging.Handler:
    """`fmt`: "text" (one readable line) or "json" (LOG_FORMAT=json)."""
    root = logging.getLogger()
    root.setLevel(level.upper())
    debug = root.level <= logging.DEBUG
    install_privacy(LogPrivacy(secrets, mask_personal_data=not debug))
    handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.set_name(_HANDLER_NAME)
    # Replace our own handler from an earlier call; keep any other (a test's caplog).
    root.handlers[:] = [h for h in root.handlers if h.get_name() != _HANDLER_NAME] + [handler]
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
    for noisy in _NOISY_LIBRARIES:
        logging.getLogger(noisy).setLevel(max(logging.INFO, root.level))
    for chatty in _CHATTY_LIBRARIES:
        logging.getLogger(chatty).setLevel(logging.DEBUG if debug else max(logging.WARNING, root.level))
    return handler
