"""Report charts as PNG bytes (matplotlib, Agg: no display needed), readable at the
~360 px a chat shows as a preview: few, large labels; the inbox's time zone in the title.

The chat adapters upload the bytes (Slack files_upload_v2, a Discord attachment); an
empty period has no charts.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import matplotlib

matplotlib.use("Agg")  # before pyplot: never a GUI backend in a server

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from bridge.inbox import report_queries
from bridge.inbox.chat import ChartUpload
from bridge.inbox.outbox import Job
from bridge.inbox.report_queries import ReportData, Scope

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

WIDTH_IN, HEIGHT_IN, DPI = 7.2, 4.5, 100  # 720 x 450 px: half size is Slack's preview
FONT: dict[RcKeyType, int] = {"font.size": 15, "axes.titlesize": 17, "axes.labelsize": 15, "xtick.labelsize": 14, "ytick.labelsize": 14}
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
IN_COLOUR, OUT_COLOUR, P50_COLOUR, P90_COLOUR = "#4C78A8", "#B3CDE3", "#E45756", "#F58518"


@dataclass(frozen=True)
class Chart:
    name: str  # a file name: busiest-times.png
    title: str
    png: bytes


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    plt.close(figure)
    return buffer.getvalue()


def _period(report: ReportData) -> str:
    scope = report.scope
    first, last = report.daily[0].day, report.daily[-1].day
    span = first.strftime("%b %-d") if first == last else f"{first.strftime('%b %-d')} – {last.strftime('%b %-d')}"
    return f"{span} · {scope.zone}"


def busiest_times(report: ReportData) -> Chart | None:
    """Hour of week × inbound texts, in the inbox's time zone."""
    if not report.texts_in:
        return None
    with plt.rc_context(FONT):
        figure, axes = plt.subplots(figsize=(WIDTH_IN, HEIGHT_IN), layout="constrained")
        # An hour without texts stays white: "quiet" reads differently from "a few".
        colours = matplotlib.colormaps["YlOrRd"].with_extremes(under="white")
        image = axes.imshow(report.heat, aspect="auto", cmap=colours, interpolation="nearest", vmin=0.5)
        axes.set_yticks(range(7), DAYS)
        axes.set_xticks(range(0, 24, 3), [f"{h:02d}" for h in range(0, 24, 3)])
        axes.set_xlabel("Hour of day")
        axes.set_title(f"Busiest times: customer texts\n{_period(report)}", loc="left")
        bar = figure.colorbar(image, ax=axes, pad=0.02, extend="neither")
        bar.set_label("Texts in")
        bar.locator = MaxNLocator(integer=True, nbins=5)
        bar.update_ticks()
        return Chart("busiest-times.png", "Busiest times", _png(figure))


def daily_volume(report: ReportData) -> Chart | None:
    """Texts in and out per day, with the first response's median and p90 (minutes)."""
    if not report.has_traffic:
        return None
    days = [day.day for day in report.daily]
    positions = range(len(days))
    with plt.rc_context(FONT):
        figure, volume = plt.subplots(figsize=(WIDTH_IN, HEIGHT_IN), layout="constrained")
        width = 0.4
        volume.bar([p - width / 2 for p in positions], [d.texts_in for d in report.daily], width, color=IN_COLOUR, label="Texts in")
        volume.bar([p + width / 2 for p in positions], [d.texts_out for d in report.daily], width, color=OUT_COLOUR, label="Texts out")
        volume.set_ylabel("Texts per day")
        volume.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
        step = max(1, len(days) // 7)
        volume.set_xticks(list(positions)[::step], [d.strftime("%b %-d") for d in days][::step])
        volume.set_xlim(-0.6, len(days) - 0.4)
        speed = volume.twinx()
        for attr, colour, label in (("median", P50_COLOUR, "First response p50"), ("p90", P90_COLOUR, "First response p90")):
            minutes = [getattr(d.first_response, attr) for d in report.daily]
            points = [(p, m / 60) for p, m in zip(positions, minutes, strict=True) if m is not None]
            if points:
                speed.plot(*zip(*points, strict=True), marker="o", linewidth=2.5, color=colour, label=label)
        speed.set_ylabel("First response (min)")
        speed.set_ylim(bottom=0, top=max([1.0, *speed.get_ylim()]) * 1.05)
        handles = volume.get_legend_handles_labels()[0] + speed.get_legend_handles_labels()[0]
        labels = volume.get_legend_handles_labels()[1] + speed.get_legend_handles_labels()[1]
        volume.legend(handles, labels, loc="upper left", fontsize=12, ncols=2, frameon=False)
        volume.set_ylim(top=max(1, max(max(d.texts_in, d.texts_out) for d in report.daily)) * 1.4)
        volume.set_title(f"Daily volume and first response\n{_period(report)}", loc="left")
        return Chart("daily-volume.png", "Daily volume and first response", _png(figure))


def charts(report: ReportData) -> list[Chart]:
    """The report's charts; none for a period without traffic."""
    return [chart for chart in (busiest_times(report), daily_volume(report)) if chart is not None]


async def draw(sessions: async_sessionmaker[AsyncSession], post: ChartUpload) -> list[Chart]:
    """The charts a `ChartUpload` asks for, drawn again from its fixed period."""
    scope = Scope(
        datetime.fromisoformat(post.since), datetime.fromisoformat(post.until), ZoneInfo(post.zone),
        inbox_id=post.inbox_id, agent_id=post.agent_id,
    )
    async with sessions() as session:
        report = await report_queries.build(session, scope, sessions=sessions)
    return charts(report)


def chart_file_name(job: Job, name: str) -> str:
    """`busiest-times.png` as uploaded by one job: a retry can recognise its own file.

    The creation time keeps it unique when a done job's id is reused (SQLite)."""
    stem, _, ext = name.rpartition(".")
    return f"{stem}-{job.created_at:%Y%m%d-%H%M%S}-{job.id}.{ext}"
