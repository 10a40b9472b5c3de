"""Smoke run of the manifest import benchmark at its quick size (no timings)."""

from __future__ import annotations

from bench import manifest_import


async def test_quick_run_imports_a_large_vendor_manifest_completely() -> None:
    (row,) = await manifest_import.run(quick=True)

    assert row.benchmark == "manifest-import"
    assert row.value is not None
    assert row.baseline is not None
    assert row.counts["services"] >= 10
    assert row.counts["items"] >= 150
    assert row.counts["procedures"] == 2 * row.counts["services"]
    assert row.counts["warnings"] == 0
    assert row.goal is not None
