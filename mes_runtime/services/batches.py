"""Creating and starting batches: master recipe (database) -> control recipe -> engine.

The one place where a batch comes into being. It enforces what a plant expects before a
batch may run: the master recipe version exists and is approved, it validates against the
equipment actually connected, every unit is bound to one module that offers what the unit
needs (explicitly, or automatically when exactly one module fits), and no module is
allocated to two running batches at once. The control recipe is persisted before the
engine starts it, so a batch record never exists without its recipe.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mes_runtime.db.models import Batch
from mes_runtime.db.models import MasterRecipe as RecipeRow
from mes_runtime.domain.capabilities import Capabilities
from mes_runtime.domain.control_recipe import ControlRecipe
from mes_runtime.domain.errors import RecipeError
from mes_runtime.domain.recipe import MasterRecipe
from mes_runtime.domain.states import Command, ElementState
from mes_runtime.domain.validation import validate_recipe
from mes_runtime.ebr.journal import Journal
from mes_runtime.ebr.recorder import FINAL_BATCH_STATES
from mes_runtime.ebr.unit_of_work import Entry, journalled
from mes_runtime.engine.batch import BatchEngine
from mes_runtime.engine.errors import CommandRejected, EngineError, UnknownBatch
from mes_runtime.engine.plan import build_tree
from mes_runtime.engine.ports import Fenced
from mes_runtime.kernel.clock import utcnow
from mes_runtime.services.commands import OwnerUnavailable

log = logging.getLogger(__name__)

__all__ = ["BatchRequestError", "BatchService", "NewBatch"]

_ALLOCATION_LOCK = 0x484F4C4F4E  # "HOLON": one advisory lock key for batch allocation


class BatchRequestError(EngineError):
    """A batch request that cannot be honoured; ``field`` names the offending input."""

    def __init__(
        self, field: str, message: str, *, conflict: bool = False, missing: bool = False
    ) -> None:
        super().__init__(message)
        self.field = field
        self.conflict = conflict
        self.missing = missing  # it names something that does not exist


@dataclass(frozen=True, slots=True)
class NewBatch:
    """What a person asks for when creating a batch."""

    recipe: str
    version: int | None = None  # None: the latest approved version
    bindings: Mapping[str, str] | None = None  # unit -> equipment; missing units auto-bind
    overrides: Mapping[str, float] | None = None  # formula parameter -> value
    start: bool = True


class BatchService:
    """Creates batches from approved master recipes and hands them to the engine."""

    def __init__(
        self,
        *,
        engine: BatchEngine,
        journal: Journal,
        sessions: async_sessionmaker[AsyncSession],
        available: Callable[[], Mapping[str, Capabilities]],
        may_own: Callable[[], str | None] = lambda: None,
    ) -> None:
        self._engine = engine
        self._journal = journal
        self._sessions = sessions
        self._available = available
        # None while this replica may own batches, else why not (the ownership grant names
        # the other colour): a batch it started would be owned by the wrong version
        self._may_own = may_own

    async def create(self, request: NewBatch, *, actor: str) -> str:
        """Persist a new batch (and start it unless asked not to); returns its id.

        The batch row and its ``batch.create`` entry commit together (one unit of work): a
        batch never exists without the entry that says who created it from what. The entry
        is appended straight to the journal, not through the recorder: a created batch has
        no owner yet (it is claimed when it starts), so there is no epoch to fence.
        """
        if request.start:
            self._check_may_own()
        async with self._sessions() as session:
            master = await self._master(session, request.recipe, request.version)
            available = dict(self._available())
            issues = validate_recipe(master, available=available)
            if issues:
                text = "; ".join(f"{i.path}: {i.message}" for i in issues)
                raise BatchRequestError("recipe", f"recipe does not fit the equipment: {text}")
            bindings = self._bind(master, request.bindings or {}, available)
            await _check_allocation(session, bindings, None)
        batch_id = _new_batch_id()
        try:
            control = ControlRecipe.from_master(
                master, batch_id=batch_id, bindings=bindings, overrides=request.overrides
            )
        except RecipeError as exc:
            raise BatchRequestError("overrides", str(exc)) from exc

        async def insert(session: AsyncSession) -> tuple[None, Entry]:
            session.add(
                Batch(
                    id=batch_id,
                    recipe_name=master.header.name,
                    recipe_version=master.header.version,
                    control_recipe=control.to_dict(),
                    bindings=dict(bindings),
                    state=ElementState.IDLE.value,
                    created_by=actor,
                    created_at=utcnow(),
                )
            )
            return None, Entry(
                batch_id=batch_id,
                actor=actor,
                action="batch.create",
                subject=batch_id,
                new_value={
                    "recipe": master.header.name,
                    "version": master.header.version,
                    "digest": control.master_digest,
                    "bindings": dict(bindings),
                    "overrides": dict(request.overrides or {}),
                },
            )

        await journalled(self._journal, insert)
        if request.start:
            await self.start(batch_id, actor=actor)
        return batch_id

    async def start(self, batch_id: str, *, actor: str, reason: str | None = None) -> None:
        """Start a created batch: load its control recipe and hand it to the engine."""
        self._check_may_own()
        if batch_id in self._engine.batch_ids():
            await self._engine.command(batch_id, "procedure", Command.START, actor=actor)
            return
        async with self._sessions() as session:
            row = await session.get(Batch, batch_id)
            if row is None:
                raise UnknownBatch(batch_id)
            if row.state != ElementState.IDLE.value:
                raise CommandRejected(f"batch {batch_id} is {row.state}; only an idle batch starts")
            control = ControlRecipe.from_dict(row.control_recipe)
            await _allocation_lock(session)
            await _check_allocation(
                session, {b.unit: b.equipment for b in control.bindings}, batch_id
            )
            row.started_at = utcnow()
            await session.commit()
        try:
            await self._engine.start_batch(build_tree(control), actor=actor, reason=reason)
        except Fenced:  # this replica's lease lapsed mid-start (a stalled process) and a
            # peer took the batch over: it continues from what was stored, so it started
            log.warning("batch %s was taken over by another runtime while starting", batch_id)

    def _check_may_own(self) -> None:
        refusal = self._may_own()
        if refusal is not None:
            raise OwnerUnavailable(refusal)

    async def _master(self, session: AsyncSession, name: str, version: int | None) -> MasterRecipe:
        query = select(RecipeRow).where(RecipeRow.name == name)
        if version is not None:
            query = query.where(RecipeRow.version == version)
        rows = (await session.execute(query.order_by(RecipeRow.version.desc()))).scalars().all()
        if not rows:
            what = f"{name!r} version {version}" if version is not None else repr(name)
            raise BatchRequestError("recipe", f"no master recipe {what}", missing=True)
        approved = [r for r in rows if r.status == "approved"]
        if not approved:
            raise BatchRequestError(
                "version" if version is not None else "recipe",
                f"master recipe {name!r} v{rows[0].version} is {rows[0].status}; "
                "QA must approve it before a batch can run",
                conflict=True,
            )
        return MasterRecipe.model_validate(approved[0].body)

    def _bind(
        self,
        master: MasterRecipe,
        requested: Mapping[str, str],
        available: Mapping[str, Capabilities],
    ) -> dict[str, str]:
        units = {r.unit for r in master.equipment}
        for unit in requested:
            if unit not in units:
                raise BatchRequestError(
                    f"bindings.{unit}", f"the recipe has no unit {unit!r} (units: {sorted(units)})"
                )
        bindings: dict[str, str] = {}
        for requirement in master.equipment:
            needed = (requirement.capabilities, requirement.process_values)
            chosen = requested.get(requirement.unit)
            if chosen is not None:
                offer = available.get(chosen)
                if offer is None:
                    raise BatchRequestError(
                        f"bindings.{requirement.unit}",
                        f"equipment {chosen!r} is not registered or not connected",
                    )
                if shortfalls := offer.shortfalls(*needed):
                    raise BatchRequestError(
                        f"bindings.{requirement.unit}",
                        f"{chosen} cannot serve unit {requirement.unit}: {'; '.join(shortfalls)}",
                    )
                bindings[requirement.unit] = chosen
                continue
            fits = sorted(name for name, offer in available.items() if offer.satisfies(*needed))
            if len(fits) != 1:
                why = "no registered equipment offers" if not fits else f"{fits} all offer"
                raise BatchRequestError(
                    f"bindings.{requirement.unit}",
                    f"{why} what unit {requirement.unit} needs; bind it explicitly",
                )
            bindings[requirement.unit] = fits[0]
        return bindings


async def _allocation_lock(session: AsyncSession) -> None:
    """Serialise batch starts across replicas (PostgreSQL; SQLite has one writer anyway)
    until the session's transaction ends, so two starts never allocate one module."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(_ALLOCATION_LOCK)))


async def _check_allocation(
    session: AsyncSession, bindings: Mapping[str, str], batch_id: str | None
) -> None:
    """ISA-88 arbitration: a module serves one running batch at a time - as the database
    knows it, so the answer is the same on every replica."""
    started = await session.execute(
        select(Batch.id, Batch.bindings).where(
            Batch.state.not_in(sorted(FINAL_BATCH_STATES)),
            (Batch.state != ElementState.IDLE.value) | Batch.started_at.is_not(None),
        )
    )
    wanted = set(bindings.values())
    for other, other_bindings in started.all():
        if other == batch_id:
            continue
        busy = set(dict(other_bindings).values()) & wanted
        if busy:
            raise BatchRequestError(
                "bindings",
                f"{', '.join(sorted(busy))} is allocated to running batch {other}",
                conflict=True,
            )


def _new_batch_id() -> str:
    return f"B{utcnow():%Y%m%d-%H%M%S}-{secrets.token_hex(2).upper()}"
