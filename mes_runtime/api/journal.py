"""``/api/v1/journal``: read the electronic batch record journal; verify its hash chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from mes_runtime.api.deps import JournalDep, SessionDep, require
from mes_runtime.api.schemas import INT64_MAX, Page
from mes_runtime.auth.permissions import Permission
from mes_runtime.db.models import User
from mes_runtime.services import audit

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/journal", tags=["journal"])

Reader = Annotated[User, require(Permission.JOURNAL_READ)]
Verifier = Annotated[User, require(Permission.JOURNAL_VERIFY)]


class JournalEntryOut(BaseModel):
    seq: int
    ts: str
    actor: str
    action: str
    subject: str
    batch_id: str | None
    old_value: str | None
    new_value: str | None
    reason: str | None
    prev_hash: str
    hash: str


class JournalPage(Page):
    entries: list[JournalEntryOut]


class VerifyOut(BaseModel):
    ok: bool
    entries_checked: int
    first_bad_seq: int | None
    problem: str | None


@router.get("", response_model=JournalPage)
async def list_entries(
    _: Reader,
    session: SessionDep,
    batch_id: str | None = None,
    action: str | None = None,
    after: Annotated[
        int, Query(ge=0, le=INT64_MAX, description="return entries with seq > after")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> JournalPage:
    rows = await audit.list_entries(
        session, after=after, limit=limit, batch_id=batch_id, action=action
    )
    entries = [JournalEntryOut.model_validate(dict(r)) for r in rows]
    return JournalPage(
        entries=entries, next_after=entries[-1].seq if len(entries) == limit else None
    )


@router.get("/verify", response_model=VerifyOut)
async def verify(user: Verifier, journal: JournalDep) -> VerifyOut:
    result = await audit.verify_and_record(journal, actor=user.username)
    return VerifyOut(
        ok=result.ok,
        entries_checked=result.entries_checked,
        first_bad_seq=result.first_bad_seq,
        problem=result.problem,
    )
