"""Resume after a restart: a new engine takes over a batch from its persisted state and
reconciles it with the equipment as it stands, never re-sending what already arrived.

The first engine runs the demo on the FAKE equipment and is stopped (its tasks cancelled,
as a process exit does); the second is built from what the first one *persisted* (the
last :class:`StateChange` of every element and the last SFC position), exactly what the
database would give back, and resumes on the same equipment.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mes_runtime.domain.control_recipe import ControlRecipe
from mes_runtime.domain.recipe import MasterRecipe
from mes_runtime.domain.states import Command, ElementState
from mes_runtime.engine.batch import BatchEngine
from mes_runtime.engine.plan import build_tree, restore_tree
from mes_runtime.engine.ports import ElementRecord
from mes_runtime.mtp.codes import ServiceCommand
from mes_runtime.mtp.codes import ServiceState as MS

from .fake_equipment import FakeEquipment, PortCall
from .fake_recorder import RecordingRecorder
from .harness import (
    CAPTURE_PHASES,
    DEMO_BINDINGS,
    FEDBATCH,
    HARVEST,
    Harness,
    assert_recorded_in_order,
    reach_cultivation,
)

S = ElementState
BATCH = "B-001"


def _engine(equipment: FakeEquipment, recorder: RecordingRecorder) -> BatchEngine:
    return BatchEngine(
        equipment=equipment, recorder=recorder, flush_interval=0.01, idle_timeout=1.0
    )


@asynccontextmanager
async def first_run(demo: MasterRecipe) -> AsyncIterator[Harness]:
    """The demo started on a first engine; the engine stops when the block ends."""
    control = ControlRecipe.from_master(demo, batch_id=BATCH, bindings=DEMO_BINDINGS)
    equipment = FakeEquipment.for_recipe(demo, DEMO_BINDINGS)
    recorder = RecordingRecorder(yielding=True)
    tree = build_tree(control)
    async with _engine(equipment, recorder) as engine:
        harness = Harness(engine, equipment, recorder, tree)
        await engine.start_batch(tree, actor="alice")
        yield harness


def persisted(
    demo: MasterRecipe, recorder: RecordingRecorder
) -> tuple[ControlRecipe, list[ElementRecord], dict[str, object]]:
    """What storage holds after the first run: the last record of each element, the last
    SFC position."""
    control = ControlRecipe.from_master(demo, batch_id=BATCH, bindings=DEMO_BINDINGS)
    last: dict[str, ElementRecord] = {}
    for change in recorder.changes:
        last[change.element.path] = change.element
    graph = dict(recorder.changes[-1].graph) if recorder.changes else {}
    return control, list(last.values()), graph


@asynccontextmanager
async def resumed(
    demo: MasterRecipe,
    first: Harness,
    *,
    edit: dict[str, ElementRecord] | None = None,
) -> AsyncIterator[Harness]:
    """A second engine on the same equipment, resuming from what the first persisted."""
    control, elements, graph = persisted(demo, first.recorder)
    elements = [(edit or {}).get(e.path, e) for e in elements]
    tree = restore_tree(control, elements, graph)
    recorder = RecordingRecorder(yielding=True)
    recorder.stored = list(first.recorder.stored)  # the process values in the database
    async with _engine(first.equipment, recorder) as engine:
        harness = Harness(engine, first.equipment, recorder, tree)
        await engine.resume(tree, owner="second", previous_owner="first", gap_seconds=1.5, epoch=2)
        yield harness


def starts(equipment: FakeEquipment, path_service: tuple[str, str]) -> list[PortCall]:
    return [
        c
        for c in equipment.calls
        if c.method == "start_procedure" and (c.equipment, c.service) == path_service
    ]


def stops_or_holds(equipment: FakeEquipment) -> list[PortCall]:
    unwanted = {ServiceCommand.STOP, ServiceCommand.ABORT, ServiceCommand.HOLD}
    return [c for c in equipment.calls if c.method == "command" and c.detail in unwanted]


async def finish_demo(h: Harness) -> None:
    for path in (HARVEST, *CAPTURE_PHASES):
        await h.complete_phase(path)
    await h.until(lambda: h.tree.state is S.COMPLETE, "the batch to complete")


async def test_resume_is_journalled_with_owner_previous_owner_and_gap(demo: MasterRecipe) -> None:
    async with first_run(demo) as h1:
        await reach_cultivation(h1)
        await h1.settle()
    async with resumed(demo, h1) as h2:
        entry = h2.recorder.journal_entries("batch.resume")
        assert [e["new_value"] for e in entry] == [
            {
                "owner": "second",
                "previous_owner": "first",
                "gap_seconds": 1.5,
                "epoch": 2,
                "state": "running",
            }
        ]
        assert h2.state(FEDBATCH) is S.RUNNING
        await h2.settle()
        assert h2.recorder.of("element_state") == []  # a steady phase: nothing to change
        await h2.complete_phase(FEDBATCH)
        await finish_demo(h2)
    fedbatch = h1.service_of(FEDBATCH)
    assert len(starts(h1.equipment, fedbatch)) == 1
    assert stops_or_holds(h1.equipment) == []


async def test_a_phase_that_completed_while_away_becomes_complete_and_the_recipe_goes_on(
    demo: MasterRecipe,
) -> None:
    async with first_run(demo) as h1:
        await reach_cultivation(h1)
        await h1.settle()
    h1.equipment.finish(*h1.service_of(FEDBATCH))  # no engine watches
    await h1.until(
        lambda: h1.equipment.state(*h1.service_of(FEDBATCH)) is MS.COMPLETED, "Completed"
    )
    async with resumed(demo, h1) as h2:
        await h2.until_state(FEDBATCH, S.COMPLETE)
        await h2.executing(HARVEST)
        await finish_demo(h2)
        assert h2.recorder.states_of(FEDBATCH) == ["complete"]
    assert len(starts(h1.equipment, h1.service_of(FEDBATCH))) == 1
    assert stops_or_holds(h1.equipment) == []


async def test_a_service_found_held_holds_its_phase_with_an_exception(demo: MasterRecipe) -> None:
    async with first_run(demo) as h1:
        await reach_cultivation(h1)
        await h1.settle()
    h1.equipment.local_command(*h1.service_of(FEDBATCH), ServiceCommand.HOLD)
    await h1.until(lambda: h1.equipment.state(*h1.service_of(FEDBATCH)) is MS.HELD, "Held")
    async with resumed(demo, h1) as h2:
        await h2.until_state(FEDBATCH, S.HELD)
        found = h2.recorder.exceptions(FEDBATCH)
        assert len(found) == 1
        assert "found Held" in found[0]["message"]
        await h2.engine.command(BATCH, FEDBATCH, Command.RESTART, actor="alice")
        await h2.executing(FEDBATCH)
    assert len(starts(h1.equipment, h1.service_of(FEDBATCH))) == 1  # unheld, not restarted


async def test_a_start_that_reached_the_module_is_adopted_never_sent_twice(
    demo: MasterRecipe,
) -> None:
    async with first_run(demo) as h1:
        await reach_cultivation(h1)
        # storage fails right after HARVEST's Start is recorded and sent: the process dies
        # before the phase's Running is stored
        h1.recorder.fail_change = lambda c: c.element.path == HARVEST and c.element.state != "idle"
        await h1.complete_phase(FEDBATCH)
        await h1.until(lambda: len(starts(h1.equipment, h1.service_of(HARVEST))) == 1, "Start")
        assert h1.state(HARVEST) is S.IDLE  # memory follows storage, not the hope of it
    _, elements, _ = persisted(demo, h1.recorder)
    harvest = next(e for e in elements if e.path == HARVEST)
    assert (harvest.state, harvest.last_command, harvest.command_outcome) == (
        "idle",
        "start",
        "pending",
    )
    async with resumed(demo, h1) as h2:
        await h2.executing(HARVEST)
        await finish_demo(h2)
    assert len(starts(h1.equipment, h1.service_of(HARVEST))) == 1
    assert stops_or_holds(h1.equipment) == []


async def test_a_start_recorded_but_never_sent_is_sent_once(demo: MasterRecipe) -> None:
    async with first_run(demo) as h1:
        await reach_cultivation(h1)
        await h1.settle()
    # As if the process died between recording FEDBATCH's Start and sending it (the
    # module is Idle): rewind what storage holds for a phase to "start pending".
    equipment, service = h1.service_of(FEDBATCH)
    h1.equipment.finish(equipment, service)
    await h1.until(lambda: h1.equipment.state(equipment, service) is MS.COMPLETED, "Completed")
    await h1.equipment.command(equipment, service, ServiceCommand.RESET)
    await h1.until(lambda: h1.equipment.state(equipment, service) is MS.IDLE, "Idle")
    before = len(starts(h1.equipment, (equipment, service)))
    pending = ElementRecord(
        path=FEDBATCH, state="idle", last_command="start", command_outcome="pending"
    )
    async with resumed(demo, h1, edit={FEDBATCH: pending}) as h2:
        await h2.executing(FEDBATCH)
        await h2.settle()
    assert len(starts(h1.equipment, (equipment, service))) == before + 1


async def test_a_failed_write_is_retried_and_lands_once(demo: MasterRecipe) -> None:
    async with first_run(demo) as h1:
        await reach_cultivation(h1)
        h1.recorder.failures["change"] = 3  # storage down when the phase completes
        await h1.complete_phase(FEDBATCH)
        assert h1.recorder.failures["change"] == 0
        await h1.executing(HARVEST)
        assert h1.recorder.states_of(FEDBATCH).count("complete") == 1
        assert_recorded_in_order(h1.recorder, BATCH)


def holds(equipment: FakeEquipment, path_service: tuple[str, str]) -> list[PortCall]:
    return [
        c
        for c in equipment.calls
        if c.method == "command"
        and c.detail is ServiceCommand.HOLD
        and (c.equipment, c.service) == path_service
    ]


async def test_a_hold_that_reached_the_module_takes_effect_without_a_repeat_or_exception(
    demo: MasterRecipe,
) -> None:
    """The owner recorded a Hold as pending and sent it, and died before storing the
    outcome: the service is Held; the phase becomes Held by that command, which is not sent
    again and raises no "found Held" exception."""
    async with first_run(demo) as h1:
        await reach_cultivation(h1)
        await h1.settle()
    equipment, service = h1.service_of(FEDBATCH)
    await h1.equipment.command(equipment, service, ServiceCommand.HOLD)  # it arrived
    await h1.until(lambda: h1.equipment.state(equipment, service) is MS.HELD, "Held")
    sent = len(holds(h1.equipment, (equipment, service)))
    pending = ElementRecord(
        path=FEDBATCH,
        state="running",
        procedure_started=True,
        last_command="hold",
        command_outcome="pending",
    )
    async with resumed(demo, h1, edit={FEDBATCH: pending}) as h2:
        await h2.until_state(FEDBATCH, S.HELD)
        assert h2.recorder.exceptions(FEDBATCH) == []
        assert h2.tree.by_path[FEDBATCH].command_outcome == "done"
        await h2.engine.command(BATCH, FEDBATCH, Command.RESTART, actor="alice")
        await h2.executing(FEDBATCH)
    assert len(holds(h1.equipment, (equipment, service))) == sent


async def test_a_hold_recorded_but_never_sent_is_sent_once(demo: MasterRecipe) -> None:
    """The owner recorded a Hold as pending and died before sending it (the service still
    executes): the replica taking over sends it, once, and the phase is Held."""
    async with first_run(demo) as h1:
        await reach_cultivation(h1)
        await h1.settle()
    equipment, service = h1.service_of(FEDBATCH)
    pending = ElementRecord(
        path=FEDBATCH,
        state="running",
        procedure_started=True,
        last_command="hold",
        command_outcome="pending",
    )
    async with resumed(demo, h1, edit={FEDBATCH: pending}) as h2:
        await h2.until_state(FEDBATCH, S.HELD)
        await h2.settle()
        assert h2.recorder.exceptions(FEDBATCH) == []
    assert len(holds(h1.equipment, (equipment, service))) == 1
