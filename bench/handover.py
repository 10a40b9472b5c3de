"""Benchmark: batches moving between two runtime replicas on PostgreSQL.

Two ``mes-runtime serve`` processes share a real PostgreSQL; the simulator (in this process)
runs the demo batch, fast until its cultivation phase runs, then at real time so the phase
stays in Execute while the batch is handed back and forth. Measured:

- *take-over gap after SIGTERM*: the owner is stopped gracefully (drain 0 s); it finishes
  its step, releases its leases and rings; the peer claims the batch. The gap is the time
  from the owner's release to the peer's claim, as the peer journals it (``batch.resume``
  ``gap_seconds``). Goal: p95 <= 1 s.
- *take-over gap after SIGKILL*: the owner dies; the peer claims the batch once the lease
  has expired. The gap is from the owner's last lease renewal (or write) to the claim.
  Goal: <= lease + 1 s, with the default lease of 5 s (renewed every second: a replica
  survives four missed renewals - a GC pause, a slow database - before it is replaced,
  while the equipment keeps running its services meanwhile, so 5 s costs no production).
- *command round trip through the non-owning replica*: Hold and Restart of the running
  phase, ``POST .../commands`` until its answer (the command travels through the database
  inbox to the owner and the answer back, LISTEN/NOTIFY rings both ways). Goal: p95 <=
  100 ms. Baseline, same run: the same commands sent to the owner directly, interleaved
  with them (and the medians of both, a steadier figure of what the inbox adds).

After each take-over the stopped replica is started again, so the next round hands the batch
the other way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench.progress import Progress
from bench.results import Goal, Row, Tolerance, percentile
from holon_testing.net import free_port
from holon_testing.postgres import throwaway_postgres
from holon_testing.replicas import (
    CULTIVATE,
    Runtime,
    create_batch,
    element,
    start_runtime,
    wait_until,
)
from holon_testing.simulator import running_simulator
from mes_runtime.db.engine import create_engine
from mes_runtime.db.migrate import upgrade
from mes_runtime.db.models import JournalEntry
from mes_runtime.demo import Demo

__all__ = ["NAME", "HandoverSize", "run"]

NAME = "handover"
LEASE_SECONDS = 5.0  # the runtime's default (HOLON_LEASE_SECONDS)
GOAL_SIGTERM_S = 1.0
GOAL_COMMAND_P95_MS = 100.0
#: A hand-over's gap is milliseconds the scheduler moves (p95 0.007-0.019 s from run to
#: run at load average < 3, bench/README.md): it regresses when it triples.
SIGTERM_GAP = Tolerance(worse_by=2.0)
FAST = 7200.0  # simulated seconds per second until the cultivation runs


@dataclass(frozen=True, slots=True)
class HandoverSize:
    rounds: int  # take-overs of each kind
    commands: int  # Hold+Restart pairs per path (owner, non-owner)


FULL = HandoverSize(rounds=5, commands=15)
QUICK = HandoverSize(rounds=1, commands=2)


@dataclass
class _Pair:
    """Two replicas; ``owner`` runs the batch now."""

    owner: Runtime
    other: Runtime
    env: dict[str, str]
    workdir: Path
    operator: dict[str, str]
    batch_id: str


async def _last_resume(db_url: str, batch_id: str) -> tuple[int, dict[str, Any]]:
    """The sequence number and value of the batch's latest ``batch.resume`` entry (0 if none)."""
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    select(JournalEntry.seq, JournalEntry.new_value)
                    .where(JournalEntry.batch_id == batch_id, JournalEntry.action == "batch.resume")
                    .order_by(JournalEntry.seq.desc())
                    .limit(1)
                )
            ).first()
    finally:
        await engine.dispose()
    if row is None:
        return 0, {}
    value: dict[str, Any] = json.loads(row.new_value)
    return int(row.seq), value


def _take_over(pair: _Pair, db_url: str, kill: signal.Signals, round_: int) -> float:
    """Stop the owner with ``kill``; the gap the peer journalled when it took over."""
    before, _ = asyncio.run(_last_resume(db_url, pair.batch_id))
    pair.owner.process.send_signal(kill)
    pair.owner.process.wait(timeout=120)
    pair.owner.http.close()
    seen: list[dict[str, Any]] = []

    def resumed() -> bool:
        seq, value = asyncio.run(_last_resume(db_url, pair.batch_id))
        seen[:] = [value]
        return seq > before

    wait_until(resumed, "the peer to take the batch over", timeout=120)
    name = f"{pair.owner.name}{round_}"
    restarted = start_runtime(name, pair.owner.port, pair.env, pair.workdir)
    pair.owner, pair.other = pair.other, restarted
    return float(seen[0]["gap_seconds"])


def _round_trips(pair: _Pair, cycles: int) -> dict[str, list[float]]:
    """Hold then Restart the running phase ``cycles`` times through each replica in turn,
    the owner (``direct``) then the other (``through``): interleaved, so that a busy moment
    of the machine weighs on both paths alike."""
    latencies: dict[str, list[float]] = {"direct": [], "through": []}
    for _ in range(cycles):
        for path, runtime in (("direct", pair.owner), ("through", pair.other)):
            for command, settled in (("hold", "held"), ("restart", "running")):
                started = time.perf_counter()
                response = runtime.command(pair.operator, pair.batch_id, command, CULTIVATE)
                latencies[path].append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise RuntimeError(f"{command} via {runtime.name}: {response.text}")
                _wait_for(pair, runtime, settled)
    return latencies


