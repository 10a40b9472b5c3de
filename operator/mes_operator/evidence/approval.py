"""What the Part 11 signatures on a Qualification make of its package's verdict (pure).

Only signatures over exactly this package count: the Qualification's name and digest,
by someone other than who made the change (the chart's admission policy refuses the
others; this is the operator's own check, for a cluster without the policy). A rejection
wins over any approval and is never read as one; "reviewed" alone approves nothing; a
package whose rows failed stays NOT QUALIFIED whatever is signed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mes_operator.models.approval import Meaning
from mes_operator.models.mesmodule import Verdict
from mes_operator.models.qualification import ApprovalState

__all__ = ["Decision", "decide"]


@dataclass(frozen=True, slots=True)
class Decision:
    """The review state of one Qualification and the verdict it results in."""

    approval: ApprovalState
    verdict: Verdict
    signer: str | None = None
    signed_at: str | None = None
    meaning: str | None = None
    ignored: tuple[str, ...] = ()  # approvals that sign something else, and why

    def status(self) -> dict[str, Any]:
        """The Qualification's status fields (by alias)."""
        return {
            "approval": self.approval.value,
            "verdict": self.verdict.value,
            "approvedBy": self.signer,
            "approvedAt": self.signed_at,
            "signatureMeaning": self.meaning,
        }


def _counts(qualification: Mapping[str, Any], approval: Mapping[str, Any]) -> str | None:
    """Why ``approval`` does not sign ``qualification``'s package, or None if it does."""
    name = qualification.get("metadata", {}).get("name")
    spec = qualification.get("spec") or {}
    signed = approval.get("spec") or {}
    label = approval.get("metadata", {}).get("name")
    if signed.get("qualification") != name:
        return f"{label}: signs another Qualification"
    if signed.get("digest") != spec.get("digest"):
        return f"{label}: signs digest {signed.get('digest')}, not {spec.get('digest')}"
    if spec.get("changedBy") and signed.get("signer") == spec.get("changedBy"):
        return f"{label}: {signed.get('signer')} made the change and cannot approve it"
    return None


def decide(qualification: Mapping[str, Any], approvals: Sequence[Mapping[str, Any]]) -> Decision:
    """The Qualification's review state from every approval of its namespace."""
    package = Verdict((qualification.get("spec") or {}).get("verdict", Verdict.NOT_QUALIFIED))
    name = qualification.get("metadata", {}).get("name")
    mine = [a for a in approvals if (a.get("spec") or {}).get("qualification") == name]
    ignored = tuple(why for a in mine if (why := _counts(qualification, a)) is not None)
    valid = sorted(
        (a["spec"] for a in mine if _counts(qualification, a) is None),
        key=lambda s: str(s.get("signedAt")),
    )
    rejections = [s for s in valid if s.get("meaning") == Meaning.REJECTED.value]
    approvals_ = [s for s in valid if s.get("meaning") == Meaning.APPROVED.value]
    if rejections:
        first = rejections[0]
        return Decision(
            ApprovalState.REJECTED, Verdict.NOT_QUALIFIED, first.get("signer"),
            first.get("signedAt"), Meaning.REJECTED.value, ignored,
        )  # fmt: skip
    if package is Verdict.NOT_QUALIFIED:
        moot = tuple(
            f"{s.get('signer')}: approves a package whose checks failed" for s in approvals_
        )
        return Decision(ApprovalState.PENDING, Verdict.NOT_QUALIFIED, ignored=ignored + moot)
    if approvals_:
        first = approvals_[0]
        return Decision(
            ApprovalState.APPROVED, Verdict.QUALIFIED, first.get("signer"),
            first.get("signedAt"), Meaning.APPROVED.value, ignored,
        )  # fmt: skip
    if package is Verdict.QUALIFIED:  # auto-approved by the rule its package records
        return Decision(ApprovalState.AUTO_APPROVED, package, ignored=ignored)
    return Decision(ApprovalState.PENDING, package, ignored=ignored)
