"""The queue's one SQL statement (bridge/inbox/queue.py), on SQLite and PostgreSQL:
which open conversations each view selects, and how long each customer has waited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.inbox.db import Database
from bridge.inbox.labels import ConversationStatus
from bridge.inbox.models import Agent, Contact, Conversation, Inbox, Message
from bridge.inbox.queue import QueuePage, QueueView, open_queue, waited_text

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=3)


class World:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.inbox_id = 0
        self.ana = 0
        self.ben = 0
        self._phones = iter(f"+1415555{n:04d}" for n in range(1000, 2000))

    async def setup(self) -> None:
        async with self.db.sessions.begin() as session:
            inbox = Inbox(name="support", number="+14155550100")
            ana = Agent(platform="slack", user_id="UANA", name="Ana")
            ben = Agent(platform="slack", user_id="UBEN", name="Ben")
            session.add_all([inbox, ana, ben])
            await session.flush()
            self.inbox_id, self.ana, self.ben = inbox.id, ana.id, ben.id

    async def conversation(
        self,
        name: str | None,
        texts_at: list[int],
        *,
        replied_at: int | None = None,
        assignee: int | None = None,
        status: str = "open",
    ) -> int:
        """A conversation with customer texts at `texts_at` minutes after T0 and, when
        `replied_at` is given, the team's last reply then."""
        async with self.db.sessions.begin() as session:
            person = Contact(phone=next(self._phones), name=name)
            session.add(person)
            await session.flush()
            conv = Conversation(
                inbox_id=self.inbox_id, contact_id=person.id, status=status, assignee_id=assignee,
                last_outbound_at=T0 + timedelta(minutes=replied_at) if replied_at is not None else None,
                updated_at=T0 + timedelta(minutes=max([*texts_at, replied_at or 0])),
            )
            session.add(conv)
            await session.flush()
            for minute in texts_at:
                session.add(Message(conversation_id=conv.id, direction="in", body="hi", status="received",
                                    created_at=T0 + timedelta(minutes=minute)))
            if replied_at is not None:
                session.add(Message(conversation_id=conv.id, direction="out", kind="reply", body="hello",
                                    status="delivered", created_at=T0 + timedelta(minutes=replied_at)))
            return conv.id

    async def queue(self, view: QueueView, **kwargs: object) -> QueuePage:
        async with self.db.sessions() as session:
            return await open_queue(session, view, now=NOW, agent_id=self.ana, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
async def world(db: Database) -> World:
    w = World(db)
    await w.setup()
    return w


def names(page: QueuePage) -> list[str | None]:
    return [item.contact_name for item in page.items]


async def test_views_select_open_conversations_longest_wait_first(world: World) -> None:
    await world.conversation("Cleo", [60])
    await world.conversation("Dan", [10, 50])  # a burst: waiting since its first text
    await world.conversation("Eve", [30], assignee=world.ana)
    await world.conversation("Fay", [20], assignee=world.ben)
    await world.conversation("Gus", [5], status="closed")  # closed: never queued
    await world.conversation("Hal", [0, 90], replied_at=45)  # waiting since 90, not 0
    await world.conversation("Ivy", [0], replied_at=40)  # answered last: not waiting

    assert names(await world.queue(QueueView.UNASSIGNED)) == ["Dan", "Cleo", "Hal", "Ivy"]
    assert names(await world.queue(QueueView.MINE)) == ["Eve"]
    everything = await world.queue(QueueView.ALL)
    assert names(everything) == ["Dan", "Fay", "Eve", "Cleo", "Hal", "Ivy"]
    assert everything.total == 6 and everything.more == 0
    dan, fay = everything.items[0], everything.items[1]
    assert dan.waited(NOW) == timedelta(hours=2, minutes=50)
    assert dan.assignee is None and fay.assignee == "Ben"
    assert dan.status is ConversationStatus.OPEN
    assert everything.items[-1].waiting_since is None


async def test_the_cap_counts_what_it_leaves_out(world: World) -> None:
    for minute in range(12):
        await world.conversation(f"C{minute:02d}", [minute])
    page = await world.queue(QueueView.UNASSIGNED, limit=5)
    assert names(page) == ["C00", "C01", "C02", "C03", "C04"]
    assert (page.total, page.more) == (12, 7)


async def test_overdue_is_waiting_longer_than_the_threshold(world: World) -> None:
    await world.conversation("Old", [0])  # waiting 3 h
    await world.conversation("Mid", [100])  # waiting 1 h 20 min
    await world.conversation("New", [170])  # waiting 10 min
    await world.conversation("Done", [0], replied_at=5)
    page = await world.queue(QueueView.OVERDUE, overdue_after=timedelta(hours=1))
    assert names(page) == ["Old", "Mid"]
    # Without a threshold only SLA clocks that ran out count: none runs here.
    assert names(await world.queue(QueueView.OVERDUE)) == []


async def test_empty_queue(world: World) -> None:
    page = await world.queue(QueueView.UNASSIGNED)
    assert page.items == () and page.total == 0 and page.more == 0


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=59), "under a minute"),
        (timedelta(minutes=12, seconds=40), "12 min"),
        (timedelta(hours=3), "3 h"),
        (timedelta(hours=3, minutes=5), "3 h 5 min"),
        (timedelta(days=2, hours=4, minutes=30), "2 d 4 h"),
        (timedelta(days=2), "2 d"),
    ],
)
def test_waited_text(delta: timedelta, text: str) -> None:
    assert waited_text(delta) == text
