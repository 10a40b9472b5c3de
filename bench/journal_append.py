"""Benchmark 2: hash-chained journal appends per second, SQLite and PostgreSQL.

``Journal.append`` sequentially (one awaited at a time: the engine's usual pattern) and
concurrently (many tasks at once: the API and the engine together; the journal group-
commits them). Goal on SQLite: >= 2,000 appends/s; PostgreSQL is reported.

Each repetition is bounded by a time budget as well as a count (PostgreSQL on a loaded
machine can be two orders of magnitude slower than SQLite).

Baseline (same run, a second database of the same schema): plain SQLAlchemy ``INSERT``s of
the same rows, one row per transaction, no hashing and no chain head, with the same
concurrency. The ratio shows what chaining (and, concurrently, group commit) costs or
saves against the naive write.

After the runs the chain is verified, so a fast but broken journal cannot pass unnoticed.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.database import migrate, sqlite_url
from bench.progress import Progress
from bench.results import Goal, Row, median
from holon_testing.postgres import PgServer, throwaway_postgres
from mes_runtime.db.engine import create_engine
from mes_runtime.db.models import JournalEntry
from mes_runtime.ebr.chain import GENESIS_HASH, encode_value, format_ts
from mes_runtime.ebr.journal import Journal
from mes_runtime.kernel.clock import utcnow

__all__ = ["NAME", "AppendSize", "run"]

NAME = "journal-append"
GOAL_SQLITE_PER_S = 2_000.0
_JOURNAL = cast(Table, JournalEntry.__table__)


@dataclass(frozen=True, slots=True)
class AppendSize:
    """Each repetition writes ``appends`` entries or stops at ``budget_s`` seconds, whichever
    comes first (a slow back-end must not stretch ``make bench`` past its five minutes)."""

    appends: int
    repeats: int
    concurrency: int
    budget_s: float


FULL = AppendSize(appends=2_000, repeats=5, concurrency=50, budget_s=3.0)
QUICK = AppendSize(appends=40, repeats=2, concurrency=5, budget_s=3.0)

#: ``write(i)`` stores the i-th benchmark entry one way or another.
Write = Callable[[int], Awaitable[None]]


def _entry(i: int) -> dict[str, object]:
    """The content of the i-th benchmark entry (what the engine journals for a phase)."""
    return {
        "actor": "system",
        "action": "element.state",
        "subject": f"procedure/UP-{i % 7}/op/phase-{i % 13}",
        "batch_id": "bench-journal",
        "old_value": "running",
        "new_value": "complete",
        "reason": None,
    }


@dataclass
class _Counter:
    next: int = 0
    written: int = 0
    cpu_s: float = 0.0  # CPU time of this process while writing (the server's not included)

    def take(self) -> int:
        self.next += 1
        return self.next


async def _sequential(write: Write, size: AppendSize, counter: _Counter) -> int:
    deadline = time.perf_counter() + size.budget_s
    done = 0
    while done < size.appends and time.perf_counter() < deadline:
        await write(counter.take())
        done += 1
    return done


async def _concurrent(write: Write, size: AppendSize, counter: _Counter) -> int:
    deadline = time.perf_counter() + size.budget_s
    done = 0

    async def task() -> None:
        nonlocal done
        while done < size.appends and time.perf_counter() < deadline:
            done += 1  # claimed before the await: the tasks never overshoot ``appends``
            await write(counter.take())

    await asyncio.gather(*(task() for _ in range(size.concurrency)))
    return done


Pattern = Callable[[Write, AppendSize, _Counter], Awaitable[int]]


async def _timed(write: Write, size: AppendSize, counter: _Counter, pattern: Pattern) -> float:
    """Median rate (per second) over ``size.repeats`` runs of ``pattern``."""
    rates: list[float] = []
    for _ in range(size.repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        done = await pattern(write, size, counter)
        rates.append(done / (time.perf_counter() - started))
        counter.written += done
        counter.cpu_s += time.process_time() - cpu_started
    return median(rates)


async def _journal_rates(
    engine: AsyncEngine, size: AppendSize
) -> tuple[float, float, _Counter, int, bool]:
    """(sequential/s, concurrent/s, what was written, entries verified, chain ok)."""
    journal = Journal(engine)
    await journal.start()
    counter = _Counter()

    async def write(i: int) -> None:
        await journal.append(**_entry(i))  # type: ignore[arg-type]

    try:
        seq_rate = await _timed(write, size, counter, _sequential)
        conc_rate = await _timed(write, size, counter, _concurrent)
        result = await journal.verify()
    finally:
        await journal.close()
    return seq_rate, conc_rate, counter, result.entries_checked, result.ok


async def _plain_rates(engine: AsyncEngine, size: AppendSize) -> tuple[float, float]:
    """(sequential/s, concurrent/s) of plain one-row INSERT transactions, no hashing."""
    stmt = insert(_JOURNAL)
    counter = _Counter()

    async def write(i: int) -> None:
        row = dict(_entry(i))
        row["old_value"] = encode_value(row["old_value"])
        row["new_value"] = encode_value(row["new_value"])
        row.update(seq=i, ts=format_ts(utcnow()), prev_hash=GENESIS_HASH, hash=GENESIS_HASH)
        async with engine.begin() as conn:
            await conn.execute(stmt, row)

    return (
        await _timed(write, size, counter, _sequential),
        await _timed(write, size, counter, _concurrent),
    )


async def _backend(
    backend: str, urls: tuple[str, str], size: AppendSize, goal: Goal | None, say: Progress
) -> list[Row]:
    journal_url, plain_url = urls
    for url in urls:
        await migrate(url)
    engine, plain_engine = create_engine(journal_url), create_engine(plain_url)
    try:
        say(f"{backend}: {size.repeats} x {size.appends} appends, sequential then concurrent")
        seq_rate, conc_rate, written, checked, ok = await _journal_rates(engine, size)
        say(f"{backend}: baseline, plain INSERTs")
        plain_seq, plain_conc = await _plain_rates(plain_engine, size)
    finally:
        await engine.dispose()
        await plain_engine.dispose()
    counts = {
        "appends": written.written,
        "cpu_ms": round(written.cpu_s * 1000),
        "entries_verified": checked,
        "chain_ok": int(ok),
        "concurrency": size.concurrency,
    }
    label = "plain SQLAlchemy INSERT of the same rows, one per transaction, no hashing"
    cpu_us = written.cpu_s * 1e6 / max(1, written.written)
    note = (
        f"runtime CPU {cpu_us:,.0f} us per append over both patterns (database server not included)"
        if ok
        else "CHAIN VERIFICATION FAILED"
    )
    return [
        Row(
            NAME,
            f"{backend}, sequential",
            seq_rate,
            "appends/s",
            goal,
            plain_seq,
            f"{label}, sequential",
            counts,
            note,
        ),
        Row(
            NAME,
            f"{backend}, {size.concurrency} concurrent tasks",
            conc_rate,
            "appends/s",
            goal,
            plain_conc,
            f"{label}, {size.concurrency} concurrent tasks",
            counts,
            note,
        ),
    ]


async def run(*, quick: bool = False, progress: Progress | None = None) -> list[Row]:
    """Journal append rates on SQLite (goal) and PostgreSQL (reported, or skipped)."""
    size = QUICK if quick else FULL
    say = progress or Progress(NAME, enabled=False)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="holon-bench-journal-") as tmp:
        urls = (sqlite_url(Path(tmp), "journal.db"), sqlite_url(Path(tmp), "plain.db"))
        rows += await _backend("SQLite", urls, size, Goal(GOAL_SQLITE_PER_S), say)
    say("PostgreSQL: starting a throw-away server")
    with throwaway_postgres() as server:
        if not isinstance(server, PgServer):
            say(f"skipped: {server}")
            for metric in ("sequential", f"{size.concurrency} concurrent tasks"):
                rows.append(Row.skipped(NAME, f"PostgreSQL, {metric}", "appends/s", server))
            return rows
        urls = (server.create_database("bench_journal"), server.create_database("bench_plain"))
        rows += await _backend("PostgreSQL", urls, size, None, say)
    return rows
