"""``/api/v1/review/{batch_id}``: a batch's review by exception and QA's signed decision.

``GET`` lists what needs a person (open exceptions) next to what the approved closure rules
decided and what people closed; ``POST .../evaluate`` runs the closure rules once the batch
has ended (release does it too, if nothing has yet); ``POST .../decision`` releases or
rejects the batch with QA's e-signature — release is refused (409, naming them) while any
exception is open, and a decided batch is locked.

A release is signed with the meaning ``approved``, a rejection with ``rejected`` (any other
pairing is a 422 before a password is checked: "rejected" never releases). The signed
record is ``batch:<id>``; its digest is the SHA-256 of the canonical JSON of the review QA
decides on (as ``GET`` shows it at that moment), the decision and the comment
(:func:`~mes_runtime.auth.signatures.record_digest`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from mes_runtime.api.deps import (
    AccountPolicyDep,
    AlertDep,
    JournalDep,
    ReleasesDep,
    SessionDep,
    require,
)
from mes_runtime.api.errors import conflict, not_found
from mes_runtime.api.exceptions import ExceptionOut
from mes_runtime.api.schemas import BatchId, SignatureIn
from mes_runtime.api.signing import signed, signing_responses
from mes_runtime.auth.permissions import Permission
from mes_runtime.auth.signatures import record_digest
from mes_runtime.db.models import User
from mes_runtime.services.closure import AlreadyEvaluated, BatchNotEnded
from mes_runtime.services.release import (
    AlreadyDecided,
    Decision,
    NotReleasable,
    ReviewView,
)

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/review", tags=["review"])

Reader = Annotated[User, require(Permission.EXCEPTION_READ)]
Releaser = Annotated[User, require(Permission.BATCH_RELEASE)]
_BATCH = ("path", "batch_id")


class ReviewOut(BaseModel):
    batch_id: str
    state: str
    recipe: str
    ended_at: datetime | None
    evaluated: bool = Field(description="whether the closure rules have decided this batch")
    rules: list[dict[str, Any]] = Field(description="rule versions (id, version, digest) used")
    needs_review: list[ExceptionOut] = Field(description="open exceptions: a person must close")
    auto_closed: list[ExceptionOut]
    closed: list[ExceptionOut]
    decision: dict[str, Any] | None

    @classmethod
    def of(cls, view: ReviewView) -> ReviewOut:
        return cls(
            batch_id=view.batch_id,
            state=view.state,
            recipe=view.recipe,
            ended_at=view.ended_at,
            evaluated=view.evaluated,
            rules=view.rules,
            needs_review=[ExceptionOut.of(x) for x in view.open],
            auto_closed=[ExceptionOut.of(x) for x in view.auto_closed],
            closed=[ExceptionOut.of(x) for x in view.closed],
            decision=view.decision,
        )


class EvaluationOut(BaseModel):
    rules: list[dict[str, Any]]
    decisions: list[dict[str, Any]]


class DecisionIn(BaseModel):
    decision: Decision
    comment: str = Field(min_length=3, max_length=4000)
    signature: SignatureIn


async def _view(releases: ReleasesDep, batch_id: str) -> ReviewOut:
    try:
        return ReviewOut.of(await releases.view(batch_id))
    except LookupError:
        raise not_found(_BATCH, f"no batch {batch_id!r}") from None


@router.get("/{batch_id}", response_model=ReviewOut)
async def get_review(batch_id: BatchId, _: Reader, releases: ReleasesDep) -> ReviewOut:
    return await _view(releases, batch_id)


@router.post(
    "/{batch_id}/evaluate",
    response_model=EvaluationOut,
    responses={409: {"description": "the batch has not ended, or was evaluated already"}},
)
async def evaluate(batch_id: BatchId, _: Releaser, releases: ReleasesDep) -> EvaluationOut:
    await _view(releases, batch_id)  # 404 first
    try:
        evaluation = await releases.rules.evaluate_batch(batch_id)
    except (BatchNotEnded, AlreadyEvaluated) as exc:
        raise conflict(_BATCH, str(exc)) from None
    return EvaluationOut(
        rules=[
            {"id": r.rule_id, "version": r.version, "digest": r.digest()} for r in evaluation.rules
        ],
        decisions=[d.record() for d in evaluation.decisions],
    )


@router.post(
    "/{batch_id}/decision",
    response_model=ReviewOut,
    responses=signing_responses(
        forbidden="an administrator, or a rejected signature",
        conflict="not ended, decided already, or exceptions are open",
        meaning="a meaning that does not match the decision",
    ),
)
async def decide(
    batch_id: BatchId,
    body: DecisionIn,
    user: Releaser,
    session: SessionDep,
    journal: JournalDep,
    policy: AccountPolicyDep,
    alert: AlertDep,
    releases: ReleasesDep,
) -> ReviewOut:
    shown = await _view(releases, batch_id)  # 404 before asking for a signature
    signature = await signed(
        session,
        journal,
        policy,
        alert,
        user,
        body.signature,
        action=f"the decision {body.decision.value!r}",
        meaning=body.decision.meaning,
        record=f"batch:{batch_id}",
        digest=record_digest(
            {
                "review": shown.model_dump(mode="json"),
                "decision": body.decision.value,
                "comment": body.comment,
            }
        ),
        batch_id=batch_id,
    )
    try:
        await releases.decide(batch_id, body.decision, signature=signature, comment=body.comment)
    except (NotReleasable, AlreadyDecided, BatchNotEnded) as exc:
        raise conflict(_BATCH, str(exc)) from None
    return await _view(releases, batch_id)
