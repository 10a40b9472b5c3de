"""Operator commands: ISA-88 semantics on phases and composites, and what is refused."""

from __future__ import annotations

import asyncio

import pytest

from mes_runtime.domain.states import Command, ElementState
from mes_runtime.engine.errors import CommandRejected, UnknownBatch, UnknownElement
from mes_runtime.mtp.codes import ServiceCommand
from mes_runtime.mtp.codes import ServiceState as MS

from .harness import (
    ADJUST,
    BR_PREP,
    BR_UP,
    CHARGE,
    FEDBATCH,
    FILL,
    MIX,
    OPERATION,
    ROOT,
    TK_UP,
    Harness,
    assert_recorded_in_order,
)

S = ElementState


async def test_phase_hold_and_restart(batch: Harness) -> None:
    h = batch
    await h.executing(CHARGE)
    state = await h.engine.command(h.batch_id, CHARGE, Command.HOLD, actor="bob", reason="leak")
    assert state is S.HOLDING
    assert h.recorder.states_of(CHARGE)[-1] == "holding", "persisted before acknowledged"
    (entry,) = h.recorder.journal_entries("command.hold")
    assert (entry["actor"], entry["subject"], entry["reason"]) == ("bob", CHARGE, "leak")
    await h.until_state(CHARGE, S.HELD)
    assert h.equipment.state("TK-201", "Charge") is MS.HELD
    assert h.state(OPERATION) is S.RUNNING, "holding a phase does not hold its parent"

    state = await h.engine.command(h.batch_id, CHARGE, Command.RESTART, actor="bob")
    assert state in {S.RESTARTING, S.RUNNING}
    await h.executing(CHARGE)
    assert h.recorder.states_of(CHARGE) == ["running", "holding", "held", "restarting", "running"]
    await h.complete_phase(CHARGE)
    await h.executing(MIX)


async def test_composite_hold_settles_when_all_active_phases_are_held(batch: Harness) -> None:
    h = batch
    await h.executing(CHARGE)
    await h.executing(FILL)
    h.equipment.pin("BR-101", "Prepare")  # BR-101 takes its time to reach Held
    assert await h.engine.command(h.batch_id, ROOT, Command.HOLD, actor="bob") is S.HOLDING
    await h.until_state(CHARGE, S.HELD)
    await h.settle()
    assert h.state(FILL) is S.HOLDING
    assert h.state(TK_UP) is S.HELD, "TK-UP's only active phase is held"
    assert h.state(BR_PREP) is S.HOLDING
    assert h.state(ROOT) is S.HOLDING, "the procedure waits for every active phase"

    h.equipment.release("BR-101", "Prepare")
    await h.until_state(ROOT, S.HELD)
    assert h.state(FILL) is S.HELD
    assert h.state(BR_PREP) is S.HELD
    assert h.recorder.states_of(ROOT) == ["running", "holding", "held"]

    await h.engine.command(h.batch_id, ROOT, Command.RESTART, actor="bob")
    await h.until_state(ROOT, S.RUNNING)
    await h.executing(CHARGE)
    await h.executing(FILL)
    for path in (TK_UP, OPERATION, BR_PREP, "procedure/BR-PREP/preparation"):
        assert h.state(path) is S.RUNNING
    assert h.state(BR_UP) is S.IDLE
    await h.complete_phase(CHARGE)  # and the graph goes on
    await h.executing(MIX)
    assert_recorded_in_order(h.recorder, h.batch_id)


async def test_composite_restart_settles_only_when_every_phase_runs(batch: Harness) -> None:
    h = batch
    await h.executing(CHARGE)
    await h.executing(FILL)
    await h.engine.command(h.batch_id, ROOT, Command.HOLD, actor="bob")
    await h.until_state(ROOT, S.HELD)
    h.equipment.pin("TK-201", "Charge")  # stays Unholding
    await h.engine.command(h.batch_id, ROOT, Command.RESTART, actor="bob")
    await h.executing(FILL)
    await h.settle()
    assert h.state(CHARGE) is S.RESTARTING
    assert h.state(ROOT) is S.RESTARTING
    h.equipment.release("TK-201", "Charge")
    await h.until_state(ROOT, S.RUNNING)
    assert h.state(CHARGE) is S.RUNNING


async def test_phase_pause_and_resume(batch: Harness) -> None:
    h = batch
    await h.executing(CHARGE)
    assert await h.engine.command(h.batch_id, CHARGE, Command.PAUSE, actor="bob") is S.PAUSING
    await h.until_state(CHARGE, S.PAUSED)
    assert h.equipment.state("TK-201", "Charge") is MS.PAUSED
    assert await h.engine.command(h.batch_id, CHARGE, Command.RESUME, actor="bob") is S.RUNNING
    await h.executing(CHARGE)
    await h.complete_phase(CHARGE)
    await h.executing(MIX)


