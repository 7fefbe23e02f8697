"""`smsbridge report` on a terminal, as CSV and JSON; charts decoded as PNG; bad input in one line."""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

import pytest

from bridge import report_cli
from bridge.inbox import report_charts, report_queries
from bridge.inbox.db import Database
from bridge.inbox.report_queries import Scope
from tests.test_cli import _cli
from tests.test_reports import WEEK, _history


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    report_cli.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["report", *argv])


async def _run(db: Database, *argv: str) -> str:
    out = io.StringIO()
    assert await report_cli.run(db, _args(*argv), out) == 0
    return out.getvalue()


async def test_the_terminal_shows_tables(db: Database) -> None:
    await _history(db)
    text = await _run(db, "2026-11-02..2026-11-09", "--inbox", "main")
    assert "Report, 2026-11-02..2026-11-09 · inbox main · times in UTC" in text
    assert "median 10 min, p90 44 min (5)" in text  # 600 s and 2640 s
    assert "Resolution" in text and "median 1 h 30 min, p90 1 h 54 min (2)" in text
    ana = next(line for line in text.splitlines() if "Ana" in line)
    assert [cell.strip() for cell in ana.strip("│┃ ").split("│")] == ["Ana", "4", "5", "3 min", "2"]  # 210 s
    assert "30007" in text and "Carrier said 30007" in text


async def test_csv_and_json_carry_the_same_numbers(db: Database) -> None:
    await _history(db)
    rows = list(csv.DictReader(io.StringIO(await _run(db, "2026-11-02..2026-11-09", "--inbox", "main", "--format", "csv"))))
    value = {(r["section"], r["key"], r["metric"]): r["value"] for r in rows}
    assert value[("summary", "", "texts_in")] == "7"
    assert value[("summary", "", "first_response_median_seconds")] == "600"
    assert value[("summary", "", "first_response_p90_seconds")] == "2640"
    assert value[("agent", "Ben", "median_first_response_seconds")] == "2100"
    assert value[("daily", "2026-11-02", "texts_in")] == "2"
    data = json.loads(await _run(db, "2026-11-02..2026-11-09", "--inbox", "main", "--format", "json"))
    assert data["first_response"] == {"count": 5, "median_seconds": 600, "p90_seconds": 2640}
    assert data["conversations"] == {"new": 5, "reopened": 1, "team_started": 1, "unanswered": 1}
    assert data["period"]["from"] == "2026-11-02T00:00:00+00:00"


async def test_an_empty_period_says_so_and_draws_nothing(db: Database, tmp_path: Path) -> None:
    await _history(db)
    out = await _run(db, "2026-12-01..2026-12-02", "--charts", str(tmp_path / "charts"))
    assert "No traffic in this period" in out
    assert not list((tmp_path / "charts").iterdir())


async def test_charts_are_pngs_of_the_agreed_size(db: Database) -> None:
    import matplotlib.image

    await _history(db)
    async with db.sessions() as session:
        report = await report_queries.build(session, Scope(WEEK.since, WEEK.until))
    charts = report_charts.charts(report)
    assert [c.name for c in charts] == ["busiest-times.png", "daily-volume.png"]
    for chart in charts:
        pixels = matplotlib.image.imread(io.BytesIO(chart.png), format="png")
        assert pixels.shape[:2] == (450, 720)  # height, width: half of it is a chat preview
        assert pixels.std() > 0.05  # something is drawn


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["fortnight"], "unknown period 'fortnight'; use today, 24h, 7d, 30d, 2w or FROM..TO dates"),
        (["2026-11-09..2026-11-02"], "FROM must be before TO"),
        (["7d", "--inbox", "nowhere"], "unknown inbox 'nowhere'; inboxes: main, other"),
        (["7d", "--agent", "zed"], "unknown agent 'zed'; agents: 1 (Ana), 2 (Ben)"),
        (["7d", "--tz", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
    ],
)
async def test_bad_input_is_one_line_naming_what_is_valid(
    db: Database, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    await _history(db)
    out = io.StringIO()
    assert await report_cli.run(db, _args(*argv), out) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1
    assert out.getvalue() == ""


def test_the_command_line_prints_csv_and_refuses_bad_periods(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"}
    result = _cli(["report", "30d", "--format", "csv"], tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "section,key,metric,value"
    assert "summary,,texts_in,0" in result.stdout
    bad = _cli(["report", "yesterday"], tmp_path, env)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip() == (
        "smsbridge: unknown period 'yesterday'; use today, 24h, 7d, 30d, 2w or FROM..TO dates"
        " (e.g. 2026-11-01..2026-12-01, TO not included)"
    )
