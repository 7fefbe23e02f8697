"""Report numbers from generated histories with hand-computed answers, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bridge.inbox import report_queries
from bridge.inbox.db import Database
from bridge.inbox.report_queries import AgentRow, Failure, Scope, Spread
from tests.report_history import History

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday
WEEK = Scope(since=datetime(2026, 11, 2, tzinfo=UTC), until=datetime(2026, 11, 9, tzinfo=UTC))
ANA = ("slack", "U1", "Ana")
BEN = ("discord", "2", "Ben")
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


async def _history(db: Database) -> dict[str, int]:
    """Customer first responses 60, 120, 600, 1200, 3600 s (one more unanswered); one reopen;
    one team-started conversation answered 300 s after the customer's reply."""
    async with db.sessions.begin() as session:
        h = History(session)
        main, other = await h.inbox("main"), await h.inbox("other")
        ana, ben = await h.agent(*ANA), await h.agent(*BEN)
        c1, c2, c3, c4, c5, c6, c7 = [await h.conversation(main, T0) for _ in range(7)]
        await h.text_in(c1, T0)
        await h.reply(c1, T0 + MIN, ANA)  # 60 s
        await h.reply(c1, T0 + 2 * MIN, ANA, status="canceled")  # undone: never left
        await h.close(c1, T0 + HOUR)  # resolved in 3600 s
        await h.text_in(c1, T0 + DAY)  # reopened: a new cycle
        await h.reply(c1, T0 + DAY + 2 * MIN, ANA)  # 120 s
        await h.text_in(c2, T0 + 2 * HOUR)
        await h.reply(c2, T0 + 2 * HOUR + 10 * MIN, BEN)  # 600 s
        await h.close(c2, T0 + 4 * HOUR)  # resolved in 7200 s
        await h.text_in(c3, T0 + DAY + 3 * HOUR)
        await h.reply(c3, T0 + DAY + 3 * HOUR + 20 * MIN, ANA)  # 1200 s
        await h.text_in(c4, T0 + 2 * DAY)
        await h.reply(c4, T0 + 2 * DAY + HOUR, BEN)  # 3600 s
        await h.reply(c4, T0 + 2 * DAY + 2 * HOUR, BEN, status="failed", error="30007")
        await h.text_in(c5, T0 + 3 * DAY)  # never answered
        await h.reply(c5, T0 + 3 * DAY + MIN, ("", "", "smsbridge"), kind="compliance", status="sent")
        await h.team_new(c6, T0 + 4 * DAY)
        await h.reply(c6, T0 + 4 * DAY, ANA)  # the team's opening text: not a response
        await h.text_in(c6, T0 + 4 * DAY + 10 * MIN)
        await h.reply(c6, T0 + 4 * DAY + 15 * MIN, ANA)  # 300 s after the customer's answer
        await h.text_in(c7, T0 - 2 * DAY)  # before the period
        await h.reply(c7, T0 - 2 * DAY + MIN, BEN)
        await h.close(c7, T0 - DAY)
        c8 = await h.conversation(other, T0)
        await h.text_in(c8, T0 + HOUR)
        await h.reply(c8, T0 + HOUR + 30 * MIN, BEN)  # 1800 s, in the other inbox
        for conv, who in ((c1, ana), (c3, ana), (c4, ben), (c8, ben)):
            await h.assign(conv, who)
        await h.consent("+14155550005", main, "opt_out", T0 + 3 * DAY)
        await h.consent("+14155550005", main, "opt_in", T0 + 3 * DAY + HOUR)
        await h.consent("+14155550004", main, "opt_out", T0 - 3 * DAY)
        await h.consent("+14155550008", other, "opt_out_all", T0 + HOUR)
    return {"main": main, "other": other, "ana": ana, "ben": ben}


async def _report(db: Database, scope: Scope) -> report_queries.ReportData:
    async with db.sessions() as session:
        return await report_queries.build(session, scope)


async def test_the_week_of_one_inbox_in_numbers(db: Database) -> None:
    ids = await _history(db)
    report = await _report(db, Scope(WEEK.since, WEEK.until, inbox_id=ids["main"]))
    assert (report.texts_in, report.texts_out, report.replies) == (7, 9, 8)
    assert (report.new_conversations, report.team_started, report.reopened, report.unanswered) == (5, 1, 1, 1)
    # 60, 120, 600, 1200, 3600: median 600; p90 at 1 + 4 * 0.9 = 4.6: 1200 + 0.6 * 2400
    assert report.first_response == Spread(5, 600, 2640)
    assert report.team_first_response == Spread(1, 300, 300)
    assert report.resolution == Spread(2, 5400, 6840)  # 3600 and 7200
    assert report.agents == [
        AgentRow("Ana", conversations=4, replies=5, median_first_response=210, open_now=2),  # 60 120 300 1200
        AgentRow("Ben", conversations=2, replies=3, median_first_response=2100, open_now=1),
    ]
    assert report.backlog == {"open": 4, "new": 1}
    assert report.opt_outs == 1
    assert report.failures == [Failure("30007", "Carrier said 30007", 1)]
    assert [day.texts_in for day in report.daily] == [2, 2, 1, 1, 1, 0, 0]
    assert [day.first_response for day in report.daily][:3] == [Spread(2, 330, 546), Spread(2, 660, 1092), Spread(1, 3600, 3600)]
    assert report.heat[0][9] == 1 and report.heat[0][11] == 1 and report.heat[1][9] == 1 and report.heat[4][9] == 1
    assert sum(map(sum, report.heat)) == 7


