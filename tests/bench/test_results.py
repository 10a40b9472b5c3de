"""The pure reporting core of the benchmarks: statistics, goals, verdicts, the table."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.results import Goal, Row, Verdict, format_table, median, percentile


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 21)]  # 1..20

    assert percentile(values, 95) == 19.0
    assert percentile(values, 50) == 10.0
    assert percentile(values, 100) == 20.0
    assert percentile([7.0], 95) == 7.0


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50), st.floats(1, 100))
def test_percentile_is_a_measured_value_between_min_and_max(
    values: list[float], pct: float
) -> None:
    got = percentile(values, pct)

    assert got in values
    assert min(values) <= got <= max(values)


def test_empty_samples_are_refused() -> None:
    with pytest.raises(ValueError, match="no values"):
        median([])
    with pytest.raises(ValueError, match="no values"):
        percentile([], 95)
    with pytest.raises(ValueError, match="pct"):
        percentile([1.0], 0)


def test_goal_direction() -> None:
    rate, latency = Goal(2_000), Goal(50, higher_is_better=False)

    assert rate.met(2_000)
    assert not rate.met(1_999.9)
    assert latency.met(50)
    assert not latency.met(50.1)


def test_verdicts_and_ratio() -> None:
    met = Row("b", "rate", 3_000.0, "x/s", goal=Goal(2_000), baseline=1_500.0)
    missed = Row("b", "rate", 1_000.0, "x/s", goal=Goal(2_000))
    info = Row("b", "info", 5.0, "ms")
    skipped = Row.skipped("b", "pg", "x/s", "no PostgreSQL")

    assert (met.verdict, missed.verdict, info.verdict) == (
        Verdict.MET,
        Verdict.NOT_MET,
        Verdict.REPORT,
    )
    assert met.ratio == 2.0
    assert missed.ratio is None
    assert skipped.verdict is Verdict.SKIPPED
    assert skipped.value is None


def test_table_shows_goal_verdict_ratio_and_skip_reason() -> None:
    rows = [
        Row("journal", "SQLite", 2_500.0, "appends/s", Goal(2_000), 1_000.0, "plain INSERT"),
        Row("journal", "PG", 100.0, "appends/s", Goal(2_000)),
        Row.skipped("journal", "PostgreSQL", "appends/s", "no PostgreSQL"),
    ]

    table = format_table(rows)
    lines = table.splitlines()

    assert lines[0].split() == [
        "benchmark",
        "metric",
        "value",
        "baseline",
        "ratio",
        "goal",
        "verdict",
    ]
    assert "2.50x" in lines[2]
    assert lines[2].rstrip().endswith("met")
    assert lines[3].rstrip().endswith("NOT MET")
    assert "skipped: no PostgreSQL" in lines[4]
    assert "baseline: plain INSERT" in table


def test_table_gains_extra_columns_one_cell_per_row() -> None:
    rows = [Row("b", "rate", 1.0, "x/s"), Row("b", "lat", 2.0, "ms")]

    lines = format_table(rows, {"change": ["+5% better", "new"]}).splitlines()

    assert lines[0].split()[-2:] == ["verdict", "change"]
    assert lines[2].endswith("+5% better")
    assert lines[3].endswith("new")
    with pytest.raises(ValueError, match="1 cells for 2 rows"):
        format_table(rows, {"change": ["new"]})
