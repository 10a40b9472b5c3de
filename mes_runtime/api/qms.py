"""``/api/v1/qms``: the QMS hand-off's delivery state (review by exception).

Every exception event of the outbox with its state: ``pending`` (with its attempts, the
last error and when it is tried next) or ``delivered``. Readers of exceptions may read it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from mes_runtime.api.deps import EngineDep, require
from mes_runtime.api.schemas import INT32_MAX
from mes_runtime.auth.permissions import Permission
from mes_runtime.db.models import User
from mes_runtime.services.qms import Delivery, list_deliveries

__all__ = ["DeliveryOut", "router"]

router = APIRouter(prefix="/api/v1/qms", tags=["qms"])

Reader = Annotated[User, require(Permission.EXCEPTION_READ)]


class DeliveryOut(BaseModel):
    event_id: str = Field(description="the CloudEvents id (stable across redeliveries)")
    exception_id: int
    batch_id: str
    type: str = Field(description="dev.holon.exception.raised, .closed or .auto_closed")
    status: str = Field(description="pending or delivered")
    attempts: int = Field(description="delivery attempts so far")
    last_error: str | None = Field(description="why the last attempt failed")
    next_attempt_at: datetime | None = Field(description="when a pending event is tried next")
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, d: Delivery) -> DeliveryOut:
        return cls(
            event_id=d.event_id,
            exception_id=d.exception_id,
            batch_id=d.batch_id,
            type=d.type,
            status=d.status,
            attempts=d.attempts,
            last_error=d.last_error,
            next_attempt_at=d.next_attempt_at,
            created_at=d.created_at,
            delivered_at=d.delivered_at,
        )


@router.get("/deliveries", response_model=list[DeliveryOut])
async def get_deliveries(
    _: Reader,
    engine: EngineDep,
    status: Annotated[str | None, Query(pattern="^(pending|delivered)$")] = None,
    exception_id: Annotated[int | None, Query(ge=1, le=INT32_MAX)] = None,
    batch_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeliveryOut]:
    found = await list_deliveries(
        engine, status=status, exception_id=exception_id, batch_id=batch_id, limit=limit
    )
    return [DeliveryOut.of(d) for d in found]
