"""The CustomResourceDefinitions, built from the typed models.

`crds/` in the repository is the rendered output of :func:`all_crds`; `make crds`
rewrites it and `make chart-check` (and a unit test) fails when it drifts. Nothing here
talks to a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from mes_operator.models.approval import QualificationApprovalSpec, QualificationApprovalStatus
from mes_operator.models.equipment import EquipmentSpec, EquipmentStatus
from mes_operator.models.mesmodule import MESModuleSpec, MESModuleStatus
from mes_operator.models.openapi import JsonSchema, structural_schema
from mes_operator.models.qualification import QualificationSpec, QualificationStatus

GROUP = "mes.holon.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORY = "mes"


@dataclass(frozen=True, kw_only=True)
class Kind:
    """Everything that distinguishes one of our resource kinds."""

    kind: str
    plural: str
    singular: str
    short_names: list[str]
    description: str
    spec: type[BaseModel]
    status: type[BaseModel]
    columns: list[dict[str, Any]] = field(default_factory=list)
    root_rules: list[dict[str, Any]] = field(default_factory=list)

    @property
    def crd_name(self) -> str:
        """``<plural>.<group>``, the name the API server requires."""
        return f"{self.plural}.{GROUP}"


def _condition_column(name: str, *, priority: int = 0) -> dict[str, Any]:
    column: dict[str, Any] = {
        "name": name,
        "type": "string",
        "description": f"Status of the {name} condition.",
        "jsonPath": f'.status.conditions[?(@.type=="{name}")].status',
    }
    if priority:
        column["priority"] = priority
    return column


_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}

MESMODULE = Kind(
    kind="MESModule",
    plural="mesmodules",
    singular="mesmodule",
    short_names=["mesmod", "mm"],
    description="One deployable MES capability at a version, reconciled by the Holon "
    "operator into a runtime Deployment, Service, ConfigMap, ServiceAccount and PDB.",
    spec=MESModuleSpec,
    status=MESModuleStatus,
    root_rules=[
        {
            "rule": "size(self.metadata.name) <= 47",
            "message": "metadata.name must be at most 47 characters (it prefixes the "
            "names of the module's Deployments)",
            "reason": "FieldValueInvalid",
        }
    ],
    columns=[
        {
            "name": "Module",
            "type": "string",
            "jsonPath": ".spec.module",
            "description": "MES capability.",
            "priority": 1,
        },
        {
            "name": "Version",
            "type": "string",
            "jsonPath": ".spec.version",
            "description": "Desired version.",
        },
        {
            "name": "Phase",
            "type": "string",
            "jsonPath": ".status.phase",
            "description": "Lifecycle phase.",
        },
        {
            "name": "Colour",
            "type": "string",
            "jsonPath": ".status.activeColour",
            "description": "The slot the Service selects.",
            "priority": 1,
        },
        {
            "name": "Upgrade",
            "type": "string",
            "jsonPath": ".status.upgrade.phase",
            "description": "Step of the upgrade in flight.",
        },
        _condition_column("Ready"),
        _condition_column("Qualified"),
        _AGE,
    ],
)

EQUIPMENT = Kind(
    kind="Equipment",
    plural="equipment",
    singular="equipment",
    short_names=["equip", "eq"],
    description="An OPC UA endpoint and the MTP services it must offer; the operator "
    "checks connectivity and capabilities and records the result.",
    spec=EquipmentSpec,
    status=EquipmentStatus,
    columns=[
        {
            "name": "Endpoint",
            "type": "string",
            "jsonPath": ".spec.endpoint",
            "description": "OPC UA endpoint URL.",
        },
        _condition_column("Connected"),
        _condition_column("Verified"),
        {
            "name": "Checked",
            "type": "date",
            "jsonPath": ".status.lastCheckTime",
            "description": "When the last check finished.",
            "priority": 1,
        },
        _AGE,
    ],
)

QUALIFICATION = Kind(
    kind="Qualification",
    plural="qualifications",
    singular="qualification",
    short_names=["qual"],
    description="One immutable IQ/OQ evidence record per install, upgrade, rollback or "
    "drift, with digest, verdict and approval state.",
    spec=QualificationSpec,
    status=QualificationStatus,
    columns=[
        {
            "name": "Module",
            "type": "string",
            "jsonPath": ".spec.module",
            "description": "The MESModule.",
        },
        {
            "name": "Event",
            "type": "string",
            "jsonPath": ".spec.event",
            "description": "What produced it.",
        },
        {
            "name": "Version",
            "type": "string",
            "jsonPath": ".spec.toVersion",
            "description": "The version the evidence is about.",
        },
        {
            "name": "Verdict",
            "type": "string",
            "jsonPath": ".status.verdict",
            "description": "The verdict now (the package's, or what an approval made of it).",
        },
        {
            "name": "Package",
            "type": "string",
            "jsonPath": ".spec.verdict",
            "description": "The package's computed verdict.",
            "priority": 1,
        },
        {
            "name": "Approval",
            "type": "string",
            "jsonPath": ".status.approval",
            "description": "Review state.",
        },
        _AGE,
    ],
)

QUALIFICATION_APPROVAL = Kind(
    kind="QualificationApproval",
    plural="qualificationapprovals",
    singular="qualificationapproval",
    short_names=["qualapproval", "qapp"],
    description="One immutable Part 11 electronic signature over a Qualification's evidence "
    "package: signer, meaning, UTC time and the package digest; admission refuses a signer "
    "who is not the authenticated user.",
    spec=QualificationApprovalSpec,
    status=QualificationApprovalStatus,
    columns=[
        {
            "name": "Qualification",
            "type": "string",
            "jsonPath": ".spec.qualification",
            "description": "The signed Qualification.",
        },
        {
            "name": "Signer",
            "type": "string",
            "jsonPath": ".spec.signer",
            "description": "Who signed (authenticated username).",
        },
        {
            "name": "Meaning",
            "type": "string",
            "jsonPath": ".spec.meaning",
            "description": "What the signature means.",
        },
        _AGE,
    ],
)

KINDS: tuple[Kind, ...] = (MESMODULE, EQUIPMENT, QUALIFICATION, QUALIFICATION_APPROVAL)


def openapi_schema(kind: Kind) -> JsonSchema:
    """The whole object's schema: the standard envelope around spec and status."""
    status = structural_schema(kind.status)
    schema: JsonSchema = {
        "type": "object",
        "description": kind.description,
        "required": ["spec"],
        "properties": {
            "apiVersion": {
                "type": "string",
                "description": "Versioned schema of this representation of an object.",
            },
            "kind": {"type": "string", "description": "REST resource this object represents."},
            "metadata": {"type": "object"},  # the API server allows nothing more here
            "spec": structural_schema(kind.spec),
            "status": status,
        },
    }
    if kind.root_rules:
        schema["x-kubernetes-validations"] = kind.root_rules
    return schema


