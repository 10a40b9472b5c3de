"""Qualification: one immutable IQ/OQ evidence record (DESIGN §7).

Created by the operator per install, upgrade, rollback or drift. The spec can never
change after creation (a CEL transition rule); only the approval in the status moves,
so the digest chain stays trustworthy.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from mes_operator.models.base import ResourceModel
from mes_operator.models.conditions import Condition, conditions_list_extra
from mes_operator.models.mesmodule import Verdict

DIGEST = r"^sha256:[0-9a-f]{64}$"


class QualificationEvent(StrEnum):
    """What produced the evidence."""

    INSTALL = "Install"
    UPGRADE = "Upgrade"
    ROLLBACK = "Rollback"
    DRIFT = "Drift"
    INTERFACE = "Interface"


class ApprovalState(StrEnum):
    """Where the package is in human review."""

    PENDING = "Pending"
    APPROVED = "Approved"
    REJECTED = "Rejected"
    AUTO_APPROVED = "AutoApproved"
    """QUALIFIED by the module's auto-approval rule (recorded in the package); a person may
    still reject it."""


class QualificationSpec(ResourceModel):
    """The evidence record itself; immutable once created."""

    model_config = ResourceModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "self == oldSelf",
                    "message": "spec is immutable: a Qualification is an evidence record",
                    "reason": "FieldValueForbidden",
                }
            ]
        }
    }

    module: str = Field(description="Name of the MESModule the evidence is about.", min_length=1)
    event: QualificationEvent = Field(description="What produced the evidence.")
    from_version: str | None = Field(default=None, description="Version before the change.")
    to_version: str = Field(description="Version after the change.", min_length=1)
    digest: str = Field(description="sha256 of the package manifest.", pattern=DIGEST)
    previous_digest: str | None = Field(
        default=None,
        description="Digest of the module's previous package (hash chain).",
        pattern=DIGEST,
    )
    verdict: Verdict = Field(description="Computed verdict of the package.")
    changed_by: str | None = Field(
        default=None,
        description="Who made the change the evidence records (a Kubernetes username), "
        "where known; they cannot approve it.",
        min_length=1,
    )
    package_location: str | None = Field(
        default=None, description="Where the full package (JSON, HTML, raw files) is stored."
    )


class QualificationStatus(ResourceModel):
    """Human review state of the evidence, and the verdict it makes of the package's."""

    verdict: Verdict | None = Field(
        default=None,
        description="The verdict now: the package's, made QUALIFIED by an approval or NOT "
        "QUALIFIED by a rejection (a failed package stays NOT QUALIFIED).",
    )

    approval: ApprovalState | None = Field(default=None, description="Review state.")
    approved_by: str | None = Field(default=None, description="Who signed (Part 11 name).")
    approved_at: str | None = Field(
        default=None,
        description="When they signed (RFC 3339, UTC).",
        json_schema_extra={"format": "date-time"},
    )
    signature_meaning: str | None = Field(
        default=None, description="Meaning of the signature, e.g. 'approved for use'."
    )
    conditions: list[Condition] | None = Field(
        default=None,
        description="Standard conditions.",
        json_schema_extra=conditions_list_extra(),
    )
