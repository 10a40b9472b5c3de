"""The harness reports a failing component with the tail of its log, and stops only its own.

Runs real processes (small shell scripts standing in for a component binary), no cluster:
so it is part of the fast suite, not marked e2e.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hack.cluster import procs


def fake_component(tmp_path: Path, name: str, target: str) -> Path:
    """A component binary's name on a real program (argv[0] is what the harness checks)."""
    exe = tmp_path / "bin" / name
    exe.parent.mkdir(exist_ok=True)
    exe.symlink_to(target)
    return exe


def test_a_component_that_exits_is_reported_with_its_log_tail(tmp_path: Path) -> None:
    state = tmp_path / "state"
    exe = fake_component(tmp_path, "etcd", "/bin/sh")
    procs.start(
        "etcd", [str(exe), "-c", 'echo "listen tcp: address already in use"; exit 3'], state
    )
    with pytest.raises(procs.ComponentFailed) as failed:
        procs.wait_for("etcd health", lambda: False, 30, state, ("etcd",))
    message = str(failed.value)
    assert "etcd exited while waiting for etcd health" in message
    assert "listen tcp: address already in use" in message


def test_a_component_that_never_gets_healthy_times_out(tmp_path: Path) -> None:
    state = tmp_path / "state"
    exe = fake_component(tmp_path, "kwok", "/bin/sh")
    procs.start("kwok", [str(exe), "-c", "echo waiting for nodes; sleep 60"], state)
    try:
        with pytest.raises(procs.ComponentFailed, match=r"(?s)timed out.*waiting for nodes"):
            procs.wait_for("nodes", lambda: False, 0.5, state, ("kwok",))
    finally:
        assert procs.stop("kwok", state)
    assert not procs.alive("kwok", state)


def test_stop_leaves_a_process_alone_whose_pid_was_reused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    exe = fake_component(tmp_path, "sleeper", "/usr/bin/sleep")
    pid = procs.start("sleeper", [str(exe), "60"], state)
    # the pid file now names a process that is not the recorded component
    (state / "pids" / "kube-scheduler.pid").write_text(f"{pid}\n")
    try:
        assert procs.pid_of("kube-scheduler", state) is None
        assert procs.stop("kube-scheduler", state) is False
        assert procs.alive("sleeper", state)
    finally:
        assert procs.stop("sleeper", state)
    assert not procs.alive("sleeper", state)
