"""Start, watch and stop the cluster's component processes by pid file.

Why pid files rather than a supervisor: the components must outlive `make cluster` (the
tests and the operator use them afterwards), and `make cluster-down` must stop exactly the
processes we started, never anything matched by name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

# Popen handles of the components this process started: kept so that they are reaped
# (poll) rather than left as zombies or garbage-collected while running.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def free_port() -> int:
    """A free loopback port for a component (the standard library's own way: the tools
    here run before the virtualenv, so not ``holon_testing.net.free_port``)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ComponentFailed(RuntimeError):
    """A component exited or never became healthy; carries the tail of its log."""


def log_tail(log: Path, lines: int = 30) -> str:
    if not log.exists():
        return f"(no log at {log})"
    text = log.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def start(name: str, argv: list[str], state: Path, executable: str | None = None) -> int:
    """Start argv detached (own session), logging to logs/NAME.log; record its pid.

    ``executable`` runs a program under another name (``argv[0]`` is then NAME, which is
    how :func:`pid_of` recognises it: used for our own Python components)."""
    logs, pids = state / "logs", state / "pids"
    logs.mkdir(parents=True, exist_ok=True)
    pids.mkdir(parents=True, exist_ok=True)
    with (logs / f"{name}.log").open("ab") as log:
        proc = subprocess.Popen(
            argv,
            executable=executable,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=state,
        )
    _CHILDREN[proc.pid] = proc
    (pids / f"{name}.pid").write_text(f"{proc.pid}\n")
    return proc.pid


def pid_of(name: str, state: Path) -> int | None:
    """The recorded pid, if that process still runs one of our binaries."""
    f = state / "pids" / f"{name}.pid"
    try:
        pid = int(f.read_text().strip())
        child = _CHILDREN.get(pid)
        if child is not None and child.poll() is not None:
            return None
        for _ in range(50):  # cmdline reads empty while the process is still exec'ing
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            stat = Path(f"/proc/{pid}/stat").read_text()
            if cmdline:
                break
            time.sleep(0.01)
    except (OSError, ValueError):
        return None
    # a zombie (state Z) is gone for our purposes; a reused pid runs something else
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return None
    return pid if Path(cmdline.split(b"\0", 1)[0].decode()).name == name else None


def alive(name: str, state: Path) -> bool:
    return pid_of(name, state) is not None


def stop(name: str, state: Path, grace: float = 10.0) -> bool:
    """SIGTERM then SIGKILL the recorded process and its process group (it was started as
    a session leader, so the group holds exactly what it spawned). True if it was running."""
    pid = pid_of(name, state)
    if pid is None:
        return False
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and pid_of(name, state) is not None:
        time.sleep(0.1)
    _signal_group(pid, signal.SIGKILL)
    while pid_of(name, state) is not None:
        time.sleep(0.05)
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def wait_for(
    what: str,
    check: Callable[[], bool],
    timeout: float,
    state: Path,
    watch: tuple[str, ...],
) -> None:
    """Poll check() until true; fail early, with its log, if a watched component died."""
    deadline = time.monotonic() + timeout
    while True:
        for name in watch:
            if not alive(name, state):
                raise ComponentFailed(
                    f"{name} exited while waiting for {what}; last lines of "
                    f"{state / 'logs' / f'{name}.log'}:\n{log_tail(state / 'logs' / f'{name}.log')}"
                )
        if check():
            return
        if time.monotonic() > deadline:
            tails = "\n".join(
                f"--- {n}.log ---\n{log_tail(state / 'logs' / f'{n}.log', 15)}" for n in watch
            )
            raise ComponentFailed(f"timed out after {timeout:.0f}s waiting for {what}\n{tails}")
        time.sleep(0.25)
