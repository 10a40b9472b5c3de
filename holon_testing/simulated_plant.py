"""A plant for engine tests on a real database and real OPC UA: the demo recipe stored
approved, and equipment connected to every module of a running simulator.

The write-fault tests (a database connection killed at chosen statements) build their
engine and recorder themselves - the fault is attached to the engine - and take the rest
from here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from holon_testing.simulator import running_simulator
from mes_runtime.assembly import EquipmentRegistry
from mes_runtime.db.models import MasterRecipe
from mes_runtime.kernel.clock import utcnow
from mes_runtime.library import load_template
from mes_runtime.mtp.equipment import MtpEquipment

__all__ = ["connected_plant", "store_approved"]


async def store_approved(sessions: Callable[[], Any], template: str) -> None:
    """The library template ``template`` as an approved master recipe."""
    recipe = load_template(template)
    async with sessions() as session:
        session.add(
            MasterRecipe(
                name=recipe.header.name, version=recipe.header.version, status="approved",
                body=recipe.to_canonical_data(), digest=recipe.digest(),
                created_at=utcnow(), approved_by="qa", approved_at=utcnow(),
            )
        )  # fmt: skip
        await session.commit()


@asynccontextmanager
async def connected_plant(
    *, time_factor: float
) -> AsyncIterator[tuple[Any, MtpEquipment, EquipmentRegistry]]:
    """A running simulator, and equipment connected to all its modules: (simulator,
    equipment, registry)."""
    async with (
        running_simulator(time_factor=time_factor) as sim,
        MtpEquipment(reconnect_delay=0.3) as equipment,
    ):
        registry = EquipmentRegistry(equipment)
        for manifest in sim.manifests.values():
            registry.add(manifest)
        async with asyncio.timeout(30):
            await equipment.wait_connected()
        yield sim, equipment, registry
