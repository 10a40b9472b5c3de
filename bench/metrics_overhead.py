"""Benchmark: what the runtime's Prometheus metrics cost, on and off in the same run.

The metrics are counted by decorators around the engine's ports
(``mes_runtime.observability.metrics``), so the cost sits exactly there:

* **ingestion**: ``process_values`` of synthetic samples (batches of 500) into a migrated
  SQLite file, through the plain ``SqlBatchRecorder`` (off) and through a recorder on a
  second engine of the same file whose statements are timed (``watch_database``), wrapped
  in ``MeteredRecorder`` (on); values/s, median of interleaved repetitions;
* **command round trip**: Hold/Unhold on the simulator's BR-101 over OPC UA on loopback,
  from the command until the new ``StateCur`` arrives (as ``bench.command``), through
  the plain ``MtpEquipment`` (off) and wrapped in ``MeteredEquipment`` (on), alternating
  on one session (ABBA order, so drift in the simulator favours neither); median.

The ``baseline`` column is "metrics off", the ratio is on / off: about 1.00x means the
metrics cost nothing measurable. No goal: the number is reported, not gated.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.command_roundtrip import MODULE, executing_session, hold_unhold
from bench.database import add_batch, migrate, sqlite_url
from bench.progress import Progress
from bench.results import Row, median
from mes_runtime.db.engine import create_engine
from mes_runtime.ebr.journal import Journal
from mes_runtime.ebr.recorder import SqlBatchRecorder
from mes_runtime.engine.ports import BatchRecorder, EquipmentPort, ProcessSample
from mes_runtime.observability.metrics import MeteredEquipment, MeteredRecorder, RuntimeMetrics
from mes_runtime.simulator.server import SimulatorServer

__all__ = ["NAME", "OverheadSize", "run"]

NAME = "metrics"
BATCH_ID = "bench-metrics"
INGEST_BATCH = 500


@dataclass(frozen=True, slots=True)
class OverheadSize:
    ingest_rows: int  # per repetition
    ingest_repeats: int  # per side (on, off)
    command_cycles: int  # per side; one cycle = Hold + Unhold


FULL = OverheadSize(ingest_rows=20_000, ingest_repeats=7, command_cycles=20)
QUICK = OverheadSize(ingest_rows=1_000, ingest_repeats=2, command_cycles=1)


async def _ingest_rate(recorder: BatchRecorder, rows: int) -> float:
    samples = [ProcessSample("BENCH", f"TAG{i % 500:03d}", float(i), "1") for i in range(rows)]
    started = time.perf_counter()
    for start in range(0, rows, INGEST_BATCH):
        await recorder.process_values(
            batch_id=BATCH_ID, samples=samples[start : start + INGEST_BATCH]
        )
    return rows / (time.perf_counter() - started)


async def _ingestion(size: OverheadSize, say: Progress) -> tuple[list[float], list[float], int]:
    """(rates off, rates on, values counted by the metrics)."""
    with tempfile.TemporaryDirectory(prefix="holon-bench-metrics-") as tmp:
        url = sqlite_url(Path(tmp))
        await migrate(url)
        engine = create_engine(url)
        timed = create_engine(url)  # the same file; its statements are timed (metrics on)
        try:
            await add_batch(engine, BATCH_ID)
            plain = SqlBatchRecorder(engine, Journal(engine))
            metrics = RuntimeMetrics()
            metrics.watch_database(timed)
            metered = MeteredRecorder(SqlBatchRecorder(timed, Journal(timed)), metrics)
            off: list[float] = []
            on: list[float] = []
            for repeat in range(size.ingest_repeats):
                order: list[tuple[list[float], BatchRecorder]] = [(off, plain), (on, metered)]
                for rates, recorder in order if repeat % 2 == 0 else reversed(order):
                    rates.append(await _ingest_rate(recorder, size.ingest_rows))
                say(f"ingestion {repeat + 1}/{size.ingest_repeats}")
            counted = metrics.registry.get_sample_value("holon_process_values_ingested_total")
            return off, on, int(counted or 0)
        finally:
            await timed.dispose()
            await engine.dispose()


async def _commands(size: OverheadSize, say: Progress) -> tuple[list[float], list[float], int]:
    """(round trips off, round trips on, commands counted by the metrics), seconds."""
    metrics = RuntimeMetrics()
    off: list[float] = []
    on: list[float] = []
    async with (
        SimulatorServer(modules=(MODULE,), update_interval=0.01) as sim,
        executing_session(sim) as (equipment, watch),
    ):
        metered = MeteredEquipment(equipment, metrics)
        for cycle in range(size.command_cycles):
            order: list[tuple[list[float], EquipmentPort]] = [(off, equipment), (on, metered)]
            for trips, port in order if cycle % 2 == 0 else reversed(order):
                trips.extend(await hold_unhold(port, watch))
            if (cycle + 1) % 5 == 0:
                say(f"commands {cycle + 1}/{size.command_cycles} cycles")
    counted = sum(
        int(
            metrics.registry.get_sample_value(
                "holon_equipment_commands_total", {"command": c, "result": "ok"}
            )
            or 0
        )
        for c in ("hold", "unhold")
    )
    return off, on, counted


async def run(*, quick: bool = False, progress: Progress | None = None) -> list[Row]:
    """Ingestion rate and command round trip, metrics on vs off (median, ratio)."""
    size = QUICK if quick else FULL
    say = progress or Progress(NAME, enabled=False)
    say(f"ingestion: {size.ingest_repeats} x {size.ingest_rows:,} values per side")
    rates_off, rates_on, values = await _ingestion(size, say)
    say(f"command round trip: {size.command_cycles} Hold/Unhold cycles per side")
    trips_off, trips_on, commands = await _commands(size, say)
    return [
        Row(
            NAME,
            f"ingestion with metrics on (batches of {INGEST_BATCH}), median",
            median(rates_on),
            "values/s",
            baseline=median(rates_off),
            baseline_label="the same, metrics off (plain recorder), interleaved in this run",
            counts={"values_on": len(rates_on) * size.ingest_rows, "values_counted": values},
        ),
        Row(
            NAME,
            "command round trip with metrics on, median",
            median(trips_on) * 1000,
            "ms",
            baseline=median(trips_off) * 1000,
            baseline_label="the same, metrics off (plain equipment port), alternating",
            counts={"round_trips_on": len(trips_on), "commands_counted": commands},
        ),
    ]
