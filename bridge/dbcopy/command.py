"""The `smsbridge db copy` command line: arguments, the run, one-line failures."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from bridge.config import database_url_setting
from bridge.dbcopy.copier import CopyError, copy_database
from bridge.dbcopy.display import RichProgress, counts_table

HELP = (
    "copy every row of this deployment's database (--from, default DATABASE_URL) into a"
    " new, empty database (--to), e.g. SQLite to PostgreSQL. Both are migrated first;"
    " a target that already has rows is refused; the copy is one transaction, so a"
    " failed copy leaves the target empty and can simply be run again. Stop `smsbridge"
    " run` first: rows written during the copy are not copied."
)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = commands.add_parser("db", help="database tasks (copy to PostgreSQL)")
    actions = db.add_subparsers(dest="action", required=True)
    copy = actions.add_parser("copy", help="copy every row into a new, empty database", description=HELP)
    copy.add_argument("--to", required=True, metavar="URL", help="e.g. postgresql+asyncpg://user:pass@host/smsbridge")
    copy.add_argument("--from", dest="source", default=None, metavar="URL", help="default: DATABASE_URL")
    copy.add_argument("--batch-size", type=int, default=1000, metavar="ROWS", help="rows per insert (default 1000)")


# postgres:// and postgresql:// (what hosting providers hand out) mean asyncpg here, as in DATABASE_URL.
async_url = database_url_setting


async def run_copy(source_url: str, target_url: str, batch_size: int) -> int:
    from bridge.inbox.db import create_database

    err = Console(stderr=True)
    try:
        source = create_database(async_url(source_url))
        target = create_database(async_url(target_url))
    except (ArgumentError, ImportError, ValueError) as exc:
        print(f"smsbridge: db copy: not a usable database URL: {exc}", file=sys.stderr)
        return 2
    where = f"{_shown(source_url)} → {_shown(target_url)}"
    try:
        with RichProgress(err) as progress:
            counts = await copy_database(source, target, batch_size=batch_size, progress=progress)
    except CopyError as exc:
        print(f"smsbridge: db copy failed: {exc}", file=sys.stderr)
        return 1
    except (DBAPIError, OSError) as exc:
        # The driver's own words, first line only: no SQL parameters (customer data).
        reason = getattr(exc, "orig", None) or exc
        first = (str(reason).strip().splitlines() or [type(reason).__name__])[0]
        print(f"smsbridge: db copy failed ({where}): {first}", file=sys.stderr)
        return 1
    finally:
        await source.dispose()
        await target.dispose()
    Console().print(counts_table(counts))
    rows = sum(c.target for c in counts[:-1])
    print(f"smsbridge: copied {rows} rows in {len(counts) - 1} tables, {where}; every count matches")
    return 0


def _shown(url: str) -> str:
    try:
        return make_url(async_url(url)).render_as_string(hide_password=True)
    except ArgumentError:
        return "?"
