"""A runtime process restarted on the same database resumes its running batch.

Real parts only: the equipment simulator (asyncua servers on loopback, in this process, so
that the test can read which MTP commands each service accepted), ``mes-runtime serve``
as a subprocess driven through its HTTP API (the same steps as ``make demo``), SQLite or
a real PostgreSQL. The runtime is stopped with SIGTERM or killed with SIGKILL at a chosen
point, started again on the same database, and the batch must complete with no
Stop/Abort/Hold and no second Start reaching any service, and with one journal chain that
records the resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from holon_testing.net import free_port
from holon_testing.simulator import running_simulator
from mes_runtime.db.engine import create_engine
from mes_runtime.db.models import JournalEntry
from mes_runtime.demo import DEMO_RECIPE, Demo
from mes_runtime.ebr.journal import verify_journal
from mes_runtime.mtp.codes import ServiceCommand

CULTIVATE = "procedure/BR-UP/cultivation/run-fedbatch"
FILL = "procedure/BR-PREP/preparation/fill-medium"
TIMEOUT = 90  # generous: a loaded 2-core CI machine


def _wait(
    predicate: Callable[[], bool],
    what: str,
    timeout: float = TIMEOUT,
    message: list[str] | None = None,
) -> None:
    deadline = time.monotonic() + timeout  # a wait, not a timing assertion
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {message}"
        time.sleep(0.05)


def _batch(demo: Demo, headers: dict[str, str], batch_id: str) -> dict[str, Any]:
    response = demo.http.get(f"/api/v1/batches/{batch_id}", headers=headers)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def _element(batch: dict[str, Any], path: str) -> str:
    return str(next(e["state"] for e in batch["elements"] if e["path"] == path))


def _start_runtime(demo: Demo) -> subprocess.Popen[bytes]:
    """``mes-runtime serve`` on the demo's port and database; ready when this returns."""
    with (demo.workdir / "runtime.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mes_runtime", "serve", "--port", str(demo.port)],
            env=demo.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def ready() -> bool:
        assert process.poll() is None, (demo.workdir / "runtime.log").read_text()
        with contextlib.suppress(httpx.TransportError):
            return demo.http.get("/readyz").status_code == 200
        return False

    _wait(ready, "the runtime to be ready")
    return process


def _create_batch(demo: Demo, operator: dict[str, str]) -> str:
    """The demo batch with a long cultivation, once the runtime has connected equipment."""
    batch_id = ""
    last = [""]

    def created() -> bool:
        nonlocal batch_id
        response = demo.http.post(
            "/api/v1/batches",
            json={"recipe": DEMO_RECIPE, "overrides": {"CultDuration": 30}},
            headers=operator,
        )
        if response.status_code == 422:  # equipment not connected yet
            last[0] = response.text
            return False
        response.raise_for_status()
        batch_id = str(response.json()["id"])
        return True

    _wait(created, "equipment to connect", message=last)
    return batch_id


def _run(
    demo: Demo, manifests: dict[str, Path], kill: signal.Signals, point: str
) -> tuple[str, dict[str, Any]]:
    """Everything that talks to the runtime (blocking HTTP): runs in a worker thread while
    the simulator serves on the event loop."""
    first = _start_runtime(demo)
    try:
        people = demo.prepare(demo.create_admin(), manifests)
        operator = people["operator"]["headers"]
        batch_id = _create_batch(demo, operator)
        watched = CULTIVATE if point == "mid-phase" else FILL
        wanted = "running" if point == "mid-phase" else "complete"
        _wait(lambda: _element(_batch(demo, operator, batch_id), watched) == wanted, watched)
        first.send_signal(kill)
        first.wait(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    demo.http.close()  # its keep-alive connection went with the old process
    demo.http = httpx.Client(base_url=demo.base, timeout=30)
    second = _start_runtime(demo)  # same port, same database
    try:
        _wait(
            lambda: _batch(demo, operator, batch_id)["state"] in {"complete", "stopped", "aborted"},
            "the batch to end",
        )
        return batch_id, _batch(demo, operator, batch_id)
    finally:
        second.terminate()
        second.wait(timeout=60)
        demo.http.close()


async def test_a_runtime_killed_mid_phase_resumes_its_batch(db_url: str, tmp_path: Path) -> None:
    """SIGKILL in the middle of a phase, on SQLite and on PostgreSQL."""
    await _restart_and_check(db_url, tmp_path, signal.SIGKILL, "mid-phase")


@pytest.mark.parametrize(
    ("kill", "point"),
    [
        pytest.param(signal.SIGTERM, "mid-phase", id="sigterm-mid-phase"),
        pytest.param(signal.SIGKILL, "between-phases", id="sigkill-as-a-phase-completes"),
    ],
)
async def test_a_runtime_restarted_on_sqlite_resumes_its_batch(
    sqlite_template: Path, tmp_path: Path, kill: signal.Signals, point: str
) -> None:
    """The other kill points, on the embedded default (SQLite)."""
    path = tmp_path / "runtime.db"
    shutil.copyfile(sqlite_template, path)
    await _restart_and_check(f"sqlite+aiosqlite:///{path}", tmp_path, kill, point)


async def _restart_and_check(db_url: str, tmp_path: Path, kill: signal.Signals, point: str) -> None:
    async with running_simulator(time_factor=7200, manifest_dir=tmp_path / "manifests") as sim:
        demo = Demo(workdir=tmp_path, port=free_port(), time_factor=7200)
        demo.env.update(HOLON_DATABASE_URL=db_url, HOLON_DRAIN_SECONDS="0", HOLON_LOG_LEVEL="INFO")
        manifests = dict(sim.manifest_paths)
        batch_id, batch = await asyncio.to_thread(_run, demo, manifests, kill, point)

        assert batch["state"] == "complete", batch
        phases = [e for e in batch["elements"] if e["kind"] == "phase"]
        assert all(p["state"] == "complete" for p in phases), phases
        runs = Counter((p["equipment"], p["service"]) for p in phases)
        for (module, service), count in runs.items():
            history = sim.server.model(module).machines[service].history
            assert not {ServiceCommand.STOP, ServiceCommand.ABORT, ServiceCommand.HOLD} & set(
                history
            ), (module, service, history)
            assert history.count(ServiceCommand.START) == count, (module, service, history)

    engine = create_engine(db_url)
    try:
        result = await verify_journal(engine)
        async with engine.connect() as conn:
            resumes = (
                await conn.execute(
                    select(JournalEntry.new_value).where(
                        JournalEntry.batch_id == batch_id, JournalEntry.action == "batch.resume"
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    assert result.ok, result
    assert len(resumes) == 1
    assert '"previous_owner"' in str(resumes[0][0])
