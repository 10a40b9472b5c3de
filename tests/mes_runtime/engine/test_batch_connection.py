"""Losing a module mid-batch: hold, record, and continue where the equipment is."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mes_runtime.domain.exceptions import Category
from mes_runtime.domain.states import Command, ElementState
from mes_runtime.engine.errors import EquipmentUnavailable
from mes_runtime.engine.ports import Severity
from mes_runtime.mtp.codes import ServiceCommand
from mes_runtime.mtp.codes import ServiceState as MS

from .harness import (
    CAPTURE_PHASES,
    CHARGE,
    FEDBATCH,
    FILL,
    HARVEST,
    MIX,
    OPERATION,
    ROOT,
    Harness,
    assert_recorded_in_order,
    reach_cultivation,
)

S = ElementState


async def lose_tk(h: Harness) -> None:
    """TK-201 drops while charge-water runs: the phase is held, an exception raised."""
    await h.executing(CHARGE)
    await h.executing(FILL)
    h.equipment.disconnect("TK-201", "socket closed")
    await h.until_state(CHARGE, S.HELD)
    await h.settle()


async def test_connection_lost_holds_the_phase_and_raises_a_major_exception(
    batch: Harness,
) -> None:
    h = batch
    await lose_tk(h)
    (exception,) = h.recorder.exceptions()
    assert exception["severity"] is Severity.MAJOR
    assert exception["category"] is Category.EQUIPMENT_LOSS
    assert exception["subject"] == CHARGE
    assert "TK-201" in exception["message"]
    (lost,) = h.recorder.journal_entries("equipment.connection_lost")
    assert (lost["subject"], lost["reason"]) == ("TK-201", "socket closed")
    assert h.state(FILL) is S.RUNNING, "BR-101 is still connected"
    assert h.state(ROOT) is S.RUNNING
    assert h.equipment.state("TK-201", "Charge") is MS.EXECUTE, "the module runs on"


async def test_restart_while_still_disconnected_changes_nothing(batch: Harness) -> None:
    h = batch
    await lose_tk(h)
    before = {n.path: n.state for n in h.tree.root.walk()}
    mark = h.recorder.mark()
    with pytest.raises(EquipmentUnavailable, match="TK-201 is disconnected"):
        await h.engine.command(h.batch_id, CHARGE, Command.RESTART, actor="bob")
    await h.settle()
    assert {n.path: n.state for n in h.tree.root.walk()} == before
    assert h.recorder.since(mark) == []


async def test_restored_connection_alone_does_not_restart_the_phase(batch: Harness) -> None:
    h = batch
    await lose_tk(h)
    h.equipment.finish("TK-201", "Charge")  # completes while nobody watches
    h.equipment.reconnect("TK-201")
    await h.settle()
    assert h.state(CHARGE) is S.HELD, "an operator decides when to continue"
    assert h.state(MIX) is S.IDLE
    assert len(h.recorder.journal_entries("equipment.connection_restored")) == 1


def _still_executing(h: Harness) -> None:
    """Nothing happens at the module while it is unreachable."""


def _held_at_the_module(h: Harness) -> None:
    h.equipment.local_command("TK-201", "Charge", ServiceCommand.HOLD)


def _completed_meanwhile(h: Harness) -> None:
    h.equipment.finish("TK-201", "Charge")


def _power_cycled(h: Harness) -> None:
    h.equipment.power_cycle("TK-201")


@pytest.mark.parametrize(
    ("meanwhile", "runs", "sent"),
    [
        (_still_executing, 1, []),
        (_held_at_the_module, 1, [ServiceCommand.UNHOLD]),
        (_completed_meanwhile, 1, [ServiceCommand.RESET]),
        (_power_cycled, 2, []),  # the run was lost: start it again
    ],
    ids=["execute", "held", "completed", "idle"],
)
async def test_restart_after_reconnection_continues_where_the_equipment_is(
    batch: Harness, meanwhile: Callable[[Harness], None], runs: int, sent: list[ServiceCommand]
) -> None:
    h = batch
    await lose_tk(h)
    meanwhile(h)
    await h.settle()
    h.equipment.reconnect("TK-201")
    await h.settle()
    assert h.state(CHARGE) is S.HELD
    calls = len(h.equipment.calls)

    await h.engine.command(h.batch_id, CHARGE, Command.RESTART, actor="bob", reason="back")
    if meanwhile is _completed_meanwhile:
        await h.until_state(CHARGE, S.COMPLETE)
    else:
        await h.executing(CHARGE)
        await h.complete_phase(CHARGE)
        sent = [*sent, ServiceCommand.RESET]  # after the phase completed
    await h.executing(MIX)
    to_charge = [
        c.detail
        for c in h.equipment.calls[calls:]
        if c.method == "command" and c.service == "Charge"
    ]
    assert to_charge == sent
    assert h.equipment.service("TK-201", "Charge").runs == runs
    assert h.state(OPERATION) is S.RUNNING
    assert_recorded_in_order(h.recorder, h.batch_id)
    assert h.recorder.states_of(CHARGE)[:5] == [
        "running",
        "holding",
        "held",
        "restarting",
        "running",
    ]


async def test_phase_started_while_its_module_is_down_is_held_then_started_on_restart(
    batch: Harness,
) -> None:
    h = batch
    await reach_cultivation(h)
    for path in (
        "procedure/BR-UP/cultivation/run-fedbatch",
        "procedure/BR-UP/harvest/harvest-broth",
    ):
        await h.complete_phase(path)
    equilibrate, load = CAPTURE_PHASES[:2]
    await h.executing(equilibrate)
    # Equilibrate ends, and CH-301 drops before the engine sees it: the engine learns of
    # the completion, but cannot reset the service nor start Load on it.
    async with h.engine._lock:
        h.equipment.finish("CH-301", "Chromatography")
        await h.until(
            lambda: h.equipment.state("CH-301", "Chromatography") is MS.COMPLETED,
            "equilibration to complete on the module",
        )
        h.equipment.disconnect("CH-301")
    await h.until_state(load, S.HELD)
    await h.settle()
    assert h.state(equilibrate) is S.COMPLETE
    assert h.recorder.exceptions(load), "the failed start is an exception"
    h.equipment.reconnect("CH-301")
    await h.settle()
    assert h.state(load) is S.HELD

    await h.engine.command(h.batch_id, load, Command.RESTART, actor="bob")
    await h.executing(load)  # Load really runs: the Completed state was Equilibrate's
    assert h.equipment.service("CH-301", "Chromatography").procedure == "Load"
    await h.complete_phase(load)
    await h.executing(CAPTURE_PHASES[2])
    assert_recorded_in_order(h.recorder, h.batch_id)


async def test_composite_command_that_cannot_reach_a_module_changes_nothing(
    batch: Harness,
) -> None:
    h = batch
    await lose_tk(h)  # charge-water Held on a disconnected TK-201; fill-medium runs
    before = {n.path: n.state for n in h.tree.root.walk()}
    mark, port_calls = h.recorder.mark(), len(h.equipment.calls)
    with pytest.raises(EquipmentUnavailable, match="TK-201"):
        await h.engine.command(h.batch_id, ROOT, Command.STOP, actor="bob")
    await h.settle()
    assert {n.path: n.state for n in h.tree.root.walk()} == before
    assert h.recorder.since(mark) == []
    assert h.equipment.calls[port_calls:] == [], "not even BR-101 was told to stop"
    # Holding the procedure is fine: the held phase needs no command.
    await h.engine.command(h.batch_id, ROOT, Command.HOLD, actor="bob")
    await h.until_state(ROOT, S.HELD)


async def test_command_refused_by_the_module_is_journalled_as_failed(batch: Harness) -> None:
    h = batch
    await h.executing(CHARGE)
    h.equipment.delay("TK-201")  # the module completes; the news is still on its way
    h.equipment.finish("TK-201", "Charge")
    await h.settle()
    assert h.equipment.state("TK-201", "Charge") is MS.COMPLETED
    with pytest.raises(EquipmentUnavailable, match="PAUSE"):
        await h.engine.command(h.batch_id, CHARGE, Command.PAUSE, actor="bob")
    assert h.state(CHARGE) is S.RUNNING
    actions = [e["action"] for e in h.recorder.journal_entries()][-2:]
    assert actions == ["command.pause", "command.failed"]
    h.equipment.deliver("TK-201")
    await h.until_state(CHARGE, S.COMPLETE)
    await h.executing(MIX)


async def test_composite_command_goes_on_when_one_phase_refuses(batch: Harness) -> None:
    h = batch
    await h.executing(CHARGE)
    await h.executing(FILL)
    h.equipment.delay("TK-201")  # charge-water completed; the engine does not know yet
    h.equipment.finish("TK-201", "Charge")
    await h.settle()
    assert await h.engine.command(h.batch_id, ROOT, Command.HOLD, actor="bob") is S.HOLDING
    (refusal,) = h.recorder.exceptions()
    assert refusal["subject"] == CHARGE
    assert refusal["category"] is Category.MANUAL_INTERVENTION
    await h.until_state(FILL, S.HELD)
    assert h.state(ROOT) is S.HOLDING, "charge-water still counts as running"
    h.equipment.deliver("TK-201")  # Completed arrives: nothing active is left unheld
    await h.until_state(ROOT, S.HELD)
    assert h.state(CHARGE) is S.COMPLETE
    assert h.state(MIX) is S.IDLE, "a holding operation starts nothing"
    await h.engine.command(h.batch_id, ROOT, Command.RESTART, actor="bob")
    await h.executing(MIX)  # the operation goes on where it stood
    await h.executing(FILL)
    assert_recorded_in_order(h.recorder, h.batch_id)


async def test_restart_at_once_after_reconnection_is_not_misled_by_queued_events(
    batch: Harness,
) -> None:
    """The restored session's first notifications (Completed) are still queued when the
    operator restarts; the next phase on the same service must not take them as its own."""
    h = batch
    await reach_cultivation(h)
    for path in (FEDBATCH, HARVEST):
        await h.complete_phase(path)
    equilibrate, load, wash = CAPTURE_PHASES[:3]
    await h.executing(equilibrate)
    h.equipment.disconnect("CH-301")
    await h.until_state(equilibrate, S.HELD)
    h.equipment.finish("CH-301", "Chromatography")
    await h.settle()
    h.equipment.reconnect("CH-301")  # queues: restored, Completed (equilibrate's)
    await h.engine.command(h.batch_id, equilibrate, Command.RESTART, actor="bob")
    assert h.state(equilibrate) is S.COMPLETE
    await h.executing(load)
    await h.settle()
    assert h.state(load) is S.RUNNING, "Load has only just started"
    assert h.state(wash) is S.IDLE
