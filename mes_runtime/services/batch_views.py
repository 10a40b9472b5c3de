"""What the batch API shows: the stored batches and one batch's detail view.

A batch executed by this replica is shown as its engine sees it; one executed elsewhere (or
ended) from what its owner committed, so every replica shows the same. ``live`` says whether
an owner holds the batch's lease now.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mes_runtime.db.models import Batch, BatchException, BatchRun
from mes_runtime.domain.states import ElementState
from mes_runtime.ebr.recorder import FINAL_BATCH_STATES
from mes_runtime.engine.batch import BatchEngine
from mes_runtime.kernel.clock import utcnow
from mes_runtime.services.live import stored_view

__all__ = ["batch_detail", "batch_row", "batch_summaries", "summary"]


def summary(row: Batch, state: str | None = None) -> dict[str, Any]:
    return {
        "id": row.id,
        "recipe": {"name": row.recipe_name, "version": row.recipe_version},
        "state": state or row.state,
        "created_by": row.created_by,
        "created_at": row.created_at,
        "started_at": row.started_at,
        "ended_at": row.ended_at,
    }


async def batch_row(session: AsyncSession, batch_id: str) -> Batch | None:
    """The stored batch, or None."""
    return await session.get(Batch, batch_id)


async def batch_summaries(session: AsyncSession, engine: BatchEngine) -> list[dict[str, Any]]:
    """Every batch, newest first (the engine's state for those it executes)."""
    rows = (await session.execute(select(Batch).order_by(Batch.created_at.desc()))).scalars()
    live = set(engine.batch_ids())
    return [
        summary(row, engine.tree(row.id).state.value if row.id in live else None) for row in rows
    ]


async def batch_detail(
    session: AsyncSession, engine: BatchEngine, batch_id: str
) -> dict[str, Any] | None:
    """One batch's view (elements, latest values, open exceptions), or None if unknown."""
    row = await session.get(Batch, batch_id)
    if row is None:
        return None
    exceptions = (
        (
            await session.execute(
                select(BatchException)
                .where(BatchException.batch_id == batch_id, BatchException.status == "open")
                .order_by(BatchException.id)
            )
        )
        .scalars()
        .all()
    )
    if batch_id in engine.batch_ids():  # executed here: the engine's view
        snapshot = engine.snapshot(batch_id)
        state, elements, values = snapshot["state"], snapshot["elements"], snapshot["values"]
    else:  # executed elsewhere (or ended): the same view from what the owner committed
        view = await stored_view(session, engine, batch_id)
        assert view is not None
        state, elements, values = row.state, view["elements"], view["values"]
    run = await session.get(BatchRun, batch_id)
    live = (
        run is not None
        and run.lease_until is not None
        and run.lease_until > utcnow()
        and state not in FINAL_BATCH_STATES
        and state != ElementState.IDLE.value
    )
    return {
        **summary(row, state),
        "live": live,
        "bindings": row.bindings,
        "elements": elements,
        "values": values,
        "exceptions": exceptions,
    }
