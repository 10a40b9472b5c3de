"""The module's PodDisruptionBudget: node drains never take the whole module down.

With one replica a PDB that demands one Pod would block every drain forever, so a single
replica may be disrupted (it is the platform team's choice to run one); with more, all but
one must stay available.

It selects the Pods of the module's slots (every colour), not its Jobs' Pods, which carry
the module's name and instance labels too: a Job is not scalable, so a budget of
``maxUnavailable`` over one of its Pods cannot be computed and would allow no disruption of
any Pod (a node drain blocked while a backup or migration runs).
"""

from __future__ import annotations

from typing import Any

from mes_operator.builders.context import COLOUR_LABEL, ModuleContext, metadata, selector_labels


def build_pdb(ctx: ModuleContext) -> dict[str, Any]:
    """PodDisruptionBudget over the module's slot Pods of every colour."""
    budget: dict[str, Any]
    if ctx.spec.replicas > 1:
        budget = {"minAvailable": ctx.spec.replicas - 1}
    else:
        budget = {"maxUnavailable": 1}
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(ctx, ctx.name),
        "spec": {
            **budget,
            "selector": {
                "matchLabels": selector_labels(ctx),
                # slot Pods only: every slot's Pods carry a colour, Jobs' Pods none
                "matchExpressions": [{"key": COLOUR_LABEL, "operator": "Exists"}],
            },
        },
    }
