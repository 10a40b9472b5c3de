"""Rows against their recorded figures, and when a run fails: the pure core of the gate."""

from __future__ import annotations

import pytest

from bench.compare import (
    Basis,
    Status,
    compare,
    compare_row,
    comparison_columns,
    format_summary,
    judge,
)
from bench.recorded import Recorded
from bench.results import Goal, Row, Tolerance


def figure(
    value: float,
    unit: str = "x/s",
    *,
    baseline: float | None = None,
    metric: str = "rate",
    goal: Goal | None = None,
) -> Recorded:
    return Recorded(
        "b", metric, value, unit, "2026-11-21", "2 cores, load average 2.0", goal, baseline
    )


def test_a_rate_that_rose_is_better_and_one_that_fell_within_tolerance_is_worse() -> None:
    rose = compare_row(Row("b", "rate", 112.0, "x/s"), figure(100.0))
    fell = compare_row(Row("b", "rate", 80.0, "x/s"), figure(100.0))

    assert (rose.status, rose.basis) == (Status.BETTER, Basis.VALUE)
    assert rose.change == pytest.approx(0.12)
    assert fell.status is Status.WORSE
    assert fell.change == pytest.approx(-0.20)


def test_a_rate_that_fell_beyond_the_tolerance_regressed() -> None:
    comparison = compare_row(Row("b", "rate", 74.0, "x/s"), figure(100.0))

    assert comparison.status is Status.REGRESSED
    assert comparison.tolerance == 0.25


def test_a_latency_is_better_lower_and_regresses_when_it_grows() -> None:
    faster = compare_row(Row("b", "rate", 40.0, "ms"), figure(50.0, "ms"))
    slower = compare_row(Row("b", "rate", 60.0, "ms"), figure(50.0, "ms"))
    much_slower = compare_row(Row("b", "rate", 63.0, "ms"), figure(50.0, "ms"))

    assert faster.status is Status.BETTER
    assert slower.status is Status.WORSE
    assert much_slower.status is Status.REGRESSED


def test_the_goal_decides_the_direction_over_the_unit() -> None:
    # a rate unit, but the goal says lower is better (say, failed logins per second)
    row = Row("b", "rate", 130.0, "x/s", goal=Goal(1_000, higher_is_better=False))

    assert compare_row(row, figure(100.0)).status is Status.REGRESSED
    assert Row("b", "count", 3.0, "requests").higher_is_better is False
    assert Row("b", "rate", 3.0, "events/s").higher_is_better is True


def test_the_ratio_to_the_in_run_baseline_is_compared_when_both_have_one() -> None:
    # a busier machine: value down 40 %, but its baseline fell as much: not a regression
    row = Row("b", "rate", 60.0, "x/s", baseline=120.0)
    comparison = compare_row(row, figure(100.0, baseline=200.0))

    assert comparison.basis is Basis.RATIO
    assert (comparison.was, comparison.now) == (0.5, 0.5)
    assert comparison.status is Status.SAME


def test_the_ratio_catches_what_the_value_hides() -> None:
    # value up on a quieter machine, but the baseline rose far more: the code got slower
    row = Row("b", "rate", 110.0, "x/s", baseline=400.0)

    assert compare_row(row, figure(100.0, baseline=200.0)).status is Status.REGRESSED


def test_the_value_is_compared_when_either_side_lacks_a_baseline() -> None:
    now_only = compare_row(Row("b", "rate", 70.0, "x/s", baseline=10.0), figure(100.0))
    recorded_only = compare_row(Row("b", "rate", 70.0, "x/s"), figure(100.0, baseline=10.0))

    assert (now_only.basis, now_only.status) == (Basis.VALUE, Status.REGRESSED)
    assert (recorded_only.basis, recorded_only.status) == (Basis.VALUE, Status.REGRESSED)


def test_a_row_sets_its_own_tolerance_and_basis() -> None:
    lenient = Row("b", "lag", 90.0, "ms", tolerance=Tolerance(worse_by=1.0))
    by_value = Row("b", "rate", 110.0, "x/s", baseline=400.0, tolerance=Tolerance(by_ratio=False))

    assert compare_row(lenient, figure(50.0, "ms")).status is Status.WORSE
    assert compare_row(lenient, figure(40.0, "ms")).status is Status.REGRESSED
    compared = compare_row(by_value, figure(100.0, baseline=200.0))
    assert (compared.basis, compared.status) == (Basis.VALUE, Status.BETTER)


def test_a_tolerance_is_a_finite_fraction() -> None:
    with pytest.raises(ValueError, match="worse_by"):
        Tolerance(worse_by=-0.1)
    with pytest.raises(ValueError, match="worse_by"):
        Tolerance(worse_by=float("inf"))


def test_a_row_with_no_recorded_figure_or_another_unit_is_new() -> None:
    assert compare_row(Row("b", "rate", 1.0, "x/s"), None).status is Status.NEW
    assert compare_row(Row("b", "rate", 1.0, "ms"), figure(1.0, "s")).status is Status.NEW


