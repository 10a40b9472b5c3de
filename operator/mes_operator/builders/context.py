"""What every builder needs to know about the MESModule it builds for.

Built once per reconcile from the custom resource's body; frozen, so builders stay pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mes_operator.models.crds import API_VERSION, MESMODULE
from mes_operator.models.mesmodule import Colour, MESModuleSpec

MANAGED_BY = "holon-operator"
MODULE_LABEL = "mes.holon.dev/module"
COLOUR_LABEL = "mes.holon.dev/colour"
HTTP_PORT = 8000
#: The runtime's Prometheus endpoint (HOLON_METRICS_PORT's default), when spec.features.metrics.
METRICS_PORT = 9464


@dataclass(frozen=True, kw_only=True)
class ModuleContext:
    """One MESModule, as the builders see it."""

    name: str
    namespace: str
    uid: str
    generation: int
    spec: MESModuleSpec
    colour: Colour = Colour.BLUE

    @classmethod
    def from_body(
        cls,
        body: Mapping[str, Any],
        *,
        colour: Colour | None = None,
    ) -> ModuleContext:
        """Parse a MESModule body (raises pydantic.ValidationError on a bad spec)."""
        meta = body["metadata"]
        status = body.get("status") or {}
        return cls(
            name=meta["name"],
            namespace=meta["namespace"],
            uid=meta["uid"],
            generation=int(meta.get("generation", 0)),
            spec=MESModuleSpec.model_validate(body["spec"]),
            colour=colour or Colour(status.get("activeColour") or Colour.BLUE),
        )

    @property
    def image(self) -> str:
        """Repository and tag: the version is the tag (spec.image carries none)."""
        return f"{self.spec.image}:{self.spec.version}"


def selector_labels(ctx: ModuleContext) -> dict[str, str]:
    """Labels that select this module's runtime Pods of every colour."""
    return {"app.kubernetes.io/name": "mes-runtime", "app.kubernetes.io/instance": ctx.name}


def colour_selector_labels(ctx: ModuleContext, colour: Colour) -> dict[str, str]:
    """Labels that select the runtime Pods of one colour (blue or green)."""
    return {**selector_labels(ctx), COLOUR_LABEL: colour.value}


def labels(ctx: ModuleContext) -> dict[str, str]:
    """Labels on every object the operator creates for a module."""
    return {
        **selector_labels(ctx),
        "app.kubernetes.io/component": ctx.spec.module.value,
        "app.kubernetes.io/version": ctx.spec.version,
        "app.kubernetes.io/part-of": "holon",
        "app.kubernetes.io/managed-by": MANAGED_BY,
        MODULE_LABEL: ctx.name,
    }


def owner_reference(ctx: ModuleContext) -> dict[str, Any]:
    """Makes the MESModule the controller of a child, so deleting it collects the child."""
    return {
        "apiVersion": API_VERSION,
        "kind": MESMODULE.kind,
        "name": ctx.name,
        "uid": ctx.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def metadata(ctx: ModuleContext, name: str, **extra_labels: str) -> dict[str, Any]:
    """Standard metadata of a child object."""
    return {
        "name": name,
        "namespace": ctx.namespace,
        "labels": {**labels(ctx), **extra_labels},
        "ownerReferences": [owner_reference(ctx)],
    }


def config_map_name(ctx: ModuleContext) -> str:
    """Name of the runtime's ConfigMap."""
    return f"{ctx.name}-config"


def deployment_name(ctx: ModuleContext, colour: Colour) -> str:
    """Name of one colour's Deployment: blue and green coexist during an upgrade."""
    return f"{ctx.name}-{colour.value}"
