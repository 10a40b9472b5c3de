"""Auto-closure at batch end and release, on real databases: an approved, effective rule
closes the minor excursion it covers (rule version recorded), a major one stays open,
release is refused until QA closes it, then the batch is released and locked. A draft
rule does nothing; a rule changed after the batch ended does not re-decide it."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mes_runtime.auth.signatures import SignatureMeaning, WrongMeaning
from mes_runtime.db.models import Batch, JournalEntry
from mes_runtime.domain.exceptions import (
    AutoClosure,
    ClosureRule,
    ExceptionStatus,
)
from mes_runtime.ebr.journal import Journal
from mes_runtime.engine.ports import Severity
from mes_runtime.kernel.clock import utcnow
from mes_runtime.services.closure import (
    AlreadyEvaluated,
    BatchNotEnded,
    ClosureRules,
    RuleConflict,
    follow_batch_ends,
)
from mes_runtime.services.release import (
    AlreadyDecided,
    BatchReleases,
    Decision,
    NotReleasable,
)
from mes_runtime.services.review import BatchLocked, ExceptionReview
from tests.mes_runtime.batch_rows import add_batch
from tests.mes_runtime.review_rows import MINOR_TEMPERATURE, add_excursion, qa_signed

RULE = MINOR_TEMPERATURE


@dataclass
class Plant:
    engine: AsyncEngine
    journal: Journal
    sessions: async_sessionmaker[AsyncSession]
    review: ExceptionReview
    rules: ClosureRules
    releases: BatchReleases

    async def excursion(self, *, severity: Severity, equipment: str = "BR-101") -> int:
        return await add_excursion(
            self.engine, self.journal, self.sessions, severity=severity, equipment=equipment
        )

    async def end_batch(self, *, state: str = "complete") -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(Batch).where(Batch.id == "B-1").values(state=state, ended_at=utcnow())
            )

    async def effective_rule(self, rule: ClosureRule, *, at: datetime) -> None:
        await self.rules.create_draft(rule, author="author-1")
        await self.rules.approve(rule.rule_id, rule.version, signature=qa_signed("qa-1"))
        await self.rules.make_effective(rule.rule_id, rule.version, actor="qa-1", at=at)


@pytest.fixture
async def plant(
    engine: AsyncEngine, journal: Journal, session_factory: async_sessionmaker[AsyncSession]
) -> Plant:
    await add_batch(session_factory)
    return Plant(
        engine,
        journal,
        session_factory,
        ExceptionReview(engine=engine, journal=journal),
        ClosureRules(engine=engine, journal=journal),
        BatchReleases(engine=engine, journal=journal),
    )


async def test_minor_auto_closes_major_blocks_release_until_qa_signs(plant: Plant) -> None:
    await plant.effective_rule(RULE, at=utcnow() - timedelta(hours=1))
    minor = await plant.excursion(severity=Severity.MINOR)
    major = await plant.excursion(severity=Severity.MAJOR, equipment="TK-201")
    with pytest.raises(BatchNotEnded):
        await plant.rules.evaluate_batch("B-1")
    await plant.end_batch()

    with pytest.raises(NotReleasable, match=f"open exceptions \\({major}\\)") as refused:
        await plant.releases.decide(
            "B-1", Decision.RELEASED, signature=qa_signed("qa-2"), comment="ok"
        )

    assert refused.value.open_ids == [major]
    view = await plant.releases.view("B-1")
    assert view.evaluated
    assert [x.id for x in view.open] == [major]
    (closed,) = view.auto_closed
    assert closed.id == minor
    assert isinstance(closed.closure, AutoClosure)
    assert (closed.closure.rule_id, closed.closure.rule_version) == ("minor-temperature", 1)
    assert closed.closure.evidence["max_distance"] == pytest.approx(0.3)
    assert view.rules == [{"id": "minor-temperature", "version": 1, "digest": RULE.digest()}]

    await plant.review.close(major, signature=qa_signed("qa-2"), comment="TK only")
    await plant.releases.decide(
        "B-1", Decision.RELEASED, signature=qa_signed("qa-2"), comment="all reviewed"
    )

    view = await plant.releases.view("B-1")
    assert view.decision is not None
    assert (view.decision["decision"], view.decision["signed_by"]) == ("released", "qa-2")
    late = await plant.excursion(severity=Severity.MINOR)  # a stray value after release
    with pytest.raises(BatchLocked, match="released"):
        await plant.review.close(late, signature=qa_signed("qa-2"), comment="late")
    with pytest.raises(AlreadyDecided):
        await plant.releases.decide(
            "B-1",
            Decision.REJECTED,
            signature=qa_signed("qa-2", SignatureMeaning.REJECTED),
            comment="no",
        )
    async with plant.sessions() as session:
        actions = [
            e.action
            for e in (
                await session.execute(select(JournalEntry).order_by(JournalEntry.seq))
            ).scalars()
        ]
    assert actions.index("closure.evaluated") < actions.index("exception.auto_closed")
    assert actions.count("batch.released") == 1
    async with plant.sessions() as session:
        released = (
            await session.execute(
                select(JournalEntry).where(JournalEntry.action == "batch.released")
            )
        ).scalar_one()
    manifest = json.loads(released.new_value or "")["signature"]
    assert (manifest["signer"], manifest["meaning"]) == ("qa-2", "approved")
    assert manifest["record_digest"].startswith("sha256:")


async def test_a_draft_rule_does_nothing(plant: Plant) -> None:
    await plant.rules.create_draft(RULE, author="author-1")
    await plant.rules.create_draft(
        RULE.model_copy(update={"rule_id": "approved-only"}), author="author-1"
    )
    await plant.rules.approve("approved-only", 1, signature=qa_signed("qa-1"))
    minor = await plant.excursion(severity=Severity.MINOR)
    await plant.end_batch()

    evaluation = await plant.rules.evaluate_batch("B-1")

    assert (evaluation.rules, evaluation.decisions) == ([], [])
    assert (await plant.review.get(minor)).status is ExceptionStatus.OPEN


async def test_a_rule_changed_after_the_batch_ended_does_not_re_decide_it(
    plant: Plant,
) -> None:
    strict = RULE.model_copy(
        update={"criteria": RULE.criteria.model_copy(update={"max_distance": 0.1})}
    )
    await plant.effective_rule(strict, at=utcnow() - timedelta(hours=1))
    minor = await plant.excursion(severity=Severity.MINOR)
    await plant.end_batch()
    # After the batch ended, the rule is relaxed (version 2, effective now).
    relaxed = RULE.model_copy(update={"version": 2})
    await plant.effective_rule(relaxed, at=utcnow())

    evaluation = await plant.rules.evaluate_batch("B-1")

    (decision,) = evaluation.decisions
    assert (decision.rule_version, decision.closes) == (1, False)
    assert "went 0.3 beyond the limit" in decision.reasons[0]
    assert (await plant.review.get(minor)).status is ExceptionStatus.OPEN
    with pytest.raises(AlreadyEvaluated):
        await plant.rules.evaluate_batch("B-1")
    versions = {
        (v["version"], v["status"]) for v in await plant.rules.versions("minor-temperature")
    }
    assert versions == {(1, "retired"), (2, "effective")}
    async with plant.sessions() as session:
        entry = (
            await session.execute(
                select(JournalEntry).where(JournalEntry.action == "closure.evaluated")
            )
        ).scalar_one()
    recorded = json.loads(entry.new_value or "")
    assert recorded["rules"] == [
        {"id": "minor-temperature", "version": 1, "digest": strict.digest()}
    ]
    assert recorded["decisions"][0]["evidence"]["values"] == [37.6, 37.8, 37.7]


async def test_rule_lifecycle_refusals(plant: Plant) -> None:
    await plant.rules.create_draft(RULE, author="author-1")

    with pytest.raises(RuleConflict, match="exists already"):
        await plant.rules.create_draft(RULE, author="author-1")
    with pytest.raises(RuleConflict, match="segregation of duties"):
        await plant.rules.approve(RULE.rule_id, 1, signature=qa_signed("author-1"))
    with pytest.raises(RuleConflict, match="cannot make_effective a rule version that is draft"):
        await plant.rules.make_effective(RULE.rule_id, 1, actor="qa-1")


async def test_a_stopped_batch_is_not_released_but_may_be_rejected(plant: Plant) -> None:
    await plant.excursion(severity=Severity.MAJOR)
    await plant.end_batch(state="stopped")

    with pytest.raises(NotReleasable, match="only a complete batch"):
        await plant.releases.decide(
            "B-1", Decision.RELEASED, signature=qa_signed("qa"), comment="x"
        )
    rejected = qa_signed("qa", SignatureMeaning.REJECTED)
    await plant.releases.decide("B-1", Decision.REJECTED, signature=rejected, comment="bad")

    decision = (await plant.releases.view("B-1")).decision
    assert decision is not None
    assert decision["decision"] == "rejected"


async def test_a_rejected_signature_never_closes_approves_or_releases(plant: Plant) -> None:
    no = qa_signed("qa-1", SignatureMeaning.REJECTED)
    await plant.rules.create_draft(RULE, author="author-1")
    major = await plant.excursion(severity=Severity.MAJOR)

    with pytest.raises(WrongMeaning, match="approving a closure rule is signed with"):
        await plant.rules.approve(RULE.rule_id, 1, signature=no)
    with pytest.raises(WrongMeaning, match="closing an exception is signed with"):
        await plant.review.close(major, signature=no, comment="not fine")
    await plant.end_batch()
    with pytest.raises(WrongMeaning, match="'released' is signed with the meaning 'approved'"):
        await plant.releases.decide("B-1", Decision.RELEASED, signature=no, comment="no")
    with pytest.raises(WrongMeaning, match="'rejected' is signed with the meaning 'rejected'"):
        await plant.releases.decide("B-1", Decision.REJECTED, signature=qa_signed(), comment="x")

    assert [v["status"] for v in await plant.rules.versions(RULE.rule_id)] == ["draft"]
    assert (await plant.review.get(major)).status is ExceptionStatus.OPEN
    assert (await plant.releases.view("B-1")).decision is None


async def test_ended_batches_are_evaluated_as_they_end_once(plant: Plant) -> None:
    await plant.effective_rule(RULE, at=utcnow() - timedelta(hours=1))
    await add_batch(plant.sessions, "B-2")  # still running: not evaluated
    minor = await plant.excursion(severity=Severity.MINOR)
    follower = asyncio.create_task(follow_batch_ends(plant.rules, interval=0.05))
    try:
        assert await plant.rules.evaluate_ended() == []
        await plant.end_batch()
        async with asyncio.timeout(30):
            while (await plant.review.get(minor)).status is ExceptionStatus.OPEN:
                await asyncio.sleep(0.05)
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower

    assert (await plant.releases.view("B-1")).evaluated
    assert not (await plant.releases.view("B-2")).evaluated
    assert await plant.rules.evaluate_ended() == []
