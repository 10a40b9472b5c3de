"""Batch review and release: what needs a human, and QA's signed decision.

The review of an ended batch lists what needs a person (its open exceptions) next to
what the approved rules decided (auto-closed exceptions with rule version and evidence)
and what people closed. QA then releases or rejects it with an electronic signature: a
release means "approved", a rejection "rejected" (:attr:`Decision.meaning`).
Release is refused while any exception is open — checked in the transaction that records
the decision — and a decided batch is locked: its exceptions can no longer be closed.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mes_runtime.auth.signatures import Signature, SignatureMeaning, require_meaning
from mes_runtime.db.models import BatchException, BatchReview
from mes_runtime.domain.exceptions import ExceptionStatus, ReviewException
from mes_runtime.ebr.journal import Journal
from mes_runtime.ebr.outbox import QmsOutbox
from mes_runtime.services.closure import (
    FINAL,
    AlreadyEvaluated,
    BatchNotEnded,
    ClosureRules,
    batch_row,
)
from mes_runtime.services.review import ExceptionReview

__all__ = ["AlreadyDecided", "BatchReleases", "Decision", "NotReleasable", "ReviewView"]

_REVIEWS = cast(Table, BatchReview.__table__)
_EXCEPTIONS = cast(Table, BatchException.__table__)


class Decision(StrEnum):
    RELEASED = "released"
    REJECTED = "rejected"

    @property
    def meaning(self) -> SignatureMeaning:
        """What QA's signature for this decision means: "rejected" never releases."""
        if self is Decision.RELEASED:
            return SignatureMeaning.APPROVED
        return SignatureMeaning.REJECTED


class NotReleasable(Exception):
    """The batch cannot be released: it did not complete, or exceptions are open."""

    def __init__(self, message: str, open_ids: list[int] | None = None) -> None:
        self.open_ids = open_ids or []
        super().__init__(message)


class AlreadyDecided(Exception):
    """The batch was released or rejected already (and is locked)."""


@dataclass(frozen=True, slots=True)
class ReviewView:
    """One ended (or running) batch as QA reviews it."""

    batch_id: str
    state: str
    recipe: str
    ended_at: datetime | None
    evaluated: bool
    rules: list[dict[str, Any]]
    open: list[ReviewException]
    auto_closed: list[ReviewException]
    closed: list[ReviewException]
    decision: dict[str, Any] | None


class BatchReleases:
    def __init__(
        self, *, engine: AsyncEngine, journal: Journal, outbox: QmsOutbox | None = None
    ) -> None:
        self._engine = engine
        self._journal = journal
        self._review = ExceptionReview(engine=engine, journal=journal, outbox=outbox)
        self.rules = ClosureRules(engine=engine, journal=journal, outbox=outbox)

    async def view(self, batch_id: str) -> ReviewView:
        async with self._engine.connect() as conn:
            batch = await batch_row(conn, batch_id)
            review = (
                (await conn.execute(select(_REVIEWS).where(_REVIEWS.c.batch_id == batch_id)))
                .mappings()
                .one_or_none()
            )
        found = await self._review.list(batch_id=batch_id)
        by_status = {s: [x for x in found if x.status is s] for s in ExceptionStatus}
        decision = None
        if review is not None and review["decision"] is not None:
            decision = {
                "decision": review["decision"],
                "signed_by": review["signed_by"],
                "meaning": review["signature_meaning"],
                "signed_at": review["signed_at"],
                "comment": review["comment"],
            }
        return ReviewView(
            batch_id=batch_id,
            state=batch["state"],
            recipe=f"{batch['recipe_name']}/{batch['recipe_version']}",
            ended_at=batch["ended_at"],
            evaluated=review is not None,
            rules=[] if review is None else list(review["rules"]),
            open=by_status[ExceptionStatus.OPEN],
            auto_closed=by_status[ExceptionStatus.AUTO_CLOSED],
            closed=by_status[ExceptionStatus.CLOSED],
            decision=decision,
        )

    async def decide(
        self, batch_id: str, decision: Decision, *, signature: Signature, comment: str
    ) -> None:
        """Release (nothing open) or reject an ended batch, signed with the decision's
        meaning (``WrongMeaning`` otherwise); then it is locked."""
        require_meaning(signature.meaning, decision.meaning, f"the decision {decision.value!r}")
        async with self._engine.connect() as conn:
            batch = await batch_row(conn, batch_id)
        if batch["state"] not in FINAL:
            raise BatchNotEnded(f"batch {batch_id} has not ended (it is {batch['state']})")
        if decision is Decision.RELEASED and batch["state"] != "complete":
            raise NotReleasable(
                f"batch {batch_id} ended {batch['state']}; only a complete batch is released"
            )
        with contextlib.suppress(AlreadyEvaluated):  # the rules decide first, if not yet
            await self.rules.evaluate_batch(batch_id)

        async def _decide(conn: AsyncConnection) -> None:
            if decision is Decision.RELEASED:
                open_ids = list(
                    (
                        await conn.execute(
                            select(_EXCEPTIONS.c.id)
                            .where(
                                _EXCEPTIONS.c.batch_id == batch_id,
                                _EXCEPTIONS.c.status == "open",
                            )
                            .order_by(_EXCEPTIONS.c.id)
                        )
                    ).scalars()
                )
                if open_ids:
                    shown = ", ".join(str(i) for i in open_ids)
                    raise NotReleasable(
                        f"batch {batch_id} has open exceptions ({shown}); close them first",
                        open_ids,
                    )
            result = await conn.execute(
                update(_REVIEWS)
                .where(_REVIEWS.c.batch_id == batch_id, _REVIEWS.c.decision.is_(None))
                .values(
                    decision=decision.value,
                    signed_by=signature.username,
                    signature_meaning=signature.meaning.value,
                    signed_at=signature.signed_at,
                    comment=comment,
                )
            )
            if result.rowcount != 1:
                raise AlreadyDecided(f"batch {batch_id} was decided already")

        await self._journal.append(
            batch_id=batch_id,
            actor=signature.username,
            action=f"batch.{decision.value}",
            subject=f"batch:{batch_id}",
            new_value={
                "decision": decision.value,
                "signature": signature.manifest(),
            },
            reason=comment,
            alongside=_decide,
        )
