"""Two runtime replicas on one PostgreSQL database: any replica answers for any batch, and a
batch outlives the replica that runs it.

Real parts only: the equipment simulator (asyncua servers on loopback, in this process, so
that the test reads which MTP commands each service accepted), two ``mes-runtime serve``
processes on their own ports sharing a real PostgreSQL (as two Pods behind a Service do),
driven through their HTTP API. The owner is paused (SIGSTOP), killed (SIGKILL) or stopped
(SIGTERM) at a chosen point; the other replica must take the batch over and complete it with
no Stop/Abort/Hold and no second Start reaching any service, with one journal chain that
records the take-over.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

from holon_testing.net import free_port
from holon_testing.postgres import PgServer, throwaway_postgres
from holon_testing.replicas import (
    CULTIVATE,
    FILL,
    FINAL,
    TIMEOUT,
    Runtime,
    create_batch,
    element,
    start_runtime,
    wait_until,
)
from holon_testing.simulator import running_simulator
from mes_runtime.db.engine import create_engine
from mes_runtime.db.migrate import upgrade
from mes_runtime.db.models import BatchRun, JournalEntry
from mes_runtime.demo import Demo
from mes_runtime.ebr.journal import verify_journal
from mes_runtime.mtp.codes import ServiceCommand, ServiceState

pytestmark = pytest.mark.postgres

LEASE = "2"  # seconds: short, so that the tests wait little for an expiry


def _demo(workdir: Path, db_url: str) -> Demo:
    demo = Demo(workdir=workdir, port=free_port(), time_factor=7200)
    demo.env.update(HOLON_DATABASE_URL=db_url, HOLON_DRAIN_SECONDS="0", HOLON_LOG_LEVEL="INFO")
    return demo


@contextmanager
def _replicas(
    demo: Demo, colours: tuple[str, str] | None = None
) -> Iterator[tuple[Runtime, Runtime]]:
    env = {**demo.env, "HOLON_LEASE_SECONDS": LEASE}
    a_env, b_env = (
        ({**env, "HOLON_COLOUR": colours[0]}, {**env, "HOLON_COLOUR": colours[1]})
        if colours
        else (env, env)
    )
    a = start_runtime("a", demo.port, a_env, demo.workdir)
    b = start_runtime("b", free_port(), b_env, demo.workdir)
    try:
        yield a, b
    finally:
        for runtime in (a, b):
            if runtime.process.poll() is None:
                runtime.process.send_signal(signal.SIGCONT)
            runtime.stop()
        demo.http.close()


async def _journal(db_url: str, batch_id: str) -> tuple[bool, list[tuple[str, Any]]]:
    engine = create_engine(db_url)
    try:
        result = await verify_journal(engine)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(JournalEntry.action, JournalEntry.new_value)
                    .where(JournalEntry.batch_id == batch_id)
                    .order_by(JournalEntry.seq)
                )
            ).all()
    finally:
        await engine.dispose()
    return result.ok, [(r.action, r.new_value) for r in rows]


def _owner(db_url: str, batch_id: str) -> str:
    async def read() -> str:
        engine = create_engine(db_url)
        try:
            async with engine.connect() as conn:
                owner = (
                    await conn.execute(select(BatchRun.owner).where(BatchRun.batch_id == batch_id))
                ).scalar_one()
        finally:
            await engine.dispose()
        return str(owner)

    return asyncio.run(read())


def _taken_over(db_url: str, batch_id: str) -> bool:
    _, entries = asyncio.run(_journal(db_url, batch_id))
    return any(action == "batch.resume" for action, _ in entries)


def _history_checks(sim: Any, batch: dict[str, Any], holds: dict[str, int]) -> None:
    """Every phase ran once: one Start per run, no Stop/Abort, only the Holds we gave."""
    phases = [e for e in batch["elements"] if e["kind"] == "phase"]
    assert all(p["state"] == "complete" for p in phases), phases
    runs = Counter((p["equipment"], p["service"]) for p in phases)
    for (module, service), count in runs.items():
        history = sim.server.model(module).machines[service].history
        assert not {ServiceCommand.STOP, ServiceCommand.ABORT} & set(history), history
        assert history.count(ServiceCommand.HOLD) == holds.get(service, 0), (service, history)
        assert history.count(ServiceCommand.START) == count, (module, service, history)


async def test_commands_and_views_on_any_replica_and_a_paused_owner_is_fenced(
    pg_url: str, tmp_path: Path
) -> None:
    async with running_simulator(time_factor=7200, manifest_dir=tmp_path / "manifests") as sim:
        demo = _demo(tmp_path, pg_url)
        batch, entries, cultivation = await asyncio.to_thread(
            _commands_then_pause, demo, dict(sim.manifest_paths), pg_url
        )
        ok, journal = await _journal(pg_url, batch["id"])

    assert batch["state"] == "complete", batch
    _history_checks(sim, batch, {cultivation: 2})  # the two Holds given, each sent once
    assert ok
    resumes = [value for action, value in journal if action == "batch.resume"]
    assert len(resumes) == 1, resumes
    assert entries["a"] in str(resumes[0]), resumes  # who gave up
    assert entries["b"] in str(resumes[0]), resumes  # who took over


def _commands_then_pause(
    demo: Demo, manifests: dict[str, Path], db_url: str
) -> tuple[dict[str, Any], dict[str, str], str]:
    with _replicas(demo) as (a, b):
        people = demo.prepare(demo.create_admin(), manifests)
        operator = people["operator"]["headers"]
        batch_id = create_batch(a.http, operator, cultivation_hours=30)  # a owns it
        owner_a = _owner(db_url, batch_id)
        wait_until(
            lambda: element(b.batch(operator, batch_id), CULTIVATE)["state"] == "running",
            "cultivation running, seen from b",
        )
        # a command through the replica that does not run the batch
        held = b.command(operator, batch_id, "hold", CULTIVATE)
        assert held.status_code == 200, held.text
        assert held.json()["state"] in {"holding", "held"}
        for runtime in (a, b):
            wait_until(
                lambda r=runtime: (
                    element(r.batch(operator, batch_id), CULTIVATE)["state"] == "held"
                ),
                f"held, seen from {runtime.name}",
            )
        views = [element(r.batch(operator, batch_id), CULTIVATE) for r in (a, b)]
        assert views[0] == views[1], views
        assert "restart" in views[0]["allowed_commands"], views
        # a forbidden command: the same 409 from both replicas
        refusals = [r.command(operator, batch_id, "pause", FILL) for r in (a, b)]
        assert [r.status_code for r in refusals] == [409, 409]
        assert refusals[0].json() == refusals[1].json(), [r.text for r in refusals]
        restarted = b.command(operator, batch_id, "restart", CULTIVATE)
        assert restarted.status_code == 200, restarted.text
        wait_until(
            lambda: element(a.batch(operator, batch_id), CULTIVATE)["state"] == "running",
            "running again",
        )
        # the owner stops (SIGSTOP) with a command on its way to it: the command waits in
        # the inbox, b takes the batch over once a's lease expires and applies it, once
        a.process.send_signal(signal.SIGSTOP)
        held = b.command(operator, batch_id, "hold", CULTIVATE)
        assert held.status_code == 200, held.text
        assert _taken_over(db_url, batch_id)
        owner_b = _owner(db_url, batch_id)
        wait_until(
            lambda: element(b.batch(operator, batch_id), CULTIVATE)["state"] == "held", "held"
        )
        restarted = b.command(operator, batch_id, "restart", CULTIVATE)
        assert restarted.status_code == 200, restarted.text
        # a, resumed, finds itself fenced: it writes and commands nothing more
        a.process.send_signal(signal.SIGCONT)
        wait_until(
            lambda: "another runtime owns it now" in a.log.read_text(),
            "the stale owner to find itself fenced",
        )
        cultivation = element(b.batch(operator, batch_id), CULTIVATE)["service"]
        wait_until(lambda: b.batch(operator, batch_id)["state"] in FINAL, "the batch to end")
        views = [r.batch(operator, batch_id) for r in (a, b)]
        assert views[0]["elements"] == views[1]["elements"]
        return views[1], {"a": owner_a, "b": owner_b}, str(cultivation)


@pytest.mark.parametrize(
    ("kill", "point"),
    [
        pytest.param(signal.SIGKILL, "mid-phase", id="sigkill-mid-phase"),
        pytest.param(signal.SIGKILL, "between-phases", id="sigkill-as-a-phase-completes"),
        pytest.param(signal.SIGTERM, "mid-phase", id="sigterm-hand-over"),
    ],
)
async def test_the_other_replica_takes_over_a_batch_whose_owner_is_gone(
    pg_url: str, tmp_path: Path, kill: signal.Signals, point: str
) -> None:
    async with running_simulator(time_factor=7200, manifest_dir=tmp_path / "manifests") as sim:
        demo = _demo(tmp_path, pg_url)
        batch, owners, handed_over = await asyncio.to_thread(
            _kill_owner, demo, dict(sim.manifest_paths), pg_url, kill, point
        )
        ok, journal = await _journal(pg_url, batch["id"])

    assert batch["state"] == "complete", batch
    _history_checks(sim, batch, {})
    assert ok
    resumes = [value for action, value in journal if action == "batch.resume"]
    assert len(resumes) == 1, resumes
    assert owners["a"] in str(resumes[0]), resumes
    assert owners["b"] in str(resumes[0]), resumes
    if kill is signal.SIGTERM:  # handed over, not left to expire
        assert handed_over, "the stopping owner did not release its lease"


def _kill_owner(
    demo: Demo, manifests: dict[str, Path], db_url: str, kill: signal.Signals, point: str
) -> tuple[dict[str, Any], dict[str, str], bool]:
    with _replicas(demo) as (a, b):
        people = demo.prepare(demo.create_admin(), manifests)
        operator = people["operator"]["headers"]
        batch_id = create_batch(a.http, operator, cultivation_hours=30)
        owner_a = _owner(db_url, batch_id)
        watched = CULTIVATE if point == "mid-phase" else FILL
        wanted = "running" if point == "mid-phase" else "complete"
        wait_until(
            lambda: element(b.batch(operator, batch_id), watched)["state"] == wanted, watched
        )
        a.process.send_signal(kill)
        a.process.wait(timeout=60)
        wait_until(
            lambda: b.batch(operator, batch_id)["state"] in FINAL,
            "the batch to end",
            explain=lambda: a.explain(operator, batch_id) + "\n" + b.explain(operator, batch_id),
        )
        handed_over = "handed over 1 batch(es)" in a.log.read_text()
        return (
            b.batch(operator, batch_id),
            {"a": owner_a, "b": _owner(db_url, batch_id)},
            handed_over,
        )


class _KillOnCommand(list[ServiceCommand]):
    """A service's command history that SIGKILLs a process the moment the service accepts
    ``trigger``: the command has reached the equipment, its sender never sees the answer."""

    def __init__(self, history: list[ServiceCommand], trigger: ServiceCommand, pid: int):
        super().__init__(history)
        self._trigger = trigger
        self._pid = pid

    def append(self, command: ServiceCommand) -> None:
        super().append(command)
        if command is self._trigger:
            os.kill(self._pid, signal.SIGKILL)


async def test_an_owner_killed_with_a_command_in_flight_leaves_it_done_once(
    pg_url: str, tmp_path: Path
) -> None:
    """A Hold sent through the non-owning replica reaches the equipment, and the owner is
    SIGKILLed before it sees the answer: the replica taking over finds the Hold arrived
    (recorded as pending), gives the phase its effect without sending it again and
    without an exception, and answers the waiting client as the owner would have."""
    async with running_simulator(time_factor=7200, manifest_dir=tmp_path / "manifests") as sim:
        demo = _demo(tmp_path, pg_url)
        batch, answer, holds = await asyncio.to_thread(
            _kill_with_a_command_in_flight, demo, dict(sim.manifest_paths), pg_url, sim
        )
        ok, journal = await _journal(pg_url, batch["id"])

    assert answer["state"] in {"holding", "held"}, answer
    assert batch["state"] == "complete", batch
    _history_checks(sim, batch, {holds: 1})  # the one Hold, never sent again
    assert ok
    actions = [action for action, _ in journal]
    assert actions.count("command.hold") == 1, actions
    assert actions.count("batch.resume") == 1, actions
    assert "exception.raised" not in actions, [e for e in journal if e[0] == "exception.raised"]


def _cultivating(
    demo: Demo,
    manifests: dict[str, Path],
    sim: Any,
    owner: Runtime,
    *,
    seen_from: Runtime,
    admin_password: str | None = None,
) -> tuple[dict[str, str], str, dict[str, Any], Any]:
    """The demo batch started on ``owner`` and its cultivation running (as ``seen_from``
    shows it): the operator's headers, the batch id, the phase's view and its service's
    simulated state machine."""
    people = demo.prepare(admin_password or demo.create_admin(), manifests)
    operator = people["operator"]["headers"]
    batch_id = create_batch(owner.http, operator, cultivation_hours=30)
    wait_until(
        lambda: element(seen_from.batch(operator, batch_id), CULTIVATE)["state"] == "running",
        f"cultivation running, seen from {seen_from.name}",
    )
    phase = element(seen_from.batch(operator, batch_id), CULTIVATE)
    machine = sim.server.model(phase["equipment"]).machines[phase["service"]]
    return operator, batch_id, phase, machine


def _kill_with_a_command_in_flight(
    demo: Demo, manifests: dict[str, Path], db_url: str, sim: Any
) -> tuple[dict[str, Any], dict[str, Any], str]:
    with _replicas(demo) as (a, b):
        operator, batch_id, phase, machine = _cultivating(demo, manifests, sim, a, seen_from=b)
        machine.history = _KillOnCommand(machine.history, ServiceCommand.HOLD, a.process.pid)
        held = b.command(operator, batch_id, "hold", CULTIVATE)  # queued for a, a takes it
        assert held.status_code == 200, held.text
        assert a.process.wait(timeout=60) == -signal.SIGKILL
        wait_until(
            lambda: element(b.batch(operator, batch_id), CULTIVATE)["state"] == "held", "held"
        )
        restarted = b.command(operator, batch_id, "restart", CULTIVATE)
        assert restarted.status_code == 200, restarted.text
        wait_until(lambda: b.batch(operator, batch_id)["state"] in FINAL, "the batch to end")
        return b.batch(operator, batch_id), held.json(), str(phase["service"])


@pytest.mark.parametrize("down", [0.0, 15.0], ids=["restart", "down-15s"])
async def test_a_database_restart_as_a_phase_completes_loses_and_doubles_nothing(
    tmp_path: Path, down: float
) -> None:
    """PostgreSQL is stopped (fast: clients disconnected) the moment BR-101's Fill
    procedure completes, while both replicas run, and started again at once or after 15 s:
    the completion is retried until stored, the batch completes, each transition is
    journalled exactly once and no equipment command is lost or sent twice."""
    with throwaway_postgres() as server:
        if isinstance(server, str):
            pytest.fail(f"{server}: this test needs PostgreSQL")
        db_url = server.create_database("restart")
        await asyncio.to_thread(upgrade, db_url)
        async with running_simulator(time_factor=7200, manifest_dir=tmp_path / "manifests") as sim:
            demo = _demo(tmp_path, db_url)
            fill = sim.server.model("BR-101").machines["Prepare"]
            hook = _PauseOn(fill.states, ServiceState.COMPLETED)
            fill.states = hook
            batch = await asyncio.to_thread(
                _restart_database_as_fill_completes, demo, dict(sim.manifest_paths), server,
                hook, down,
            )  # fmt: skip
            ok, _ = await _journal(db_url, batch["id"])
            entries = await _element_entries(db_url, batch["id"])

    assert batch["state"] == "complete", batch
    _history_checks(sim, batch, {})
    assert ok
    fill = [e for e in entries if e[0] == FILL]
    assert fill == [(FILL, "idle", "running"), (FILL, "running", "complete")], fill
    assert len(entries) == len(set(entries)), [e for e in entries if entries.count(e) > 1]


async def _element_entries(db_url: str, batch_id: str) -> list[tuple[str, str, str]]:
    """(element, old state, new state) of every ``element.state`` entry of the batch."""
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(
                        JournalEntry.subject, JournalEntry.old_value, JournalEntry.new_value
                    ).where(
                        JournalEntry.batch_id == batch_id, JournalEntry.action == "element.state"
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    return [(str(r.subject), json.loads(r.old_value), json.loads(r.new_value)) for r in rows]


def _restart_database_as_fill_completes(
    demo: Demo,
    manifests: dict[str, Path],
    server: PgServer,
    hook: _PauseOn[ServiceState],
    down: float,
) -> dict[str, Any]:
    with _replicas(demo) as (a, b):
        people = demo.prepare(demo.create_admin(), manifests)
        operator = people["operator"]["headers"]
        batch_id = create_batch(a.http, operator, cultivation_hours=30)
        assert hook.arrived.wait(timeout=TIMEOUT), "BR-101's Fill never completed"
        server.stop("fast")
        hook.database_stopped.set()
        time.sleep(down)
        server.start()
        wait_until(lambda: b.batch(operator, batch_id)["state"] in FINAL, "the batch to end")
        return b.batch(operator, batch_id)


T = TypeVar("T")


class _PauseOn(list[T]):
    """A service's command or state history that, the moment the service accepts
    ``trigger`` (or enters it), says so and holds the module - its answer, the state's
    publication - until the test has stopped the database: a state that lasts less than a
    poll is not missed, and the runtime cannot store it first."""

    def __init__(self, history: list[T], trigger: T) -> None:
        super().__init__(history)
        self._trigger = trigger
        self.arrived = threading.Event()
        self.database_stopped = threading.Event()

    def append(self, item: T) -> None:
        super().append(item)
        if item is self._trigger and not self.arrived.is_set():
            self.arrived.set()
            self.database_stopped.wait(timeout=60)


@pytest.mark.parametrize("down", [0.0, 15.0], ids=["restart", "down-15s"])
async def test_a_database_restart_as_a_command_is_sent_loses_and_doubles_nothing(
    tmp_path: Path, down: float
) -> None:
    """PostgreSQL is stopped (fast) the moment the owner's Hold reaches the equipment,
    before the owner stores its outcome, and started again at once or after 15 s: the
    client gets its answer, the Hold reaches the equipment once, each transition is
    journalled exactly once, and the batch completes after a Restart."""
    with throwaway_postgres() as server:
        if isinstance(server, str):
            pytest.fail(f"{server}: this test needs PostgreSQL")
        db_url = server.create_database("restart")
        await asyncio.to_thread(upgrade, db_url)
        async with running_simulator(time_factor=7200, manifest_dir=tmp_path / "manifests") as sim:
            demo = _demo(tmp_path, db_url)
            batch, answer, holds = await asyncio.to_thread(
                _restart_database_as_a_command_is_sent, demo, dict(sim.manifest_paths), sim,
                server, down,
            )  # fmt: skip
            ok, journal = await _journal(db_url, batch["id"])
            entries = await _element_entries(db_url, batch["id"])

    assert answer["state"] in {"holding", "held"}, answer
    assert batch["state"] == "complete", batch
    _history_checks(sim, batch, {holds: 1})
    assert ok
    assert [action for action, _ in journal].count("command.hold") == 1
    cultivation = [e for e in entries if e[0] == CULTIVATE]
    assert cultivation == [
        (CULTIVATE, "idle", "running"),
        (CULTIVATE, "running", "holding"),
        (CULTIVATE, "holding", "held"),
        (CULTIVATE, "held", "restarting"),
        (CULTIVATE, "restarting", "running"),
        (CULTIVATE, "running", "complete"),
    ], cultivation
    assert len(entries) == len(set(entries)), [e for e in entries if entries.count(e) > 1]


def _restart_database_as_a_command_is_sent(
    demo: Demo, manifests: dict[str, Path], sim: Any, server: PgServer, down: float
) -> tuple[dict[str, Any], dict[str, Any], str]:
    with _replicas(demo) as (a, b):
        operator, batch_id, phase, machine = _cultivating(demo, manifests, sim, a, seen_from=a)
        hook = _PauseOn(machine.history, ServiceCommand.HOLD)
        machine.history = hook
        with ThreadPoolExecutor(1) as pool:
            held = pool.submit(a.command, operator, batch_id, "hold", CULTIVATE)  # to the owner
            assert hook.arrived.wait(timeout=TIMEOUT), "the Hold never reached the module"
            server.stop("fast")
            hook.database_stopped.set()
            time.sleep(down)
            server.start()
            answer = held.result(timeout=TIMEOUT)
        assert answer.status_code == 200, answer.text
        for runtime in (a, b):
            wait_until(
                lambda r=runtime: (
                    element(r.batch(operator, batch_id), CULTIVATE)["state"] == "held"
                ),
                f"held, seen from {runtime.name}",
            )
        restarted = b.command(operator, batch_id, "restart", CULTIVATE)
        assert restarted.status_code == 200, restarted.text
        wait_until(lambda: b.batch(operator, batch_id)["state"] in FINAL, "the batch to end")
        return b.batch(operator, batch_id), answer.json(), str(phase["service"])


async def test_a_switch_grants_batches_to_the_other_colour_and_a_rollback_hands_them_back(
    pg_url: str, tmp_path: Path
) -> None:
    """Blue-green's switch without stopping anything: a blue and a green replica on one
    database. While blue is granted the batches, green starts none (503, nothing written).
    Granting green makes blue hand its running batch over at once - no lease expiry - and
    stay up serving commands (through the inbox); granting blue again hands it back. The
    batch completes: every phase started once, only the Hold given, one journal chain with
    both take-overs and both grants."""
    async with running_simulator(time_factor=7200, manifest_dir=tmp_path / "manifests") as sim:
        demo = _demo(tmp_path, pg_url)
        batch, seen, service = await asyncio.to_thread(
            _switch_and_back, demo, dict(sim.manifest_paths), pg_url, sim
        )
        ok, journal = await _journal(pg_url, batch["id"])
        grants = await _grants(pg_url)

    assert batch["state"] == "complete", batch
    _history_checks(sim, batch, {service: 1})
    assert ok
    resumes = [json.loads(value) for action, value in journal if action == "batch.resume"]
    assert [(r["previous_owner"], r["owner"]) for r in resumes] == [
        (seen["blue"], seen["green"]),
        (seen["green"], seen["blue"]),
    ], resumes
    gaps = [r["gap_seconds"] for r in resumes]
    print(f"\n[switch] hand-over gaps {gaps} s (lease {LEASE} s)", flush=True)
    assert all(gap < float(LEASE) for gap in gaps), gaps  # released, not left to expire
    assert [(old["colour"], new["colour"], new["upgrade_pending"]) for old, new in grants] == [
        (None, "blue", False),
        ("blue", "green", True),
        ("green", "blue", False),
    ], grants


async def _grants(db_url: str) -> list[tuple[Any, Any]]:
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(JournalEntry.old_value, JournalEntry.new_value)
                    .where(JournalEntry.action == "upgrade.owner")
                    .order_by(JournalEntry.seq)
                )
            ).all()
    finally:
        await engine.dispose()
    return [(json.loads(r.old_value), json.loads(r.new_value)) for r in rows]


def _switch_and_back(
    demo: Demo, manifests: dict[str, Path], db_url: str, sim: Any
) -> tuple[dict[str, Any], dict[str, str], str]:
    with _replicas(demo, colours=("blue", "green")) as (blue, green):
        admin_password = demo.create_admin()
        upgrader = demo.login("upgrader", demo.enrol("upgrader", "upgrade"))

        def grant(via: Runtime, colour: str, pending: bool = False) -> dict[str, Any]:
            response = via.http.put(
                "/api/v1/upgrade/owner",
                json={"colour": colour, "upgrade_pending": pending, "reason": "test"},
                headers=upgrader,
            )
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            return body

        assert grant(green, "blue")["replica_owns_batches"] is False  # green answered
        operator, batch_id, phase, _ = _cultivating(
            demo, manifests, sim, blue, seen_from=green, admin_password=admin_password
        )
        refused = green.http.post(
            "/api/v1/batches", json={"recipe": "mab-fedbatch-demo"}, headers=operator
        )
        assert refused.status_code == 503, refused.text
        assert "granted to blue" in refused.text, refused.text
        assert len(green.http.get("/api/v1/batches", headers=operator).json()) == 1
        seen = {"blue": _owner(db_url, batch_id)}

        assert grant(blue, "green", pending=True)["replica_owns_batches"] is False  # the switch
        wait_until(lambda: _owner(db_url, batch_id) != seen["blue"], "green to take over")
        seen["green"] = _owner(db_url, batch_id)
        assert "handed over 1 batch(es)" in blue.log.read_text()
        assert blue.process.poll() is None  # warm: still serving
        held = blue.command(operator, batch_id, "hold", CULTIVATE)  # through the inbox
        assert held.status_code == 200, held.text
        wait_until(
            lambda: element(green.batch(operator, batch_id), CULTIVATE)["state"] == "held", "held"
        )
        restarted = blue.command(operator, batch_id, "restart", CULTIVATE)
        assert restarted.status_code == 200, restarted.text

        grant(green, "blue")  # the rollback: a hand-back
        wait_until(lambda: _owner(db_url, batch_id) == seen["blue"], "blue to take it back")
        wait_until(lambda: blue.batch(operator, batch_id)["state"] in FINAL, "the batch to end")
        return blue.batch(operator, batch_id), seen, str(phase["service"])
