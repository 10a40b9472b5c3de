"""Benchmark: a batch's trend from a million stored process values.

The values are stored as the runtime stores them (``SqlBatchRecorder.process_values``: the
values and their 10 s rollups in one transaction).

One batch with 1,000,000 values (4 tags x 250,000, one a second each: a 69-hour batch) in
a freshly migrated database, SQLite and PostgreSQL. Measured, 20 times each:

* the downsampled trend the batch view asks for: every tag in 1,000 time buckets with
  min/max/mean/count (``services.history.history``) -> p50, p95 (goal p95 <= 200 ms);
* one tag alone in 1,000 buckets (the tag index);

against the in-run baseline: reading the raw values (``raw_values``, what a trend without
downsampling would read and send), median of 3.
"""

from __future__ import annotations

import random
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.database import add_batch, migrate, sqlite_url
from bench.progress import Progress
from bench.results import Goal, Row, median, percentile
from holon_testing.postgres import PgServer, throwaway_postgres
from mes_runtime.db.engine import create_engine, session_factory
from mes_runtime.ebr.journal import Journal
from mes_runtime.ebr.recorder import SqlBatchRecorder
from mes_runtime.kernel.events import ProcessSample
from mes_runtime.services.history import history, raw_values

__all__ = ["NAME", "TrendSize", "run"]

NAME = "trends"
BATCH = "B-TREND"
TAGS = (("BR-101", "Temperature", "degC"), ("BR-101", "pH", "pH"), ("BR-101", "DO", "%"),
        ("BR-101", "VCD", "1e6/mL"))  # fmt: skip
T0 = datetime(2026, 1, 1, tzinfo=UTC)
GOAL_P95_MS = 200.0
POINTS = 1000


@dataclass(frozen=True, slots=True)
class TrendSize:
    values: int
    repeats: int
    raw_repeats: int


FULL = TrendSize(values=1_000_000, repeats=20, raw_repeats=3)
QUICK = TrendSize(values=20_000, repeats=3, raw_repeats=1)


async def _fill(url: str, size: TrendSize, say: Progress) -> None:
    engine = create_engine(url)
    try:
        await add_batch(engine, BATCH)
        recorder = SqlBatchRecorder(engine, Journal(engine))  # as the runtime stores values
        rng = random.Random(15)
        per_tag = size.values // len(TAGS)
        chunk: list[ProcessSample] = []
        stored = 0
        for i in range(per_tag):
            ts = T0 + timedelta(seconds=i)
            for equipment, name, unit in TAGS:
                spike = 5.0 if rng.random() < 1e-4 else 0.0
                value = 37.0 + rng.gauss(0, 0.05) + spike
                chunk.append(ProcessSample(equipment, name, value, unit, ts))
            if len(chunk) >= 40_000 or i == per_tag - 1:
                await recorder.process_values(batch_id=BATCH, samples=chunk)
                stored += len(chunk)
                chunk = []
                if stored % 200_000 == 0:
                    say(f"stored {stored:,} values")
        if engine.dialect.name == "postgresql":
            async with engine.connect() as conn:
                await conn.exec_driver_sql("ANALYZE process_values, process_value_rollups")
                await conn.commit()
    finally:
        await engine.dispose()


async def _measure(label: str, url: str, size: TrendSize, say: Progress) -> list[Row]:
    engine = create_engine(url)
    sessions = session_factory(engine)
    all_ms: list[float] = []
    one_ms: list[float] = []
    raw_ms: list[float] = []
    buckets = raw = 0
    try:
        for _ in range(size.repeats):
            async with sessions() as session:
                started = time.perf_counter()
                found = await history(session, BATCH, points=POINTS)
                all_ms.append((time.perf_counter() - started) * 1000)
            assert found is not None
            buckets = sum(len(s.t) for s in found.series)
            async with sessions() as session:
                started = time.perf_counter()
                await history(session, BATCH, points=POINTS, tags=["BR-101.pH"])
                one_ms.append((time.perf_counter() - started) * 1000)
        say(f"{label}: trend p95 {percentile(all_ms, 95):.1f} ms ({buckets:,} buckets)")
        for _ in range(size.raw_repeats):
            async with sessions() as session:
                started = time.perf_counter()
                raw = len(await raw_values(session, BATCH))
                raw_ms.append((time.perf_counter() - started) * 1000)
        say(f"{label}: raw read median {median(raw_ms):.0f} ms ({raw:,} values)")
    finally:
        await engine.dispose()
    counts = {"values": raw, "buckets": buckets, "runs": size.repeats}
    baseline = median(raw_ms)
    label_raw = f"reading the {raw:,} raw values, median of {size.raw_repeats}"
    return [
        Row(
            NAME,
            f"{label}: {size.values:,} values -> {POINTS:,}-point trend x {len(TAGS)} tags, p95",
            percentile(all_ms, 95),
            "ms",
            goal=Goal(GOAL_P95_MS, higher_is_better=False),
            baseline=baseline,
            baseline_label=label_raw,
            counts=counts,
            note=f"p50 {median(all_ms):.1f} ms",
        ),
        Row(
            NAME,
            f"{label}: one tag, {POINTS:,} points, p95",
            percentile(one_ms, 95),
            "ms",
            baseline=baseline,
            baseline_label=label_raw,
            counts=counts,
            note=f"p50 {median(one_ms):.1f} ms",
        ),
    ]


async def run(*, quick: bool = False, progress: Progress | None = None) -> list[Row]:
    size = QUICK if quick else FULL
    say = progress or Progress(NAME, enabled=False)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="holon-bench-trends-") as tmp:
        url = sqlite_url(Path(tmp), "trends.db")
        await migrate(url)
        await _fill(url, size, say)
        rows += await _measure("SQLite", url, size, say)
    say("PostgreSQL: starting a throw-away server")
    with throwaway_postgres() as server:
        if not isinstance(server, PgServer):
            return [*rows, Row.skipped(NAME, "PostgreSQL trend", "ms", server)]
        url = server.create_database("bench_trends")
        await migrate(url)
        await _fill(url, size, say)
        rows += await _measure("PostgreSQL", url, size, say)
    return rows