async def test_composite_pause_and_resume(batch: Harness) -> None:
    h = batch
    await h.executing(CHARGE)
    await h.engine.command(h.batch_id, TK_UP, Command.PAUSE, actor="bob")
    await h.until_state(TK_UP, S.PAUSED)
    assert h.state(OPERATION) is S.PAUSED
    assert h.state(CHARGE) is S.PAUSED
    assert h.state(FILL) is S.RUNNING, "pausing TK-UP leaves BR-PREP alone"
    await h.engine.command(h.batch_id, TK_UP, Command.RESUME, actor="bob")
    await h.executing(CHARGE)
    assert h.state(TK_UP) is S.RUNNING
    assert h.state(OPERATION) is S.RUNNING


async def test_resumed_composite_continues_a_graph_whose_condition_came_true_meanwhile(
    batch: Harness,
) -> None:
    h = batch
    for path in (CHARGE, MIX, ADJUST, FILL):
        await h.complete_phase(path)
    await h.settle()  # the procedure now waits for BR.Temperature >= 35.5
    await h.engine.command(h.batch_id, ROOT, Command.PAUSE, actor="bob")
    await h.until_state(ROOT, S.PAUSED)  # no active child: it settles at once
    h.equipment.publish("BR-101", "Temperature", 36.0, "degC")
    await h.settle()
    assert h.state(BR_UP) is S.IDLE, "a paused procedure starts nothing"
    await h.engine.command(h.batch_id, ROOT, Command.RESUME, actor="bob")
    await h.executing(FEDBATCH)  # without any further sample


@pytest.mark.parametrize(
    ("command", "final"), [(Command.STOP, S.STOPPED), (Command.ABORT, S.ABORTED)]
)
async def test_stop_or_abort_of_a_phase_ends_its_parents_and_the_batch(
    batch: Harness, command: Command, final: S
) -> None:
    h = batch
    await h.executing(CHARGE)
    await h.executing(FILL)
    await h.engine.command(h.batch_id, CHARGE, command, actor="bob", reason="contamination")
    async with asyncio.timeout(3):
        assert await h.engine.wait_finished(h.batch_id) is final
    for path in (CHARGE, OPERATION, TK_UP, ROOT, FILL, BR_PREP):
        assert h.state(path) is final, path
    assert h.state(MIX) is S.IDLE, "nothing starts after a stop"
    assert h.state(BR_UP) is S.IDLE
    service_final = MS.STOPPED if command is Command.STOP else MS.ABORTED
    assert h.equipment.state("TK-201", "Charge") is service_final
    assert h.equipment.state("BR-101", "Prepare") is service_final
    (end,) = h.recorder.journal_entries("batch.end")
    assert end["new_value"] == final.value


async def test_abort_of_the_procedure_while_stopping(batch: Harness) -> None:
    h = batch
    await h.executing(CHARGE)
    await h.executing(FILL)
    h.equipment.pin("TK-201", "Charge")  # stays Stopping
    await h.engine.command(h.batch_id, ROOT, Command.STOP, actor="bob")
    await h.until_state(FILL, S.STOPPED)
    await h.settle()
    assert h.state(ROOT) is S.STOPPING
    await h.engine.command(h.batch_id, ROOT, Command.ABORT, actor="bob")
    h.equipment.release("TK-201", "Charge")
    async with asyncio.timeout(3):
        assert await h.engine.wait_finished(h.batch_id) is S.ABORTED
    assert h.state(CHARGE) is S.ABORTED
    assert len(h.recorder.journal_entries("batch.end")) == 1
    assert_recorded_in_order(h.recorder, h.batch_id)


async def test_equipment_ending_a_procedure_by_itself_stops_the_batch(batch: Harness) -> None:
    h = batch
    await h.executing(CHARGE)
    h.equipment.local_command("TK-201", "Charge", ServiceCommand.STOP)
    async with asyncio.timeout(3):
        assert await h.engine.wait_finished(h.batch_id) is S.STOPPED
    assert h.state(FILL) is S.STOPPED


@pytest.mark.parametrize(
    ("path", "command"),
    [
        (CHARGE, Command.RESTART),  # Running: nothing to restart
        (CHARGE, Command.RESUME),
        (CHARGE, Command.START),  # Start is for the batch only
        (MIX, Command.START),  # an Idle phase is started by its graph, not by hand
        (MIX, Command.HOLD),  # Idle: nothing to hold
        (TK_UP, Command.START),
        (ROOT, Command.START),  # already running
        (ROOT, Command.RESET),  # never offered
    ],
)
async def test_command_not_allowed_is_rejected_and_changes_nothing(
    batch: Harness, path: str, command: Command
) -> None:
    h = batch
    await h.executing(CHARGE)
    await h.executing(FILL)
    await h.settle()
    before = {n.path: n.state for n in h.tree.root.walk()}
    mark, port_calls = h.recorder.mark(), len(h.equipment.calls)
    with pytest.raises(CommandRejected):
        await h.engine.command(h.batch_id, path, command, actor="bob")
    await h.settle()
    assert {n.path: n.state for n in h.tree.root.walk()} == before
    assert h.recorder.since(mark) == []
    assert h.equipment.calls[port_calls:] == []


