"""A stopping replica hands its batches over at a safe point (a rolling update, Recreate, a
node drain, a scale-down: every way a Pod ends goes through SIGTERM).

Real parts only: the equipment simulator (asyncua servers on loopback, in this process),
two ``mes-runtime serve`` processes sharing a real PostgreSQL, driven over HTTP. The
recipe marks the cultivation and the harvest that follows it ``interruptible: false``.
SIGTERM reaches the owner while the cultivation runs:

* with a wait longer than the phase, the phase completes under the old owner before the
  new owner's ``batch.resume``; the harvest, due meanwhile, is not started by the old owner
  (``phase.deferred``) but by the new one; commands given meanwhile still reach the batch;
* with a wait shorter than the phase, the hand-over happens at the bound, journalled
  (``batch.unsafe_hand_over``) naming the batch and the phase.
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from holon_testing.net import free_port
from holon_testing.replicas import (
    CULTIVATE,
    FINAL,
    Runtime,
    element,
    start_runtime,
    wait_until,
)
from holon_testing.simulator import running_simulator
from mes_runtime.db.engine import create_engine
from mes_runtime.db.models import JournalEntry
from mes_runtime.demo import DEMO_RECIPE, Demo
from mes_runtime.ebr.journal import verify_journal
from mes_runtime.library import load_template

pytestmark = pytest.mark.postgres

HARVEST = "procedure/BR-UP/harvest/harvest-broth"
PINNED = "mab-pinned"
TIME_FACTOR = 14400  # simulated seconds per real second: the cultivation lasts seconds
Entry = tuple[str, str, Any]  # action, subject, new value


def _pinned_recipe() -> dict[str, Any]:
    """The demo recipe with its cultivation and harvest marked not interruptible."""
    recipe = load_template(DEMO_RECIPE).to_canonical_data()
    recipe["header"] = {**recipe["header"], "name": PINNED}
    bioreactor = next(u for u in recipe["procedure"]["steps"] if u["id"] == "BR-UP")
    for operation in bioreactor["steps"]:
        for phase in operation["steps"]:
            phase["interruptible"] = False
    return recipe


def _start_pinned_batch(
    demo: Demo, admin_password: str, people: dict[str, Any], hours: float
) -> str:
    admin = demo.login("admin", admin_password)
    imported = demo.http.post("/api/v1/recipes", json=_pinned_recipe(), headers=admin)
    assert imported.status_code == 201, imported.text
    approved = demo.http.post(
        f"/api/v1/recipes/{PINNED}/1/approve",
        json={"password": people["qa"]["password"], "meaning": "approved"},
        headers=people["qa"]["headers"],
    )
    assert approved.status_code == 200, approved.text
    created = demo.http.post(
        "/api/v1/batches",
        json={"recipe": PINNED, "overrides": {"CultDuration": hours}},
        headers=people["operator"]["headers"],
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def _entries(db_url: str, batch_id: str) -> tuple[bool, list[Entry]]:
    engine = create_engine(db_url)
    try:
        verified = await verify_journal(engine)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(JournalEntry.action, JournalEntry.subject, JournalEntry.new_value)
                    .where(JournalEntry.batch_id == batch_id)
                    .order_by(JournalEntry.seq)
                )
            ).all()
    finally:
        await engine.dispose()
    return verified.ok, [
        (r.action, r.subject, None if r.new_value is None else json.loads(r.new_value))
        for r in rows
    ]


def _index(entries: list[Entry], action: str, subject: str | None = None, value: Any = None) -> int:
    """Where the first matching entry is (fails naming it when there is none)."""
    for index, (a, s, v) in enumerate(entries):
        if a == action and subject in (None, s) and value in (None, v):
            return index
    raise AssertionError(f"no {action} {subject or ''} {value or ''} in {entries}")


def _stop_owner_mid_cultivation(
    demo: Demo, manifests: dict[str, Path], wait_seconds: str, hours: float, commands: bool
) -> tuple[str, str]:
    """SIGTERM the owner while the cultivation runs; the batch id and the old owner's log."""
    env = {**demo.env, "HOLON_LEASE_SECONDS": "2", "HOLON_SAFE_POINT_WAIT_SECONDS": wait_seconds}
    a = start_runtime("a", demo.port, env, demo.workdir)
    b: Runtime | None = None
    try:
        b = start_runtime("b", free_port(), env, demo.workdir)
        admin_password = demo.create_admin()
        people = demo.prepare(admin_password, manifests)
        operator = people["operator"]["headers"]
        demo.wait_for_equipment(operator)  # the modules are connected (a batch binds them)
        batch_id = _start_pinned_batch(demo, admin_password, people, hours)  # a owns it
        seen_from_b = b
        wait_until(
            lambda: element(seen_from_b.batch(operator, batch_id), CULTIVATE)["state"] == "running",
            "the cultivation to run",
        )
        a.process.send_signal(signal.SIGTERM)
        wait_until(lambda: a.http.get("/readyz").status_code == 503, "a to be unready")
        if commands:  # the batch runs on under a while it waits: commands reach it
            held = b.command(operator, batch_id, "hold", CULTIVATE)
            assert held.status_code == 200, held.text
            wait_until(
                lambda: (
                    element(seen_from_b.batch(operator, batch_id), CULTIVATE)["state"] == "held"
                ),
                "the cultivation held by a",
            )
            restarted = b.command(operator, batch_id, "restart", CULTIVATE)
            assert restarted.status_code == 200, restarted.text
            assert a.process.poll() is None, "a stopped before the safe point"
        a.process.wait(timeout=120)
        wait_until(
            lambda: seen_from_b.batch(operator, batch_id)["state"] in FINAL,
            "the batch to end",
            explain=lambda: seen_from_b.explain(operator, batch_id),
        )
        assert seen_from_b.batch(operator, batch_id)["state"] == "complete"
        return batch_id, a.log.read_text()
    finally:
        for runtime in (a, b):
            if runtime is not None:
                runtime.stop()
        demo.http.close()


