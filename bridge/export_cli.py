"""`smsbridge export audit|consent|conversations [--days N] [--format csv|json] [--out FILE] [--inbox NAME]`:
the compliance export (docs/compliance.md rule 16) to a file or standard output, with a
progress bar while a long one runs on a terminal."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bridge.inbox import exports
from bridge.inbox.db import Database
from bridge.inbox.exports import BadExport, ExportRequest
from bridge.inbox.models import utcnow


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = commands.add_parser("export", help="the audit trail, consent records or conversations as CSV or JSON Lines")
    export.add_argument("kind", choices=exports.KINDS)
    export.add_argument("--days", type=int, help="only the last N days (default: everything)")
    export.add_argument("--format", choices=exports.FORMATS, default="csv", help="csv (default) or json (JSON Lines)")
    export.add_argument("--out", type=Path, help="write to this file (default: standard output)")
    export.add_argument("--inbox", help="only this inbox (its name)")


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no user name (a container without one)
        return "cli"


@contextmanager
def _progress(show: bool, total: int, label: str, err: TextIO) -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar on `err` (standard error), or nothing."""
    if not show:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(file=err), transient=True) as bar:
        task = bar.add_task(label, total=total)

        def advance(done: int) -> None:
            if done % 500 == 0 or done == total:  # redrawing per row would cost more than the row
                bar.update(task, completed=done)

        yield advance


async def run(db: Database, args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    if args.days is not None and args.days < 1:
        print("smsbridge: --days takes a whole number of days, 1 or more", file=err)
        return 2
    now = utcnow()
    try:
        inbox = await exports.inbox_id(db.sessions, args.inbox) if args.inbox else None
        request = ExportRequest(args.kind, until=now, since=now - timedelta(days=args.days) if args.days else None, inbox_id=inbox)
    except BadExport as exc:
        print(f"smsbridge: {exc}", file=err)
        return 2
    # A bar only where someone watches it: standard error is a terminal, and the rows
    # themselves are not being printed on that terminal.
    to_terminal = args.out is None and out.isatty()
    show = err.isatty() and not to_terminal
    total = await exports.count(db.sessions, request) if show else 0
    target = args.out.open("w", newline="", encoding="utf-8") if args.out else out
    try:
        with _progress(show, total, f"{args.kind} export", err) as progress:
            written = await exports.write(exports.rows(db.sessions, request), exports.columns(args.kind), args.format, target, progress)
    finally:
        if args.out:
            target.close()
    async with db.sessions.begin() as session:
        exports.record_export(session, _actor(), request, args.format, written, via="cli")
    where = f" to {args.out}" if args.out else ""
    print(f"smsbridge: exported {written} {args.kind} rows ({request.period}){where}", file=err)
    return 0
