"""A batch runs its control recipe to the end: sequencing, joins, conditions, loops, and
a complete, ordered record of every state change."""

from __future__ import annotations

import asyncio

import pytest

from mes_runtime.domain.control_recipe import ControlRecipe
from mes_runtime.domain.recipe import MasterRecipe
from mes_runtime.domain.states import (
    Command,
    ElementState,
)
from mes_runtime.engine.plan import build_tree
from mes_runtime.mtp.codes import ServiceState

from .harness import (
    ADJUST,
    BR_PREP,
    BR_UP,
    CAPTURE_PHASES,
    CH_UP,
    CHARGE,
    DEMO_BINDINGS,
    FEDBATCH,
    FILL,
    HARVEST,
    MIX,
    ROOT,
    TK_UP,
    Harness,
    assert_recorded_in_order,
    running_batch,
)
from .recipes import BR_BINDINGS, extend_loop, formula_gated

S = ElementState


async def test_demo_runs_to_complete(batch: Harness) -> None:
    h = batch
    # Buffer prep (TK) and medium fill (BR) start in parallel; the rest waits.
    await h.executing(CHARGE)
    await h.executing(FILL)
    assert h.state(ROOT) is S.RUNNING
    assert h.state(BR_UP) is S.IDLE
    assert h.state(CH_UP) is S.IDLE

    for path in (CHARGE, MIX, ADJUST):
        await h.complete_phase(path)
    await h.until_state(TK_UP, S.COMPLETE)
    await h.settle()
    assert h.state(BR_UP) is S.IDLE, "the and-join must wait for BR-PREP too"

    await h.complete_phase(FILL)
    await h.until_state(BR_PREP, S.COMPLETE)
    await h.settle()
    assert h.state(BR_UP) is S.IDLE, "no BR.Temperature yet: the condition cannot hold"

    h.equipment.publish("BR-101", "Temperature", 30.0, "degC")
    await h.settle()
    assert h.state(BR_UP) is S.IDLE, "30 degC does not satisfy BR.Temperature >= 35.5"

    h.equipment.publish("BR-101", "Temperature", 35.8, "degC")
    await h.executing(FEDBATCH)
    assert h.equipment.service("BR-101", "Cultivate").parameters == {
        "TemperatureSP": 36.5,
        "pHSP": 7.0,
        "DOSP": 40.0,
        "AgitatorSpeed": 150.0,
        "Duration": 24.0,
        "FeedRate": 2.0,
    }

    for path in (FEDBATCH, HARVEST, *CAPTURE_PHASES):
        await h.complete_phase(path)
    async with asyncio.timeout(3):
        assert await h.engine.wait_finished(h.batch_id) is S.COMPLETE

    assert {n.path: n.state for n in h.tree.root.walk()} == {
        n.path: S.COMPLETE for n in h.tree.root.walk()
    }
    started = [c.detail for c in h.equipment.calls if c.method == "start_procedure"]
    assert started == [
        "ChargeWater",
        "Fill",
        "Mix",
        "Titrate",
        "FedBatch",
        "Harvest",
        "Equilibrate",
        "Load",
        "Wash",
        "Elute",
    ]
    (end,) = h.recorder.journal_entries("batch.end")
    assert end["new_value"] == "complete"
    assert h.recorder.of("batch_state")[-1]["state"] == "complete"
    assert h.recorder.journal_entries("batch.start")[0]["actor"] == "alice"
    # Every completed service was reset for its next run.
    assert h.equipment.state("CH-301", "Chromatography") is ServiceState.IDLE


async def test_process_values_are_stored_against_the_batch(batch: Harness) -> None:
    batch.equipment.publish("BR-101", "Temperature", 31.0, "degC")
    batch.equipment.publish("TK-201", "pH", 7.3, "pH")

    def stored() -> list[tuple[str, str, float]]:
        return [
            (s.equipment, s.name, s.value)
            for call in batch.recorder.of("process_values")
            for s in call["samples"]
        ]

    await batch.until(lambda: len(stored()) == 2, "both values to be flushed")
    assert stored() == [("BR-101", "Temperature", 31.0), ("TK-201", "pH", 7.3)]
    assert {c["batch_id"] for c in batch.recorder.of("process_values")} == {batch.batch_id}


async def test_process_values_survive_a_storage_hiccup(batch: Harness) -> None:
    batch.recorder.failures["process_values"] = 2  # the next two flushes fail

    def stored() -> list[float]:
        return [s.value for c in batch.recorder.of("process_values") for s in c["samples"]]

    for value in (30.0, 30.5, 31.0):
        batch.equipment.publish("BR-101", "Temperature", value, "degC")
    await batch.until(lambda: batch.recorder.failures["process_values"] == 0, "two failures")
    await batch.until(lambda: len(stored()) == 3, "every value to be stored after all")
    assert stored() == [30.0, 30.5, 31.0]


