"""Percentiles computed by the database, with one definition on SQLite and PostgreSQL.

Definition (PostgreSQL's `percentile_cont`, linear interpolation): for the n values of a
group sorted ascending, x[1] <= ... <= x[n], the p-percentile is at position
h = 1 + (n - 1) * p; with k = floor(h), it is x[k] + (h - k) * (x[k+1] - x[k]) (x[k] when
h is whole). The median of 1, 2, 10, 20 is 6; its p90 is 17.

PostgreSQL runs `percentile_cont` itself. SQLite has no ordered-set aggregates: a group's
values are counted per distinct value, a window SUM gives their running totals, and x[k]
is the smallest value whose running total reaches k. Results are rounded to whole units,
so float noise cannot make the two databases disagree.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, Float, Integer, Select, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession


def round_half_up(value: float | None) -> int | None:
    return None if value is None else math.floor(value + 0.5)


async def grouped(
    session: AsyncSession, source: Select[tuple[Hashable, int]], fractions: Sequence[float]
) -> dict[Hashable, tuple[int, list[int | None]]]:
    """{group key: (count, [percentile for each fraction])} of `source`'s (key, value) rows.

    `source` selects exactly two labelled columns, `key` and `value`; NULL values are ignored.
    """
    rows = source.where(source.selected_columns.value.is_not(None)).subquery()
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    if dialect == "postgresql":
        columns: list[ColumnElement[Any]] = [func.percentile_cont(p).within_group(rows.c.value) for p in fractions]
        query = select(rows.c.key, func.count(), *columns).group_by(rows.c.key)
    else:
        # A histogram first (one row per distinct value, with its count), then running
        # totals over it: x[k] is the smallest value whose running total reaches k.
        # Sorting the distinct values costs less than ranking every row.
        # One window only (the running total, over unique (key, value) rows, so a ROWS
        # frame is exact and cheaper); each group's size comes from a plain GROUP BY on
        # the same histogram (a CTE read twice, which SQLite materialises once).
        histogram = select(rows.c.key, rows.c.value, func.count().label("c")).group_by(rows.c.key, rows.c.value).cte("histogram")
        sizes = select(histogram.c.key, func.sum(histogram.c.c).label("n")).group_by(histogram.c.key).subquery()
        running = (
            select(
                histogram.c.key,
                histogram.c.value,
                func.sum(histogram.c.c)
                .over(partition_by=histogram.c.key, order_by=histogram.c.value, rows=(None, 0))
                .label("total"),
                sizes.c.n,
            )
            .join(sizes, sizes.c.key.is_not_distinct_from(histogram.c.key))
            .subquery()
        )
        columns = []
        for p in fractions:
            position = (running.c.n - 1) * cast(p, Float)  # h - 1
            below = cast(position, Integer) + 1  # k (truncation is floor: position >= 0)
            weight = position - (below - 1)  # h - k
            at_k = func.min(case((running.c.total >= below, running.c.value)))
            after_k = func.coalesce(func.min(case((running.c.total >= below + 1, running.c.value))), at_k)
            columns.append(at_k + func.max(weight) * (after_k - at_k))
        query = select(running.c.key, func.max(running.c.n), *columns).group_by(running.c.key)
    result: dict[Hashable, tuple[int, list[int | None]]] = {}
    for key, count, *values in (await session.execute(query)).all():
        result[key] = (int(count), [round_half_up(float(v)) if v is not None else None for v in values])
    return result


def of_sorted(values: Sequence[int], fractions: Sequence[float]) -> list[int | None]:
    """The same percentiles, in Python, of values already sorted ascending (none NULL)."""
    return _interpolated(len(values), values.__getitem__, fractions)


def of_values(values: np.ndarray, fractions: Sequence[float]) -> list[int | None]:
    """The same percentiles of unsorted values (none NULL): NumPy partitions them around
    the positions the interpolation reads (each then holds the value a full sort would
    put there), which costs far less than sorting them."""
    count = len(values)
    if not count:
        return [None for _ in fractions]
    positions = sorted({min(int((count - 1) * p) + step, count - 1) for p in fractions for step in (0, 1)})
    ordered = np.partition(values, positions)
    return _interpolated(count, lambda i: int(ordered[i]), fractions)


def _interpolated(count: int, value_at: Callable[[int], int], fractions: Sequence[float]) -> list[int | None]:
    """Each fraction's percentile of `count` sorted values, `value_at(i)` the i-th (zero-based)."""
    if not count:
        return [None for _ in fractions]
    found: list[int | None] = []
    for p in fractions:
        position = (count - 1) * p  # h - 1
        below = int(position)  # k - 1, zero-based
        weight = position - below  # h - k
        at_k = value_at(below)
        after_k = value_at(below + 1) if below + 1 < count else at_k
        found.append(round_half_up(at_k + weight * (after_k - at_k)))
    return found
