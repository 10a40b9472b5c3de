"""The project's simulator (``mes-runtime simulate``) as a real subprocess, for tests.

Used where the code under test must not import the runtime (the operator) or where the
equipment must be another process, as on a plant. Each layout gets its own process; the
``name<TAB>endpoint<TAB>manifest`` line the simulator prints is the readiness signal.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from mes_runtime.mtp.manifest import ModuleManifest, load_manifest

__all__ = ["SimulatedModule", "simulated_module", "stop_process"]

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class SimulatedModule:
    """One module served by a simulator subprocess: where, and its published manifest."""

    endpoint: str
    manifest: ModuleManifest
    manifest_path: Path


def _start(
    module: str, layout: str, workdir: Path, host: str, time_factor: float
) -> subprocess.Popen[str]:
    with (workdir / f"simulator-{layout}.log").open("w") as log:
        return subprocess.Popen(
            [
                sys.executable, "-m", "mes_runtime", "simulate", "--module", module,
                "--layout", layout, "--manifest-dir", str(workdir / layout), "--host", host,
                "--time-factor", str(time_factor),
            ],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )  # fmt: skip


def _announced(
    proc: subprocess.Popen[str], module: str, log: Path, timeout: float = 90
) -> SimulatedModule:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline()
            if not line:
                break
            name, endpoint, manifest = line.rstrip("\n").split("\t")
            assert name == module
            return SimulatedModule(endpoint, load_manifest(Path(manifest)), Path(manifest))
        if proc.poll() is not None:
            break
    pytest.fail(f"simulator did not announce {module}:\n{log.read_text(errors='replace')}")


def stop_process(proc: subprocess.Popen[str]) -> None:
    """Terminate (then kill) a test subprocess and close its stdout pipe."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)
    if proc.stdout is not None:
        proc.stdout.close()


@contextmanager
def simulated_module(
    module: str,
    layouts: Sequence[str],
    workdir: Path,
    host: str = "127.0.0.1",
    time_factor: float = 1.0,
) -> Iterator[dict[str, SimulatedModule]]:
    """``module`` served once per node layout (processes started side by side), on
    ``host`` (the address its manifest's endpoint names), ``time_factor`` simulated seconds
    per real second."""
    procs: dict[str, subprocess.Popen[str]] = {}
    try:
        for layout in layouts:
            procs[layout] = _start(module, layout, workdir, host, time_factor)
        yield {
            layout: _announced(proc, module, workdir / f"simulator-{layout}.log")
            for layout, proc in procs.items()
        }
    finally:
        for proc in procs.values():
            stop_process(proc)
