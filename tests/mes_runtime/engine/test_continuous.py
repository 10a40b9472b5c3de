"""Continuous procedures (MTP IsSelfCompleting false) end when the runtime sends Complete:
after the phase has executed for a time the recipe gives, when a recipe condition holds, or
on an operator's Complete command. Each is journalled and sent once; the phase stays
Running until the service reports Completed."""

from __future__ import annotations

from mes_runtime.domain.states import Command, ElementState
from mes_runtime.kernel.codes import ServiceCommand

from .fake_equipment import FakeEquipment
from .harness import load_yaml_recipe, running_batch
from .recipes import BR_BINDINGS

HOLD = "procedure/BR-UP/main/hold"

_RECIPE = """
header: {name: continuous, version: 1, product: P, author: tester}
formula:
  - {name: Target, value: 8, unit: 1e6 cells/mL, low: 1, high: 20}
equipment:
  - unit: BR
    capabilities:
      - service: Cultivate
        procedure: FedBatch
        parameters: []
    process_values:
      - {name: VCD, unit: 1e6 cells/mL}
procedure:
  initial: [BR-UP]
  steps:
    - id: BR-UP
      unit: BR
      initial: [main]
      steps:
        - id: main
          initial: [hold]
          steps:
            - {id: hold, service: Cultivate, procedure: FedBatch%(rule)s}
          transitions:
            - {id: done, from: [hold], to: []}
      transitions:
        - {id: up-done, from: [main], to: []}
  transitions:
    - {id: batch-done, from: [BR-UP], to: []}
"""


def _recipe(rule: str = "") -> str:
    return _RECIPE % {"rule": rule}


def _completes(equipment: FakeEquipment) -> int:
    return sum(
        1 for c in equipment.calls if c.method == "command" and c.detail is ServiceCommand.COMPLETE
    )


async def test_complete_is_sent_once_the_phase_has_executed_long_enough() -> None:
    master = load_yaml_recipe(_recipe(", complete_after_seconds: 0.3"))
    async with running_batch(master, BR_BINDINGS) as h:
        await h.executing(HOLD)
        await h.until_state("procedure", ElementState.COMPLETE)
        assert _completes(h.equipment) == 1
        sent = h.recorder.journal_entries("command.complete")
        assert [(e["actor"], e["subject"]) for e in sent] == [("system", HOLD)]
        assert "executed for 0.3 s" in str(sent[0]["reason"])


async def test_complete_is_sent_when_the_condition_holds_and_not_before() -> None:
    master = load_yaml_recipe(_recipe(", complete_when: BR.VCD >= formula.Target"))
    async with running_batch(master, BR_BINDINGS) as h:
        await h.executing(HOLD)
        h.equipment.publish("BR-101", "VCD", 5.0, "1e6 cells/mL")
        await h.settle()
        assert h.state(HOLD) is ElementState.RUNNING  # 5 < 8: keeps running
        assert _completes(h.equipment) == 0
        h.equipment.publish("BR-101", "VCD", 8.5, "1e6 cells/mL")
        await h.until_state("procedure", ElementState.COMPLETE)
        assert _completes(h.equipment) == 1


async def test_an_operator_completes_a_continuous_phase() -> None:
    master = load_yaml_recipe(_recipe())  # no rule: only a person ends it
    equipment = FakeEquipment.for_recipe(master, BR_BINDINGS)
    async with running_batch(master, BR_BINDINGS, equipment=equipment) as h:
        await h.executing(HOLD)
        await h.settle()
        # a self-completing procedure is not offered Complete (it ends by itself)
        assert Command.COMPLETE not in h.engine.allowed(h.tree, h.node(HOLD))
        equipment.continuous.add(("BR-101", "Cultivate", "FedBatch"))
        await h.executing(HOLD)
        await h.settle()
        assert Command.COMPLETE in h.engine.allowed(h.tree, h.node(HOLD))
        assert Command.COMPLETE not in h.engine.allowed(h.tree, h.node("procedure/BR-UP"))
        assert h.state(HOLD) is ElementState.RUNNING
        state = await h.engine.command(h.batch_id, HOLD, Command.COMPLETE, actor="op")
        assert state is ElementState.RUNNING  # until the service reports Completed
        await h.until_state("procedure", ElementState.COMPLETE)
        assert _completes(h.equipment) == 1
        assert [e["actor"] for e in h.recorder.journal_entries("command.complete")] == ["op"]
