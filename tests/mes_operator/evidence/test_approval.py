"""What signatures make of a package's verdict: only signatures over exactly this package
by someone other than who made the change count; a rejection wins and never approves;
"reviewed" approves nothing; a failed package stays NOT QUALIFIED."""

from __future__ import annotations

from typing import Any

import pytest
from mes_operator.evidence.approval import decide
from mes_operator.models.mesmodule import Verdict
from mes_operator.models.qualification import ApprovalState

DIGEST = "sha256:" + "ab" * 32


def _qualification(verdict: str = "PROVISIONAL", changed_by: str | None = "dev") -> dict[str, Any]:
    spec: dict[str, Any] = {"digest": DIGEST, "verdict": verdict}
    if changed_by:
        spec["changedBy"] = changed_by
    return {"metadata": {"name": "q1"}, "spec": spec}


def _approval(
    meaning: str, signer: str = "vl", *, at: str = "2026-12-01T10:00:00Z", **spec: Any
) -> dict[str, Any]:
    return {
        "metadata": {"name": f"a-{meaning}-{signer}"},
        "spec": {
            "qualification": "q1",
            "digest": DIGEST,
            "signer": signer,
            "meaning": meaning,
            "signedAt": at,
            **spec,
        },
    }


@pytest.mark.parametrize(
    ("verdict", "approvals", "state", "result"),
    [
        ("PROVISIONAL", [], ApprovalState.PENDING, Verdict.PROVISIONAL),
        ("PROVISIONAL", [_approval("reviewed")], ApprovalState.PENDING, Verdict.PROVISIONAL),
        ("PROVISIONAL", [_approval("approved")], ApprovalState.APPROVED, Verdict.QUALIFIED),
        ("PROVISIONAL", [_approval("rejected")], ApprovalState.REJECTED, Verdict.NOT_QUALIFIED),
        (
            "PROVISIONAL",
            [_approval("approved"), _approval("rejected", "qa")],
            ApprovalState.REJECTED,
            Verdict.NOT_QUALIFIED,
        ),
        ("NOT QUALIFIED", [_approval("approved")], ApprovalState.PENDING, Verdict.NOT_QUALIFIED),
        ("QUALIFIED", [], ApprovalState.AUTO_APPROVED, Verdict.QUALIFIED),  # auto-approved
        ("QUALIFIED", [_approval("rejected")], ApprovalState.REJECTED, Verdict.NOT_QUALIFIED),
        # signatures over something else, or by who made the change, count for nothing
        (
            "PROVISIONAL",
            [_approval("approved", digest="sha256:" + "cd" * 32)],
            ApprovalState.PENDING,
            Verdict.PROVISIONAL,
        ),
        (
            "PROVISIONAL",
            [_approval("approved", qualification="q2")],
            ApprovalState.PENDING,
            Verdict.PROVISIONAL,
        ),
        ("PROVISIONAL", [_approval("approved", "dev")], ApprovalState.PENDING, Verdict.PROVISIONAL),
    ],
)
def test_the_decision(
    verdict: str, approvals: list[dict[str, Any]], state: ApprovalState, result: Verdict
) -> None:
    decision = decide(_qualification(verdict), approvals)
    assert (decision.approval, decision.verdict) == (state, result)


def test_the_first_signature_of_the_deciding_kind_is_recorded_and_the_rest_explained() -> None:
    decision = decide(
        _qualification(),
        [
            _approval("approved", "late", at="2026-12-01T12:00:00Z"),
            _approval("approved", "early", at="2026-12-01T09:00:00Z"),
            _approval("approved", "dev"),
        ],
    )
    assert decision.signer == "early"
    assert decision.status() == {
        "approval": "Approved",
        "verdict": "QUALIFIED",
        "approvedBy": "early",
        "approvedAt": "2026-12-01T09:00:00Z",
        "signatureMeaning": "approved",
    }
    assert decision.ignored == ("a-approved-dev: dev made the change and cannot approve it",)
