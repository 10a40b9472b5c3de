"""Load from the host through a Service: requests at a steady rate, every failure counted.

Shared by the real-node end-to-end tests and the upgrade benchmark. Bounded in count and
time (``max_seconds``), it stops by itself; threads, so the caller's loop stays free.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import httpx

__all__ = ["LoadLoop", "LoadResult"]


@dataclass
class LoadResult:
    sent: int = 0
    failed: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


class LoadLoop:
    """Requests from the host at a steady rate, on keep-alive connections, until stopped
    or a bound is reached (count and time), counting every non-2xx answer and every
    transport error as a failed request."""

    def __init__(
        self,
        url: str,
        headers: dict[str, str],
        *,
        rate: float = 30.0,
        workers: int = 3,
        max_seconds: float = 300.0,
    ) -> None:
        self.url = url
        self.headers = headers
        self.interval = workers / rate
        self.workers = workers
        self.max_seconds = max_seconds
        self.result = LoadResult()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._started = 0.0

    def _worker(self) -> None:
        with httpx.Client(headers=self.headers, timeout=10) as client:
            next_at = time.monotonic()
            deadline = self._started + self.max_seconds
            while not self._stop.is_set() and time.monotonic() < deadline:
                error = None
                try:
                    response = client.get(self.url)
                    if response.status_code >= 300:
                        error = f"HTTP {response.status_code}: {response.text[:120]}"
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                with self._lock:
                    self.result.sent += 1
                    if error is not None:
                        self.result.failed += 1
                        self.result.failures.append(error)
                next_at += self.interval
                time.sleep(max(0.0, next_at - time.monotonic()))

    def __enter__(self) -> LoadLoop:
        self._started = time.monotonic()
        for i in range(self.workers):
            thread = threading.Thread(target=self._worker, name=f"load-{i}", daemon=True)
            self._threads.append(thread)
            thread.start()
            time.sleep(self.interval / self.workers)  # spread the workers' ticks
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self.result.seconds = time.monotonic() - self._started
