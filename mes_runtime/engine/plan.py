"""Turn an immutable control recipe into the engine's live element tree."""

from __future__ import annotations

from mes_runtime.domain.control_recipe import (
    ControlOperation,
    ControlPhase,
    ControlProcedure,
    ControlRecipe,
    ControlUnitProcedure,
)
from mes_runtime.engine.tree import BatchTree, Node, PhaseBinding

__all__ = ["build_tree"]

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


def _node(element: Element, *, parent: Node | None, depth: int) -> Node:
    phase = None
    if isinstance(element, ControlPhase):
        phase = PhaseBinding(
            unit=element.unit,
            equipment=element.equipment,
            service=element.service,
            procedure=element.procedure,
            parameters=element.parameter_values(),
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
