"""Auto-closure rules as approved data, and their evaluation when a batch has ended.

Rule versions live in ``closure_rules`` and move draft -> approved (QA's e-signature, not
the author's) -> effective (retiring the version it replaces) -> retired; each step is
journalled with the rule's digest, in the same transaction as the change.

:meth:`ClosureRules.evaluate_batch` decides a batch's open exceptions once: with the
versions effective when the batch *ended* (so the moment of evaluation does not matter),
each decision journalled with its inputs (rule version and digest, the evidence), the
closing ones applied through :class:`ExceptionReview`. The evaluation is recorded in
``batch_reviews`` (primary key: the batch), so a second run, or a rule edited later,
never re-decides the batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mes_runtime.auth.signatures import Signature, SignatureMeaning, require_meaning
from mes_runtime.db.models import Batch, BatchReview, JournalEntry, ProcessValue
from mes_runtime.db.models import ClosureRule as RuleRow
from mes_runtime.domain.exceptions import (
    Category,
    ClosureRule,
    Decision,
    ExceptionFacts,
    ExceptionNotOpen,
    ReviewException,
    RuleLifecycleError,
    RuleStatus,
    RuleVersion,
    decide,
    effective_rules,
    first_decisions,
    limits_from_message,
    next_status,
)
from mes_runtime.ebr.journal import Journal
from mes_runtime.ebr.outbox import QmsOutbox
from mes_runtime.kernel.clock import utcnow
from mes_runtime.services.review import ExceptionReview

__all__ = [
    "AlreadyEvaluated",
    "BatchNotEnded",
    "ClosureRules",
    "Evaluation",
    "RuleConflict",
    "UnknownRule",
    "follow_batch_ends",
]

log = logging.getLogger(__name__)

_RULES = cast(Table, RuleRow.__table__)
_REVIEWS = cast(Table, BatchReview.__table__)
_BATCHES = cast(Table, Batch.__table__)
_J = cast(Table, JournalEntry.__table__)
_VALUES = cast(Table, ProcessValue.__table__)
FINAL = frozenset({"complete", "stopped", "aborted"})
#: Samples are stamped at the source, a little before the exception that they raised.
SAMPLE_LEAD = timedelta(seconds=5)


class UnknownRule(LookupError):
    """No such rule version."""


class RuleConflict(Exception):
    """The rule version exists already, or the step is not allowed (e.g. self-approval)."""


class BatchNotEnded(Exception):
    """Rules are evaluated when a batch has ended, not before."""


class AlreadyEvaluated(Exception):
    """The batch's exceptions were decided already; they are never decided again."""


class Evaluation:
    """What an evaluation decided: per exception, the deciding rule's decision."""

    def __init__(self, batch_id: str, rules: Sequence[ClosureRule], decisions: list[Decision]):
        self.batch_id = batch_id
        self.rules = list(rules)
        self.decisions = decisions

    @property
    def closed(self) -> list[int]:
        return [d.exception_id for d in self.decisions if d.closes]


