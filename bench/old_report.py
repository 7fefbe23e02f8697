"""The report smsbridge had before report_queries (kept only as bench/reports.py's baseline):
managers' numbers for a period: volume, speed of first response, delivery, by agent."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.inbox.markup import Rich, join, rich
from bridge.inbox.models import Agent, Conversation, Message, utcnow


@dataclass(frozen=True)
class Report:
    since: datetime
    new_conversations: int
    inbound: int
    replies: int
    delivered: int
    failed: int
    median_first_response: timedelta | None
    open_by_status: dict[str, int]
    replies_by_agent: list[tuple[str, int]]
    away: list[str]


async def build(session: AsyncSession, period: timedelta) -> Report:
    since = utcnow() - period
    new_conversations = await session.scalar(select(func.count()).where(Conversation.created_at >= since)) or 0
    counts = dict(
        (
            await session.execute(
                select(Message.direction, func.count()).where(Message.created_at >= since).group_by(Message.direction)
            )
        ).all()
    )
    replies_q = select(Message.status, func.count()).where(
        Message.created_at >= since, Message.direction == "out", Message.kind == "reply"
    ).group_by(Message.status)
    by_status = dict((await session.execute(replies_q)).all())
    firsts = (
        await session.execute(
            select(Conversation.created_at, Conversation.first_response_at).where(
                Conversation.created_at >= since, Conversation.first_response_at.is_not(None)
            )
        )
    ).all()
    waits = [(answered - opened).total_seconds() for opened, answered in firsts if answered is not None and answered >= opened]
    open_by_status = dict(
        (
            await session.execute(
                select(Conversation.status, func.count()).where(Conversation.status != "closed").group_by(Conversation.status)
            )
        ).all()
    )
    by_agent = (
        await session.execute(
            select(Message.author_name, func.count())
            .where(Message.created_at >= since, Message.direction == "out", Message.kind == "reply", Message.author_name.is_not(None))
            .where(Message.status.not_in(("draft", "held", "canceled", "blocked")))
            .group_by(Message.author_name)
            .order_by(func.count().desc())
        )
    ).all()
    away = (await session.execute(select(Agent.name).where(Agent.away.is_(True)).order_by(Agent.name))).scalars().all()
    sent_statuses = ("queued", "accepted", "sending", "sent", "delivered", "read", "undelivered", "failed", "submitting")
    return Report(
        since=since,
        new_conversations=int(new_conversations),
        inbound=int(counts.get("in", 0)),
        replies=sum(int(v) for k, v in by_status.items() if k in sent_statuses),
        delivered=int(by_status.get("delivered", 0)) + int(by_status.get("read", 0)),
        failed=int(by_status.get("failed", 0)) + int(by_status.get("undelivered", 0)),
        median_first_response=timedelta(seconds=statistics.median(waits)) if waits else None,
        open_by_status={str(k): int(v) for k, v in open_by_status.items()},
        replies_by_agent=[(str(name), int(n)) for name, n in by_agent],
        away=[str(name) for name in away],
    )


def parse_period(text: str) -> timedelta | None:
    """`24h`, `7d`, `30d`, `2w`; None when it is not a period."""
    text = (text or "7d").strip().lower()
    units = {"h": 3600, "d": 86400, "w": 7 * 86400}
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit():
        return None
    seconds = int(text[:-1]) * units[text[-1]]
    return timedelta(seconds=seconds) if 0 < seconds <= 366 * 86400 else None


def _duration(value: timedelta | None) -> str:
    if value is None:
        return "—"
    minutes = int(value.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def render_text(report: Report, label: str) -> Rich:
    rate = f"{report.delivered * 100 // report.replies}%" if report.replies else "—"
    open_now = ", ".join(f"{k} {v}" for k, v in sorted(report.open_by_status.items())) or "none"
    lines = [
        rich("**Report, last {label}**", label=label),
        rich(
            "• New conversations: {new} · customer texts: {inbound} · replies: {replies}",
            new=report.new_conversations, inbound=report.inbound, replies=report.replies,
        ),
        rich("• Median first response: {median}", median=_duration(report.median_first_response)),
        rich("• Delivered: {delivered} ({rate}) · failed: {failed}", delivered=report.delivered, rate=rate, failed=report.failed),
        rich("• Open now: {open_now}", open_now=open_now),
    ]
    if report.replies_by_agent:
        by_agent = ", ".join(f"{name} {n}" for name, n in report.replies_by_agent[:10])
        lines.append(rich("• Replies by agent: {by_agent}", by_agent=by_agent))
    if report.away:
        lines.append(rich("• Away now: {away}", away=", ".join(report.away)))
    return join(lines)
