"""Whether a hand-over may happen now: the safe point an upgrade's switch waits for.

A batch may move to another replica at (almost) any moment - ownership and take-over
(:mod:`mes_runtime.services.ownership`) make that safe. A recipe can still ask that it does
not happen while a given phase is active (``interruptible: false``: a transfer, a
sterilisation hold). The verdict comes from the database, so every replica gives the same
answer: the running batches, their control recipes and their elements' stored states.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mes_runtime.db.models import Batch, BatchElement
from mes_runtime.domain.control_recipe import ControlRecipe
from mes_runtime.domain.states import ElementState, is_active
from mes_runtime.ebr.recorder import FINAL_BATCH_STATES

__all__ = ["Blocker", "SafePoint", "blockers", "safe_point"]


@dataclass(frozen=True, slots=True)
class Blocker:
    """An active phase its recipe marks as not interruptible."""

    batch_id: str
    element: str
    state: str


@dataclass(frozen=True, slots=True)
class SafePoint:
    """``safe`` when nothing blocks a hand-over now; otherwise what does."""

    blocking: tuple[Blocker, ...]

    @property
    def safe(self) -> bool:
        return not self.blocking


def blockers(batch_id: str, control: ControlRecipe, states: Mapping[str, str]) -> list[Blocker]:
    """The batch's active phases that its recipe marks as not interruptible."""
    found = []
    for phase in control.phases():
        state = ElementState(states.get(phase.path, ElementState.IDLE.value))
        if not phase.interruptible and is_active(state):
            found.append(Blocker(batch_id=batch_id, element=phase.path, state=state.value))
    return found


async def safe_point(session: AsyncSession) -> SafePoint:
    """The safe point as the database has it now."""
    running: Sequence[Batch] = (
        (
            await session.execute(
                select(Batch).where(
                    Batch.started_at.is_not(None), Batch.state.not_in(FINAL_BATCH_STATES)
                )
            )
        )
        .scalars()
        .all()
    )
    found: list[Blocker] = []
    for batch in running:
        control = ControlRecipe.from_dict(batch.control_recipe)
        if all(phase.interruptible for phase in control.phases()):
            continue
        rows = await session.execute(
            select(BatchElement.path, BatchElement.state).where(BatchElement.batch_id == batch.id)
        )
        found += blockers(batch.id, control, {row.path: row.state for row in rows})
    return SafePoint(blocking=tuple(found))
