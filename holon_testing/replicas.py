"""Driving ``mes-runtime serve`` processes over HTTP: start one on a port and a database,
wait for conditions, read a batch's view, send a command (the restart and multi-replica
tests and the hand-over benchmark)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from mes_runtime.demo import DEMO_RECIPE

CULTIVATE = "procedure/BR-UP/cultivation/run-fedbatch"
FILL = "procedure/BR-PREP/preparation/fill-medium"
TIMEOUT = 90  # generous: a loaded 2-core CI machine
FINAL = frozenset({"complete", "stopped", "aborted"})


def wait_until(
    predicate: Callable[[], bool],
    what: str,
    timeout: float = TIMEOUT,
    message: list[str] | None = None,
    explain: Callable[[], str] | None = None,
) -> None:
    """Poll ``predicate`` until it holds; on timeout fail naming ``what``, with ``message``
    and what ``explain`` says then (the state a failure report needs)."""
    deadline = time.monotonic() + timeout  # a wait, not a timing assertion
    while not predicate():
        if time.monotonic() >= deadline:
            detail = explain() if explain else ""
            raise AssertionError(f"timed out waiting for {what}: {message}\n{detail}")
        time.sleep(0.05)


@dataclass
class Runtime:
    """One ``mes-runtime serve`` process and an HTTP client to it."""

    name: str
    port: int
    log: Path
    process: subprocess.Popen[bytes]
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=60)

    def batch(self, headers: dict[str, str], batch_id: str) -> dict[str, Any]:
        response = self.http.get(f"/api/v1/batches/{batch_id}", headers=headers)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def command(
        self, headers: dict[str, str], batch_id: str, command: str, path: str = "procedure"
    ) -> httpx.Response:
        return self.http.post(
            f"/api/v1/batches/{batch_id}/commands",
            json={"command": command, "path": path},
            headers=headers,
        )

    def explain(self, headers: dict[str, str], batch_id: str, lines: int = 40) -> str:
        """What this replica shows of a batch and the end of its log: a failed wait's
        report."""
        try:
            view = self.batch(headers, batch_id)
            shown = f"state {view['state']}, owner {view.get('owner')}: " + ", ".join(
                f"{e['path'].rsplit('/', 1)[-1]}={e['state']}" for e in view["elements"]
            )
        except (httpx.HTTPError, KeyError) as error:
            shown = f"no view ({error!r})"
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        tail = text.splitlines()[-lines:]
        return f"[{self.name}] {shown}\n[{self.name} log]\n" + "\n".join(tail)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.http.close()


def element(batch: dict[str, Any], path: str) -> dict[str, Any]:
    found: dict[str, Any] = next(e for e in batch["elements"] if e["path"] == path)
    return found


def start_runtime(
    name: str, port: int, env: dict[str, str], workdir: Path, *, ready: bool = True
) -> Runtime:
    """``mes-runtime serve`` on ``port`` with ``env``; ready (``/readyz``) when this returns."""
    log_path = workdir / f"{name}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mes_runtime", "serve", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    runtime = Runtime(name=name, port=port, log=log_path, process=process)

    def is_ready() -> bool:
        assert process.poll() is None, log_path.read_text()
        with contextlib.suppress(httpx.TransportError):
            return runtime.http.get("/readyz").status_code == 200
        return False

    if ready:
        wait_until(is_ready, f"runtime {name} to be ready")
    return runtime


def create_batch(http: httpx.Client, operator: dict[str, str], cultivation_hours: float) -> str:
    """The demo batch (started), once the runtime has connected its equipment."""
    batch_id = ""
    last = [""]

    def created() -> bool:
        nonlocal batch_id
        response = http.post(
            "/api/v1/batches",
            json={"recipe": DEMO_RECIPE, "overrides": {"CultDuration": cultivation_hours}},
            headers=operator,
        )
        waiting = ("bindings", "does not fit the equipment")  # equipment not connected yet
        if response.status_code == 422 and any(w in response.text for w in waiting):
            last[0] = response.text
            return False
        response.raise_for_status()
        batch_id = str(response.json()["id"])
        return True

    wait_until(created, "equipment to connect", message=last)
    return batch_id
