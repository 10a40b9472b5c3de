"""Pure builders: a MESModule's spec in, the manifests of its children out.

No API calls here; the reconcile applies what these return. Order matters: the
ServiceAccount and ConfigMap exist before the Deployment that uses them.
"""

from typing import Any

from mes_operator.builders.configmap import build_config_map, config_data, config_hash
from mes_operator.builders.context import (
    MANAGED_BY,
    MODULE_LABEL,
    ModuleContext,
    deployment_name,
    labels,
    selector_labels,
)
from mes_operator.builders.deployment import build_deployment
from mes_operator.builders.pdb import build_pdb
from mes_operator.builders.service import build_service
from mes_operator.builders.serviceaccount import build_service_account
from mes_operator.builders.upgrade import build_new_slot
from mes_operator.builders.volume import build_data_claim


def build_children(ctx: ModuleContext) -> list[dict[str, Any]]:
    """Every child of the module, in the order they should be applied."""
    claim = build_data_claim(ctx)
    config, deployment = build_new_slot(ctx, ctx.colour, ctx.spec.version)
    return [
        build_service_account(ctx),
        config,
        *([claim] if claim is not None else []),
        deployment,
        build_service(ctx),
        build_pdb(ctx),
    ]


__all__ = [
    "MANAGED_BY",
    "MODULE_LABEL",
    "ModuleContext",
    "build_children",
    "build_config_map",
    "build_data_claim",
    "build_deployment",
    "build_pdb",
    "build_service",
    "build_service_account",
    "config_data",
    "config_hash",
    "deployment_name",
    "labels",
    "selector_labels",
]
