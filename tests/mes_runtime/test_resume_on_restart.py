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
import shutil
import signal
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from holon_testing.net import free_port
from holon_testing.replicas import (
    CULTIVATE,
    FILL,
    create_batch,
    element,
    start_runtime,
    wait_until,
)
from holon_testing.simulator import running_simulator
from mes_runtime.db.engine import create_engine
from mes_runtime.db.models import JournalEntry
from mes_runtime.demo import Demo
from mes_runtime.ebr.journal import verify_journal
from mes_runtime.mtp.codes import ServiceCommand


def _start_runtime(demo: Demo) -> subprocess.Popen[bytes]:
    """``mes-runtime serve`` on the demo's port and database; ready when this returns."""
    runtime = start_runtime("runtime", demo.port, demo.env, demo.workdir)
    runtime.http.close()  # the test talks through demo.http
    return runtime.process


def _batch(demo: Demo, headers: dict[str, str], batch_id: str) -> dict[str, Any]:
    response = demo.http.get(f"/api/v1/batches/{batch_id}", headers=headers)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def _element(batch: dict[str, Any], path: str) -> str:
    return str(element(batch, path)["state"])


def _run(
    demo: Demo, manifests: dict[str, Path], kill: signal.Signals, point: str
) -> tuple[str, dict[str, Any]]:
    """Everything that talks to the runtime (blocking HTTP): runs in a worker thread while
    the simulator serves on the event loop."""
    first = _start_runtime(demo)
    try:
        people = demo.prepare(demo.create_admin(), manifests)
        operator = people["operator"]["headers"]
        batch_id = create_batch(demo.http, operator, 30)
        watched = CULTIVATE if point == "mid-phase" else FILL
        wanted = "running" if point == "mid-phase" else "complete"
        wait_until(lambda: _element(_batch(demo, operator, batch_id), watched) == wanted, watched)
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
        wait_until(
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
