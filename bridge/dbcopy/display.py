"""What `smsbridge db copy` shows: a progress bar while copying, then the counts."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Self

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from bridge.dbcopy.copier import TableCount


class RichProgress:
    """One bar over all rows, labelled with the table being copied (on stderr)."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description:<18}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> Self:
        return self  # the bar appears once the copy starts, not while connecting

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._progress.stop()

    def start(self, totals: Sequence[tuple[str, int]]) -> None:
        self._task = self._progress.add_task("rows", total=sum(count for _, count in totals))
        self._progress.start()

    def advance(self, table: str, rows: int) -> None:
        if self._task is not None:
            self._progress.update(self._task, advance=rows, description=table)


def counts_table(counts: Sequence[TableCount]) -> Table:
    table = Table(title="Rows per table")
    table.add_column("table")
    table.add_column("source", justify="right")
    table.add_column("target", justify="right")
    table.add_column("")
    for count in counts:
        table.add_row(count.table, str(count.source), str(count.target), "ok" if count.matches else "DIFFERS")
    return table
