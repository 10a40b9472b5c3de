"""``go build`` of a tool from its module, with progress (standard library only).

SeaweedFS and Dex are built from their Go modules the same way: ``go build -v`` lists each
package it compiles on stderr; every 15 s a progress line counts them, and a failed build
ends with the last lines it printed.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from hack.project import go_env

__all__ = ["compile_go"]

PROGRESS_EVERY = 15.0  # seconds between progress lines


def compile_go(
    args: list[str], *, cwd: Path, what: str, started: float, log: Callable[[str], None]
) -> None:
    """Run ``go build -v -trimpath ARGS`` in ``cwd`` (``started``: when the whole build
    began, for the progress lines); SystemExit naming ``what`` with the output's tail if
    it fails."""
    proc = subprocess.Popen(
        ["go", "build", "-v", "-trimpath", *args],
        cwd=cwd,
        env=go_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    last = time.monotonic()
    tail: list[str] = []
    for packages, line in enumerate(proc.stderr, start=1):
        tail = [*tail[-20:], line.rstrip()]
        if time.monotonic() - last > PROGRESS_EVERY:
            last = time.monotonic()
            log(f"{packages} packages, {time.monotonic() - started:.0f} s")
    if proc.wait() != 0:
        raise SystemExit(f"{what} build failed:\n" + "\n".join(tail))
