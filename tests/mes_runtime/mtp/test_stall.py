"""A module that answers late is not a lost module: a stall shorter than the request
timeout keeps the connection (and the batch's phases running); a longer one is a loss.

The equipment is the simulator in a process of its own, stalled for real with SIGSTOP
(every socket stays open, nothing answers) - what a busy PLC or a loaded CI machine does.
asyncua's own connection watchdog probed the server with a timeout of the supervisor's
check interval (0.5 s): a half-second stall counted as a lost connection, and the engine
held the running phase (the CI's take-over tests failed that way).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from holon_testing.simulator_process import SimulatedModule, simulated_module
from mes_runtime.engine.ports import ConnectionLost, EquipmentEvent
from mes_runtime.mtp.equipment import MtpEquipment

MODULE = "TK-201"
REQUEST_TIMEOUT = 3.0  # the runtime's default is 4 s; the same rule, a shorter test


@pytest.fixture
def tank(tmp_path: Path) -> Iterator[tuple[SimulatedModule, int]]:
    with simulated_module(MODULE, ("string",), tmp_path) as modules:
        module = modules["string"]
        yield module, _pid_listening_on(module.endpoint)


def _pid_listening_on(endpoint: str) -> int:
    """The simulator subprocess serving ``endpoint`` (the child of this test process)."""
    port = endpoint.rsplit(":", 1)[1]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text().split()
        except OSError:
            continue
        if b"simulate" in cmdline and int(stat[3]) == os.getpid() and MODULE.encode() in cmdline:
            return int(entry.name)
    raise AssertionError(f"no simulator process serving port {port}")


async def _stalled(pid: int, seconds: float) -> None:
    os.kill(pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(seconds)
    finally:
        os.kill(pid, signal.SIGCONT)


def _losses(events: list[EquipmentEvent]) -> list[ConnectionLost]:
    return [e for e in events if isinstance(e, ConnectionLost)]


async def _collect(port: MtpEquipment, seconds: float) -> list[EquipmentEvent]:
    events: list[EquipmentEvent] = []
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while (left := until - loop.time()) > 0:
        try:
            async with asyncio.timeout(left):
                events.append(await port.events.get())
        except TimeoutError:
            break
    return events


async def test_a_stall_shorter_than_the_request_timeout_is_not_a_lost_connection(
    tank: tuple[SimulatedModule, int],
) -> None:
    module, pid = tank
    port = MtpEquipment(reconnect_delay=0.2, request_timeout=REQUEST_TIMEOUT)  # default checks
    port.add_module(module.manifest)
    async with port:
        async with asyncio.timeout(30):
            await port.wait_connected(MODULE)
        await _collect(port, 0.5)  # the first values after connecting
        # stalled for 1.2 s (the old limit was 0.5 s), three times: no loss, still connected
        for _ in range(3):
            stall = asyncio.create_task(_stalled(pid, 1.2))
            events = await _collect(port, 2.5)
            await stall
            assert not _losses(events), _losses(events)
            assert port.is_connected(MODULE)
        # a stall past the request timeout is a loss, and the module comes back after it
        stall = asyncio.create_task(_stalled(pid, REQUEST_TIMEOUT + 5))
        events = await _collect(port, REQUEST_TIMEOUT + 4)
        await stall
        assert _losses(events), f"silent past the request timeout, not lost: {events[-3:]}"
        async with asyncio.timeout(30):
            await port.wait_connected(MODULE)
