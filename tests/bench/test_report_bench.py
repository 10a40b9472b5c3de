"""Smoke run of the report benchmark at its quick size (structure and counts, no timings)."""

from __future__ import annotations

from bench import report
from bench.results import Row


async def test_quick_run_reports_the_whole_batch() -> None:
    rows = await report.run(quick=True)
    size = report.QUICK
    assert [row.benchmark for row in rows] == ["report"] * 8  # SQLite, then PostgreSQL
    assert all("PostgreSQL" in row.metric for row in rows[4:])
    for start in (0, 4):
        _check(rows[start : start + 4], size)


def _check(rows: list[Row], size: report.ReportSize) -> None:
    to_view, pdf, html, xml = rows
    assert pdf.goal is not None
    assert not pdf.goal.higher_is_better
    for row in rows:
        assert row.value is not None
        assert row.value > 0
        assert row.baseline is not None
        assert row.baseline > 0
        assert row.counts["journal_entries"] == size.entries
        assert row.counts["record_entries"] >= size.entries  # + the rules' decisions
        assert row.counts["record_values"] == row.counts["process_values"] == size.values
        assert row.counts["open_exceptions"] == 1
        assert row.counts["pdf"] > 0
        assert row.counts["html"] > 0
        assert row.counts["xml"] > 0
    assert "review view" in to_view.metric
    assert "PDF" in pdf.metric
    assert "HTML" in html.metric
    assert "BatchML" in xml.metric
