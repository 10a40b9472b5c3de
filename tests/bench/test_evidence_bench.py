"""Smoke run of the evidence benchmark at its quick size (structure and counts, no timings)."""

from __future__ import annotations

from bench import evidence


async def test_quick_run_generates_whole_packages() -> None:
    (row,) = await evidence.run(quick=True)
    assert row.benchmark == "evidence"
    assert row.value is not None
    assert row.value > 0
    assert row.baseline is not None
    assert row.baseline > 0
    assert row.goal is not None
    assert not row.goal.higher_is_better
    assert row.counts["rounds"] == evidence.QUICK
    assert row.counts["files"] >= 12  # json, html, pdf, manifest, signature, 7+ evidence files
    assert row.counts["bytes"] > 10_000
