"""Smoke run of the review-rules benchmark at its quick size (no timings)."""

from __future__ import annotations

from bench import review_rules
from mes_runtime.domain.exceptions import decide


def test_built_facts_are_decided_some_closed_some_not() -> None:
    facts = review_rules.build_facts(200)
    decisions = [d for f in facts for r in review_rules.RULES if (d := decide(r, f)) is not None]

    assert 0 < sum(d.closes for d in decisions) < len(decisions)


async def test_quick_run_reports_both_rates() -> None:
    decisions, trend = await review_rules.run(quick=True)

    size = review_rules.QUICK
    assert (decisions.benchmark, trend.benchmark) == ("review-rules", "review-rules")
    assert decisions.value is not None
    assert decisions.value > 0
    assert trend.value is not None
    assert trend.value > 0
    assert decisions.counts["exceptions"] == size.exceptions
    assert 0 < decisions.counts["closed"] < size.exceptions
    assert trend.counts["points"] == size.points
