"""Whether a hand-over may happen now: the safe point an upgrade's switch waits for.

A batch may move to another replica at (almost) any moment - ownership and take-over
(:mod:`mes_runtime.services.ownership`) make that safe. A recipe can still ask that it does
not happen while a given phase is active (``interruptible: false``: a transfer, a
sterilisation hold). The verdict comes from the database, so every replica gives the same
answer: the running batches, their control recipes and their elements' stored states.

Two hand-overs wait for it: an upgrade's switch (all running batches, read by the operator
through ``GET /api/v1/upgrade/safe-point``) and a replica's own shutdown (the batches it
owns, :func:`until_safe`: the drain lasts until then, bounded).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mes_runtime.db.models import Batch, BatchElement
from mes_runtime.domain.control_recipe import ControlRecipe
from mes_runtime.domain.states import ElementState, is_active
from mes_runtime.ebr.recorder import FINAL_BATCH_STATES

__all__ = ["UNREADABLE_SECONDS", "Blocker", "SafePoint", "blockers", "safe_point", "until_safe"]

log = logging.getLogger(__name__)


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


async def safe_point(session: AsyncSession, batch_ids: Collection[str] | None = None) -> SafePoint:
    """The safe point as the database has it now (of ``batch_ids`` only, when given)."""
    query = select(Batch).where(
        Batch.started_at.is_not(None), Batch.state.not_in(FINAL_BATCH_STATES)
    )
    if batch_ids is not None:
        query = query.where(Batch.id.in_(batch_ids))
    running: Sequence[Batch] = (await session.execute(query)).scalars().all()
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


# how long the safe point may stay unreadable before a stopping replica waits no more: a
# database hiccup is waited out, a database that is gone is not (the batches cannot move on
# without it either, and their leases expire)
UNREADABLE_SECONDS = 5.0


async def until_safe(
    read: Callable[[], Awaitable[SafePoint]],
    *,
    seconds: float,
    hurried: Callable[[], bool] = lambda: False,
    every: float = 0.25,
) -> SafePoint | None:
    """Read the safe point until it is safe, ``seconds`` have passed or ``hurried()``;
    the last verdict (None: the database did not answer for :data:`UNREADABLE_SECONDS`,
    or at all)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    verdict: SafePoint | None = None
    failing_since: float | None = None
    while True:
        try:
            verdict = await read()
            failing_since = None
        except Exception as exc:  # a database hiccup: read again, a while
            log.warning("reading the safe point failed: %r", exc)
            verdict = None
            failing_since = loop.time() if failing_since is None else failing_since
            if loop.time() - failing_since >= UNREADABLE_SECONDS:
                return None
        if (verdict is not None and verdict.safe) or loop.time() >= deadline or hurried():
            return verdict
        await asyncio.sleep(every)
