"""`smsbridge contacts erase NUMBER [--yes]`: compliance rule 9 from the terminal.

It asks before erasing when it runs on a terminal, and refuses to erase unasked
otherwise (a script must say `--yes`). The chat posts are deleted by the running
smsbridge: the jobs are committed here and its outbox picks them up.
"""

from __future__ import annotations

import getpass
import sys
from typing import TextIO

from bridge.config import Settings
from bridge.inbox.db import Database
from bridge.inbox.erasure import Eraser, number_key
from bridge.inbox.erasure_text import question, result, unknown
from bridge.inbox.outbox import Outbox
from bridge.inbox.phone import format_phone


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no user name (a container): still an actor
        return "cli"


async def erase_contact(
    settings: Settings, number: str, *, yes: bool, stdin: TextIO | None = None, out: TextIO | None = None,
    db: Database | None = None,
) -> int:
    """`db`: an open database instead of DATABASE_URL's (tests); it is closed on return."""
    from bridge.inbox.db import create_database, migrate

    stdin, out = stdin or sys.stdin, out or sys.stdout
    key = number_key(number)
    shown = format_phone(key)
    db = db or create_database(settings.database_url)
    outbox = Outbox(db)
    try:
        await migrate(db)
        eraser = Eraser(db, outbox)
        async with db.sessions() as session:
            found = await eraser.preview(session, key)
        if found is None:
            print(f"smsbridge: {unknown(shown).plain()}", file=out)
            return 1
        contact, counts = found
        if not yes:
            if not stdin.isatty():
                print("smsbridge: not erasing without confirmation: run it on a terminal, or add --yes.", file=out)
                return 2
            print(question(shown, contact.name if contact else None, counts).plain(), file=out)
            print("Type 'erase' to confirm: ", end="", file=out, flush=True)
            if stdin.readline().strip().lower() != "erase":
                print("smsbridge: nothing was erased.", file=out)
                return 1
        done = await eraser.erase(key, _actor())
        if done is None:  # erased meanwhile by someone else
            print(f"smsbridge: {unknown(shown).plain()}", file=out)
            return 1
        await outbox.repair_heads()  # the running smsbridge's workers take the chat deletions
        print(f"smsbridge: {result(shown, done).plain()}", file=out)
        return 0
    finally:
        outbox.close()
        await db.dispose()
