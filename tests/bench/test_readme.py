"""README.md's benchmark table is generated from the recorded figures, never by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.readme import END, README_PATH, START, extract_table, main, render_table, splice
from bench.recorded import RECORDED_PATH, Recorded, dumps, load
from bench.results import Goal


def test_the_readme_table_is_exactly_what_the_recorded_file_generates() -> None:
    readme = README_PATH.read_text(encoding="utf-8")

    assert extract_table(readme) == render_table(load(RECORDED_PATH)), (
        "README.md's benchmark table is generated: run `python -m bench.readme`"
    )


def test_a_row_shows_result_baseline_ratio_goal_verdict_and_when() -> None:
    figure = Recorded(
        "trends", "SQLite p95", 322.0, "ms", "2026-11-30", "2 cores, load average ~10",
        Goal(200, higher_is_better=False), 27_200.0, "raw | values", "p50 226 ms",
    )  # fmt: skip

    table = render_table([figure]).splitlines()

    assert table[0] == "| benchmark | result | in-run baseline | goal | measured |"
    assert table[2] == (
        "| `trends`: SQLite p95 | 322 ms; p50 226 ms | raw \\| values: 27,200 ms (0.0118x) "
        "| ≤ 200 ms: **not met** | 2026-11-30, 2 cores, load average ~10 |"
    )


def test_a_row_without_goal_or_baseline_is_a_report() -> None:
    figure = Recorded("live", "delivered", 1_000.0, "events/s", "2026-11-30", "")

    assert render_table([figure]).splitlines()[2] == (
        "| `live`: delivered | 1,000 events/s | - | report | 2026-11-30 |"
    )


def test_splice_replaces_only_what_stands_between_the_markers() -> None:
    text = f"before\n{START}\nold | table\n{END}\nafter\n"

    spliced = splice(text, "| new |")

    assert spliced == f"before\n{START}\n\n| new |\n\n{END}\nafter\n"
    assert extract_table(spliced) == "| new |"
    assert splice(spliced, "| new |") == spliced


@pytest.mark.parametrize(
    "text", ["no markers", f"{START}\n{START}\n{END}", f"{END}\nx\n{START}", f"{START} only"]
)
def test_missing_doubled_or_swapped_markers_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="bench-table"):
        splice(text, "| t |")


def test_main_writes_the_table_and_check_says_when_it_is_stale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    readme, recorded = tmp_path / "README.md", tmp_path / "recorded.json"
    readme.write_text(f"# x\n{START}\n| hand-written |\n{END}\n", encoding="utf-8")
    recorded.write_text(
        dumps([Recorded("b", "m", 5.0, "ms", "2026-12-02", "2 cores")]), encoding="utf-8"
    )
    paths = ["--readme", str(readme), "--recorded", str(recorded)]

    assert main([*paths, "--check"]) == 1
    assert "run `python -m bench.readme`" in capsys.readouterr().err
    assert "hand-written" in readme.read_text(encoding="utf-8")
    assert main(paths) == 0
    assert "| `b`: m | 5 ms |" in readme.read_text(encoding="utf-8")
    assert main([*paths, "--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_main_reports_a_readme_without_markers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# no table\n", encoding="utf-8")

    assert main(["--readme", str(readme), "--recorded", str(tmp_path / "none.json")]) == 2
    assert "bench-table" in capsys.readouterr().err
