"""The module's Service: the stable address, pointed at the active colour.

Switching an upgrade from blue to green is a change of this selector (DESIGN §5).
"""

from __future__ import annotations

from typing import Any

from mes_operator.builders.context import ModuleContext, colour_selector_labels, metadata


def build_service(ctx: ModuleContext) -> dict[str, Any]:
    """ClusterIP Service on port 80 selecting the active colour's Pods."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(ctx, ctx.name),
        "spec": {
            "type": "ClusterIP",
            "selector": colour_selector_labels(ctx, ctx.colour),
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }
