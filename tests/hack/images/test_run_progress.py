"""Long steps report progress and fail loudly with the command's output."""

from __future__ import annotations

import sys

import pytest

from hack.images.run_progress import elapsed, run_logged


def test_returns_the_output_lines(capsys: pytest.CaptureFixture[str]) -> None:
    lines = run_logged("echo", [sys.executable, "-c", "print('a'); print('b')"])
    assert lines == ["a", "b"]
    assert "[echo] done in 0m" in capsys.readouterr().out


def test_prints_the_last_line_while_the_command_runs(capsys: pytest.CaptureFixture[str]) -> None:
    code = "import time; print('working', flush=True); time.sleep(1)"
    run_logged("slow", [sys.executable, "-c", code], tick=0.05)
    assert "[slow] 0m00s: working" in capsys.readouterr().out


def test_failure_shows_the_tail_and_exits(capsys: pytest.CaptureFixture[str]) -> None:
    code = "import sys; print('it broke'); sys.exit(4)"
    with pytest.raises(SystemExit, match=r"broken failed \(exit 4\)"):
        run_logged("broken", [sys.executable, "-c", code])
    assert "it broke" in capsys.readouterr().err


def test_elapsed_is_minutes_and_seconds() -> None:
    assert elapsed(0) == "0m00s"
    assert elapsed(125.9) == "2m05s"
