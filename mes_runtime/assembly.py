"""Wires the batch runtime into the web app: equipment, batch engine, batch service.

Lives outside both the engine (pure glue, no database or OPC UA) and the API (routes only):
this is the one place that knows which concrete edges the engine runs on. Registered
equipment is read from the database at start-up and supervised over OPC UA; equipment
imported later (``POST /api/v1/equipment``) is added live through :class:`EquipmentRegistry`.

Batches outlive this process: :class:`~mes_runtime.services.ownership.BatchOwnership` keeps
the leases of the batches it runs, takes over those whose owner died or handed them over
(resumed from their persisted state, reconciled with their equipment), and applies the
commands other replicas queued for them; :class:`~mes_runtime.services.commands.
BatchCommands` sends a command to wherever its batch runs. At shutdown (SIGTERM: the drain)
the replica first waits, bounded by HOLON_SAFE_POINT_WAIT_SECONDS, for a safe point of the
batches it owns (:func:`_safe_point_at_drain`: the drain lasts until then, the batches run on
and take commands, no non-interruptible phase starts); then the engine finishes its step,
and the leases are released so that a peer takes over at once.

QMS hand-off (when ``HOLON_QMS_URL`` is set): exceptions are written with their outbox
event (:func:`qms_outbox`), and a relay delivers them while the app runs (:func:`qms_relay`).

Review by exception: every few seconds, batches that have ended are decided by the
auto-closure rules effective when they ended (once per batch, whichever replica is first).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mes_runtime.db.doorbell import Doorbell
from mes_runtime.db.models import Equipment
from mes_runtime.domain.capabilities import Capabilities
from mes_runtime.ebr.inbox import CommandInbox
from mes_runtime.ebr.outbox import QmsOutbox, QmsPolicy
from mes_runtime.ebr.recorder import SqlBatchRecorder
from mes_runtime.engine.batch import BatchEngine
from mes_runtime.engine.ports import EquipmentPort
from mes_runtime.kernel.tasks import cancel_and_wait
from mes_runtime.mtp.capabilities import capabilities_of
from mes_runtime.mtp.equipment import MtpEquipment
from mes_runtime.mtp.manifest import ModuleManifest, load_manifest
from mes_runtime.observability.metrics import MeteredEquipment, RuntimeMetrics
from mes_runtime.services.batches import BatchService
from mes_runtime.services.closure import ClosureRules, follow_batch_ends
from mes_runtime.services.commands import BatchCommands
from mes_runtime.services.live import LiveEvents, stored_view
from mes_runtime.services.owner_grant import read_grant
from mes_runtime.services.ownership import RESUME_CONNECT_SECONDS, BatchOwnership
from mes_runtime.services.qms import QmsRelay, WebhookTarget
from mes_runtime.services.safe_point import SafePoint, safe_point
from mes_runtime.settings import Settings

__all__ = ["EquipmentRegistry", "batch_runtime", "qms_outbox", "qms_relay"]

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

    def connection_problem(self, name: str) -> str:
        """Why module ``name`` is not connected now, naming missing nodes ("" if it is)."""
        return self._equipment.connection_problem(name) if name in self._offers else ""

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


async def _follow_registrations(
    sessions: async_sessionmaker[AsyncSession], registry: EquipmentRegistry, interval: float
) -> None:
    """Supervise equipment imported through another replica (they share the database):
    with two replicas behind a Service, an import reaches one of them only."""
    while True:
        await asyncio.sleep(interval)
        try:
            await _load_registrations(sessions, registry)
        except Exception as exc:  # a database hiccup: try again at the next interval
            log.warning("equipment registry sync failed: %s", exc)


async def _load_registrations(
    sessions: async_sessionmaker[AsyncSession], registry: EquipmentRegistry
) -> None:
    for manifest in await _registered(sessions):
        registry.add(manifest)


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
    metrics: RuntimeMetrics | None = app.state.metrics
    equipment = MtpEquipment(lag=None if metrics is None else metrics.sample_lag)
    registry = EquipmentRegistry(equipment)
    try:
        await _load_registrations(app.state.session_factory, registry)
    except Exception as exc:  # database not migrated yet: /readyz reports it
        log.warning("equipment registry not loaded: %s", exc)
    port: EquipmentPort = equipment if metrics is None else MeteredEquipment(equipment, metrics)
    settings: Settings = app.state.settings
    records: SqlBatchRecorder = app.state.batch_records
    bell: Doorbell = app.state.doorbell
    async with (
        equipment,
        BatchEngine(
            equipment=port,
            recorder=app.state.recorder,
            hand_over_pending=lambda: ownership.hand_over_pending,  # set below, before any batch
        ) as engine,
    ):
        if metrics is not None:
            metrics.explain_paths(lambda batch, path: engine.tree(batch).by_path[path].kind)
            metrics.watch_equipment(registry.modules)
        app.state.equipment = equipment
        app.state.equipment_registry = registry
        app.state.batch_engine = engine
        app.state.batch_service = BatchService(
            engine=engine,
            journal=app.state.journal,
            sessions=app.state.session_factory,
            available=registry.connected,
            may_own=lambda: ownership.may_own(),
        )
        inbox = CommandInbox(app.state.engine)
        app.state.batch_commands = BatchCommands(
            engine=engine,
            inbox=inbox,
            bell=bell,
            sessions=app.state.session_factory,
            wait_seconds=2 * settings.lease_seconds + RESUME_CONNECT_SECONDS,
        )
        ownership = BatchOwnership(
            recorder=records,
            engine=engine,
            equipment=equipment,
            inbox=inbox,
            bell=bell,
            lease_seconds=settings.lease_seconds,
            single_process=app.state.engine.dialect.name == "sqlite",
            may_claim=lambda: not app.state.drain.draining,
            know_equipment=lambda: _load_registrations(app.state.session_factory, registry),
            colour=settings.colour,
            read_grant=lambda: read_grant(app.state.engine),
            handed_over=None if metrics is None else metrics.batches_released,
            stopping=lambda: app.state.drain.draining,
        )
        follow = asyncio.create_task(
            _follow_registrations(app.state.session_factory, registry, REGISTRATION_SYNC_SECONDS),
            name="equipment registry sync",
        )
        review = asyncio.create_task(
            follow_batch_ends(
                ClosureRules(
                    engine=app.state.engine,
                    journal=app.state.journal,
                    outbox=app.state.qms_outbox,
                ),
                REVIEW_SYNC_SECONDS,
            ),
            name="closure rules at batch end",
        )
        live = LiveEvents(
            sessions=app.state.session_factory,
            bell=bell,
            view=lambda session, batch_id: stored_view(session, engine, batch_id),
        )
        app.state.live_events = live
        app.state.batch_ownership = ownership  # /readyz: whether it can own batches

        async def read_safe_point(batch_ids: Collection[str]) -> SafePoint:
            async with app.state.session_factory() as session:
                return await safe_point(session, batch_ids)

        drain = app.state.drain  # set by the server's signal handler (mes_runtime.api.drain)
        gate = asyncio.create_task(
            _safe_point_at_drain(
                drain.began,
                lambda: bool(drain.hurried),
                ownership,
                read_safe_point,
                app,
                settings,
            ),
            name="safe point before the hand-over",
        )
        drain.hold_until(gate.done)
        try:
            async with ownership, live:
                yield
        finally:
            await cancel_and_wait([follow, review, gate])
    try:  # the engine has finished its last step: peers take over now
        await ownership.hand_over()
    except Exception as exc:  # the next owner claims them anyway, once the leases expire
        log.warning("releasing batch leases failed: %s", exc)


async def _safe_point_at_drain(
    began: Callable[[], Awaitable[None]],
    hurried: Callable[[], bool],
    ownership: BatchOwnership,
    read: Callable[[Collection[str]], Awaitable[SafePoint]],
    app: FastAPI,
    settings: Settings,
) -> None:
    """Once the drain begins, wait for a safe point of the batches this replica owns
    (the drain is held until this returns; the hand-over follows the drain)."""
    await began()
    await ownership.until_safe(
        read,
        seconds=settings.safe_point_wait_seconds,
        hurried=hurried,
        journal=app.state.journal,
    )


def qms_outbox(engine: AsyncEngine, settings: Settings) -> QmsOutbox | None:
    """The outbox every exception is written with, when the QMS hand-off is configured."""
    if not settings.qms_url:
        return None
    policy = QmsPolicy(
        source=settings.qms_source,
        categories=frozenset(settings.qms_categories),
        severities=frozenset(settings.qms_severities),
    )
    return QmsOutbox(engine, policy)


@asynccontextmanager
async def qms_relay(
    outbox: QmsOutbox | None, settings: Settings, *, owner: str
) -> AsyncIterator[None]:
    """Deliver the outbox's events to the QMS while the app runs (nothing without one)."""
    if outbox is None or settings.qms_secret is None:
        yield
        return
    target = WebhookTarget(
        url=settings.qms_url,
        secret=settings.qms_secret.get_secret_value().encode(),
        ca_bundle=settings.qms_ca_bundle,
        timeout_seconds=settings.qms_timeout_seconds,
        retry_initial_seconds=settings.qms_retry_initial_seconds,
        retry_max_seconds=settings.qms_retry_max_seconds,
    )
    relay = QmsRelay(outbox=outbox, target=target, owner=owner, single_process=settings.is_sqlite)
    task = asyncio.create_task(relay.run(), name="QMS relay")
    try:
        yield
    finally:
        relay.stop()  # the attempt in flight finishes (bounded by its timeout), then it ends
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(task, target.timeout_seconds + 5)
