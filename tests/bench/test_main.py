"""``python -m bench``: option parsing, the final table, the exit code and ``--record``."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import bench.__main__ as runner
from bench.__main__ import BENCHMARKS, main
from bench.recorded import Recorded, dumps, load
from bench.results import Goal, Row


def test_only_and_quick_run_one_benchmark_and_print_the_table(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--quick", "--only", "journal-verify"]) == 0

    out = capsys.readouterr().out
    assert "journal-verify" in out
    assert "verdict" in out.splitlines()[0]
    assert "recorded" not in out.splitlines()[0]  # quick: not compared
    assert "goals met" in out
    assert "--quick: smoke size" in out
    for other in set(BENCHMARKS) - {"journal-verify"}:
        assert f"\n{other} " not in out


def test_unknown_benchmark_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--only", "nope"])

    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_record_is_refused_for_a_quick_run(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--quick", "--record"])

    assert info.value.code == 2
    assert "--record needs a full run" in capsys.readouterr().err


def fake_benchmarks(monkeypatch: pytest.MonkeyPatch, rows: dict[str, list[Row]]) -> None:
    """Benchmarks that return ``rows`` at once: the runner's gate without minutes of runs."""

    def fake_runner(name: str) -> Callable[..., Any]:
        async def run(*, quick: bool, progress: object) -> list[Row]:
            return rows[name]

        return run

    monkeypatch.setattr(runner, "_runner", fake_runner)


def recorded_file(path: Path, *figures: Recorded) -> Path:
    path.write_text(dumps(list(figures)), encoding="utf-8")
    return path


def figure(benchmark: str, metric: str, value: float, unit: str = "entries/s") -> Recorded:
    return Recorded(benchmark, metric, value, unit, "2026-11-21", "2 cores, load average 2.0")


def test_a_full_run_fails_on_a_regression_and_names_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_benchmarks(
        monkeypatch, {"journal-verify": [Row("journal-verify", "v", 50.0, "entries/s")]}
    )
    path = recorded_file(tmp_path / "r.json", figure("journal-verify", "v", 100.0))

    assert main(["--only", "journal-verify", "--recorded", str(path)]) == 1

    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[-2:] == ["recorded", "change"]
    assert "-50% REGRESSED > 25%" in out
    assert "FAILED: 1 regression(s)" in out
    assert "regressed    journal-verify: v: value 100 entries/s -> 50.0 entries/s" in out


def test_a_full_run_fails_on_a_missed_goal(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    row = Row("journal-verify", "v", 50.0, "entries/s", goal=Goal(100))
    fake_benchmarks(monkeypatch, {"journal-verify": [row]})

    assert main(["--only", "journal-verify", "--recorded", str(tmp_path / "none.json")]) == 1
    out = capsys.readouterr().out
    assert "FAILED: 1 goal(s) missed" in out
    assert "1 new" in out


def test_a_full_run_within_tolerance_with_skipped_rows_passes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        Row("journal-verify", "v", 90.0, "entries/s", goal=Goal(50)),
        Row.skipped("journal-verify", "pg", "entries/s", "no PostgreSQL"),
    ]
    fake_benchmarks(monkeypatch, {"journal-verify": rows})
    path = recorded_file(
        tmp_path / "r.json", figure("journal-verify", "v", 100.0), figure("journal-verify", "pg", 1)
    )

    assert main(["--only", "journal-verify", "--recorded", str(path)]) == 0
    assert "OK: every goal met" in capsys.readouterr().out


def test_record_merges_the_measured_rows_into_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_benchmarks(
        monkeypatch,
        {
            "journal-verify": [
                Row("journal-verify", "v", 50.0, "entries/s", baseline=100.0, baseline_label="b"),
                Row.skipped("journal-verify", "pg", "entries/s", "no PostgreSQL"),
            ]
        },
    )
    kept = figure("ingest", "rate", 12_000.0, "values/s")
    skipped = figure("journal-verify", "pg", 7.0)
    path = recorded_file(tmp_path / "r.json", figure("journal-verify", "v", 100.0), skipped, kept)

    # worse than recorded by 50 %, but recording accepts it
    assert main(["--only", "journal-verify", "--record", "--recorded", str(path)]) == 0

    assert "recorded 1 row(s)" in capsys.readouterr().out
    ingest, verify, pg = load(path)
    assert (ingest, pg) == (kept, skipped)
    assert (verify.value, verify.baseline, verify.baseline_label) == (50.0, 100.0, "b")
    assert re.fullmatch(r"\d+ cores, load average (\d+\.\d|unknown)", verify.machine)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", verify.date)
    assert verify.date != "2026-11-21"


def test_an_unreadable_recorded_file_stops_the_run_before_it_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_runner(name: str) -> None:
        raise AssertionError("benchmarks ran despite a broken recorded file")

    monkeypatch.setattr(runner, "_runner", no_runner)
    path = tmp_path / "r.json"
    path.write_text('{"rows": [{"benchmark": "b"}]}', encoding="utf-8")

    assert main(["--recorded", str(path)]) == 2
    assert "exactly the keys" in capsys.readouterr().err
