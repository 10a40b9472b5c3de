"""What ``package.json`` holds: header, IQ and OQ rows, deviations, the disruption record,
the traceability matrix and the computed verdict (DESIGN §7).

Pure data and rules. Rows name their evidence file; its SHA-256 is filled in when the
package is assembled (:mod:`.assemble`), from the very bytes that are written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from mes_operator.models.mesmodule import Verdict

__all__ = [
    "FORMAT",
    "AutoApproval",
    "Baseline",
    "Deviation",
    "Header",
    "Package",
    "Requirement",
    "Result",
    "Row",
    "Verdict",
    "compute_verdict",
    "traceability",
]

FORMAT = "holon.dev/evidence/v1"
"""The format's name and version, first field a verifier checks."""


class Result(StrEnum):
    """The outcome of one IQ or OQ row."""

    PASS = "pass"  # noqa: S105 - a result, not a password
    FAIL = "fail"


@dataclass(frozen=True, slots=True, kw_only=True)
class Requirement:
    """A user requirement (URS id) that rows test."""

    id: str
    text: str
    risk: str = "medium"  # GAMP 5 / CSA: high, medium or low


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One IQ or OQ check: what was expected, what the live system showed, and the file
    that shows it (``evidence`` is a path inside the package, e.g. ``evidence/iq/x.json``)."""

    id: str
    requirement: str
    expected: Any
    actual: Any
    result: Result
    timestamp: str  # RFC 3339, UTC
    evidence: str
    sha256: str = ""  # of the evidence file; set by assemble()
    scope: str | None = None  # OQ: "full" or "smoke" (risk-based, CSA)
    note: str | None = None  # why this scope, what a failure means

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "requirement": self.requirement,
            "expected": self.expected,
            "actual": self.actual,
            "result": self.result.value,
            "timestamp": self.timestamp,
            "evidence": self.evidence,
            "sha256": self.sha256,
        }
        if self.scope is not None:
            out["scope"] = self.scope
        if self.note is not None:
            out["note"] = self.note
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Deviation:
    """A difference from the approved baseline (or a corrected drift): explained by the
    change the package records, or a deviation a person must assess."""

    id: str
    subject: str
    baseline: Any
    actual: Any
    explained: bool
    explanation: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subject": self.subject,
            "baseline": self.baseline,
            "actual": self.actual,
            "disposition": "explained" if self.explained else "deviation",
            "explanation": self.explanation,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Header:
    """What the package is about."""

    module: str
    namespace: str
    qualification: str  # the Qualification resource's name
    event: str  # Install, Upgrade, Rollback, Drift, Interface, DatabaseMove
    to_version: str
    from_version: str | None = None
    changed_by: str | None = None
    created_at: str  # RFC 3339, UTC
    operator_version: str

    def to_json(self) -> dict[str, Any]:
        return {
            "module": self.module,
            "namespace": self.namespace,
            "qualification": self.qualification,
            "event": self.event,
            "fromVersion": self.from_version,
            "toVersion": self.to_version,
            "changedBy": self.changed_by,
            "createdAt": self.created_at,
            "operatorVersion": self.operator_version,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Baseline:
    """The last approved Qualification of the module, which IQ is compared with."""

    qualification: str
    package_digest: str
    approved_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "qualification": self.qualification,
            "packageDigest": self.package_digest,
            "approvedBy": self.approved_by,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class AutoApproval:
    """Why no person needs to approve: the category is listed in the module's
    ``spec.qualification.autoApproveCategories``; the rule and its version are recorded."""

    category: str
    rule: str
    rule_version: str

    def to_json(self) -> dict[str, Any]:
        return {"category": self.category, "rule": self.rule, "ruleVersion": self.rule_version}


@dataclass(frozen=True, slots=True, kw_only=True)
class Package:
    """The content of ``package.json`` before assembly."""

    header: Header
    intended_use: str
    risk: str  # the change's risk assessment, in words
    requirements: Sequence[Requirement]
    iq: Sequence[Row] = ()
    oq: Sequence[Row] = ()
    deviations: Sequence[Deviation] = ()
    disruption: Mapping[str, Any] | None = None  # measured figures of an upgrade or move
    baseline: Baseline | None = None
    auto_approval: AutoApproval | None = None
    previous_digest: str | None = None  # the module's previous package (hash chain)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> list[Row]:
        return [*self.iq, *self.oq]

    @property
    def verdict(self) -> Verdict:
        return compute_verdict(self.rows, self.deviations, self.auto_approval)

    def to_json(self) -> dict[str, Any]:
        """The ``package.json`` object (canonicalised when written)."""
        return {
            "format": FORMAT,
            "header": self.header.to_json(),
            "intendedUse": self.intended_use,
            "risk": self.risk,
            "baseline": None if self.baseline is None else self.baseline.to_json(),
            "requirements": [
                {"id": r.id, "text": r.text, "risk": r.risk} for r in self.requirements
            ],
            "iq": [row.to_json() for row in self.iq],
            "oq": [row.to_json() for row in self.oq],
            "deviations": [d.to_json() for d in self.deviations],
            "disruption": None if self.disruption is None else dict(self.disruption),
            "traceability": traceability(self.requirements, self.rows),
            "autoApproval": None if self.auto_approval is None else self.auto_approval.to_json(),
            "verdict": self.verdict.value,
            "previousPackageDigest": self.previous_digest,
            **({"extra": dict(self.extra)} if self.extra else {}),
        }


def compute_verdict(
    rows: Sequence[Row], deviations: Sequence[Deviation], auto: AutoApproval | None
) -> Verdict:
    """NOT QUALIFIED when a row failed or nothing was checked; QUALIFIED only when the
    category is auto-approved and no difference is left unexplained; otherwise PROVISIONAL
    (a person approves or rejects it with a QualificationApproval)."""
    if not rows or any(row.result is Result.FAIL for row in rows):
        return Verdict.NOT_QUALIFIED
    if auto is not None and all(d.explained for d in deviations):
        return Verdict.QUALIFIED
    return Verdict.PROVISIONAL


def traceability(requirements: Sequence[Requirement], rows: Sequence[Row]) -> list[dict[str, Any]]:
    """Requirement → tests → results → evidence, one entry per requirement in the order
    given. A requirement no row tests says so (``"result": "not tested"``); a row naming
    a requirement that is not listed is a programming error."""
    known = {r.id for r in requirements}
    unknown = sorted({row.requirement for row in rows} - known)
    if unknown:
        raise ValueError(f"rows name requirements that are not listed: {', '.join(unknown)}")
    matrix = []
    for requirement in requirements:
        tested = [row for row in rows if row.requirement == requirement.id]
        if not tested:
            result = "not tested"
        elif any(row.result is Result.FAIL for row in tested):
            result = Result.FAIL.value
        else:
            result = Result.PASS.value
        matrix.append(
            {
                "requirement": requirement.id,
                "tests": [row.id for row in tested],
                "result": result,
                "evidence": sorted({row.evidence for row in tested}),
            }
        )
    return matrix
