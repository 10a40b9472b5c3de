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
from mes_runtime.domain.states import ElementState
from mes_runtime.engine.batch import BatchEngine
from mes_runtime.kernel.clock import utcnow
from mes_runtime.library import load_template
from mes_runtime.mtp.equipment import MtpEquipment
from mes_runtime.services.batches import BatchService, NewBatch

__all__ = ["connected_plant", "cultivating", "store_approved"]


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


async def cultivating(
    sim: Any, batch_engine: BatchEngine, service: BatchService, *, recipe: str, path: str
) -> tuple[str, Any]:
    """A new batch of ``recipe`` run (fast) until its phase at ``path`` runs, then the
    simulator at real time so that phase stays in Execute: (batch id, the phase's node).
    The caller bounds the wait (``asyncio.timeout``)."""
    batch_id = await service.create(
        NewBatch(recipe=recipe, overrides={"CultDuration": 30}), actor="op"
    )
    phase = batch_engine.tree(batch_id).by_path[path]
    while phase.state is not ElementState.RUNNING:  # noqa: ASYNC110 - the engine's own view
        await asyncio.sleep(0.02)
    sim.server.time_factor = 1.0
    return batch_id, phase
