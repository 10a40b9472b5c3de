"""``python -m bench``: option parsing and the final table."""

from __future__ import annotations

import pytest

from bench.__main__ import BENCHMARKS, main


def test_only_and_quick_run_one_benchmark_and_print_the_table(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--quick", "--only", "journal-verify"]) == 0

    out = capsys.readouterr().out
    assert "journal-verify" in out
    assert "verdict" in out.splitlines()[0]
    assert "goals met" in out
    for other in set(BENCHMARKS) - {"journal-verify"}:
        assert f"\n{other} " not in out


def test_unknown_benchmark_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--only", "nope"])

    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
