"""The module's PodDisruptionBudget: node drains never take the whole module down.

With one replica a PDB that demands one Pod would block every drain forever, so a single
replica may be disrupted (it is the platform team's choice to run one); with more, all but
one must stay available.
"""

from __future__ import annotations

from typing import Any

from mes_operator.builders.context import ModuleContext, metadata, selector_labels


def build_pdb(ctx: ModuleContext) -> dict[str, Any]:
    """PodDisruptionBudget over the module's Pods of every colour."""
    budget: dict[str, Any]
    if ctx.spec.replicas > 1:
        budget = {"minAvailable": ctx.spec.replicas - 1}
    else:
        budget = {"maxUnavailable": 1}
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(ctx, ctx.name),
        "spec": {**budget, "selector": {"matchLabels": selector_labels(ctx)}},
    }
