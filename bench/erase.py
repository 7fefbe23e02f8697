"""What erasing one contact costs (compliance rule 9), next to everyone else's data.

Method
    A fresh migrated database gets one inbox, OTHERS contacts with MESSAGES_EACH
    messages each (and an audit row per message, as a busy team's trail), and the
    contact to erase with N messages, N/10 notes and an audit row per message. Then
    `Eraser.erase` runs once and its wall time and what it removed are printed. The
    erasure scans the outbox jobs and the audit trail for the number (a LIKE over
    their JSON): that scan, not the contact's own rows, grows with the database.

Measured (2026-12-01, the project's shared 2-core test machine, defaults: 105,000
messages and as many audit rows, the contact 5,000 messages and 500 notes): SQLite
0.9 s, PostgreSQL 1.9 s for the whole erasure, one transaction.

Usage
    python bench/erase.py [--db sqlite|postgresql|both] [--n 5000] [--others 2000] [--each 50]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert

from bench.common import db_kinds, migrated_db
from bridge.inbox.erasure import Eraser
from bridge.inbox.models import AuditEvent, Contact, Conversation, Inbox, Message, Note, utcnow
from bridge.inbox.outbox import Outbox

TARGET = "+14155550101"


async def _fill(db: object, n: int, others: int, each: int) -> None:
    sessions = db.sessions  # type: ignore[attr-defined]
    now = utcnow()
    async with sessions.begin() as session:
        inbox = (await session.execute(insert(Inbox).values(name="default", number="+14155550100", business_name="B", created_at=now).returning(Inbox.id))).scalar_one()
        phones = [f"+1415{7000000 + i:07d}" for i in range(others)] + [TARGET]
        contact_ids = (await session.execute(insert(Contact).returning(Contact.id), [
            {"phone": p, "phone_valid": True, "tags": [], "properties": {}, "created_at": now} for p in phones
        ])).scalars().all()
        conv_ids = (await session.execute(insert(Conversation).returning(Conversation.id), [
            {"inbox_id": inbox, "contact_id": c, "status": "open", "priority": 0, "created_at": now, "updated_at": now} for c in contact_ids
        ])).scalars().all()
    for index, conv in enumerate(conv_ids):
        count = n if index == len(conv_ids) - 1 else each
        async with sessions.begin() as session:
            rows = [{"conversation_id": conv, "direction": "in", "kind": "text", "body": f"words {i} of {conv}", "media": [],
                     "status": "received", "from_number": phones[index], "to_number": "+14155550100", "created_at": now} for i in range(count)]
            await session.execute(insert(Message), rows)
            await session.execute(insert(AuditEvent), [{"actor": "slack:U1", "action": "reply_queued", "conversation_id": conv,
                                                        "detail": {"message_id": i}, "created_at": now} for i in range(count)])
            if index == len(conv_ids) - 1:
                await session.execute(insert(Note), [{"conversation_id": conv, "platform": "slack", "platform_message_id": f"n{i}",
                                                      "author_id": "U1", "body": f"note {i}", "created_at": now} for i in range(n // 10)])


async def run(kind: str, n: int, others: int, each: int) -> None:
    target = await migrated_db(kind)  # type: ignore[arg-type]
    db = target.open()
    try:
        started = time.perf_counter()
        await _fill(db, n, others, each)
        filled = time.perf_counter() - started
        outbox = Outbox(db)
        started = time.perf_counter()
        done = await Eraser(db, outbox).erase(TARGET, "bench")
        took = time.perf_counter() - started
        outbox.close()
        assert done is not None
        total = others * each + n
        print(f"{kind}: {total} messages and audit rows in all (filled in {filled:.1f} s); erasing the contact's "
              f"{done.counts.messages} messages and {done.counts.notes} notes took {took * 1000:.0f} ms")
    finally:
        await db.dispose()
        await target.drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="sqlite")
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--others", type=int, default=2000)
    parser.add_argument("--each", type=int, default=50)
    args = parser.parse_args()
    for kind in db_kinds(args.db):
        asyncio.run(run(kind, args.n, args.others, args.each))


if __name__ == "__main__":
    main()
