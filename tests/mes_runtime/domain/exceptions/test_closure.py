"""Auto-closure rules: which exceptions a rule closes, why not the others, and which
version decides (the one effective when the batch ended; never a draft)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from mes_runtime.domain.exceptions import (
    Category,
    ClosureCriteria,
    ClosureRule,
    ExceptionFacts,
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
from mes_runtime.kernel.events import Severity
from tests.mes_runtime.review_rows import MINOR_TEMPERATURE

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
RULE = MINOR_TEMPERATURE
EXCURSION = ReviewException(
    id=7,
    batch_id="B-1",
    category=Category.LIMIT_EXCURSION,
    severity=Severity.MINOR,
    subject="p:BR-101.Temperature",
    message="BR-101.Temperature = 37.8 degC is outside [35.5, 37.5] degC while p runs",
    raised_at=T0,
)
FACTS = ExceptionFacts(
    exception=EXCURSION,
    equipment="BR-101",
    parameter="Temperature",
    low=35.5,
    high=37.5,
    recovered_at=T0 + timedelta(seconds=40),
    values=(37.8, 37.9, 37.6),
    others_on_unit=(),
)


def test_a_short_small_recovered_lone_excursion_closes_with_its_evidence() -> None:
    decision = decide(RULE, FACTS)

    assert decision is not None
    assert decision.closes
    assert (decision.rule_id, decision.rule_version) == ("minor-temperature", 1)
    assert decision.evidence["duration_s"] == 40
    assert decision.evidence["max_distance"] == pytest.approx(0.4)
    assert decision.record()["rule"]["digest"] == RULE.digest()


@pytest.mark.parametrize(
    ("facts", "reason"),
    [
        (replace(FACTS, recovered_at=None), "did not recover"),
        (replace(FACTS, recovered_at=T0 + timedelta(seconds=61)), "lasted 61 s"),
        (replace(FACTS, values=(38.1,)), "went 0.6 beyond"),
        (replace(FACTS, values=()), "went unknown beyond"),
        (replace(FACTS, others_on_unit=(3, 4)), "other exceptions on BR-101: 3, 4"),
    ],
)
def test_it_stays_open_when_the_evidence_falls_short(facts: ExceptionFacts, reason: str) -> None:
    decision = decide(RULE, facts)

    assert decision is not None
    assert not decision.closes
    assert any(reason in r for r in decision.reasons), decision.reasons


@pytest.mark.parametrize(
    "exception",
    [
        replace(EXCURSION, severity=Severity.MAJOR),
        replace(EXCURSION, category=Category.EQUIPMENT_LOSS),
    ],
)
def test_a_rule_does_not_apply_outside_its_category_and_severity(
    exception: ReviewException,
) -> None:
    assert decide(RULE, replace(FACTS, exception=exception)) is None
    assert decide(RULE, replace(FACTS, parameter="pH")) is None


def test_lifecycle_draft_approved_effective_retired() -> None:
    status = RuleStatus.DRAFT
    for step, expected in [
        ("approve", RuleStatus.APPROVED),
        ("make_effective", RuleStatus.EFFECTIVE),
        ("retire", RuleStatus.RETIRED),
    ]:
        status = next_status(status, step)
        assert status is expected
    with pytest.raises(
        RuleLifecycleError, match="cannot make_effective a rule version that is draft"
    ):
        next_status(RuleStatus.DRAFT, "make_effective")
    with pytest.raises(RuleLifecycleError, match="unknown step"):
        next_status(RuleStatus.DRAFT, "publish")


def test_the_version_effective_at_batch_end_decides_never_a_draft() -> None:
    v2 = RULE.model_copy(update={"version": 2})
    versions = [
        RuleVersion(RULE, RuleStatus.RETIRED, effective_at=T0, retired_at=T0 + timedelta(hours=2)),
        RuleVersion(v2, RuleStatus.EFFECTIVE, effective_at=T0 + timedelta(hours=2)),
        RuleVersion(
            RULE.model_copy(update={"rule_id": "draft-rule"}), RuleStatus.DRAFT, effective_at=None
        ),
    ]

    assert effective_rules(versions, T0 - timedelta(seconds=1)) == []
    assert effective_rules(versions, T0 + timedelta(hours=1)) == [RULE]
    assert effective_rules(versions, T0 + timedelta(hours=3)) == [v2]


def test_a_rule_is_validated_as_data() -> None:
    with pytest.raises(ValidationError, match="rule_id"):
        ClosureRule.model_validate({**RULE.model_dump(), "rule_id": "Has Spaces"})
    with pytest.raises(ValidationError, match="max_duration_s"):
        ClosureCriteria.model_validate({"category": "limit_excursion", "max_duration_s": 0})
    assert ClosureRule.model_validate_json(RULE.model_dump_json()).digest() == RULE.digest()


def test_limits_are_read_from_the_engines_message() -> None:
    assert limits_from_message(EXCURSION.message) == (35.5, 37.5)
    assert limits_from_message("UV = 5 bar is outside [-inf, 3] bar while x runs") == (None, 3.0)
    assert limits_from_message("DO low") == (None, None)


def test_a_closing_decision_wins_over_a_refusal() -> None:
    refusal = decide(RULE, replace(FACTS, recovered_at=None))
    closing = decide(RULE.model_copy(update={"rule_id": "other"}), FACTS)
    assert refusal is not None
    assert closing is not None

    assert first_decisions([refusal, closing]) == {7: closing}
    assert first_decisions([refusal]) == {7: refusal}
