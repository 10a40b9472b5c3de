"""Smoke run of the QMS outbox benchmark at its quick size (no timings)."""

from __future__ import annotations

from bench import qms_outbox


async def test_quick_run_delivers_every_event_once() -> None:
    (row,) = await qms_outbox.run(quick=True)

    assert row.benchmark == "qms-outbox"
    assert row.value is not None
    assert row.value > 0
    assert row.baseline is not None
    assert row.counts["processed"] == qms_outbox.QUICK.events
