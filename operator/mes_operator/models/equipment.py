"""Equipment: an OPC UA endpoint and the MTP services it must offer (DESIGN §4, §6).

The operator connects, browses for the required services and records the outcome as
`Connected` and `Verified` conditions: the interface-qualification evidence the
BioPhorum plug-and-play target asks for, measured in seconds rather than days.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from mes_operator.models.base import ResourceModel
from mes_operator.models.conditions import Condition, conditions_list_extra
from mes_operator.models.refs import SecretRef

OPC_TCP_URL = r"^opc\.tcp://[^\s/:]+(:[0-9]{1,5})?(/\S*)?$"
SERVICE_NAME = r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$"

ServiceName = Annotated[str, StringConstraints(pattern=SERVICE_NAME, max_length=64)]
"""An MTP service's OPC UA browse name."""


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
    check_interval_seconds: int = Field(
        default=60, ge=10, le=86400, description="How often the check is repeated."
    )
    timeout_seconds: int = Field(
        default=5, ge=1, le=60, description="Give up connecting after this many seconds."
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
