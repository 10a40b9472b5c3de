"""Progress lines on stderr, so a long ``make bench`` shows it is alive (stdout keeps the
results table)."""

from __future__ import annotations

import sys
import time

__all__ = ["Progress"]


class Progress:
    """``progress("warm-up 3 s")`` prints ``[  12.3s ingest] warm-up 3 s`` to stderr."""

    def __init__(self, benchmark: str, *, enabled: bool = True) -> None:
        self.benchmark = benchmark
        self.enabled = enabled
        self._started = time.monotonic()

    def __call__(self, message: str) -> None:
        if self.enabled:
            elapsed = time.monotonic() - self._started
            print(f"[{elapsed:7.1f}s {self.benchmark}] {message}", file=sys.stderr, flush=True)
