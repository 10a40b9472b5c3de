"""Run a long command and say something at least every 20 seconds.

Why: a cold debootstrap or dependency install takes minutes; silence looks like a hang.
The child's output is kept and shown only when it fails.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

TICK_SECONDS = 20.0


def elapsed(seconds: float) -> str:
    mins, secs = divmod(int(seconds), 60)
    return f"{mins}m{secs:02d}s"


def run_logged(
    label: str,
    cmd: list[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    tick: float = TICK_SECONDS,
) -> list[str]:
    """Run ``cmd``; every ``tick`` seconds print its last output line. Returns its output;
    raises SystemExit with the output's tail if it fails."""
    print(f"  [{label}] {' '.join(cmd[:3])} ...", flush=True)
    started = time.monotonic()
    lines: list[str] = []
    done = threading.Event()

    def ticker() -> None:
        while not done.wait(tick):
            last = lines[-1][:100] if lines else "(no output yet)"
            print(f"  [{label}] {elapsed(time.monotonic() - started)}: {last}", flush=True)

    thread = threading.Thread(target=ticker, daemon=True)
    thread.start()
    try:
        with subprocess.Popen(
            cmd,
            cwd=cwd,
            env=None if env is None else dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        ) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line.rstrip())
            rc = proc.wait()
    finally:
        done.set()
        thread.join()
    if rc != 0:
        print("\n".join(lines[-40:]), file=sys.stderr)
        raise SystemExit(f"{label} failed (exit {rc}): {' '.join(cmd)}")
    print(f"  [{label}] done in {elapsed(time.monotonic() - started)}", flush=True)
    return lines
