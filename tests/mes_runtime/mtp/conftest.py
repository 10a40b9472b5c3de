"""A real simulator (BR-101 string layout, CH-301 numeric layout) and an MtpEquipment
connected to it over OPC UA TCP, shared by the tests of a module (servers take seconds)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest_asyncio

from holon_testing.simulator import RunningSimulator, running_simulator
from mes_runtime.engine.ports import EquipmentEvent
from mes_runtime.mtp.equipment import MtpEquipment

EventPredicate = Callable[[EquipmentEvent], bool]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sim() -> AsyncIterator[RunningSimulator]:
    async with running_simulator(
        modules=("BR-101", "CH-301"),
        time_factor=3600.0,
        layout={"BR-101": "string", "CH-301": "numeric"},
    ) as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def equipment(sim: RunningSimulator) -> AsyncIterator[MtpEquipment]:
    port = MtpEquipment(reconnect_delay=0.1, check_interval=0.1, request_timeout=3.0)
    for manifest in sim.manifests.values():
        port.add_module(manifest)
    async with port:
        async with asyncio.timeout(15):
            await port.wait_connected()
        yield port


async def next_event(
    equipment: MtpEquipment, predicate: EventPredicate, within: float = 15.0
) -> EquipmentEvent:
    """The next event matching ``predicate`` (others are skipped)."""
    async with asyncio.timeout(within):
        while True:
            event = await equipment.events.get()
            if predicate(event):
                return event


def drain(equipment: MtpEquipment) -> None:
    while not equipment.events.empty():
        equipment.events.get_nowait()
