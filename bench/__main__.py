"""``python -m bench [--quick] [--only NAME] [--record]``: run the benchmarks, print the
goal table with each row's recorded figure and its change, and fail on a regression.

Benchmarks run one after another (never concurrently: they would measure each other) in
one event loop. Progress goes to stderr; the table and the summary go to stdout at the
end. The exit code is 1 when a row misses its goal or is worse than its figure in
``bench/recorded.json`` by more than its tolerance (``bench.compare``), 0 otherwise and
always for ``--quick`` (smoke sizes gate nothing). ``--record`` writes this run's
measured rows into the recorded file (the figures the user accepts; rows not run keep
theirs), after which ``python -m bench.readme`` regenerates the README's table.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import importlib
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from bench import recorded
from bench.compare import compare, comparison_columns, format_summary, judge
from bench.progress import Progress
from bench.results import Row, Verdict, format_table

__all__ = ["BENCHMARKS", "BenchmarkRun", "main", "run_benchmarks"]

#: name -> (module, what it measures); each module has ``run(*, quick, progress)``.
BENCHMARKS: dict[str, tuple[str, str]] = {
    "ingest": ("bench.ingest", "OPC UA process values -> batch storage, values/s and lag"),
    "journal-append": ("bench.journal_append", "hash-chained journal appends/s"),
    "journal-verify": ("bench.journal_verify", "journal verification, entries/s"),
    "manifest-import": (
        "bench.manifest_import",
        "vendor MTP manifest import (>= 150 items, >= 10 services) vs the XML parse alone",
    ),
    "command": ("bench.command_roundtrip", "phase command round trip on loopback"),
    "review-rules": (
        "bench.review_rules",
        "review by exception: auto-closure decisions/s, out-of-trend points/s",
    ),
    "qms-outbox": (
        "bench.qms_outbox",
        "QMS hand-off: events/s delivered through the outbox vs direct signed POSTs",
    ),
    "report": (
        "bench.report",
        "batch end -> review view and batch report (PDF, HTML, BatchML), 10k entries, 1M values",
    ),
    "login-load": ("bench.login_load", "/healthz latency while clients hammer the login"),
    "handover": (
        "bench.handover",
        "two replicas on PostgreSQL: take-over gaps, command round trip via the non-owner",
    ),
    "metrics": ("bench.metrics_overhead", "ingestion and command round trip, metrics on vs off"),
    "trends": (
        "bench.trends",
        "1M process values -> 1,000-point downsampled trend (p95) vs reading them raw",
    ),
    "live": ("bench.live_fanout", "server-sent events: clients x events/s delivered, latency"),
    "evidence": (
        "bench.evidence",
        "an install's IQ evidence package generated and signed (goal <= 5 s)",
    ),
    "operator": (
        "bench.operator",
        "operator on the test cluster: apply->Ready, 500 modules, RSS, Equipment verify",
    ),
    "upgrade": (
        "bench.upgrade",
        "one-replica upgrade on the real node, idle and with a running batch, failed requests",
    ),
}

Runner = Callable[..., Awaitable[list[Row]]]


def _runner(name: str) -> Runner:
    module = importlib.import_module(BENCHMARKS[name][0])
    run: Runner = module.run
    return run


@dataclass(frozen=True, slots=True)
class BenchmarkRun:
    """One benchmark's rows and how busy the machine was (the 1-minute load average as it
    finished, None where the platform has none): a figure is read against its load."""

    name: str
    rows: list[Row]
    load_average: float | None


def _load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def describe_machine(cores: int | None, load_average: float | None) -> str:
    """``"2 cores, load average 2.3"``: what the recorded file keeps beside each figure."""
    load = "unknown" if load_average is None else f"{load_average:.1f}"
    return f"{cores or '?'} cores, load average {load}"


async def run_benchmarks(
    names: list[str], *, quick: bool = False, show_progress: bool = True
) -> list[BenchmarkRun]:
    """Run the named benchmarks in order and return each one's rows."""
    runs: list[BenchmarkRun] = []
    for name in names:
        progress = Progress(name, enabled=show_progress)
        progress("start" + (" (quick)" if quick else ""))
        rows = await _runner(name)(quick=quick, progress=progress)
        runs.append(BenchmarkRun(name, rows, _load_average()))
        progress("done")
    return runs


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Holon runtime benchmarks: medians, ratios to an in-run baseline, goals.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke size: seconds, numbers meaningless"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(BENCHMARKS),
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument(
        "--record",
        action="store_true",
        help="accept this run: write its measured rows into the recorded file (rows not "
        "run keep theirs); then `python -m bench.readme` regenerates the README's table",
    )
    parser.add_argument(
        "--recorded",
        type=Path,
        default=recorded.RECORDED_PATH,
        metavar="PATH",
        help="the recorded figures compared with (default: bench/recorded.json)",
    )
    return parser


def _shown(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (``timeout``, CI) ends the run like Ctrl-C: the running benchmark is
    cancelled and its ``finally`` blocks stop simulators and PostgreSQL servers."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.quick and args.record:
        parser.error("--record needs a full run: --quick numbers are not meaningful")
    names = [n for n in BENCHMARKS if n in (args.only or BENCHMARKS)]
    shown = _shown(args.recorded)
    # read (and validate) the recorded figures before minutes of benchmarks, not after
    try:
        accepted = [] if args.quick else recorded.load(args.recorded)
    except ValueError as error:
        print(f"python -m bench: {error}", file=sys.stderr)
        return 2
    # asyncua warns about every revised subscription parameter and logs the tracebacks
    # of sessions it drops; the benchmark counts lost sessions itself.
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("asyncua").setLevel(logging.CRITICAL)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    try:
        runs = asyncio.run(run_benchmarks(names, quick=args.quick))
    except KeyboardInterrupt:
        print("interrupted: benchmark stopped, its processes cleaned up", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    rows = [row for run in runs for row in run.rows]
    comparisons = [] if args.quick else compare(rows, accepted)
    outcome = judge(rows, comparisons, quick=args.quick, recording=args.record)
    print(format_table(rows, None if args.quick else comparison_columns(comparisons)))
    met = sum(1 for r in rows if r.verdict is Verdict.MET)
    goals = sum(1 for r in rows if r.verdict in {Verdict.MET, Verdict.NOT_MET})
    print(f"\n{met}/{goals} goals met; took {time.monotonic() - started:.0f} s")
    loads = [run.load_average for run in runs if run.load_average is not None]
    if loads:
        print(f"load average as each benchmark finished: {min(loads):.1f} to {max(loads):.1f}")
    print(format_summary(outcome, comparisons, shown))
    if args.record:
        cores = os.cpu_count()
        machine = {run.name: describe_machine(cores, run.load_average) for run in runs}
        today = datetime.datetime.now(datetime.UTC).date().isoformat()
        measured = recorded.from_rows(rows, date=today, machine=machine)
        recorded.save(recorded.merge(accepted, measured, list(BENCHMARKS)), args.recorded)
        print(
            f"recorded {len(measured)} row(s) into {shown}; regenerate the README's table "
            "with `python -m bench.readme`"
        )
    return outcome.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
