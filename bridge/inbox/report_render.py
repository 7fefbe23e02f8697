"""A report in words (chat), as records (CSV, JSON): the same numbers, from one ReportData."""

from __future__ import annotations

from typing import Any

from bridge.inbox.durations import spoken
from bridge.inbox.markup import Rich, join, rich
from bridge.inbox.report_queries import ReportData, Spread

Record = dict[str, str | int | None]  # section, key, metric, value: one number each
RECORD_FIELDS = ("section", "key", "metric", "value")


def duration(seconds: int | None) -> str:
    """4 s · 12 min · 2 h 5 min · 3 d 4 h; an em dash when there is nothing to measure."""
    return "—" if seconds is None else spoken(seconds)


def spread_text(spread: Spread) -> str:
    if not spread.count:
        return "—"
    return f"median {duration(spread.median)}, p90 {duration(spread.p90)} ({spread.count})"


def chat_text(report: ReportData, label: str, where: str = "every inbox") -> Rich:
    """The report as a chat message (neutral rich text, rendered by each chat)."""
    heading = rich("**Report, {label}** · {where} · times in {zone}", label=label, where=where, zone=str(report.scope.zone))
    if not report.has_traffic:
        return join([heading, rich("No traffic in this period: no texts in or out, no new or reopened conversations.")])
    lines = [
        heading,
        rich("• Texts in: {i} · out: {o} (replies {r})", i=report.texts_in, o=report.texts_out, r=report.replies),
        rich(
            "• New conversations: {new} · reopened: {reopened} · started by the team: {team}",
            new=report.new_conversations, reopened=report.reopened, team=report.team_started,
        ),
        rich("• First response: {s} · unanswered {u}", s=spread_text(report.first_response), u=report.unanswered),
    ]
    if report.team_first_response.count:
        lines.append(rich("• First response after the customer answered a team-started text: {s}",
                          s=spread_text(report.team_first_response)))
    lines.append(rich("• Resolution: {s}", s=spread_text(report.resolution)))
    backlog = ", ".join(f"{status} {n}" for status, n in sorted(report.backlog.items())) or "none"
    lines.append(rich("• Open now: {backlog}", backlog=backlog))
    lines.append(rich("• Opt-outs: {n}", n=report.opt_outs))
    if report.sla_breaches:
        breaches = " · ".join(f"{clock.replace('_', ' ')} {n}" for clock, n in sorted(report.sla_breaches.items()))
        lines.append(rich("• SLA breaches: {b}", b=breaches))
    rate = f"{report.delivered * 100 // report.texts_out}%" if report.texts_out else "—"
    failed = sum(f.count for f in report.failures)
    lines.append(rich("• Delivered: {d} ({rate}) · not delivered: {f}", d=report.delivered, rate=rate, f=failed))
    if report.failures:
        failures = ", ".join(f"{f.code or '—'} {f.reason} ×{f.count}" for f in report.failures[:5])
        lines.append(rich("• Not delivered: {failures}", failures=failures))
    if report.agents:
        lines.append(rich("**By agent** (conversations · replies · median first response · open now)"))
        for row in report.agents[:15]:
            lines.append(
                rich(
                    "• {name}: {c} · {r} · {m} · {o}",
                    name=row.name, c=row.conversations, r=row.replies, m=duration(row.median_first_response), o=row.open_now,
                )
            )
    if report.away:
        lines.append(rich("• Away now: {who}", who=", ".join(report.away)))
    return join(lines)


def _spread_records(section: str, key: str, prefix: str, spread: Spread) -> list[Record]:
    return [
        {"section": section, "key": key, "metric": f"{prefix}_count", "value": spread.count},
        {"section": section, "key": key, "metric": f"{prefix}_median_seconds", "value": spread.median},
        {"section": section, "key": key, "metric": f"{prefix}_p90_seconds", "value": spread.p90},
    ]


def records(report: ReportData) -> list[Record]:
    """Every number as (section, key, metric, value): one table a spreadsheet can pivot."""
    summary = "summary"
    out: list[Record] = [
        {"section": summary, "key": "", "metric": metric, "value": value}
        for metric, value in (
            ("texts_in", report.texts_in),
            ("texts_out", report.texts_out),
            ("replies", report.replies),
            ("delivered", report.delivered),
            ("new_conversations", report.new_conversations),
            ("reopened_conversations", report.reopened),
            ("team_started_conversations", report.team_started),
            ("unanswered", report.unanswered),
            ("opt_outs", report.opt_outs),
        )
    ]
    out += _spread_records(summary, "", "first_response", report.first_response)
    out += _spread_records(summary, "", "team_started_first_response", report.team_first_response)
    out += _spread_records(summary, "", "resolution", report.resolution)
    for row in report.agents:
        out += [
            {"section": "agent", "key": row.name, "metric": "conversations", "value": row.conversations},
            {"section": "agent", "key": row.name, "metric": "replies", "value": row.replies},
            {"section": "agent", "key": row.name, "metric": "median_first_response_seconds", "value": row.median_first_response},
            {"section": "agent", "key": row.name, "metric": "open_now", "value": row.open_now},
        ]
    out += [{"section": "backlog", "key": status, "metric": "conversations", "value": n} for status, n in sorted(report.backlog.items())]
    for failure in report.failures:
        out.append({"section": "failures", "key": failure.code, "metric": failure.reason, "value": failure.count})
    for day in report.daily:
        key = day.day.isoformat()
        out += [
            {"section": "daily", "key": key, "metric": "texts_in", "value": day.texts_in},
            {"section": "daily", "key": key, "metric": "texts_out", "value": day.texts_out},
        ]
        out += _spread_records("daily", key, "first_response", day.first_response)
    return out


def as_json(report: ReportData, label: str) -> dict[str, Any]:
    scope = report.scope

    def spread(s: Spread) -> dict[str, int | None]:
        return {"count": s.count, "median_seconds": s.median, "p90_seconds": s.p90}

    return {
        "period": {"label": label, "from": scope.since.isoformat(), "to": scope.until.isoformat(), "time_zone": str(scope.zone)},
        "texts": {"in": report.texts_in, "out": report.texts_out, "replies": report.replies, "delivered": report.delivered},
        "conversations": {
            "new": report.new_conversations, "reopened": report.reopened, "team_started": report.team_started,
            "unanswered": report.unanswered,
        },
        "first_response": spread(report.first_response),
        "team_started_first_response": spread(report.team_first_response),
        "resolution": spread(report.resolution),
        "agents": [
            {"name": a.name, "conversations": a.conversations, "replies": a.replies,
             "median_first_response_seconds": a.median_first_response, "open_now": a.open_now}
            for a in report.agents
        ],
        "backlog": dict(sorted(report.backlog.items())),
        "opt_outs": report.opt_outs,
        "sla_breaches": dict(sorted(report.sla_breaches.items())),
        "failures": [{"code": f.code, "reason": f.reason, "count": f.count} for f in report.failures],
        "daily": [
            {"day": d.day.isoformat(), "texts_in": d.texts_in, "texts_out": d.texts_out, "first_response": spread(d.first_response)}
            for d in report.daily
        ],
        "busiest_hours": {"rows": "Monday..Sunday", "columns": "hour 0..23", "inbound_texts": report.heat},
    }
