"""Smoke run of the journal append benchmark at its quick size (no timings)."""

from __future__ import annotations

from bench import journal_append


async def test_quick_run_appends_a_verified_chain_on_each_backend() -> None:
    rows = await journal_append.run(quick=True)

    size = journal_append.QUICK
    assert [r.metric.split(",")[0] for r in rows] == [
        "SQLite",
        "SQLite",
        "PostgreSQL",
        "PostgreSQL",
    ]
    sqlite_rows, pg_rows = rows[:2], rows[2:]
    for row in sqlite_rows:
        assert row.value is not None
        assert row.value > 0
        assert row.baseline is not None
        assert row.baseline > 0
        assert row.goal is not None
        assert 0 < row.counts["appends"] <= 2 * size.repeats * size.appends
        assert row.counts["entries_verified"] == row.counts["appends"]
        assert row.counts["chain_ok"] == 1
    for row in pg_rows:  # PostgreSQL is reported, never a goal; skipped without binaries
        assert row.goal is None
        if row.value is None:
            assert row.note.startswith("skipped: no PostgreSQL")
        else:
            assert row.value > 0
            assert row.counts["entries_verified"] == row.counts["appends"]
            assert row.counts["chain_ok"] == 1
