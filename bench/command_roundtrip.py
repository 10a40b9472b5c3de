"""Benchmark 4: phase-command round trip over OPC UA on loopback.

From ``MtpEquipment.command`` (Hold, then Unhold, on BR-101's Cultivate service running a
400 h FedBatch, so it stays in Execute) until the module's new ``StateCur`` (Holding,
Unholding) arrives on the subscription events queue as ``ServiceStateChanged`` - what the
batch engine waits for. p50 and p95 over many commands; goal p95 <= 50 ms at the
runtime's defaults (service states on their own 10 ms subscription, process values at
50 ms); a 10 ms process-value interval is reported for comparison.

The simulator runs in this process with a 10 ms cycle (a typical PLC task time; its
default 50 ms tick would add up to 50 ms of pure simulator delay). Baseline (same run,
same session): a plain OPC UA read of one variable (``service_state``), p50 and p95.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from bench.progress import Progress
from bench.results import Goal, Row, percentile
from mes_runtime.engine.ports import EquipmentEvent, EquipmentPort, ServiceStateChanged
from mes_runtime.mtp.codes import ServiceCommand, ServiceState
from mes_runtime.mtp.equipment import MtpEquipment
from mes_runtime.simulator.server import SimulatorServer

__all__ = ["NAME", "CommandSize", "run"]

NAME = "command"
MODULE, SERVICE, PROCEDURE = "BR-101", "Cultivate", "FedBatch"
PARAMETERS = {
    "TemperatureSP": 37.0,
    "pHSP": 7.0,
    "DOSP": 40.0,
    "AgitatorSpeed": 150.0,
    "Duration": 400.0,  # hours of simulated time at time factor 1: stays in Execute
    "FeedRate": 1.0,
}
GOAL_P95_MS = 50.0
DEFAULT_PUBLISHING_MS = 50.0
STATE_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class CommandSize:
    cycles: int  # one cycle = Hold + Unhold (two round trips)
    reads: int
    publishing_intervals_ms: tuple[float, ...]


FULL = CommandSize(cycles=30, reads=200, publishing_intervals_ms=(DEFAULT_PUBLISHING_MS, 10.0))
QUICK = CommandSize(cycles=2, reads=10, publishing_intervals_ms=(DEFAULT_PUBLISHING_MS,))


class _StateWatch:
    """Follows the events queue; lets a caller wait for a given StateCur of the service."""

    def __init__(self, queue: asyncio.Queue[EquipmentEvent]) -> None:
        self._queue = queue
        self._seen: list[tuple[float, ServiceState]] = []
        self._changed = asyncio.Condition()
        self.other_events = 0

    async def follow(self) -> None:
        while True:
            event = await self._queue.get()
            if (
                isinstance(event, ServiceStateChanged)
                and event.equipment == MODULE
                and event.service == SERVICE
            ):
                async with self._changed:
                    self._seen.append((time.perf_counter(), event.state))
                    self._changed.notify_all()
            else:
                self.other_events += 1

    def mark(self) -> int:
        return len(self._seen)

    async def wait(self, state: ServiceState | tuple[ServiceState, ...], after: int) -> float:
        """perf_counter time at which ``state`` (or the first of several) arrived after
        ``after``."""
        wanted = state if isinstance(state, tuple) else (state,)
        try:
            return await asyncio.wait_for(self._wait(wanted, after), STATE_TIMEOUT_S)
        except TimeoutError:
            names = "/".join(s.name for s in wanted)
            raise TimeoutError(
                f"{MODULE}/{SERVICE} never reached {names}; seen {self.seen()[after:]}"
            ) from None

    async def _wait(self, wanted: tuple[ServiceState, ...], after: int) -> float:
        async with self._changed:
            while True:
                for stamp, seen in self._seen[after:]:
                    if seen in wanted:
                        return stamp
                await self._changed.wait()

    def seen(self) -> list[ServiceState]:
        return [state for _, state in self._seen]


async def _round_trip(
    equipment: EquipmentPort,
    watch: _StateWatch,
    command: ServiceCommand,
    state: ServiceState | tuple[ServiceState, ...],
) -> float:
    mark = watch.mark()
    started = time.perf_counter()
    await equipment.command(MODULE, SERVICE, command)
    return (await watch.wait(state, mark)) - started


async def hold_unhold(port: EquipmentPort, watch: _StateWatch) -> list[float]:
    """One cycle: Hold, wait for Held, Unhold, wait for Execute; the two round trips.

    A busy machine can coalesce a transient state (Holding lasts one simulator cycle) into
    the next one on the subscription: then the final state ends the round trip (a little
    later, never earlier, than the transient would have)."""
    holding = (ServiceState.HOLDING, ServiceState.HELD)
    hold = await _round_trip(port, watch, ServiceCommand.HOLD, holding)
    await watch.wait(ServiceState.HELD, watch.mark() - 1)
    unholding = (ServiceState.UNHOLDING, ServiceState.EXECUTE)
    unhold = await _round_trip(port, watch, ServiceCommand.UNHOLD, unholding)
    await watch.wait(ServiceState.EXECUTE, watch.mark() - 1)
    return [hold, unhold]


@asynccontextmanager
async def executing_session(
    sim: SimulatorServer, publishing_ms: float = DEFAULT_PUBLISHING_MS
) -> AsyncIterator[tuple[MtpEquipment, _StateWatch]]:
    """A fresh session to BR-101 whose Cultivate service is in Execute, and a watch of
    its states."""
    async with MtpEquipment(publishing_interval_ms=publishing_ms) as equipment:
        equipment.add_module(sim.manifest(MODULE))
        async with asyncio.timeout(60):
            await equipment.wait_connected(MODULE)
        watch = _StateWatch(equipment.events)
        follower = asyncio.create_task(watch.follow(), name="bench state watch")
        try:
            state = await equipment.service_state(MODULE, SERVICE)
            if state is not ServiceState.EXECUTE:
                mark = watch.mark()
                await equipment.start_procedure(MODULE, SERVICE, PROCEDURE, PARAMETERS)
                await watch.wait(ServiceState.EXECUTE, mark)
            yield equipment, watch
        finally:
            follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)


async def _measure(
    sim: SimulatorServer, publishing_ms: float, size: CommandSize, say: Progress
) -> tuple[list[float], list[float]]:
    """(command round trips, read round trips) in seconds, on one fresh session."""
    async with executing_session(sim, publishing_ms) as (equipment, watch):
        trips: list[float] = []
        for cycle in range(size.cycles):
            trips.extend(await hold_unhold(equipment, watch))
            if (cycle + 1) % 10 == 0:
                say(f"publishing {publishing_ms:g} ms: {cycle + 1}/{size.cycles} cycles")
        reads: list[float] = []
        for _ in range(size.reads):
            started = time.perf_counter()
            await equipment.service_state(MODULE, SERVICE)
            reads.append(time.perf_counter() - started)
    return trips, reads


async def run(*, quick: bool = False, progress: Progress | None = None) -> list[Row]:
    """Command round trip p50/p95 per publishing interval, against a plain read."""
    size = QUICK if quick else FULL
    say = progress or Progress(NAME, enabled=False)
    rows: list[Row] = []
    say("starting the simulator (BR-101, 10 ms cycle)")
    async with SimulatorServer(modules=(MODULE,), update_interval=0.01) as sim:
        for publishing_ms in size.publishing_intervals_ms:
            say(f"publishing interval {publishing_ms:g} ms: {size.cycles} Hold/Unhold cycles")
            trips, reads = await _measure(sim, publishing_ms, size, say)
            is_default = publishing_ms == DEFAULT_PUBLISHING_MS
            counts = {"round_trips": len(trips), "reads": len(reads)}
            label = "plain OPC UA read of StateCur (service_state), same session"
            for name, pct in (("p50", 50.0), ("p95", 95.0)):
                goal = (
                    Goal(GOAL_P95_MS, higher_is_better=False) if pct == 95 and is_default else None
                )
                rows.append(
                    Row(
                        NAME,
                        f"Hold/Unhold -> new StateCur {name}, values at {publishing_ms:g} ms"
                        + (" (defaults)" if is_default else ""),
                        percentile(trips, pct) * 1000,
                        "ms",
                        goal=goal,
                        baseline=percentile(reads, pct) * 1000,
                        baseline_label=label,
                        counts=counts,
                    )
                )
    return rows
