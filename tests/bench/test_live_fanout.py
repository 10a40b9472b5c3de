"""Smoke run of the SSE fan-out benchmark at its quick size (structure and counts)."""

from __future__ import annotations

from bench import live_fanout


async def test_quick_run_delivers_every_store_to_every_client() -> None:
    delivered, latency = await live_fanout.run(quick=True)

    size = live_fanout.QUICK
    assert delivered.value is not None
    assert delivered.value > 0
    assert latency.value is not None
    assert latency.baseline is not None
    stores = delivered.counts["stores"]
    assert stores == int(size.rate * size.seconds)
    assert delivered.counts["delivered"] == size.clients * stores  # nothing lost
