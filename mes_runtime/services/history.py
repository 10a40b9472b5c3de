"""Process-value history of a batch for trends: downsampled in the database, spikes kept.

A trend of a long batch has far more values than pixels (a million values, a 1,000-pixel
plot). The database groups them into ``points`` equal time buckets per tag and returns each
bucket's **min and max** (plus mean and count): drawing a vertical line from min to max per
bucket shows every spike a raw plot would show at that width, at a fraction of the bytes.
Buckets without values are left out (a gap in the trend, not a fake zero).

Where a bucket is at least :data:`~mes_runtime.db.models.ROLLUP_SECONDS` wide, the buckets
are built from the rollups (min, max, sum, count per tag and 10 s, stored with the values):
a million values over 69 hours are 100,000 rollup rows. Narrower buckets (a range of under
``points`` x 10 s) read the values themselves through ``(batch_id, equipment, name, ts)``.

Also here, for the trend's background: each phase's state intervals (from the journal's
``element.state`` entries) and each phase's monitor limits (from the control recipe).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Float, Integer, Select, and_, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from mes_runtime.db.models import (
    ROLLUP_SECONDS,
    Batch,
    JournalEntry,
    ProcessValue,
    ProcessValueRollup,
)
from mes_runtime.domain.control_recipe import ControlRecipe

__all__ = ["MAX_POINTS", "History", "Series", "history", "phase_timeline", "raw_values"]

#: Buckets per tag a caller may ask for (a 4K screen's width, twice).
MAX_POINTS = 8000


@dataclass(frozen=True, slots=True)
class Series:
    """One tag's buckets: parallel lists (compact JSON), times in epoch seconds (UTC)."""

    tag: str
    unit: str
    t: list[float]
    min: list[float]
    max: list[float]
    mean: list[float]
    count: list[int]


@dataclass(frozen=True, slots=True)
class History:
    start: datetime
    end: datetime
    bucket_seconds: float
    series: list[Series]


def _epoch(dialect: str) -> ColumnElement[float]:
    """Seconds since 1970 of ``process_values.ts`` (SQLite stores UTC text)."""
    if dialect == "sqlite":
        return (func.julianday(ProcessValue.ts) - 2440587.5) * 86400.0
    return cast(func.extract("epoch", ProcessValue.ts), Float)


def _tag_filter(
    tags: list[str] | None, table: type[ProcessValue] | type[ProcessValueRollup] = ProcessValue
) -> ColumnElement[bool] | None:
    if not tags:
        return None
    pairs = [tag.split(".", 1) for tag in tags if "." in tag]
    return or_(*(and_(table.equipment == e, table.name == n) for e, n in pairs))


def _from_values(
    dialect: str,
    batch_id: str,
    start: datetime,
    end: datetime,
    width: float,
    tags: list[str] | None,
) -> Select[*tuple[Any, ...]]:
    epoch = _epoch(dialect)
    bucket = cast(func.floor((epoch - start.timestamp()) / width), Integer).label("bucket")
    where = [ProcessValue.batch_id == batch_id, ProcessValue.ts >= start, ProcessValue.ts <= end]
    if (only := _tag_filter(tags)) is not None:
        where.append(only)
    return (
        select(
            ProcessValue.equipment,
            ProcessValue.name,
            bucket,
            func.min(ProcessValue.value),
            func.max(ProcessValue.value),
            func.sum(ProcessValue.value),
            func.count(),
            func.max(ProcessValue.unit),
        )
        .where(*where)
        .group_by(ProcessValue.equipment, ProcessValue.name, bucket)
        .order_by(ProcessValue.equipment, ProcessValue.name, bucket)
    )


def _from_rollups(
    batch_id: str, start: datetime, end: datetime, width: float, tags: list[str] | None
) -> Select[*tuple[Any, ...]]:
    r = ProcessValueRollup
    first = int(start.timestamp()) // ROLLUP_SECONDS * ROLLUP_SECONDS
    bucket = cast(func.floor((r.bucket - start.timestamp()) / width), Integer).label("bucket")
    where = [r.batch_id == batch_id, r.bucket >= first, r.bucket <= end.timestamp()]
    if (only := _tag_filter(tags, r)) is not None:
        where.append(only)
    return (
        select(
            r.equipment,
            r.name,
            bucket,
            func.min(r.vmin),
            func.max(r.vmax),
            func.sum(r.vsum),
            func.sum(r.n),
            func.max(r.unit),
        )
        .where(*where)
        .group_by(r.equipment, r.name, bucket)
        .order_by(r.equipment, r.name, bucket)
    )


