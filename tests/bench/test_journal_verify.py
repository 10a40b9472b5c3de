"""Smoke run of the journal verification benchmark at its quick size (no timings)."""

from __future__ import annotations

from bench import journal_verify
from mes_runtime.ebr.chain import ChainVerifier


def test_built_entries_form_a_valid_chain() -> None:
    rows = journal_verify.build_entries(50)
    verifier = ChainVerifier()

    assert verifier.feed(rows)
    assert verifier.result().entries_checked == 50
    assert [row[0] for row in rows] == list(range(1, 51))


async def test_quick_run_verifies_every_entry() -> None:
    (row,) = await journal_verify.run(quick=True)

    size = journal_verify.QUICK
    assert row.benchmark == "journal-verify"
    assert row.value is not None
    assert row.value > 0
    assert row.baseline is not None
    assert row.baseline > 0
    assert row.counts["chain_ok"] == 1
    assert row.counts["runs"] == size.repeats
    assert row.counts["entries_checked_min"] == row.counts["entries_checked_max"] == size.entries
    assert row.goal is not None
