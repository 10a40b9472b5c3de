"""QualificationApproval: one Part 11 electronic signature over an evidence package.

A validation lead signs a Qualification's package (DESIGN §7): who signed, what the
signature means, when, and the digest of exactly the package they read. The record is
immutable once created (a CEL transition rule, like the Qualification it signs), and a
ValidatingAdmissionPolicy in the chart (``templates/approval-policy.yaml``) makes the API
server refuse a signer who is not the authenticated user, a digest that is not the
Qualification's, and a signer who made the change themselves. ``kubectl mes approve``
writes these; nothing else has to.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from mes_operator.models.base import ResourceModel
from mes_operator.models.conditions import Condition, conditions_list_extra
from mes_operator.models.qualification import DIGEST

OBJECT_NAME = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
"""An RFC 1123 subdomain: what Kubernetes accepts as the name of a custom resource."""

UTC_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$"
"""RFC 3339 in UTC (the ``Z`` zone): a signature's time is never local."""


class Meaning(StrEnum):
    """What the signer means by signing (21 CFR 11.50(a)(3)); 'rejected' never approves."""

    REVIEWED = "reviewed"
    APPROVED = "approved"
    REJECTED = "rejected"


class QualificationApprovalSpec(ResourceModel):
    """The signature itself; immutable once created."""

    model_config = ResourceModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "self == oldSelf",
                    "message": "spec is immutable: a QualificationApproval is a signature record",
                    "reason": "FieldValueForbidden",
                }
            ]
        }
    }

    qualification: str = Field(
        description="Name of the signed Qualification, in the same namespace.",
        min_length=1,
        max_length=253,
        pattern=OBJECT_NAME,
    )
    digest: str = Field(
        description="The package digest signed: the Qualification's spec.digest.",
        pattern=DIGEST,
    )
    signer: str = Field(
        description="The authenticated Kubernetes username of who signed.",
        min_length=1,
        max_length=1024,
    )
    meaning: Meaning = Field(description="What the signature means.")
    signed_at: str = Field(
        description="When it was signed (RFC 3339, UTC).",
        pattern=UTC_TIME,
        json_schema_extra={"format": "date-time"},
    )
    comment: str | None = Field(
        default=None, description="The signer's remark, if any.", max_length=4096
    )


class QualificationApprovalStatus(ResourceModel):
    """What the operator made of the signature."""

    conditions: list[Condition] | None = Field(
        default=None,
        description="Standard conditions.",
        json_schema_extra=conditions_list_extra(),
    )
