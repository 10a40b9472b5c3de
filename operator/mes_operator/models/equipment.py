"""Equipment: an OPC UA endpoint and the MTP services it must offer (DESIGN §4, §6).

The operator connects, checks the services - from the module's MTP manifest when the spec
names one (every declared node must exist and read good), else by browsing for their
shape - and records the outcome as `Connected` and `Verified` conditions: the
interface-qualification evidence the BioPhorum plug-and-play target asks for, measured in
seconds rather than days.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from mes_operator.models.base import ResourceModel
from mes_operator.models.conditions import Condition, conditions_list_extra
from mes_operator.models.refs import ConfigMapKeyRef, SecretRef

OPC_TCP_URL = r"^opc\.tcp://[^\s/:]+(:[0-9]{1,5})?(/\S*)?$"
SERVICE_NAME = r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$"

ServiceName = Annotated[str, StringConstraints(pattern=SERVICE_NAME, max_length=64)]
"""An MTP service's OPC UA browse name."""

MISSING_NODES_KEPT = 50
"""Missing or bad nodes listed in the status; the Verified message gives the total."""


class SecurityPolicy(StrEnum):
    """OPC UA security policies the operator supports (None only for labs and tests)."""

    NONE = "None"
    BASIC256SHA256 = "Basic256Sha256"
    AES128_SHA256_RSAOAEP = "Aes128_Sha256_RsaOaep"
    AES256_SHA256_RSAPSS = "Aes256_Sha256_RsaPss"


class SecurityMode(StrEnum):
    """OPC UA message security mode."""

    NONE = "None"
    SIGN = "Sign"
    SIGN_AND_ENCRYPT = "SignAndEncrypt"


class ManifestSource(ResourceModel):
    """Where the equipment's MTP manifest (VDI/VDE/NAMUR 2658-1) is kept."""

    config_map_ref: ConfigMapKeyRef = Field(
        description="ConfigMap in the Equipment's namespace and its key holding the "
        "manifest: the AutomationML (.aml) text under data, or a zipped .mtp package "
        "under binaryData (ConfigMaps hold at most 1 MiB).",
    )


class EquipmentSpec(ResourceModel):
    """Desired state of one piece of equipment: where it is and what it must offer."""

    model_config = ResourceModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "(self.securityPolicy == 'None') == (self.securityMode == 'None')",
                    "messageExpression": "'spec.securityMode must be None exactly when "
                    "spec.securityPolicy is None, got policy ' + self.securityPolicy + "
                    "' and mode ' + self.securityMode",
                    "fieldPath": ".securityMode",
                    "reason": "FieldValueInvalid",
                },
                {
                    "rule": "self.securityPolicy == 'None' || has(self.certificateSecretRef)",
                    "message": "spec.certificateSecretRef is required when "
                    "spec.securityPolicy is not None",
                    "fieldPath": ".certificateSecretRef",
                    "reason": "FieldValueRequired",
                },
            ]
        }
    }

    endpoint: str = Field(
        description="OPC UA endpoint URL, e.g. opc.tcp://bioreactor-1:4840/.",
        pattern=OPC_TCP_URL,
        max_length=512,
    )
    security_policy: SecurityPolicy = Field(
        default=SecurityPolicy.NONE, description="OPC UA security policy."
    )
    security_mode: SecurityMode = Field(
        default=SecurityMode.NONE, description="OPC UA message security mode."
    )
    certificate_secret_ref: SecretRef | None = Field(
        default=None,
        description="Secret with the client certificate (tls.crt) and key (tls.key).",
    )
    required_services: list[ServiceName] = Field(
        default_factory=list,
        max_length=64,
        description="MTP services (browse names) the equipment must offer.",
        json_schema_extra={
            "x-kubernetes-list-type": "set",
            "default": [],
        },
    )
    manifest: ManifestSource | None = Field(
        default=None,
        description="The module's MTP manifest. When set, it is read with the same reader "
        "the runtime imports manifests with; the check then reads every OPC UA node it "
        "declares (each must exist and read good), takes the services from it rather than "
        "from browsing, requires every declared service unless requiredServices names some, "
        "and lists the bad nodes in status.missingNodes. A manifest that cannot be read "
        "makes Verified False with the reader's located error. Unset: services are found "
        "by browsing for their shape (StateCur and CommandEn).",
    )
    check_interval_seconds: int = Field(
        default=60, ge=10, le=86400, description="How often the check is repeated."
    )
    timeout_seconds: int = Field(
        default=5, ge=1, le=60, description="Give up connecting after this many seconds."
    )


class MissingNode(ResourceModel):
    """A node the manifest declares that the endpoint does not serve, or not readably."""

    variable: str = Field(
        description="The variable as the manifest names it, e.g. Stirring.StateCur or "
        "Stirring/Stir/Speed.VExt."
    )
    node_id: str = Field(
        description="The OPC UA node id read (ns=3;s=...), or nsu=URI;... when the server "
        "does not serve the manifest's namespace."
    )
    status: str = Field(
        description="Why: the status of the read (e.g. BadNodeIdUnknown), or that the "
        "namespace is not served."
    )


class EquipmentStatus(ResourceModel):
    """Outcome of the last connectivity and capability check."""

    observed_generation: int | None = Field(
        default=None, description="metadata.generation last checked."
    )
    conditions: list[Condition] | None = Field(
        default=None,
        description="Connected and Verified.",
        json_schema_extra=conditions_list_extra(),
    )
    last_check_time: str | None = Field(
        default=None,
        description="When the last check finished (RFC 3339, UTC).",
        json_schema_extra={"format": "date-time"},
    )
    check_duration_seconds: float | None = Field(
        default=None, description="How long the last check took, in seconds."
    )
    found_services: list[str] | None = Field(
        default=None, description="Required services found on the endpoint."
    )
    missing_services: list[str] | None = Field(
        default=None, description="Required services the endpoint lacks."
    )
    missing_nodes: list[MissingNode] | None = Field(
        default=None,
        max_length=MISSING_NODES_KEPT,
        description="With spec.manifest: the declared nodes the endpoint lacks or cannot "
        f"read, in the manifest's order (the first {MISSING_NODES_KEPT}; the Verified "
        "condition's message gives the total).",
    )
