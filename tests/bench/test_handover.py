"""Smoke run of the hand-over benchmark at its quick size (no timings asserted)."""

from __future__ import annotations

import pytest

from bench import handover

pytestmark = pytest.mark.postgres


async def test_quick_run_measures_take_overs_and_command_round_trips() -> None:
    rows = await handover.run(quick=True)

    assert [row.value is not None for row in rows] == [True] * 4, rows
    commands, median, sigterm, sigkill = rows
    for row in (commands, median):
        assert row.counts["commands"] == 2 * handover.QUICK.commands
        assert row.baseline is not None  # the owner-direct figure, same run
    assert sigterm.counts["take_overs"] == handover.QUICK.rounds
    assert sigkill.counts["take_overs"] == handover.QUICK.rounds
    assert all(row.value is not None and row.value >= 0 for row in rows)