async def test_unknown_batch_and_element(batch: Harness) -> None:
    with pytest.raises(UnknownBatch):
        await batch.engine.command("nope", CHARGE, Command.HOLD, actor="bob")
    with pytest.raises(UnknownElement):
        await batch.engine.command(batch.batch_id, "procedure/nope", Command.HOLD, actor="bob")
    with pytest.raises(UnknownBatch):
        batch.engine.snapshot("nope")


async def test_starting_the_same_batch_twice_is_rejected(batch: Harness) -> None:
    with pytest.raises(CommandRejected):
        await batch.engine.start_batch(batch.tree, actor="bob")
    assert batch.engine.batch_ids() == [batch.batch_id]


async def test_snapshot_offers_exactly_what_the_engine_accepts(batch: Harness) -> None:
    h = batch
    await h.executing(CHARGE)
    await h.executing(FILL)
    h.equipment.publish("BR-101", "Temperature", 30.5, "degC")
    await h.settle()
    snapshot = h.engine.snapshot(h.batch_id)
    assert snapshot["id"] == h.batch_id
    assert snapshot["state"] == "running"
    rows = {row["path"]: row for row in snapshot["elements"]}
    assert list(rows) == [n.path for n in h.tree.root.walk()]
    for node in h.tree.root.walk():
        offered = rows[node.path]["allowed_commands"]
        assert offered == sorted(c.value for c in h.engine.allowed(h.tree, node))
        assert "reset" not in offered
        assert "start" not in offered, "start is offered only to an idle batch"
        assert rows[node.path]["state"] == node.state.value
    assert rows[CHARGE]["allowed_commands"] == ["abort", "hold", "pause", "stop"]
    assert rows[MIX]["allowed_commands"] == []
    assert rows[CHARGE]["equipment"] == "TK-201"
    assert rows[CHARGE]["procedure"] == "ChargeWater"
    assert {"unit": "BR", "equipment": "BR-101", "name": "Temperature", "value": 30.5}.items() <= (
        next(v for v in snapshot["values"] if v["name"] == "Temperature").items()
    )

    # Every offered command is accepted (on a phase: Hold here) ...
    await h.engine.command(h.batch_id, CHARGE, Command.HOLD, actor="bob")
    await h.until_state(CHARGE, S.HELD)
    rows = {row["path"]: row for row in h.engine.snapshot(h.batch_id)["elements"]}
    assert rows[CHARGE]["allowed_commands"] == ["abort", "restart", "stop"]
    # ... and a finished batch offers nothing.
    await h.engine.command(h.batch_id, ROOT, Command.ABORT, actor="bob")
    async with asyncio.timeout(3):
        await h.engine.wait_finished(h.batch_id)
    snapshot = h.engine.snapshot(h.batch_id)
    assert all(row["allowed_commands"] == [] for row in snapshot["elements"])


async def test_phase_follows_pause_resume_hold_unhold_done_at_the_module(batch: Harness) -> None:
    h = batch
    await h.executing(CHARGE)
    steps = [
        (ServiceCommand.PAUSE, S.PAUSED),
        (ServiceCommand.RESUME, S.RUNNING),
        (ServiceCommand.HOLD, S.HELD),
        (ServiceCommand.UNHOLD, S.RUNNING),
    ]
    for command, state in steps:
        h.equipment.local_command("TK-201", "Charge", command)
        await h.settle()
        assert h.state(CHARGE) is state, command.name
    assert h.recorder.states_of(CHARGE) == [
        "running",
        "pausing",
        "paused",
        "running",
        "holding",
        "held",
        "restarting",
        "running",
    ]
    await h.complete_phase(CHARGE)


async def test_module_aborting_a_stopping_phase_ends_it_aborted(batch: Harness) -> None:
    h = batch
    await h.executing(CHARGE)
    h.equipment.pin("TK-201", "Charge")  # stays Stopping ...
    await h.engine.command(h.batch_id, CHARGE, Command.STOP, actor="bob")
    await h.settle()
    assert h.state(CHARGE) is S.STOPPING
    h.equipment.local_command("TK-201", "Charge", ServiceCommand.ABORT)  # ... then aborts
    h.equipment.release("TK-201", "Charge")
    await h.until_state(CHARGE, S.ABORTED)
    async with asyncio.timeout(3):
        await h.engine.wait_finished(h.batch_id)
    assert h.recorder.states_of(CHARGE)[-3:] == ["stopping", "aborting", "aborted"]