class ClosureRules:
    """Rule versions and batch evaluation over the database and the journal."""

    def __init__(
        self, *, engine: AsyncEngine, journal: Journal, outbox: QmsOutbox | None = None
    ) -> None:
        self._engine = engine
        self._journal = journal
        self._review = ExceptionReview(engine=engine, journal=journal, outbox=outbox)

    # ------------------------------------------------------------------ rule versions

    async def create_draft(self, rule: ClosureRule, *, author: str) -> None:
        async def _insert(conn: AsyncConnection) -> None:
            await conn.execute(
                insert(_RULES),
                {
                    "rule_id": rule.rule_id,
                    "version": rule.version,
                    "status": RuleStatus.DRAFT.value,
                    "body": rule.model_dump(mode="json"),
                    "digest": rule.digest(),
                    "created_by": author,
                    "created_at": utcnow(),
                },
            )

        try:
            await self._journal.append(
                actor=author,
                action="closure_rule.drafted",
                subject=_subject(rule.rule_id, rule.version),
                new_value={"status": "draft", "digest": rule.digest()},
                alongside=_insert,
            )
        except IntegrityError:
            raise RuleConflict(
                f"closure rule {rule.rule_id} version {rule.version} exists already"
            ) from None

    async def approve(self, rule_id: str, version: int, *, signature: Signature) -> None:
        """Approved by QA's signature meaning "approved" (``WrongMeaning`` otherwise), never
        by the rule's author (:class:`RuleConflict`)."""
        require_meaning(signature.meaning, SignatureMeaning.APPROVED, "approving a closure rule")
        row = await self._row(rule_id, version)
        if row["created_by"] == signature.username:
            raise RuleConflict("the author of a rule may not approve it (segregation of duties)")
        await self._step(
            row,
            "approve",
            actor=signature.username,
            values={
                "approved_by": signature.username,
                "approved_at": signature.signed_at,
                "signature_meaning": signature.meaning.value,
            },
            extra={"signature": signature.manifest()},
        )

    async def make_effective(
        self, rule_id: str, version: int, *, actor: str, at: datetime | None = None
    ) -> None:
        """Effective from ``at`` (now); the rule's previously effective version retires."""
        row = await self._row(rule_id, version)
        when = at or utcnow()

        async def _retire_previous(conn: AsyncConnection) -> None:
            await conn.execute(
                update(_RULES)
                .where(
                    _RULES.c.rule_id == rule_id,
                    _RULES.c.status == RuleStatus.EFFECTIVE.value,
                    _RULES.c.version != version,
                )
                .values(status=RuleStatus.RETIRED.value, retired_at=when)
            )

        await self._step(
            row,
            "make_effective",
            actor=actor,
            values={"effective_at": when},
            before=_retire_previous,
        )

    async def retire(
        self, rule_id: str, version: int, *, actor: str, at: datetime | None = None
    ) -> None:
        row = await self._row(rule_id, version)
        await self._step(row, "retire", actor=actor, values={"retired_at": at or utcnow()})

    async def versions(self, rule_id: str | None = None) -> list[dict[str, Any]]:
        query = select(_RULES).order_by(_RULES.c.rule_id, _RULES.c.version)
        if rule_id is not None:
            query = query.where(_RULES.c.rule_id == rule_id)
        async with self._engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(query)).mappings()]

    async def _row(self, rule_id: str, version: int) -> dict[str, Any]:
        async with self._engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        select(_RULES).where(
                            _RULES.c.rule_id == rule_id, _RULES.c.version == version
                        )
                    )
                )
                .mappings()
                .one_or_none()
            )
        if row is None:
            raise UnknownRule(f"no closure rule {rule_id} version {version}")
        return dict(row)

    async def _step(
        self,
        row: dict[str, Any],
        step: str,
        *,
        actor: str,
        values: dict[str, Any],
        extra: dict[str, Any] | None = None,
        before: Any = None,
    ) -> None:
        current = RuleStatus(row["status"])
        try:
            after = next_status(current, step)
        except RuleLifecycleError as exc:
            raise RuleConflict(str(exc)) from None

        async def _update(conn: AsyncConnection) -> None:
            if before is not None:
                await before(conn)
            result = await conn.execute(
                update(_RULES)
                .where(_RULES.c.id == row["id"], _RULES.c.status == current.value)
                .values(status=after.value, **values)
            )
            if result.rowcount != 1:
                raise RuleConflict(f"closure rule {row['rule_id']} changed meanwhile")

        await self._journal.append(
            actor=actor,
            action=f"closure_rule.{after.value}",
            subject=_subject(row["rule_id"], row["version"]),
            old_value={"status": current.value},
            new_value={"status": after.value, "digest": row["digest"], **(extra or {})},
            alongside=_update,
        )

    async def _stored_versions(self, conn: AsyncConnection) -> list[RuleVersion]:
        rows = (await conn.execute(select(_RULES))).mappings()
        return [
            RuleVersion(
                rule=ClosureRule.model_validate(r["body"]),
                status=RuleStatus(r["status"]),
                effective_at=r["effective_at"],
                retired_at=r["retired_at"],
            )
            for r in rows
        ]

    # ------------------------------------------------------------------ evaluation

    async def evaluate_ended(self) -> list[str]:
        """Evaluate every ended batch not evaluated yet (level-based: safe to repeat, and
        across replicas, since a batch is evaluated once); the batch ids it evaluated."""
        async with self._engine.connect() as conn:
            pending = list(
                (
                    await conn.execute(
                        select(_BATCHES.c.id)
                        .where(
                            _BATCHES.c.state.in_(FINAL),
                            _BATCHES.c.ended_at.is_not(None),
                            ~select(_REVIEWS.c.batch_id)
                            .where(_REVIEWS.c.batch_id == _BATCHES.c.id)
                            .exists(),
                        )
                        .order_by(_BATCHES.c.ended_at)
                    )
                ).scalars()
            )
        done = []
        for batch_id in pending:
            try:
                await self.evaluate_batch(batch_id)
            except AlreadyEvaluated:  # another replica was quicker
                continue
            done.append(batch_id)
        return done

    async def evaluate_batch(self, batch_id: str) -> Evaluation:
        """Decide the batch's open exceptions with the rules effective at its end, once."""
        async with self._engine.connect() as conn:
            batch = await batch_row(conn, batch_id)
            if batch["state"] not in FINAL or batch["ended_at"] is None:
                raise BatchNotEnded(f"batch {batch_id} has not ended (it is {batch['state']})")
            done = await conn.scalar(
                select(_REVIEWS.c.batch_id).where(_REVIEWS.c.batch_id == batch_id)
            )
            if done is not None:
                raise AlreadyEvaluated(f"batch {batch_id} was evaluated already")
            rules = effective_rules(await self._stored_versions(conn), batch["ended_at"])
            exceptions = await self._review.list(batch_id=batch_id)
            facts = [
                await _facts(conn, x, exceptions, batch["ended_at"])
                for x in exceptions
                if x.closure is None
            ]
        decisions = [d for f in facts for rule in rules if (d := decide(rule, f)) is not None]
        chosen = list(first_decisions(decisions).values())
        inputs = [{"id": r.rule_id, "version": r.version, "digest": r.digest()} for r in rules]

        async def _record(conn: AsyncConnection) -> None:
            await conn.execute(
                insert(_REVIEWS),
                {"batch_id": batch_id, "evaluated_at": utcnow(), "rules": inputs},
            )

        try:
            await self._journal.append(
                batch_id=batch_id,
                actor="system",
                action="closure.evaluated",
                subject=f"batch:{batch_id}",
                new_value={
                    "ended_at": batch["ended_at"].isoformat(),
                    "rules": inputs,
                    "decisions": [d.record() for d in chosen],
                },
                alongside=_record,
            )
        except IntegrityError:
            raise AlreadyEvaluated(f"batch {batch_id} was evaluated already") from None
        for d in chosen:
            if d.closes:
                try:
                    await self._review.auto_close(
                        d.exception_id,
                        rule_id=d.rule_id,
                        rule_version=d.rule_version,
                        evidence={**d.evidence, "rule_digest": d.rule_digest},
                    )
                except ExceptionNotOpen:  # a person closed it meanwhile: theirs stands
                    continue
        return Evaluation(batch_id, rules, chosen)