def test_a_skipped_row_is_not_compared() -> None:
    skipped = Row.skipped("b", "rate", "x/s", "no PostgreSQL")

    assert compare_row(skipped, figure(100.0)).status is Status.SKIPPED


def test_from_zero_any_worse_move_regresses() -> None:
    failures = Row("b", "failed", 2.0, "requests")

    assert compare_row(failures, figure(0.0, "requests")).status is Status.REGRESSED
    assert compare_row(failures, figure(0.0, "requests")).change is None
    assert compare_row(Row("b", "failed", 0.0, "requests"), figure(0.0, "requests")).status is (
        Status.SAME
    )
    assert compare_row(Row("b", "rate", 5.0, "x/s"), figure(0.0)).status is Status.BETTER


def test_compare_matches_rows_by_benchmark_and_metric() -> None:
    rows = [Row("b", "rate", 100.0, "x/s"), Row("b", "other", 1.0, "x/s")]

    statuses = [c.status for c in compare(rows, [figure(50.0), figure(1.0, metric="gone")])]

    assert statuses == [Status.BETTER, Status.NEW]


def test_a_missed_goal_fails_the_run_and_is_named() -> None:
    rows = [Row("b", "rate", 50.0, "x/s", goal=Goal(100))]
    outcome = judge(rows, compare(rows, []))

    summary = format_summary(outcome, compare(rows, []), "bench/recorded.json")

    assert outcome.exit_code == 1
    assert "FAILED: 1 goal(s) missed" in summary
    assert "goal missed  b: rate: 50.0 x/s, goal >= 100 x/s" in summary


def test_a_regression_fails_the_run_and_is_named_with_its_recorded_context() -> None:
    rows = [Row("b", "rate", 50.0, "x/s")]
    comparisons = compare(rows, [figure(100.0)])
    outcome = judge(rows, comparisons)

    summary = format_summary(outcome, comparisons, "bench/recorded.json")

    assert outcome.exit_code == 1
    assert "FAILED: 1 regression(s)" in summary
    assert "regressed    b: rate: value 100 x/s -> 50.0 x/s (-50%, tolerance 25%)" in summary
    assert "recorded 2026-11-21, 2 cores, load average 2.0" in summary


def test_better_within_new_and_skipped_rows_pass() -> None:
    rows = [
        Row("b", "rate", 120.0, "x/s"),
        Row("b", "slower", 90.0, "x/s"),
        Row("b", "new", 1.0, "x/s"),
        Row.skipped("b", "pg", "x/s", "no PostgreSQL"),
    ]
    recorded = [figure(100.0), figure(100.0, metric="slower"), figure(100.0, metric="pg")]
    comparisons = compare(rows, recorded)
    outcome = judge(rows, comparisons)

    summary = format_summary(outcome, comparisons, "bench/recorded.json")

    assert outcome.exit_code == 0
    assert "1 better, 1 worse, 1 new, 1 skipped" in summary
    assert summary.endswith("OK: every goal met, no row worse than recorded beyond its tolerance")


def test_a_quick_run_never_fails_and_says_why() -> None:
    rows = [Row("b", "rate", 1.0, "x/s", goal=Goal(100))]
    comparisons = compare(rows, [figure(100.0)])
    outcome = judge(rows, comparisons, quick=True)

    assert outcome.missed_goals
    assert outcome.regressions
    assert outcome.exit_code == 0
    assert "not compared" in format_summary(outcome, [], "bench/recorded.json")


def test_recording_accepts_a_regression_but_not_a_missed_goal() -> None:
    slower = [Row("b", "rate", 50.0, "x/s")]
    missed = [Row("b", "rate", 50.0, "x/s", goal=Goal(100))]
    recorded = [figure(100.0)]

    accepted = judge(slower, compare(slower, recorded), recording=True)
    failed = judge(missed, compare(missed, recorded), recording=True)

    assert accepted.exit_code == 0
    assert "accepted as the new figures" in format_summary(
        accepted, compare(slower, recorded), "r.json"
    )
    assert failed.exit_code == 1
    assert "regressed" not in format_summary(failed, compare(missed, recorded), "r.json")


def test_the_table_columns_show_the_recorded_figure_and_the_change() -> None:
    rows = [
        Row("b", "rate", 60.0, "x/s", baseline=120.0),
        Row("b", "lat", 80.0, "ms"),
        Row("b", "new", 1.0, "x/s"),
    ]
    recorded = [figure(100.0, baseline=100.0), figure(50.0, "ms", metric="lat")]

    columns = comparison_columns(compare(rows, recorded))

    assert columns["recorded"] == ["100 x/s (1x)", "50.0 ms", "-"]
    assert columns["change"] == ["-50% REGRESSED (ratio) > 25%", "+60% REGRESSED > 25%", "new"]
