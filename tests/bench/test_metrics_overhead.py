"""Smoke run of the metrics-overhead benchmark at its quick size (no timings)."""

from __future__ import annotations

from bench import metrics_overhead


async def test_quick_run_measures_both_sides_and_the_metrics_count_what_ran() -> None:
    rows = await metrics_overhead.run(quick=True)

    size = metrics_overhead.QUICK
    ingestion, command = rows
    for row in rows:
        assert row.value is not None
        assert row.value > 0
        assert row.baseline is not None
        assert row.baseline > 0
        assert row.ratio is not None
    values_on = size.ingest_repeats * size.ingest_rows
    assert ingestion.counts == {"values_on": values_on, "values_counted": values_on}
    trips_on = 2 * size.command_cycles
    assert command.counts == {"round_trips_on": trips_on, "commands_counted": trips_on}
