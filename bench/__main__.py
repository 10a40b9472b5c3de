"""``python -m bench [--quick] [--only NAME]``: run the benchmarks, print the goal table.

Benchmarks run one after another (never concurrently: they would measure each other) in
one event loop. Progress goes to stderr; the table goes to stdout at the end. The exit
code is 0 even when a goal is not met: a benchmark reports, it does not gate.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from types import FrameType

from bench.progress import Progress
from bench.results import Row, Verdict, format_table

__all__ = ["BENCHMARKS", "main", "run_benchmarks"]

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


async def run_benchmarks(
    names: list[str], *, quick: bool = False, show_progress: bool = True
) -> list[Row]:
    """Run the named benchmarks in order and return all their rows."""
    rows: list[Row] = []
    for name in names:
        progress = Progress(name, enabled=show_progress)
        progress("start" + (" (quick)" if quick else ""))
        rows.extend(await _runner(name)(quick=quick, progress=progress))
        progress("done")
    return rows


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
    return parser


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (``timeout``, CI) ends the run like Ctrl-C: the running benchmark is
    cancelled and its ``finally`` blocks stop simulators and PostgreSQL servers."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    names = [n for n in BENCHMARKS if n in (args.only or BENCHMARKS)]
    # asyncua warns about every revised subscription parameter and logs the tracebacks
    # of sessions it drops; the benchmark counts lost sessions itself.
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("asyncua").setLevel(logging.CRITICAL)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    try:
        rows = asyncio.run(run_benchmarks(names, quick=args.quick))
    except KeyboardInterrupt:
        print("interrupted: benchmark stopped, its processes cleaned up", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(format_table(rows))
    met = sum(1 for r in rows if r.verdict is Verdict.MET)
    goals = sum(1 for r in rows if r.verdict in {Verdict.MET, Verdict.NOT_MET})
    print(f"\n{met}/{goals} goals met; took {time.monotonic() - started:.0f} s")
    if args.quick:
        print("(--quick: smoke size, the numbers are not meaningful)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