def _wait_for(pair: _Pair, runtime: Runtime, state: str) -> None:
    def reached() -> bool:
        return bool(
            element(runtime.batch(pair.operator, pair.batch_id), CULTIVATE)["state"] == state
        )

    wait_until(reached, f"{CULTIVATE} {state}")


def _measure(
    demo: Demo,
    manifests: dict[str, Path],
    db_url: str,
    size: HandoverSize,
    say: Progress,
    real_time: Callable[[], None],
) -> dict[str, list[float]]:
    env = {**demo.env, "HOLON_LEASE_SECONDS": str(LEASE_SECONDS)}
    a = start_runtime("a", demo.port, env, demo.workdir)
    b = start_runtime("b", free_port(), env, demo.workdir)
    pair: _Pair | None = None
    try:
        with contextlib.redirect_stdout(sys.stderr):  # the demo's steps: progress, not results
            people = demo.prepare(demo.create_admin(), manifests)
        operator = people["operator"]["headers"]
        batch_id = create_batch(a.http, operator, cultivation_hours=30)
        pair = _Pair(a, b, env, demo.workdir, operator, batch_id)
        wait_until(
            lambda: element(b.batch(operator, batch_id), CULTIVATE)["state"] == "running",
            "the cultivation to run",
            timeout=300,
        )
        real_time()  # the phase now lasts its 30 simulated hours: it stays in Execute
        say(f"command round trips: {size.commands} Hold+Restart pairs per path")
        trips = _round_trips(pair, size.commands)
        gaps: dict[str, list[float]] = {"SIGTERM": [], "SIGKILL": []}
        for round_ in range(size.rounds):
            for kill in (signal.SIGTERM, signal.SIGKILL):
                say(f"round {round_ + 1}/{size.rounds}: {kill.name} the owner")
                gaps[kill.name].append(_take_over(pair, db_url, kill, round_))
        return {**trips, **gaps}
    finally:
        for runtime in (pair.owner, pair.other) if pair else (a, b):
            runtime.stop()
        for runtime in (a, b):
            if runtime.process.poll() is None:
                runtime.stop()
        demo.http.close()


async def run(*, quick: bool = False, progress: Progress | None = None) -> list[Row]:
    size = QUICK if quick else FULL
    say = progress or Progress(NAME, enabled=False)
    with throwaway_postgres() as server:
        if isinstance(server, str):
            return [Row(NAME, "take-over and command round trip", None, "s", note=server)]
        db_url = server.create_database("handover")
        await asyncio.to_thread(upgrade, db_url)
        with tempfile.TemporaryDirectory(prefix="holon-handover-") as tmp:
            workdir = Path(tmp)
            say("starting the simulator and two replicas on PostgreSQL")
            async with running_simulator(time_factor=FAST, manifest_dir=workdir / "mtp") as sim:
                loop = asyncio.get_running_loop()

                def real_time() -> None:
                    loop.call_soon_threadsafe(setattr, sim.server, "time_factor", 1.0)

                demo = Demo(workdir=workdir, port=free_port(), time_factor=FAST)
                demo.env.update(
                    HOLON_DATABASE_URL=db_url, HOLON_DRAIN_SECONDS="0", HOLON_LOG_LEVEL="INFO"
                )
                measured = await asyncio.to_thread(
                    _measure, demo, dict(sim.manifest_paths), db_url, size, say, real_time
                )
    direct, through = measured["direct"], measured["through"]
    sigterm, sigkill = measured["SIGTERM"], measured["SIGKILL"]
    counts = {"commands": len(through)}
    return [
        Row(
            NAME,
            "command round trip through the non-owning replica, p95",
            percentile(through, 95) * 1000,
            "ms",
            goal=Goal(GOAL_COMMAND_P95_MS, higher_is_better=False),
            baseline=percentile(direct, 95) * 1000,
            baseline_label="the same commands sent to the owner, p95",
            counts=counts,
        ),
        Row(
            NAME,
            "command round trip through the non-owning replica, median",
            statistics.median(through) * 1000,
            "ms",
            baseline=statistics.median(direct) * 1000,
            baseline_label="the same commands sent to the owner, median",
            counts=counts,
        ),
        Row(
            NAME,
            "take-over gap after SIGTERM (hand-over), p95",
            percentile(sigterm, 95),
            "s",
            goal=Goal(GOAL_SIGTERM_S, higher_is_better=False),
            baseline=percentile(sigkill, 95),
            baseline_label=f"after SIGKILL (lease {LEASE_SECONDS:g} s), p95",
            counts={"take_overs": len(sigterm)},
            tolerance=SIGTERM_GAP,
        ),
        Row(
            NAME,
            f"take-over gap after SIGKILL (lease {LEASE_SECONDS:g} s), p95",
            percentile(sigkill, 95),
            "s",
            goal=Goal(LEASE_SECONDS + 1, higher_is_better=False),
            counts={"take_overs": len(sigkill)},
        ),
    ]
