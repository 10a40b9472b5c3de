"""``/api/v1/upgrade``: what an upgrade needs to know from the runtime (DESIGN §5).

``GET /safe-point`` answers whether batches may be handed over now (an upgrade's switch
waits for it) and, if not, which batch and element block it. Every replica gives the same
answer: it is read from the database.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel

from mes_runtime.api.deps import SessionDep, require
from mes_runtime.auth.permissions import Permission
from mes_runtime.db.models import User
from mes_runtime.services.safe_point import safe_point

router = APIRouter(prefix="/api/v1/upgrade", tags=["upgrade"])

Reader = Annotated[User, require(Permission.BATCH_READ)]


class BlockerOut(BaseModel):
    batch_id: str
    element: str
    state: str


class SafePointOut(BaseModel):
    safe: bool
    blocking: list[BlockerOut]


@router.get("/safe-point", response_model=SafePointOut)
async def get_safe_point(_: Reader, session: SessionDep) -> SafePointOut:
    """Whether a hand-over may happen now; if not, the active phases whose recipe marks
    them as not interruptible."""
    point = await safe_point(session)
    return SafePointOut(
        safe=point.safe,
        blocking=[
            BlockerOut(batch_id=b.batch_id, element=b.element, state=b.state)
            for b in point.blocking
        ],
    )