async def batch_row(conn: AsyncConnection, batch_id: str) -> dict[str, Any]:
    """The batch's row; :class:`LookupError` naming it if there is none."""
    row = (
        (await conn.execute(select(_BATCHES).where(_BATCHES.c.id == batch_id)))
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise LookupError(f"no batch {batch_id!r}")
    return dict(row)


def _subject(rule_id: str, version: int) -> str:
    return f"closure_rule:{rule_id}/{version}"


def _unit_and_parameter(x: ReviewException) -> tuple[str | None, str | None]:
    """``path:EQ.name`` (the engine's limit subjects) or the trigger's equipment/name."""
    if x.trigger is not None and "equipment" in x.trigger:
        return str(x.trigger["equipment"]), _str_or_none(x.trigger.get("name"))
    if ":" in x.subject:
        tail = x.subject.rsplit(":", 1)[1]
        if "." in tail:
            equipment, name = tail.split(".", 1)
            return equipment, name
    head = x.message.split(":", 1)[0].split("/", 1)[0].split(".", 1)[0]
    return (head or None), None


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


async def _facts(
    conn: AsyncConnection,
    x: ReviewException,
    everyone: Sequence[ReviewException],
    ended_at: datetime,
) -> ExceptionFacts:
    equipment, parameter = _unit_and_parameter(x)
    others = tuple(
        o.id for o in everyone if o.id != x.id and _unit_and_parameter(o)[0] == equipment
    )
    if x.trigger is not None and ("low" in x.trigger or "high" in x.trigger):
        low, high = x.trigger.get("low"), x.trigger.get("high")
    else:
        low, high = limits_from_message(x.message)
    recovered_at = None
    values: tuple[float, ...] = ()
    if x.category is Category.LIMIT_EXCURSION and equipment and parameter:
        recovered_at = await _recovered_at(conn, x)
        end = recovered_at or ended_at
        rows = await conn.execute(
            select(_VALUES.c.value)
            .where(
                _VALUES.c.batch_id == x.batch_id,
                _VALUES.c.equipment == equipment,
                _VALUES.c.name == parameter,
                _VALUES.c.ts >= x.raised_at - SAMPLE_LEAD,
                _VALUES.c.ts <= end,
            )
            .order_by(_VALUES.c.ts)
        )
        values = tuple(
            v for (v,) in rows if (low is not None and v < low) or (high is not None and v > high)
        )
    return ExceptionFacts(
        exception=x,
        equipment=equipment,
        parameter=parameter,
        low=low,
        high=high,
        recovered_at=recovered_at,
        values=values,
        others_on_unit=others,
    )


async def _recovered_at(conn: AsyncConnection, x: ReviewException) -> datetime | None:
    """When the journal recorded the value back inside its limits after ``x``."""
    raised = x.journal[0] if x.journal else 0
    ts = await conn.scalar(
        select(_J.c.ts)
        .where(
            _J.c.batch_id == x.batch_id,
            _J.c.action == "limit.recovered",
            _J.c.subject == x.subject,
            _J.c.seq > raised,
        )
        .order_by(_J.c.seq)
        .limit(1)
    )
    return None if ts is None else datetime.fromisoformat(ts)


async def follow_batch_ends(rules: ClosureRules, interval: float) -> None:
    """Evaluate the closure rules of batches as they end, every ``interval`` seconds."""
    while True:
        try:
            await rules.evaluate_ended()
        except Exception as exc:  # a database hiccup: try again at the next interval
            log.warning("closure rule evaluation failed: %s", exc)
        await asyncio.sleep(interval)
