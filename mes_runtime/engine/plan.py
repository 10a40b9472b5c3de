"""Turn an immutable control recipe into the engine's live element tree."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mes_runtime.domain.control_recipe import (
    ControlOperation,
    ControlPhase,
    ControlProcedure,
    ControlRecipe,
    ControlUnitProcedure,
)
from mes_runtime.domain.execution import GraphRun
from mes_runtime.engine.ports import ElementRecord
from mes_runtime.engine.tree import BatchTree, Node, PhaseBinding

__all__ = ["build_tree", "restore_tree"]

_KINDS: dict[type, str] = {
    ControlProcedure: "procedure",
    ControlUnitProcedure: "unit procedure",
    ControlOperation: "operation",
    ControlPhase: "phase",
}

Element = ControlProcedure | ControlUnitProcedure | ControlOperation | ControlPhase


def build_tree(recipe: ControlRecipe) -> BatchTree:
    """The element tree of a batch, every element Idle."""
    root = _node(recipe.procedure, parent=None, depth=0)
    return BatchTree(
        batch_id=recipe.batch_id,
        recipe_name=recipe.recipe_name,
        recipe_version=recipe.recipe_version,
        root=root,
        bindings={b.unit: b.equipment for b in recipe.bindings},
        formula_values=recipe.formula_values(),
    )


def restore_tree(
    recipe: ControlRecipe, elements: Sequence[ElementRecord], graph: Mapping[str, Any]
) -> BatchTree:
    """The element tree of a batch as it was persisted: element states and resume flags,
    and the SFC position of every started composite. Elements without a row are Idle."""
    tree = build_tree(recipe)
    for record in elements:
        node = tree.by_path.get(record.path)
        if node is None:
            continue  # not in this control recipe: nothing to resume
        node.apply(record)
    for path, saved in graph.items():
        node = tree.by_path.get(path)
        if node is not None and node.phase is None:
            node.run = GraphRun.from_dict(node.element, saved)
    return tree


def _node(element: Element, *, parent: Node | None, depth: int) -> Node:
    phase = None
    if isinstance(element, ControlPhase):
        phase = PhaseBinding(
            unit=element.unit,
            equipment=element.equipment,
            service=element.service,
            procedure=element.procedure,
            parameters=element.parameter_values(),
            complete_after_seconds=element.complete_after_seconds,
            interruptible=element.interruptible,
            complete_when=element.complete_when,
        )
    node = Node(
        path=element.path,
        step_id=element.id,
        name=element.id,
        kind=_KINDS[type(element)],
        depth=depth,
        element=element,
        phase=phase,
        parent=parent,
    )
    if not isinstance(element, ControlPhase):
        for child in element.steps:
            node.children[child.id] = _node(child, parent=node, depth=depth + 1)
    return node
