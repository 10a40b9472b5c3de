"""``/api/v1/exceptions``: review by exception — list open exceptions, close them (QA)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, cast

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from mes_runtime.api.deps import JournalDep, SessionDep, require
from mes_runtime.api.errors import conflict, not_found
from mes_runtime.auth.permissions import Permission
from mes_runtime.db.models import BatchException, User
from mes_runtime.kernel.clock import utcnow

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/exceptions", tags=["exceptions"])
_T = cast(Table, BatchException.__table__)

Reader = Annotated[User, require(Permission.EXCEPTION_READ)]
Closer = Annotated[User, require(Permission.EXCEPTION_CLOSE)]


class ExceptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    batch_id: str
    severity: str
    subject: str
    message: str
    ts: datetime
    status: str
    closed_by: str | None
    closed_at: datetime | None
    closure_reason: str | None


class CloseIn(BaseModel):
    reason: str = Field(min_length=3, max_length=4000, description="why it can be closed")


class _AlreadyClosed(Exception):
    pass


@router.get("", response_model=list[ExceptionOut])
async def list_exceptions(
    _: Reader,
    session: SessionDep,
    batch_id: str | None = None,
    status: Annotated[str | None, Query(pattern="^(open|closed)$")] = None,
    severity: Annotated[str | None, Query(pattern="^(critical|major|minor)$")] = None,
) -> list[ExceptionOut]:
    query = select(BatchException).order_by(BatchException.id)
    if batch_id is not None:
        query = query.where(BatchException.batch_id == batch_id)
    if status is not None:
        query = query.where(BatchException.status == status)
    if severity is not None:
        query = query.where(BatchException.severity == severity)
    return [ExceptionOut.model_validate(r) for r in (await session.execute(query)).scalars()]


@router.post("/{exception_id}/close", response_model=ExceptionOut)
async def close_exception(
    exception_id: int, body: CloseIn, user: Closer, session: SessionDep, journal: JournalDep
) -> ExceptionOut:
    async with session.begin():
        row = await session.get(BatchException, exception_id)
        if row is None:
            raise not_found(("path", "exception_id"), f"no exception {exception_id}")
        if row.status == "closed":
            raise conflict(("path", "exception_id"), f"exception {exception_id} is already closed")
        batch_id, subject = row.batch_id, row.subject
    now = utcnow()

    async def _close(conn: AsyncConnection) -> None:
        result = await conn.execute(
            update(_T)
            .where(_T.c.id == exception_id, _T.c.status == "open")
            .values(
                status="closed", closed_by=user.username, closed_at=now, closure_reason=body.reason
            )
        )
        if result.rowcount != 1:
            raise _AlreadyClosed

    try:
        await journal.append(
            batch_id=batch_id,
            actor=user.username,
            action="exception.closed",
            subject=subject,
            old_value={"id": exception_id, "status": "open"},
            new_value={"id": exception_id, "status": "closed"},
            reason=body.reason,
            alongside=_close,
        )
    except _AlreadyClosed:
        raise conflict(
            ("path", "exception_id"), f"exception {exception_id} was closed meanwhile"
        ) from None
    async with session.begin():
        await session.refresh(row)
    return ExceptionOut.model_validate(row)
