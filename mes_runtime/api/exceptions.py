"""``/api/v1/exceptions``: review by exception — list exceptions, close them with QA's
electronic signature and a comment; both journalled.

Closing is signed with the meaning ``approved`` (a ``rejected`` signature closes nothing:
422 before any password is checked), over the record ``exception:<id>`` whose digest is
the SHA-256 of the canonical JSON of what QA closes: the exception as listed here and the
comment (:func:`~mes_runtime.auth.signatures.record_digest`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from mes_runtime.api.deps import (
    AccountPolicyDep,
    AlertDep,
    JournalDep,
    ReviewDep,
    SessionDep,
    require,
)
from mes_runtime.api.errors import conflict, not_found
from mes_runtime.api.schemas import RowId, SignatureIn
from mes_runtime.api.signing import signed, signing_responses
from mes_runtime.auth.permissions import Permission
from mes_runtime.auth.signatures import SignatureMeaning, record_digest
from mes_runtime.db.models import User
from mes_runtime.domain.exceptions import (
    AutoClosure,
    Category,
    ExceptionNotOpen,
    PersonClosure,
    ReviewException,
)
from mes_runtime.services.review import BatchLocked, UnknownException

__all__ = ["ExceptionOut", "router"]

router = APIRouter(prefix="/api/v1/exceptions", tags=["exceptions"])

Reader = Annotated[User, require(Permission.EXCEPTION_READ)]
Closer = Annotated[User, require(Permission.EXCEPTION_CLOSE)]


class ExceptionOut(BaseModel):
    id: int
    batch_id: str
    category: Category
    severity: str
    subject: str
    message: str
    ts: datetime = Field(description="when it was raised")
    trigger: dict[str, Any] | None = Field(description="the data that raised it")
    journal: list[int] = Field(description="seqs of the journal entries that raised/closed it")
    status: str = Field(description="open, auto_closed (by a rule) or closed (by a person)")
    closed_by: str | None
    closed_at: datetime | None
    closure_reason: str | None = Field(description="the closer's comment")
    signature_meaning: str | None
    rule_id: str | None
    rule_version: int | None
    closure_evidence: dict[str, Any] | None

    @classmethod
    def of(cls, x: ReviewException) -> ExceptionOut:
        auto = x.closure if isinstance(x.closure, AutoClosure) else None
        person = x.closure if isinstance(x.closure, PersonClosure) else None
        return cls(
            id=x.id,
            batch_id=x.batch_id,
            category=x.category,
            severity=x.severity.value,
            subject=x.subject,
            message=x.message,
            ts=x.raised_at,
            trigger=None if x.trigger is None else dict(x.trigger),
            journal=list(x.journal),
            status=x.status.value,
            closed_by=None if person is None else person.username,
            closed_at=person.signed_at if person else (auto.at if auto else None),
            closure_reason=None if person is None else person.comment,
            signature_meaning=None if person is None else (person.meaning or None),
            rule_id=None if auto is None else auto.rule_id,
            rule_version=None if auto is None else auto.rule_version,
            closure_evidence=None if auto is None else dict(auto.evidence),
        )


class CloseIn(BaseModel):
    reason: str = Field(
        min_length=3, max_length=4000, description="why the product is unaffected (comment)"
    )
    signature: SignatureIn


@router.get("", response_model=list[ExceptionOut])
async def list_exceptions(
    _: Reader,
    review: ReviewDep,
    batch_id: str | None = None,
    status: Annotated[str | None, Query(pattern="^(open|auto_closed|closed)$")] = None,
    severity: Annotated[str | None, Query(pattern="^(critical|major|minor)$")] = None,
) -> list[ExceptionOut]:
    found = await review.list(batch_id=batch_id, status=status, severity=severity)
    return [ExceptionOut.of(x) for x in found]


@router.post(
    "/{exception_id}/close",
    response_model=ExceptionOut,
    responses=signing_responses(
        forbidden="an administrator, or a rejected signature",
        conflict="closed already, or its batch is decided",
        meaning="a signature meaning other than approved",
    ),
)
async def close_exception(
    exception_id: RowId,
    body: CloseIn,
    user: Closer,
    session: SessionDep,
    journal: JournalDep,
    policy: AccountPolicyDep,
    alert: AlertDep,
    review: ReviewDep,
) -> ExceptionOut:
    try:
        current = await review.get(exception_id)
    except UnknownException:
        raise not_found(("path", "exception_id"), f"no exception {exception_id}") from None
    if current.closure is not None:
        raise conflict(
            ("path", "exception_id"), f"exception {exception_id} is already {current.status}"
        )
    shown = ExceptionOut.of(current).model_dump(mode="json")
    signature = await signed(
        session,
        journal,
        policy,
        alert,
        user,
        body.signature,
        action="closing an exception",
        meaning=SignatureMeaning.APPROVED,
        record=f"exception:{exception_id}",
        digest=record_digest({"exception": shown, "comment": body.reason}),
        batch_id=current.batch_id,
    )
    try:
        await review.close(exception_id, signature=signature, comment=body.reason)
    except ExceptionNotOpen:
        raise conflict(
            ("path", "exception_id"), f"exception {exception_id} was closed meanwhile"
        ) from None
    except BatchLocked as exc:
        raise conflict(("path", "exception_id"), str(exc)) from None
    return ExceptionOut.of(await review.get(exception_id))