async def test_every_inbox_one_agent_and_a_time_zone(db: Database) -> None:
    ids = await _history(db)
    everything = await _report(db, WEEK)
    assert everything.texts_in == 8 and everything.opt_outs == 2
    assert everything.first_response == Spread(6, 900, 2700)  # 60, 120, 600, 1200, 1800, 3600: p90 at 5.5
    ana = await _report(db, Scope(WEEK.since, WEEK.until, agent_id=ids["ana"]))
    assert ana.first_response == Spread(3, 120, 984)  # c1's two cycles and c3: 60, 120, 1200
    assert [row.name for row in ana.agents] == ["Ana"]
    assert ana.backlog == {"open": 2}
    new_york = await _report(db, Scope(WEEK.since, WEEK.until, zone=ZoneInfo("America/New_York"), inbox_id=ids["main"]))
    assert new_york.heat[0][4] == 1  # Monday 09:00 UTC is 04:00 in New York (EST)
    assert new_york.daily[0].day.isoformat() == "2026-11-01"  # the period starts on Sunday evening there


async def test_an_empty_period_has_no_traffic(db: Database) -> None:
    await _history(db)
    report = await _report(db, Scope(T0 + 30 * DAY, T0 + 31 * DAY))
    assert not report.has_traffic
    assert report.first_response == Spread() and report.agents[0].conversations == 0 if report.agents else True


@pytest.mark.parametrize(
    ("values", "median", "p90"),
    [([7], 7, 7), ([1, 2, 10, 20], 6, 17), ([5, 1, 3], 3, 5), (list(range(1, 12)), 6, 10)],
)
async def test_percentiles_interpolate_the_same_everywhere(db: Database, values: list[int], median: int, p90: int) -> None:
    from sqlalchemy import literal, select, union_all

    from bridge.inbox import percentiles

    source = union_all(*(select(literal("g").label("key"), literal(v).label("value")) for v in values)).subquery()
    async with db.sessions() as session:
        found = await percentiles.grouped(session, select(source.c.key, source.c.value), (0.5, 0.9))
    assert found == {"g": (len(values), [median, p90])}
    assert percentiles.of_sorted(sorted(values), (0.5, 0.9)) == [median, p90]  # the report's one-pass path


async def test_a_period_cut_mid_hour_counts_only_its_own_texts(db: Database) -> None:
    ids = await _history(db)
    since, until = T0 + timedelta(seconds=30), T0 + DAY + 2 * MIN + timedelta(seconds=1)
    report = await _report(db, Scope(since, until, inbox_id=ids["main"]))
    # in: c2 (T0+2h) and c1's reopening (T0+1d); out: c1 at T0+1min and T0+1d+2min, c2 at T0+2h10
    assert (report.texts_in, report.texts_out, report.replies) == (2, 3, 3)
    assert report.heat[0][9] == 0 and report.heat[0][11] == 1 and report.heat[1][9] == 1


async def test_a_status_change_moves_the_count(db: Database) -> None:
    from sqlalchemy import update

    from bridge.inbox.models import Message

    ids = await _history(db)
    async with db.sessions.begin() as session:
        h = History(session, first_phone=50)
        conv = await h.conversation(ids["main"], T0)
        await h.text_in(conv, T0 + 5 * DAY)
        await h.reply(conv, T0 + 5 * DAY + MIN, ANA, status="pending")
    before = await _report(db, Scope(WEEK.since, WEEK.until, inbox_id=ids["main"]))
    assert (before.texts_in, before.texts_out) == (8, 9)  # a pending reply has not left yet
    async with db.sessions.begin() as session:
        await session.execute(update(Message).where(Message.status == "pending").values(status="undelivered", error_code="30003"))
    after = await _report(db, Scope(WEEK.since, WEEK.until, inbox_id=ids["main"]))
    assert (after.texts_in, after.texts_out) == (8, 10)
    assert [(f.code, f.count) for f in after.failures] == [("30003", 1), ("30007", 1)]


async def test_business_hours_plug_in_through_the_recorder(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    from bridge.inbox import cycles
    from bridge.inbox.report_queries import Clock

    # An inbox open 09:00-17:00 UTC would count only the open part; here: half of every wait.
    monkeypatch.setattr(cycles, "business_seconds", lambda _inbox, start, end: int((end - start).total_seconds()) // 2)
    ids = await _history(db)
    scope = Scope(WEEK.since, WEEK.until, inbox_id=ids["main"], clock=Clock.BUSINESS)
    report = await _report(db, scope)
    assert report.first_response == Spread(5, 300, 1320)  # halves of 60, 120, 600, 1200, 3600
    assert report.resolution == Spread(2, 2700, 3420)
    wall = await _report(db, Scope(WEEK.since, WEEK.until, inbox_id=ids["main"]))
    assert wall.first_response == Spread(5, 600, 2640)
