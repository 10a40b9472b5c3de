"""The standard Kubernetes condition shape shared by every Holon resource's status.

Same fields as ``metav1.Condition`` so ``kubectl wait --for=condition=Ready`` and every
generic tool understand our resources without knowing them.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field
from pydantic.config import JsonDict

from mes_operator.models.base import ResourceModel


class ConditionStatus(StrEnum):
    """Whether a condition holds: the three values Kubernetes allows."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(ResourceModel):
    """One observation of an aspect of the resource's state (metav1.Condition shape)."""

    type: str = Field(
        description="Aspect of the resource this condition describes, e.g. Ready.",
        min_length=1,
        max_length=316,
    )
    status: ConditionStatus = Field(
        description="Whether the condition holds: True, False or Unknown."
    )
    reason: str = Field(
        description="One-word CamelCase machine-readable reason for the last transition.",
        min_length=1,
        max_length=1024,
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
    )
    message: str = Field(
        default="",
        description="Human-readable explanation of the last transition.",
        max_length=32768,
    )
    last_transition_time: str = Field(
        description="When the status last changed (RFC 3339, UTC).",
        json_schema_extra={"format": "date-time"},
    )
    observed_generation: int = Field(
        default=0,
        description="metadata.generation of the resource this condition was computed from.",
        ge=0,
    )


def conditions_list_extra() -> JsonDict:
    """Conditions are a map keyed by type: at most one condition of each type."""
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]}
