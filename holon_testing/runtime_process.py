"""The runtime (``mes-runtime serve``) as a real subprocess, for tests and benchmarks.

It listens on port 0 (the OS chooses, so parallel runs never race for a port) and the port
is read from uvicorn's start-up line. Only the ``HOLON_*`` settings given are passed on: the
caller's own ``HOLON_*`` environment never leaks into the runtime.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from holon_testing.features import EVERY_FEATURE_ENV

__all__ = ["RuntimeProcess", "serving"]


@dataclass
class RuntimeProcess:
    """A ``mes-runtime serve`` subprocess on a loopback port the OS chose."""

    process: subprocess.Popen[bytes]
    log: Path
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_for_log(self, text: str, timeout: float = 60) -> str:
        """The log once it contains ``text``; fails if the process ends or time runs out."""
        deadline = time.monotonic() + timeout  # a wait, not a timing assertion
        while text not in (content := self.log.read_text(errors="replace")):
            if self.process.poll() is not None:
                raise RuntimeError(f"the runtime exited ({self.process.returncode}):\n{content}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {text!r} after {timeout} s in:\n{content}")
            time.sleep(0.05)
        return content


@contextmanager
def serving(workdir: Path, **settings: str) -> Iterator[RuntimeProcess]:
    """``mes-runtime serve`` with these ``HOLON_*`` settings (``data_dir="..."`` becomes
    ``HOLON_DATA_DIR``), its log in ``workdir/server.log``; killed at the end if running."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("HOLON_")}
    env.update({f"HOLON_{name.upper()}": value for name, value in settings.items()})
    for key, value in EVERY_FEATURE_ENV.items():
        env.setdefault(key, value)
    env.setdefault("HOLON_LOG_LEVEL", "INFO")
    env.setdefault("HOLON_LOG_FORMAT", "console")  # callers read the log as text
    log = workdir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "mes_runtime", "serve", "--host", "127.0.0.1", "--port", "0"],
            env=env, stdout=out, stderr=subprocess.STDOUT, cwd=workdir,
        )  # fmt: skip
    runtime = RuntimeProcess(process, log)
    try:
        started = runtime.wait_for_log("(Press CTRL+C to quit)")
        bound = re.search(r"Uvicorn running on http://127\.0\.0\.1:(\d+)", started)
        if bound is None:
            raise RuntimeError(f"no listening address in the runtime's log:\n{started}")
        runtime.port = int(bound.group(1))
        yield runtime
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
