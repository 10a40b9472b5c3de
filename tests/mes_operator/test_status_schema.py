"""Every status the operator writes fits its CRD's schema (crds/*.yaml), key by key.

The API server prunes a status key its schema does not declare, silently: a status
builder that writes one would look fine here and lose the field in the cluster. The
builders go through the typed models; this checks the result against the CRDs as shipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from mes_operator.equipment.check import CheckResult
from mes_operator.status.equipment import equipment_status
from mes_operator.status.module import (
    DeploymentState,
    invalid_status,
    module_status,
    paused_status,
)

from tests.mes_operator.test_status_module import ctx, deployment

CRDS = Path(__file__).resolve().parents[2] / "crds"
T0 = "2026-01-01T00:00:00Z"
T1 = "2026-01-01T00:05:00Z"


def status_schema(crd_file: str) -> dict[str, Any]:
    crd = yaml.safe_load((CRDS / crd_file).read_text())
    (version,) = (v for v in crd["spec"]["versions"] if v.get("storage"))
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]["properties"]["status"]
    return schema


def undeclared(value: Any, schema: dict[str, Any], path: str = "status") -> list[str]:
    """The paths in ``value`` that ``schema`` does not declare (recursively)."""
    if isinstance(value, dict):
        if schema.get("x-kubernetes-preserve-unknown-fields"):
            return []
        properties = schema.get("properties", {})
        found = [f"{path}.{key}" for key in value if key not in properties]
        for key, item in value.items():
            if key in properties:
                found += undeclared(item, properties[key], f"{path}.{key}")
        return found
    if isinstance(value, list):
        return [
            p
            for i, item in enumerate(value)
            for p in undeclared(item, schema["items"], f"{path}[{i}]")
        ]
    return []


def module_statuses() -> list[dict[str, Any]]:
    ready = module_status({}, ctx(), deployment(1), now=T0)
    stuck = module_status(ready, ctx(3), deployment(0, reason="ProgressDeadlineExceeded"), now=T1)
    rolling: DeploymentState = deployment(0)
    return [
        ready,
        stuck,
        module_status({}, ctx(qualification={"required": False}), rolling, now=T0),
        paused_status(ready, generation=4, now=T1),
        invalid_status(ready, generation=5, problem="bad spec", now=T1),
    ]


def equipment_statuses() -> list[dict[str, Any]]:
    verified = CheckResult(
        connected=True, verified=True, reason="AllServicesPresent", message="ok",
        duration_seconds=0.25, found=("Dosing",),
    )  # fmt: skip
    unreachable = CheckResult(
        connected=False, verified=False, reason="Unreachable", message="no route",
        duration_seconds=1.0,
    )  # fmt: skip
    first = equipment_status({}, verified, generation=1, now=T0)
    return [first, equipment_status(first, unreachable, generation=2, now=T1)]


@pytest.mark.parametrize("index", range(5))
def test_module_status_keys_are_in_the_crd(index: int) -> None:
    status = module_statuses()[index]
    assert undeclared(status, status_schema("mesmodules.yaml")) == []


@pytest.mark.parametrize("index", range(2))
def test_equipment_status_keys_are_in_the_crd(index: int) -> None:
    status = equipment_statuses()[index]
    assert undeclared(status, status_schema("equipment.yaml")) == []


def test_a_key_the_crd_lacks_is_found() -> None:
    status = module_statuses()[0]
    status["readyPods"] = 1
    status["conditions"][0]["since"] = T0
    assert undeclared(status, status_schema("mesmodules.yaml")) == [
        "status.readyPods",
        "status.conditions[0].since",
    ]