def crd(kind: Kind) -> dict[str, Any]:
    """The CustomResourceDefinition of one kind."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": kind.crd_name,
            "labels": {"app.kubernetes.io/part-of": "holon"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.singular,
                "shortNames": kind.short_names,
                "categories": [CATEGORY],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": kind.columns,
                    "schema": {"openAPIV3Schema": openapi_schema(kind)},
                }
            ],
        },
    }


def _peering_crd(*, kind: str, plural: str, scope: str) -> dict[str, Any]:
    """kopf's peering resource: how two operator replicas agree on one active."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.kopf.dev",
            "labels": {"app.kubernetes.io/part-of": "holon"},
        },
        "spec": {
            "group": "kopf.dev",
            "scope": scope,
            "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "Operator replicas announce themselves here "
                            "so only the highest-priority one is active.",
                            "properties": {
                                "status": {
                                    "type": "object",
                                    "description": "Peers by id: priority and lifetime.",
                                    "x-kubernetes-preserve-unknown-fields": True,
                                }
                            },
                        }
                    },
                }
            ],
        },
    }


def all_crds() -> dict[str, dict[str, Any]]:
    """Every CRD Holon installs, keyed by the file name under `crds/`."""
    crds = {f"{kind.plural}.yaml": crd(kind) for kind in KINDS}
    crds["clusterkopfpeerings.yaml"] = _peering_crd(
        kind="ClusterKopfPeering", plural="clusterkopfpeerings", scope="Cluster"
    )
    return crds
