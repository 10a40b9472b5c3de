"""Benchmark: from batch end to a complete review view and batch report, on SQLite and on
PostgreSQL.

A finished batch of 10,000 journal entries and 1,000,000 process values (4 tags) is
written straight into a fresh database (SQLite, then a throw-away PostgreSQL) through the
journal and the recorder (:func:`holon_testing.batch_record.write_finished_batch`: set-up,
not timed). Then:

* batch end -> complete review view: the closure rules evaluate the batch (once: a batch
  is decided once) and the review view is read; one number;
* the review view alone (what QA's page asks for): median of repeats - the baseline;
* the report, each format: the record read from the journal and the database (every
  journal entry of the batch, process values aggregated into min/max envelopes by the
  database, the whole journal verified) and rendered - PDF, HTML, BatchML; medians.
  Goal: the PDF report <= 10 s.
"""

from __future__ import annotations

import functools
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bench.database import migrate, sqlite_url
from bench.progress import Progress
from bench.results import Goal, Row, median
from holon_testing.batch_record import write_finished_batch
from holon_testing.postgres import PgServer, throwaway_postgres
from mes_runtime.db.engine import create_engine
from mes_runtime.ebr.journal import Journal
from mes_runtime.services.release import BatchReleases
from mes_runtime.services.report import read_record, render_batchml, render_html, render_pdf

__all__ = ["NAME", "ReportSize", "run"]

NAME = "report"
GOAL_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class ReportSize:
    entries: int
    values: int
    repeats: int


FULL = ReportSize(entries=10_000, values=1_000_000, repeats=3)
QUICK = ReportSize(entries=300, values=20_000, repeats=2)


async def _timed(action: Callable[[], Awaitable[object]], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        await action()
        times.append(time.perf_counter() - started)
    return times


async def _measure(url: str, backend: str, size: ReportSize, say: Progress) -> list[Row]:
    await migrate(url)
    engine = create_engine(url)
    journal = Journal(engine)
    try:
        say(f"{backend}: writing a batch: {size.entries:,} entries, {size.values:,} values")
        batch = await write_finished_batch(
            engine, journal, entries=size.entries, values=size.values
        )
        releases = BatchReleases(engine=engine, journal=journal)
        say(f"{backend}: batch end -> rules evaluated -> review view")
        started = time.perf_counter()
        await releases.rules.evaluate_batch(batch.batch_id)
        view = await releases.view(batch.batch_id)
        to_view = time.perf_counter() - started
        view_times = await _timed(lambda: releases.view(batch.batch_id), size.repeats * 3)
        sizes: dict[str, int] = {}

        async def report(render: Callable[..., bytes | str], key: str) -> None:
            record = await read_record(engine, batch.batch_id)
            sizes[key] = len(render(record))
            sizes["record_entries"] = record.journal_entries
            sizes["record_values"] = sum(s.count for s in record.series)

        timings: dict[str, list[float]] = {}
        for key, render in (("pdf", render_pdf), ("html", render_html), ("xml", render_batchml)):
            say(f"{backend}: report {key}, {size.repeats} runs")
            timings[key] = await _timed(functools.partial(report, render, key), size.repeats)
            say(f"{backend}: report {key}: median {median(timings[key]):.2f} s")
    finally:
        await journal.close()
        await engine.dispose()
    baseline = median(view_times)
    label = "the review view alone (GET /api/v1/review/{batch}), median"
    counts = {
        "journal_entries": batch.journal_entries,
        "process_values": batch.process_values,
        "open_exceptions": len(view.open),
        **sizes,
    }
    scale = f"{size.entries:,} entries, {size.values:,} values, {backend}"
    rows = [
        Row(
            NAME,
            f"batch end -> rules evaluated -> complete review view ({scale})",
            to_view,
            "s",
            baseline=baseline,
            baseline_label=label,
            counts=counts,
        ),
        Row(
            NAME,
            f"batch report PDF: record from the journal, verified, rendered ({scale})",
            median(timings["pdf"]),
            "s",
            goal=Goal(GOAL_SECONDS, higher_is_better=False),
            baseline=baseline,
            baseline_label=label,
            counts=counts,
            note=f"{sizes.get('pdf', 0):,} bytes",
        ),
    ]
    for key, title in (("html", "HTML"), ("xml", "BatchML XML")):
        rows.append(
            Row(
                NAME,
                f"batch report {title} ({scale})",
                median(timings[key]),
                "s",
                baseline=baseline,
                baseline_label=label,
                counts=counts,
                note=f"{sizes.get(key, 0):,} bytes",
            )
        )
    return rows


async def run(*, quick: bool = False, progress: Progress | None = None) -> list[Row]:
    """The rows on SQLite, then on a throw-away PostgreSQL (skipped without its binaries)."""
    size = QUICK if quick else FULL
    say = progress or Progress(NAME, enabled=False)
    with tempfile.TemporaryDirectory(prefix="holon-bench-report-") as tmp:
        rows = await _measure(sqlite_url(Path(tmp)), "SQLite", size, say)
    say("PostgreSQL: starting a throw-away server")
    with throwaway_postgres() as server:
        if not isinstance(server, PgServer):
            say(f"skipped: {server}")
            return [*rows, Row.skipped(NAME, "batch report PDF, PostgreSQL", "s", server)]
        rows += await _measure(server.create_database("bench_report"), "PostgreSQL", size, say)
    return rows
