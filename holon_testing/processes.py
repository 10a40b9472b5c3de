"""Processes the test support starts from tools built by ``hack/`` (SeaweedFS, Dex)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

__all__ = ["built_tool", "stop_group"]

ROOT = Path(__file__).resolve().parent.parent


def built_tool(module: str) -> Path:
    """The binary ``python -m <module> build`` prints: the cached tool, built now when
    missing (``hack.cluster.seaweedfs``, ``hack.cluster.dex``)."""
    out = subprocess.run(
        [sys.executable, "-m", module, "build"],
        cwd=ROOT,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    return Path(out.stdout.strip().splitlines()[-1])


def stop_group(process: subprocess.Popen[bytes] | None, *, grace: float) -> None:
    """SIGTERM a server started in its own process group, SIGKILL it after ``grace`` s."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
