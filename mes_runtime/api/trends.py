"""``/api/v1/batches/{id}/values`` and ``/timeline``: a batch's trends (``services.history``).

``values`` answers each tag's history in ``points`` time buckets (min, max, mean, count per
bucket: spikes survive the downsampling) between ``start`` and ``end`` (default: the whole
batch); ``timeline`` each phase's state changes and monitor limits (the trend's phase bands
and limit bands).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from mes_runtime.api.deps import SessionDep, require
from mes_runtime.api.errors import not_found, unprocessable
from mes_runtime.auth.permissions import Permission
from mes_runtime.db.models import User
from mes_runtime.services.batch_views import batch_row
from mes_runtime.services.history import MAX_POINTS, history, phase_timeline

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/batches", tags=["trends"])

Reader = Annotated[User, require(Permission.BATCH_READ)]


@router.get("/{batch_id}/values")
async def batch_values(
    batch_id: str,
    _: Reader,
    session: SessionDep,
    start: Annotated[AwareDatetime | None, Query(description="UTC; default: first value")] = None,
    end: Annotated[AwareDatetime | None, Query(description="UTC; default: last value")] = None,
    points: Annotated[int, Query(ge=1, le=MAX_POINTS, description="buckets per tag")] = 1000,
    tag: Annotated[
        list[str] | None, Query(max_length=64, description="EQUIPMENT.NAME; default: every tag")
    ] = None,
) -> dict[str, Any]:
    """The batch's process values, downsampled to ``points`` buckets per tag (min/max kept)."""
    if await batch_row(session, batch_id) is None:
        raise not_found(("path", "batch_id"), f"no batch {batch_id!r}")
    if start is not None and end is not None and end <= start:
        raise unprocessable(("query", "end"), "end must be after start")
    found = await history(session, batch_id, start=start, end=end, points=points, tags=tag)
    if found is None:
        return {"start": None, "end": None, "bucket_seconds": None, "series": []}
    return {
        "start": _iso(found.start),
        "end": _iso(found.end),
        "bucket_seconds": found.bucket_seconds,
        "series": [
            {
                "tag": s.tag,
                "unit": s.unit,
                "t": s.t,
                "min": s.min,
                "max": s.max,
                "mean": s.mean,
                "count": s.count,
            }
            for s in found.series
        ],
    }


@router.get("/{batch_id}/timeline")
async def batch_timeline(batch_id: str, _: Reader, session: SessionDep) -> dict[str, Any]:
    """Each phase's state changes (journal) and monitor limits (control recipe)."""
    found = await phase_timeline(session, batch_id)
    if found is None:
        raise not_found(("path", "batch_id"), f"no batch {batch_id!r}")
    return found


def _iso(moment: datetime) -> str:
    return moment.isoformat()