@pytest.mark.parametrize(("overrides", "runs"), [({"Duration": 4.0}, True), ({}, False)])
async def test_formula_condition(overrides: dict[str, float], runs: bool) -> None:
    fill = "procedure/BR-UP/main/fill"
    cultivate = "procedure/BR-UP/main/cultivate"
    async with running_batch(formula_gated(), BR_BINDINGS, overrides=overrides) as h:
        await h.complete_phase(fill)
        await h.settle()
        if runs:  # formula.Duration = 4 > 3
            await h.executing(cultivate)
            assert h.equipment.service("BR-101", "Cultivate").parameters == {"Duration": 4.0}
        else:  # formula.Duration = 2: the transition never fires
            assert h.state(cultivate) is S.IDLE
            assert h.state("procedure/BR-UP/main") is S.RUNNING


async def test_loop_re_entering_a_finished_step_resets_and_runs_it_again() -> None:
    run = "procedure/BR-UP/cultivation/run-fedbatch"
    extend = "procedure/BR-UP/cultivation/extend-fedbatch"
    harvest = "procedure/BR-UP/cultivation/harvest-broth"
    async with running_batch(extend_loop(), BR_BINDINGS) as h:
        h.equipment.publish("BR-101", "VCD", 2.0, "1e6 cells/mL")
        await h.complete_phase(run)
        await h.complete_phase(extend)  # VCD still 2: extend again
        await h.until_state(extend, S.RUNNING)
        await h.executing(extend)
        h.equipment.publish("BR-101", "VCD", 6.0, "1e6 cells/mL")
        await h.complete_phase(extend)
        await h.complete_phase(harvest)
        async with asyncio.timeout(3):
            assert await h.engine.wait_finished(h.batch_id) is S.COMPLETE
        assert h.recorder.states_of(extend) == [
            "running",
            "complete",
            "idle",
            "running",
            "complete",
        ]
        assert h.recorder.states_of(run) == ["running", "complete"]
        assert h.equipment.service("BR-101", "Cultivate").runs == 3


async def test_every_state_change_is_persisted_and_journalled_in_order(
    demo: MasterRecipe,
) -> None:
    async with running_batch(demo, DEMO_BINDINGS) as h:
        await h.executing(CHARGE)
        assert await h.engine.command(h.batch_id, CHARGE, Command.HOLD, actor="bob") in {
            S.HOLDING,
            S.HELD,
        }
        await h.until_state(CHARGE, S.HELD)
        await h.engine.command(h.batch_id, CHARGE, Command.RESTART, actor="bob")
        for path in (CHARGE, MIX, ADJUST, FILL):
            await h.complete_phase(path)
        h.equipment.publish("BR-101", "Temperature", 36.0, "degC")
        await h.executing(FEDBATCH)
        await h.engine.command(h.batch_id, ROOT, Command.STOP, actor="bob")
        async with asyncio.timeout(3):
            assert await h.engine.wait_finished(h.batch_id) is S.STOPPED
        await h.settle()
    assert_recorded_in_order(h.recorder, h.batch_id)
    assert h.recorder.states_of(CHARGE) == [
        "running",
        "holding",
        "held",
        "restarting",
        "running",
        "complete",
    ]
    assert h.recorder.states_of(FEDBATCH) == ["running", "stopping", "stopped"]
    assert h.recorder.states_of(CH_UP) == []


async def test_loop_run_is_recorded_in_order() -> None:
    async with running_batch(extend_loop(), BR_BINDINGS) as h:
        h.equipment.publish("BR-101", "VCD", 2.0, "1e6 cells/mL")
        await h.complete_phase("procedure/BR-UP/cultivation/run-fedbatch")
        await h.complete_phase("procedure/BR-UP/cultivation/extend-fedbatch")
        await h.executing("procedure/BR-UP/cultivation/extend-fedbatch")
    assert_recorded_in_order(h.recorder, h.batch_id)


async def test_batch_whose_module_is_busy_waits_held_and_ignores_the_other_run() -> None:
    fill = "procedure/BR-UP/main/fill"
    async with running_batch(formula_gated(), BR_BINDINGS, batch_id="B-001") as h:
        await h.executing(fill)
        second = build_tree(
            ControlRecipe.from_master(formula_gated(), batch_id="B-002", bindings=BR_BINDINGS)
        )
        await h.engine.start_batch(second, actor="carol")
        assert second.by_path[fill].state is S.HELD, "BR-101/Prepare runs B-001's fill"
        assert [c["subject"] for c in h.recorder.exceptions() if c["batch_id"] == "B-002"] == [fill]
        assert sorted(h.engine.batch_ids()) == ["B-001", "B-002"]

        await h.engine.command("B-001", fill, Command.STOP, actor="bob")
        async with asyncio.timeout(3):
            assert await h.engine.wait_finished("B-001") is S.STOPPED
        await h.settle()
        assert second.by_path[fill].state is S.HELD, "B-001's Stopped is not B-002's"
        assert second.state is S.RUNNING

        await h.engine.command("B-002", fill, Command.RESTART, actor="carol")
        await h.until(
            lambda: (
                second.by_path[fill].state is S.RUNNING
                and h.equipment.state("BR-101", "Prepare") is ServiceState.EXECUTE
            ),
            "B-002's fill to run",
        )
        assert h.equipment.service("BR-101", "Prepare").runs == 2
    assert_recorded_in_order(h.recorder, "B-001")
    assert_recorded_in_order(h.recorder, "B-002")
