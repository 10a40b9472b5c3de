"""Benchmark 3: journal verification rate (entries/s) on a large SQLite journal.

The journal (default 200,000 entries) is bulk-created: the chain is computed with the pure
chain functions and written with one ``executemany`` - building it through ``append``
would measure appends, not verification. Then ``verify_journal`` (the code behind the
API's verify endpoint: chunked reads overlapped with hashing) runs several times; goal
>= 100,000 entries/s, median.

Baseline (same run): the raw hashing rate of the same stored rows, in memory -
``sha256(encode_entry(row))``, the pure chain function and nothing else. The ratio is
the share of verification time that is hashing rather than reading and checking.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.database import migrate, sqlite_url
from bench.progress import Progress
from bench.results import Goal, Row, median
from mes_runtime.db.engine import create_engine
from mes_runtime.ebr.chain import GENESIS_HASH, encode_entry, encode_value, entry_hash, format_ts
from mes_runtime.ebr.journal import verify_journal

__all__ = ["NAME", "VerifySize", "build_entries", "run"]

NAME = "journal-verify"
GOAL_PER_S = 100_000.0

Entry = tuple[int, str, str, str, str, str | None, str | None, str | None, str | None, str, str]


@dataclass(frozen=True, slots=True)
class VerifySize:
    entries: int
    repeats: int


FULL = VerifySize(entries=200_000, repeats=5)
QUICK = VerifySize(entries=2_000, repeats=2)


def build_entries(count: int) -> list[Entry]:
    """A valid chain of ``count`` entries with realistic field sizes (pure)."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows: list[Entry] = []
    prev = GENESIS_HASH
    for seq in range(1, count + 1):
        ts = format_ts(start + timedelta(milliseconds=seq))
        subject = f"procedure/UP-{seq % 7}/operation-{seq % 5}/phase-{seq % 13}"
        old, new = encode_value("running"), encode_value({"state": "complete", "n": seq})
        batch_id = f"batch-{seq // 10_000:04d}"
        reason = None if seq % 10 else "operator confirmed"
        digest = entry_hash(
            seq=seq,
            ts=ts,
            actor="system",
            action="element.state",
            subject=subject,
            batch_id=batch_id,
            old_value=old,
            new_value=new,
            reason=reason,
            prev_hash=prev,
        )
        rows.append(
            (seq, ts, "system", "element.state", subject, batch_id, old, new, reason, prev, digest)
        )
        prev = digest
    return rows


def _store(path: Path, rows: list[Entry]) -> None:
    """One executemany in one transaction (synchronous sqlite3: this is set-up, not timed)."""
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO journal (seq, ts, actor, action, subject, batch_id, old_value, "
            "new_value, reason, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    conn.close()


def _hash_rate(rows: list[Entry]) -> float:
    sha256 = hashlib.sha256
    started = time.perf_counter()
    for row in rows:
        sha256(encode_entry(row[:10])).hexdigest()
    return len(rows) / (time.perf_counter() - started)


async def run(*, quick: bool = False, progress: Progress | None = None) -> list[Row]:
    """Verification rate of a bulk-created SQLite journal against raw hashing."""
    size = QUICK if quick else FULL
    say = progress or Progress(NAME, enabled=False)
    with tempfile.TemporaryDirectory(prefix="holon-bench-verify-") as tmp:
        path = Path(tmp) / "journal.db"
        url = sqlite_url(Path(tmp), path.name)
        await migrate(url)
        say(f"building a chain of {size.entries:,} entries")
        rows = await asyncio.to_thread(build_entries, size.entries)
        await asyncio.to_thread(_store, path, rows)
        say(f"baseline: raw hashing, {size.repeats} runs")
        baseline = median([_hash_rate(rows) for _ in range(size.repeats)])
        engine = create_engine(url)
        rates: list[float] = []
        cpu_rates: list[float] = []
        checked: list[int] = []
        ok = True
        try:
            for repeat in range(size.repeats):
                started, cpu_started = time.perf_counter(), time.process_time()
                result = await verify_journal(engine)
                elapsed = time.perf_counter() - started
                rates.append(result.entries_checked / elapsed)
                cpu_rates.append(result.entries_checked / (time.process_time() - cpu_started))
                checked.append(result.entries_checked)
                ok = ok and result.ok
                say(f"verify {repeat + 1}/{size.repeats}: {rates[-1]:,.0f} entries/s")
        finally:
            await engine.dispose()
    return [
        Row(
            NAME,
            f"verify_journal, SQLite, {size.entries:,} entries",
            median(rates),
            "entries/s",
            goal=Goal(GOAL_PER_S),
            baseline=baseline,
            baseline_label="sha256(encode_entry(row)) over the same rows in memory (pure)",
            counts={
                "entries": size.entries,
                "entries_checked_min": min(checked),
                "entries_checked_max": max(checked),
                "runs": len(rates),
                "chain_ok": int(ok),
            },
            note=(
                f"CPU-bound rate {median(cpu_rates):,.0f} entries per CPU second (reader thread "
                "included): what a machine with a free core would see"
                if ok
                else "VERIFICATION FAILED on a valid chain"
            ),
        )
    ]
