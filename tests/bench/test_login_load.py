"""Smoke run of the login-load benchmark at its quick size (no timings asserted)."""

from __future__ import annotations

from bench import login_load


async def test_quick_run_probes_health_idle_and_under_login_load() -> None:
    rows = await login_load.run(quick=True)

    size = login_load.QUICK
    assert len(rows) == 2 * len(size.clients)
    for row in rows:
        assert row.value is not None
        assert row.value > 0
        assert row.baseline is not None
        assert row.baseline > 0
        assert row.counts["probes"] == size.probes
        assert row.counts["failed_logins_per_s"] > 0  # the load really ran
    p50, p95 = rows[0], rows[1]
    assert p50.value is not None
    assert p95.value is not None
    assert p50.value <= p95.value  # same sample: an ordering, not a timing
    assert p95.goal is not None
