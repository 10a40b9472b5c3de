"""The engine's element tree, built from a control recipe."""

from __future__ import annotations

from mes_runtime.domain.control_recipe import ControlRecipe
from mes_runtime.domain.recipe import MasterRecipe
from mes_runtime.domain.states import ElementState
from mes_runtime.engine.plan import build_tree

from .harness import CAPTURE_PHASES, CHARGE, DEMO_BINDINGS, FEDBATCH, ROOT, TK_UP


def test_tree_mirrors_the_control_recipe(demo: MasterRecipe) -> None:
    control = ControlRecipe.from_master(
        demo, batch_id="B-9", bindings=DEMO_BINDINGS, overrides={"CultTemp": 37.0}
    )
    tree = build_tree(control)
    assert (tree.batch_id, tree.recipe_name, tree.recipe_version) == ("B-9", demo.header.name, 1)
    assert list(tree.by_path) == [element.path for element in control.elements()]
    assert all(node.state is ElementState.IDLE for node in tree.root.walk())
    assert tree.root is tree.by_path[ROOT]
    assert [(n.kind, n.depth) for n in (tree.root, tree.by_path[TK_UP])] == [
        ("procedure", 0),
        ("unit procedure", 1),
    ]
    charge = tree.by_path[CHARGE]
    assert (charge.kind, charge.depth, charge.parent) == (
        "phase",
        3,
        tree.by_path["procedure/TK-UP/buffer-prep"],
    )
    assert charge.phase is not None
    assert (charge.phase.equipment, charge.phase.service, charge.phase.procedure) == (
        "TK-201",
        "Charge",
        "ChargeWater",
    )
    fedbatch = tree.by_path[FEDBATCH].phase
    assert fedbatch is not None
    assert fedbatch.parameters["TemperatureSP"] == 37.0, "the batch's override"
    assert tree.bindings == DEMO_BINDINGS
    assert tree.formula_values["formula.CultTemp"] == 37.0


def test_phases_on_lists_active_phases_of_a_service(demo: MasterRecipe) -> None:
    tree = build_tree(ControlRecipe.from_master(demo, batch_id="B-9", bindings=DEMO_BINDINGS))
    assert tree.phases_on("CH-301") == [], "nothing is active yet"
    for path in CAPTURE_PHASES[:2]:
        tree.by_path[path].state = ElementState.RUNNING
    tree.by_path[CAPTURE_PHASES[0]].state = ElementState.COMPLETE
    assert [n.path for n in tree.phases_on("CH-301", "Chromatography")] == [CAPTURE_PHASES[1]]
    assert tree.phases_on("CH-301", "Other") == []
    assert tree.phases_on("BR-101") == []
    rows = tree.snapshot_elements()
    assert [r["path"] for r in rows] == list(tree.by_path)
    load = next(r for r in rows if r["path"] == CAPTURE_PHASES[1])
    assert (load["state"], load["equipment"], load["procedure"]) == ("running", "CH-301", "Load")
