"""`smsbridge report [PERIOD] [--inbox NAME] [--agent ID] [--format text|csv|json] [--charts DIR]`:
the managers' report on a terminal (rich tables) or for a spreadsheet (CSV, JSON)."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rich.console import Console
from rich.table import Table

from bridge.inbox import report_charts, report_queries
from bridge.inbox.db import Database
from bridge.inbox.models import utcnow
from bridge.inbox.report_period import BadPeriod, parse_period
from bridge.inbox.report_queries import ReportData, Scope
from bridge.inbox.report_render import (
    RECORD_FIELDS,
    as_json,
    duration,
    records,
    spread_text,
)

FORMATS = ("text", "csv", "json")


class BadReportArgument(ValueError):
    """One line that names what is valid."""


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = commands.add_parser("report", help="response times, volumes and agents for a period")
    report.add_argument("period", nargs="?", default="7d", help="today, 24h, 7d, 30d or FROM..TO dates (TO not included)")
    report.add_argument("--inbox", help="an inbox's name (default: every inbox)")
    report.add_argument("--agent", help="a teammate's id, chat user id or name: their assigned conversations")
    report.add_argument("--format", choices=FORMATS, default="text")
    report.add_argument("--tz", default="UTC", help="time zone of days and hours (default UTC)")
    report.add_argument("--charts", type=Path, help="also write the charts as PNG files into this directory")


async def _agent_id(db: Database, wanted: str) -> int:
    async with db.sessions() as session:
        choices = await report_queries.agent_choices(session)
    text = wanted.strip().lstrip("@")
    for agent_id, platform, user_id, name in choices:
        if text in (str(agent_id), user_id, f"{platform}:{user_id}") or text.casefold() == name.casefold():
            return agent_id
    known = ", ".join(f"{agent_id} ({name})" for agent_id, _, _, name in choices) or "none yet"
    raise BadReportArgument(f"unknown agent {wanted!r}; agents: {known}")


async def _inbox_id(db: Database, wanted: str) -> int:
    async with db.sessions() as session:
        names = await report_queries.inbox_names(session)
    for name, inbox_id in names.items():
        if name.casefold() == wanted.strip().casefold():
            return inbox_id
    raise BadReportArgument(f"unknown inbox {wanted!r}; inboxes: {', '.join(names) or 'none yet'}")


async def build(db: Database, args: argparse.Namespace) -> tuple[ReportData, str]:
    """Raise BadReportArgument for a bad period, inbox, agent or time zone."""
    try:
        zone = ZoneInfo(args.tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadReportArgument(f"unknown time zone {args.tz!r}; use an IANA name such as UTC or America/New_York") from None
    try:
        period = parse_period(args.period, zone, utcnow())
    except BadPeriod as exc:
        raise BadReportArgument(str(exc)) from None
    inbox_id = await _inbox_id(db, args.inbox) if args.inbox else None
    agent_id = await _agent_id(db, args.agent) if args.agent else None
    async with db.sessions() as session:
        report = await report_queries.build(
            session, Scope(period.since, period.until, zone, inbox_id, agent_id), sessions=db.sessions
        )
    return report, period.label


def _table(title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold")
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index == 0 else "right")
    for row in rows:
        table.add_row(*row)
    return table


def print_text(report: ReportData, label: str, where: str, out: TextIO) -> None:
    console = Console(file=out, width=100)
    console.print(f"[bold]Report, {label}[/bold] · {where} · times in {report.scope.zone}", highlight=False)
    if not report.has_traffic:
        console.print("No traffic in this period: no texts in or out, no new or reopened conversations.")
        return
    console.print(
        _table(
            "Summary",
            ("", "value"),
            [
                ("Texts in", str(report.texts_in)),
                ("Texts out (replies)", f"{report.texts_out} ({report.replies})"),
                ("New conversations", str(report.new_conversations)),
                ("Reopened", str(report.reopened)),
                ("Started by the team", str(report.team_started)),
                ("First response", spread_text(report.first_response)),
                ("  after a team-started text was answered", spread_text(report.team_first_response)),
                ("Unanswered", str(report.unanswered)),
                ("Resolution", spread_text(report.resolution)),
                ("Delivered", str(report.delivered)),
                ("Opt-outs", str(report.opt_outs)),
            ],
        )
    )
    if report.agents:
        console.print(
            _table(
                "By agent",
                ("Agent", "Conversations", "Replies", "Median first response", "Open now"),
                [(a.name, str(a.conversations), str(a.replies), duration(a.median_first_response), str(a.open_now)) for a in report.agents],
            )
        )
    console.print(_table("Open now", ("Status", "Conversations"), [(k, str(v)) for k, v in sorted(report.backlog.items())]))
    if report.failures:
        console.print(_table("Not delivered", ("Code", "Reason", "Texts"), [(f.code or "—", f.reason, str(f.count)) for f in report.failures]))


def write(report: ReportData, label: str, where: str, fmt: str, out: TextIO) -> None:
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=RECORD_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records(report))
    elif fmt == "json":
        out.write(json.dumps(as_json(report, label), indent=2, ensure_ascii=False) + "\n")
    else:
        print_text(report, label, where, out)


async def run(db: Database, args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    try:
        report, label = await build(db, args)
    except BadReportArgument as exc:
        print(f"smsbridge: {exc}", file=sys.stderr)
        return 2
    where = f"inbox {args.inbox}" if args.inbox else "every inbox"
    if args.agent:
        where += f", conversations assigned to {args.agent}"
    write(report, label, where, args.format, out)
    if args.charts:
        args.charts.mkdir(parents=True, exist_ok=True)
        for chart in report_charts.charts(report):
            (args.charts / chart.name).write_bytes(chart.png)
            print(f"smsbridge: wrote {args.charts / chart.name}", file=sys.stderr)
    return 0