async def _range(session: AsyncSession, batch_id: str) -> tuple[datetime, datetime] | None:
    """The first and last value's time: two index look-ups on ``(batch_id, ts)`` (one query
    with both ``min`` and ``max`` reads every row of the batch on SQLite)."""
    found: list[datetime] = []
    for order in (ProcessValue.ts, ProcessValue.ts.desc()):
        ts = await session.scalar(
            select(ProcessValue.ts)
            .where(ProcessValue.batch_id == batch_id)
            .order_by(order)
            .limit(1)
        )
        if ts is None:
            return None
        found.append(ts)
    return found[0], found[1]


async def history(
    session: AsyncSession,
    batch_id: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    points: int = 1000,
    tags: list[str] | None = None,
) -> History | None:
    """The batch's values between ``start`` and ``end`` (default: all of them) in ``points``
    buckets per tag; None if the batch has no values there."""
    if start is None or end is None:
        stored = await _range(session, batch_id)
        if stored is None:
            return None
        start, end = start or stored[0], end or stored[1]
    span = max((end - start).total_seconds(), 1e-3)
    points = max(1, min(points, MAX_POINTS))
    width = span / points
    query = (
        _from_rollups(batch_id, start, end, width, tags)
        if width >= ROLLUP_SECONDS
        else _from_values(session.get_bind().dialect.name, batch_id, start, end, width, tags)
    )
    series: dict[str, Series] = {}
    base = start.timestamp()
    for equipment, name, index, low, high, total, count, unit in (
        await session.execute(query)
    ).all():
        tag = f"{equipment}.{name}"
        s = series.get(tag)
        if s is None:
            s = series[tag] = Series(tag, unit, [], [], [], [], [])
        t = round(base + (min(max(index, 0), points - 1) + 0.5) * width, 3)
        if s.t and s.t[-1] == t:  # the value at ``end`` itself: into the last bucket
            n = s.count[-1] + int(count)
            s.mean[-1] = (s.mean[-1] * s.count[-1] + float(total)) / n
            s.min[-1], s.max[-1], s.count[-1] = min(s.min[-1], low), max(s.max[-1], high), n
            continue
        s.t.append(t)
        s.min.append(low)
        s.max.append(high)
        s.mean.append(float(total) / int(count))
        s.count.append(int(count))
    return History(start=start, end=end, bucket_seconds=width, series=list(series.values()))


async def raw_values(
    session: AsyncSession, batch_id: str, *, tags: list[str] | None = None
) -> list[tuple[str, str, float, datetime]]:
    """Every value of the batch, in time order (what a trend without downsampling reads;
    the benchmark's baseline)."""
    query = select(
        ProcessValue.equipment, ProcessValue.name, ProcessValue.value, ProcessValue.ts
    ).where(ProcessValue.batch_id == batch_id)
    if (only := _tag_filter(tags)) is not None:
        query = query.where(only)
    rows = (await session.execute(query.order_by(ProcessValue.ts))).all()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


async def phase_timeline(session: AsyncSession, batch_id: str) -> dict[str, Any] | None:
    """Each phase's state changes (time, state) and its monitor limits per tag."""
    row = await session.get(Batch, batch_id)
    if row is None:
        return None
    recipe = ControlRecipe.from_dict(row.control_recipe)
    phases = {p.path: p for p in recipe.phases()}
    entries = (
        await session.execute(
            select(JournalEntry.ts, JournalEntry.subject, JournalEntry.new_value)
            .where(JournalEntry.batch_id == batch_id, JournalEntry.action == "element.state")
            .order_by(JournalEntry.seq)
        )
    ).all()
    changes: dict[str, list[tuple[str, str]]] = {path: [] for path in phases}
    for ts, subject, new_value in entries:
        if subject in changes and new_value:
            state = json.loads(new_value)
            changes[subject].append((ts, state if isinstance(state, str) else str(state)))
    return {
        "phases": [
            {
                "path": path,
                "name": phase.id,
                "unit": phase.unit,
                "equipment": phase.equipment,
                "changes": [{"ts": ts, "state": state} for ts, state in changes[path]],
                "limits": [
                    {
                        "tag": f"{phase.equipment}.{limit.name}",
                        "low": limit.low,
                        "high": limit.high,
                        "criticality": str(limit.criticality),
                    }
                    for limit in phase.monitor
                ],
            }
            for path, phase in phases.items()
        ]
    }
