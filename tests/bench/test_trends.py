"""Smoke run of the trends benchmark at its quick size (structure and counts, no timings)."""

from __future__ import annotations

from bench import trends


async def test_quick_run_reports_the_trend_and_the_raw_baseline_per_backend() -> None:
    rows = await trends.run(quick=True)

    measured = [r for r in rows if r.value is not None]
    assert {r.benchmark for r in rows} == {"trends"}
    assert measured, rows
    for row in measured:
        assert row.value is not None
        assert row.value > 0
        assert row.baseline is not None
        assert row.counts["values"] == trends.QUICK.values
        assert 0 < row.counts["buckets"] <= 4 * trends.POINTS
