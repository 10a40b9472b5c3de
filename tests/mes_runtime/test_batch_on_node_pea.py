"""A one-phase batch on a PEA Holon did not write: node-opcua serves it (another OPC UA
stack), a vendor-structured manifest describes it, and the real engine runs the recipe
through the real MTP edge to Complete (the recorder is the engine tests' fake)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from holon_testing.node_pea import running_node_pea
from holon_testing.vendor_mtp import build, to_bytes
from mes_runtime.domain.control_recipe import ControlRecipe
from mes_runtime.domain.states import ElementState
from mes_runtime.engine.batch import BatchEngine
from mes_runtime.engine.plan import build_tree
from mes_runtime.mtp.capabilities import capabilities_of
from mes_runtime.mtp.equipment import MtpEquipment
from mes_runtime.mtp.manifest import load_manifest
from tests.mes_runtime.engine.fake_recorder import RecordingRecorder
from tests.mes_runtime.engine.harness import load_yaml_recipe
from tests.mes_runtime.mtp.test_vendor_manifest import STIRRER

PULSE = """
header: {name: stir-pulse, version: 1, product: P, author: tester}
formula:
  - {name: StirSpeed, value: 300, unit: rpm, low: 50, high: 800}
  - {name: PulseTime, value: 5, unit: s, low: 1, high: 60}
equipment:
  - unit: ST
    capabilities:
      - service: Stirring
        procedure: Pulse
        parameters:
          - {name: Speed, unit: rpm, low: 50, high: 800}
          - {name: Time, unit: s, low: 1, high: 60}
procedure:
  initial: [ST-UP]
  steps:
    - id: ST-UP
      unit: ST
      initial: [stir]
      steps:
        - id: stir
          initial: [pulse]
          steps:
            - {id: pulse, service: Stirring, procedure: Pulse,
               parameters: {Speed: {formula: StirSpeed}, Time: {formula: PulseTime}}}
          transitions:
            - {id: pulsed, from: [pulse], to: []}
      transitions:
        - {id: up-done, from: [stir], to: []}
  transitions:
    - {id: batch-done, from: [ST-UP], to: []}
"""


@pytest.mark.parametrize("style", ["string", "numeric"])
async def test_one_phase_recipe_runs_to_complete_on_the_node_opcua_pea(
    tmp_path: Path, style: str
) -> None:
    module = replace(STIRRER, name=f"HC-{style}", id_style=style)  # type: ignore[arg-type]
    with running_node_pea(module, tmp_path) as served:
        manifest = load_manifest(to_bytes(build(served)))
        master = load_yaml_recipe(PULSE)
        offer = capabilities_of(manifest)
        assert offer.shortfalls(master.equipment[0].capabilities) == []
        control = ControlRecipe.from_master(
            master, batch_id="B-NODE", bindings={"ST": manifest.name}
        )
        equipment = MtpEquipment(reconnect_delay=0.2, check_interval=0.2, request_timeout=5.0)
        equipment.add_module(manifest)
        async with equipment:
            async with asyncio.timeout(60):
                await equipment.wait_connected()
            async with BatchEngine(
                equipment=equipment, recorder=RecordingRecorder(), flush_interval=0.05
            ) as engine:
                tree = build_tree(control)
                await engine.start_batch(tree, actor="operator-1")
                async with asyncio.timeout(60):
                    final = await engine.wait_finished("B-NODE")
    assert final is ElementState.COMPLETE
    phase = tree.by_path["procedure/ST-UP/stir/pulse"]
    assert phase.state is ElementState.COMPLETE


STIR = """
header: {name: stir-for-a-while, version: 1, product: P, author: tester}
formula:
  - {name: StirSpeed, value: 300, unit: rpm, low: 50, high: 800}
equipment:
  - unit: ST
    capabilities:
      - service: Stirring
        procedure: Stir
        parameters:
          - {name: Speed, unit: rpm, low: 0, high: 1500}
procedure:
  initial: [ST-UP]
  steps:
    - id: ST-UP
      unit: ST
      initial: [stir]
      steps:
        - id: stir
          initial: [mix]
          steps:
            - {id: mix, service: Stirring, procedure: Stir,
               parameters: {Speed: {formula: StirSpeed}}, complete_after_seconds: 1}
          transitions:
            - {id: mixed, from: [mix], to: []}
      transitions:
        - {id: up-done, from: [stir], to: []}
  transitions:
    - {id: batch-done, from: [ST-UP], to: []}
"""


async def test_a_continuous_procedure_ends_when_the_recipe_says_on_the_node_opcua_pea(
    tmp_path: Path,
) -> None:
    """Stir is not self-completing: it would run for ever; the phase's rule (executed for
    1 s) makes the engine send Complete, and the PEA completes the run."""
    with running_node_pea(STIRRER, tmp_path) as served:
        manifest = load_manifest(to_bytes(build(served)))
        control = ControlRecipe.from_master(
            load_yaml_recipe(STIR), batch_id="B-STIR", bindings={"ST": manifest.name}
        )
        equipment = MtpEquipment(reconnect_delay=0.2, check_interval=0.2, request_timeout=5.0)
        equipment.add_module(manifest)
        assert equipment.is_continuous(manifest.name, "Stirring", "Stir")
        recorder = RecordingRecorder()
        async with equipment:
            async with asyncio.timeout(60):
                await equipment.wait_connected()
            async with BatchEngine(
                equipment=equipment, recorder=recorder, flush_interval=0.05
            ) as engine:
                tree = build_tree(control)
                await engine.start_batch(tree, actor="operator-1")
                async with asyncio.timeout(60):
                    final = await engine.wait_finished("B-STIR")
    assert final is ElementState.COMPLETE
    sent = recorder.journal_entries("command.complete")
    assert [(e["actor"], e["subject"]) for e in sent] == [("system", "procedure/ST-UP/stir/mix")]
