"""While an upgrade waits for a safe point, a phase its recipe marks as not interruptible
does not start: it waits, Idle in its active step, and starts once the upgrade no longer
waits (otherwise back-to-back non-interruptible phases could hold the safe point off for
ever). Interruptible phases are not affected."""

from __future__ import annotations

from typing import Any

from mes_runtime.domain.control_recipe import ControlRecipe
from mes_runtime.domain.recipe import MasterRecipe
from mes_runtime.domain.states import ElementState
from mes_runtime.engine.batch import BatchEngine
from mes_runtime.engine.plan import build_tree

from .fake_equipment import FakeEquipment
from .fake_recorder import RecordingRecorder
from .harness import ADJUST, CHARGE, DEMO_BINDINGS, FILL, MIX, Harness

S = ElementState


def _with_fill_not_interruptible(demo: MasterRecipe) -> MasterRecipe:
    data: Any = demo.to_canonical_data()
    found = []

    def mark(steps: list[dict[str, Any]]) -> None:
        for step in steps:
            if step.get("id") == FILL.rsplit("/", 1)[-1]:
                step["interruptible"] = False
                found.append(step)
            mark(step.get("steps", []))

    mark(data["procedure"]["steps"])
    assert len(found) == 1
    return MasterRecipe.model_validate(data)


async def test_a_non_interruptible_phase_waits_while_an_upgrade_is_pending(
    demo: MasterRecipe,
) -> None:
    master = _with_fill_not_interruptible(demo)
    control = ControlRecipe.from_master(master, batch_id="B-001", bindings=DEMO_BINDINGS)
    equipment = FakeEquipment.for_recipe(master, DEMO_BINDINGS)
    recorder = RecordingRecorder(yielding=True)
    tree = build_tree(control)
    pending = [True]
    async with BatchEngine(
        equipment=equipment,
        recorder=recorder,
        flush_interval=0.01,
        idle_timeout=1.0,
        hand_over_pending=lambda: pending[0],
    ) as engine:
        h = Harness(engine, equipment, recorder, tree)
        await engine.start_batch(tree, actor="alice")
        for path in (CHARGE, MIX, ADJUST):  # interruptible: they run as ever
            await h.complete_phase(path)
        await h.until(
            lambda: bool(recorder.journal_entries("phase.deferred")), "the fill to be deferred"
        )
        fill = h.node(FILL)
        assert fill.parent is not None
        assert fill.parent.state is S.RUNNING  # its operation runs; the step is active
        assert fill.parent.run is not None
        assert fill.step_id in fill.parent.run.active_steps()
        await h.settle()
        assert h.state(FILL) is S.IDLE
        assert not [
            c
            for c in equipment.calls
            if c.method == "start_procedure" and (c.equipment, c.service) == h.service_of(FILL)
        ]
        (entry,) = recorder.journal_entries("phase.deferred")
        assert entry["subject"] == FILL
        assert "upgrade" in entry["reason"]

        pending[0] = False  # the upgrade switched
        await h.complete_phase(FILL)
        assert len(recorder.journal_entries("phase.deferred")) == 1  # journalled once