def _demo(workdir: Path, db_url: str) -> Demo:
    demo = Demo(workdir=workdir, port=free_port(), time_factor=TIME_FACTOR)
    demo.env.update(HOLON_DATABASE_URL=db_url, HOLON_DRAIN_SECONDS="0", HOLON_LOG_LEVEL="INFO")
    return demo


async def _stopped_mid_cultivation(
    db_url: str, workdir: Path, wait_seconds: str, hours: float, *, commands: bool
) -> tuple[str, str, bool, list[Entry]]:
    """The batch id, the old owner's log, whether the journal verifies, and its entries."""
    async with running_simulator(
        time_factor=TIME_FACTOR, manifest_dir=workdir / "manifests"
    ) as sim:
        batch_id, log = await asyncio.to_thread(
            _stop_owner_mid_cultivation,
            _demo(workdir, db_url),
            dict(sim.manifest_paths),
            wait_seconds,
            hours,
            commands,
        )
        ok, entries = await _entries(db_url, batch_id)
    return batch_id, log, ok, entries


async def test_a_stopping_owner_hands_over_once_its_non_interruptible_phase_has_ended(
    pg_url: str, tmp_path: Path
) -> None:
    _, log, ok, entries = await _stopped_mid_cultivation(
        pg_url,
        tmp_path,
        "300",  # far longer than the phase: the safe point comes first
        20,  # hours of cultivation (the least the recipe allows): 5 s here
        commands=True,
    )

    assert ok
    resumed = _index(entries, "batch.resume")
    # the phase completed under its owner before the new owner took the batch over
    assert _index(entries, "element.state", CULTIVATE, "complete") < resumed
    # the harvest (not interruptible either) was due meanwhile: deferred, not started
    assert _index(entries, "phase.deferred", HARVEST) < resumed
    assert _index(entries, "element.state", HARVEST, "running") > resumed
    assert not [e for e in entries if e[0] == "batch.unsafe_hand_over"], entries
    assert "safe point reached" in log


async def test_a_stopping_owner_hands_over_at_the_bound_and_journals_the_phase(
    pg_url: str, tmp_path: Path
) -> None:
    batch_id, log, ok, entries = await _stopped_mid_cultivation(
        pg_url,
        tmp_path,
        "1",  # far shorter than the phase
        30,  # hours of cultivation (the most the recipe allows): 7.5 s here
        commands=False,
    )

    assert ok
    unsafe = _index(entries, "batch.unsafe_hand_over", CULTIVATE)
    assert entries[unsafe][2]["state"] == "running", entries[unsafe]
    resumed = _index(entries, "batch.resume")
    assert unsafe < resumed < _index(entries, "element.state", CULTIVATE, "complete")
    assert f"handing batch {batch_id} over while its phase {CULTIVATE}" in log
