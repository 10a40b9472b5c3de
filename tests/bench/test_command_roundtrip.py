"""Smoke run of the command round-trip benchmark at its quick size (no timings)."""

from __future__ import annotations

from bench import command_roundtrip


async def test_quick_run_measures_every_round_trip() -> None:
    rows = await command_roundtrip.run(quick=True)

    size = command_roundtrip.QUICK
    assert len(rows) == 2 * len(size.publishing_intervals_ms)
    p50, p95 = rows[0], rows[1]
    for row in rows:
        assert row.value is not None
        assert row.value > 0
        assert row.baseline is not None
        assert row.baseline > 0
        assert row.counts == {"round_trips": 2 * size.cycles, "reads": size.reads}
    assert p50.value is not None
    assert p95.value is not None
    assert p50.value <= p95.value  # same sample: an ordering, not a timing
    assert p50.goal is None
    assert p95.goal is not None
    assert not p95.goal.higher_is_better
