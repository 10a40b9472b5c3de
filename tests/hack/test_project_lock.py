"""hack.project.locked: one build at a time, and a wait that says what it waits for."""

from __future__ import annotations

import fcntl
import threading
from pathlib import Path

import pytest

from hack.project import locked


def test_a_held_lock_is_waited_for_saying_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "build.lock"
    order: list[str] = []
    with path.open("a") as holder:  # another process's build (a separate open file)
        fcntl.flock(holder, fcntl.LOCK_EX)

        def second() -> None:
            with locked(path, "waiting for the other build"):
                order.append("second")

        waiter = threading.Thread(target=second)
        waiter.start()
        waiter.join(timeout=1.0)
        assert waiter.is_alive(), "the second build must wait while the first holds the lock"
        order.append("first done")
        fcntl.flock(holder, fcntl.LOCK_UN)
    waiter.join(timeout=10)
    assert order == ["first done", "second"]
    assert "waiting for the other build" in capsys.readouterr().err


def test_a_free_lock_is_taken_without_a_word(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with locked(tmp_path / "build.lock", "waiting for the other build"):
        pass
    assert capsys.readouterr().err == ""
