"""Wires the batch runtime into the web app: equipment, batch engine, batch service.

Lives outside both the engine (pure glue, no database or OPC UA) and the API (routes only):
this is the one place that knows which concrete edges the engine runs on. Registered
equipment is read from the database at start-up and supervised over OPC UA; equipment
imported later (``POST /api/v1/equipment``) is added live through :class:`EquipmentRegistry`.

Resume on start: before the app serves, every batch left running in the database (by this
runtime's previous process, killed or stopped) is claimed with a new fencing epoch, rebuilt
from its persisted execution state and reconciled with its equipment by the engine
(:meth:`BatchEngine.resume`); each module it uses gets a bounded wait to connect first.
At shutdown the leases are released.

Review by exception: every few seconds, batches that have ended are decided by the
auto-closure rules effective when they ended (once per batch, whichever replica is first).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mes_runtime.db.models import Equipment
from mes_runtime.domain.capabilities import Capabilities
from mes_runtime.domain.control_recipe import ControlRecipe
from mes_runtime.ebr.recorder import SqlBatchRecorder
from mes_runtime.engine.batch import BatchEngine
from mes_runtime.engine.plan import restore_tree
from mes_runtime.engine.ports import EquipmentPort
from mes_runtime.mtp.capabilities import capabilities_of
from mes_runtime.mtp.equipment import MtpEquipment
from mes_runtime.mtp.errors import EquipmentUnavailable
from mes_runtime.mtp.manifest import ModuleManifest, load_manifest
from mes_runtime.observability.metrics import MeteredEquipment, RuntimeMetrics
from mes_runtime.services.batches import BatchService
from mes_runtime.services.closure import ClosureRules, follow_batch_ends

__all__ = ["EquipmentRegistry", "batch_runtime"]

log = logging.getLogger(__name__)


class EquipmentRegistry:
    """The modules this runtime supervises and what each offers."""

    def __init__(self, equipment: MtpEquipment) -> None:
        self._equipment = equipment
        self._offers: dict[str, Capabilities] = {}

    def add(self, manifest: ModuleManifest) -> None:
        """Supervise a module (idempotent for a module already known)."""
        if manifest.name in self._offers:
            return
        self._equipment.add_module(manifest)
        self._offers[manifest.name] = capabilities_of(manifest)

    def is_connected(self, name: str) -> bool:
        """Whether this replica has a live session to module ``name`` now."""
        return name in self._offers and self._equipment.is_connected(name)

    def modules(self) -> dict[str, bool]:
        """Every supervised module and whether it is connected now."""
        return {n: self._equipment.is_connected(n) for n in list(self._offers)}

    def connected(self) -> dict[str, Capabilities]:
        """Offers of the modules with a live session now (what a new batch may bind)."""
        return {n: c for n, c in self._offers.items() if self._equipment.is_connected(n)}


# how often a replica looks for equipment another replica imported
REGISTRATION_SYNC_SECONDS = 5.0
# how long an ended batch waits, at most, for its auto-closure rules to decide
REVIEW_SYNC_SECONDS = 2.0
# how long a resuming batch waits for each of its modules to connect before its phases
# there are held (a Restart continues them once the module is back)
RESUME_CONNECT_SECONDS = 15.0


async def resume_batches(
    recorder: SqlBatchRecorder,
    engine: BatchEngine,
    equipment: MtpEquipment,
    *,
    connect_timeout: float = RESUME_CONNECT_SECONDS,
) -> list[str]:
    """Claim and resume every batch a previous process left running; returns their ids."""
    resumed = []
    for claimed in await recorder.claim_active():
        control = ControlRecipe.from_dict(claimed.control_recipe)
        tree = restore_tree(control, claimed.elements, claimed.graph)
        for name in sorted(set(tree.bindings.values())):
            try:
                async with asyncio.timeout(connect_timeout):
                    await equipment.wait_connected(name)
            except (TimeoutError, EquipmentUnavailable) as exc:  # the engine holds its phases
                log.warning("resuming %s: %s is not connected: %r", claimed.batch_id, name, exc)
        log.info(
            "resuming batch %s (epoch %d; previous owner %s, %.1f s ago)",
            claimed.batch_id,
            claimed.epoch,
            claimed.previous_owner,
            claimed.gap_seconds,
        )
        await engine.resume(
            tree,
            owner=recorder.owner,
            previous_owner=claimed.previous_owner,
            gap_seconds=claimed.gap_seconds,
            epoch=claimed.epoch,
        )
        resumed.append(claimed.batch_id)
    return resumed


async def _follow_registrations(
    sessions: async_sessionmaker[AsyncSession], registry: EquipmentRegistry, interval: float
) -> None:
    """Supervise equipment imported through another replica (they share the database):
    with two replicas behind a Service, an import reaches one of them only."""
    while True:
        await asyncio.sleep(interval)
        try:
            for manifest in await _registered(sessions):
                registry.add(manifest)
        except Exception as exc:  # a database hiccup: try again at the next interval
            log.warning("equipment registry sync failed: %s", exc)


async def _registered(sessions: async_sessionmaker[AsyncSession]) -> list[ModuleManifest]:
    async with sessions() as session:
        rows = (await session.execute(select(Equipment).order_by(Equipment.name))).scalars()
        manifests = []
        for row in rows:
            manifest = load_manifest(row.manifest)
            if row.endpoint and row.endpoint != manifest.endpoint:
                manifest = dataclasses.replace(manifest, endpoint=row.endpoint)
            manifests.append(manifest)
        return manifests


@asynccontextmanager
async def batch_runtime(app: FastAPI) -> AsyncIterator[None]:
    """Start equipment supervision and the batch engine for the app's lifetime."""
    equipment = MtpEquipment()
    registry = EquipmentRegistry(equipment)
    try:
        for manifest in await _registered(app.state.session_factory):
            registry.add(manifest)
    except Exception as exc:  # database not migrated yet: /readyz reports it
        log.warning("equipment registry not loaded: %s", exc)
    metrics: RuntimeMetrics | None = app.state.metrics
    port: EquipmentPort = equipment if metrics is None else MeteredEquipment(equipment, metrics)
    async with (
        equipment,
        BatchEngine(equipment=port, recorder=app.state.recorder) as engine,
    ):
        if metrics is not None:
            metrics.explain_paths(lambda batch, path: engine.tree(batch).by_path[path].kind)
            metrics.watch_equipment(registry.modules)
        app.state.equipment = equipment
        app.state.equipment_registry = registry
        app.state.batch_engine = engine
        app.state.batch_service = BatchService(
            engine=engine,
            recorder=app.state.recorder,
            sessions=app.state.session_factory,
            available=registry.connected,
        )
        try:
            await resume_batches(app.state.recorder, engine, equipment)
        except Exception as exc:  # database not ready (/readyz says so): nothing to resume
            log.warning("resuming running batches failed: %r", exc)
        follow = asyncio.create_task(
            _follow_registrations(app.state.session_factory, registry, REGISTRATION_SYNC_SECONDS),
            name="equipment registry sync",
        )
        review = asyncio.create_task(
            follow_batch_ends(
                ClosureRules(engine=app.state.engine, journal=app.state.journal),
                REVIEW_SYNC_SECONDS,
            ),
            name="closure rules at batch end",
        )
        try:
            yield
        finally:
            for task in (follow, review):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    try:
        await app.state.recorder.release()
    except Exception as exc:  # the next owner claims them anyway (a new epoch)
        log.warning("releasing batch leases failed: %s", exc)
