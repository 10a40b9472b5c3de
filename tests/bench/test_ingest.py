"""Smoke run of the ingest benchmark at its quick size (no timings).

Real simulator process, real OPC UA over loopback, real SQLite file: the counts must add
up (every stored value was timed, rates are stored values over the window).
"""

from __future__ import annotations

import pytest

from bench import ingest


async def test_quick_run_stores_values_and_reports_consistent_counts() -> None:
    rows = await ingest.run(quick=True)

    size = ingest.QUICK
    steps = [r for r in rows if r.metric.startswith("stored values/s")]
    assert len(steps) == len(size.steps)
    for row, fraction in zip(steps, size.steps, strict=True):
        counts = row.counts
        assert counts["tags"] == round(size.extra_tags * fraction) * len(size.modules)
        assert counts["values_stored"] > 0
        assert counts["samples_timed"] == counts["values_stored"]
        assert 1 <= counts["inserts"] <= counts["values_stored"]
        assert row.value == pytest.approx(counts["values_stored"] / size.window_s)
        assert row.baseline is not None
        assert row.baseline > 0
    (goal_row,) = [r for r in rows if r.goal is not None]
    assert goal_row.metric.startswith("max sustained")
    assert goal_row.counts["steps"] == len(size.steps)
    assert goal_row.value in {0.0, *(r.value for r in steps)}
    lags = [r for r in rows if r.metric.startswith("lag")]
    assert len(lags) == 4
    assert all(r.value is not None and r.value >= 0 for r in lags)
