"""`kubectl mes approve`: the signature it writes and what it prints (pure parts).

The API server's side (RBAC, the admission policy, the real user) is
tests/e2e/test_qualification_approval.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from mes_operator.kubectl_plugin import (
    MAX_NAME,
    ApprovalError,
    approval_manifest,
    approval_name,
    main,
    render_approval,
    signer_of,
)
from mes_operator.models.approval import QualificationApprovalSpec
from pydantic import ValidationError

DIGEST = "sha256:" + "ab" * 32
QUALIFICATION: dict[str, Any] = {
    "apiVersion": "mes.holon.dev/v1alpha1",
    "kind": "Qualification",
    "metadata": {"name": "batch-install-1", "namespace": "plant"},
    "spec": {"module": "batch", "event": "Install", "digest": DIGEST, "changedBy": "bob"},
}
NOW = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)


def _manifest(**overrides: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "meaning": "approved",
        "signer": "alice",
        "now": NOW,
        "suffix": "1a2b3c",
    }
    return approval_manifest(QUALIFICATION, **(options | overrides))


def test_the_approval_signs_the_qualifications_digest_as_the_signer() -> None:
    approval = _manifest(comment="IQ and OQ rows read")
    assert approval == {
        "apiVersion": "mes.holon.dev/v1alpha1",
        "kind": "QualificationApproval",
        "metadata": {"name": "batch-install-1-approved-1a2b3c", "namespace": "plant"},
        "spec": {
            "qualification": "batch-install-1",
            "digest": DIGEST,
            "signer": "alice",
            "meaning": "approved",
            "signedAt": "2026-03-01T09:30:15Z",
            "comment": "IQ and OQ rows read",
        },
    }
    # what the CRD's schema says, as the operator will read it back
    assert QualificationApprovalSpec.model_validate(approval["spec"]).signer == "alice"


def test_signed_at_is_utc_whatever_the_local_zone() -> None:
    local = NOW.astimezone(timezone(timedelta(hours=-5)))
    assert _manifest(now=local)["spec"]["signedAt"] == "2026-03-01T09:30:15Z"


def test_no_comment_leaves_the_field_out() -> None:
    assert "comment" not in _manifest()["spec"]
    assert "comment" not in _manifest(comment="")["spec"]


@pytest.mark.parametrize("meaning", ["reviewed", "approved", "rejected"])
def test_every_meaning_names_the_approval(meaning: str) -> None:
    approval = _manifest(meaning=meaning)
    assert approval["spec"]["meaning"] == meaning
    assert approval["metadata"]["name"] == f"batch-install-1-{meaning}-1a2b3c"


def test_an_unknown_meaning_is_refused_before_the_cluster() -> None:
    with pytest.raises(ValueError, match="accepted"):
        _manifest(meaning="accepted")


def test_a_qualification_without_digest_has_nothing_to_sign() -> None:
    unsigned = {"metadata": {"name": "q", "namespace": "plant"}, "spec": {"module": "batch"}}
    with pytest.raises(ApprovalError, match=r"qualification/q has no spec\.digest"):
        approval_manifest(unsigned, meaning="approved", signer="alice", now=NOW, suffix="x")


def test_an_empty_signer_is_not_a_signature() -> None:
    with pytest.raises(ValidationError):
        _manifest(signer="")


def test_a_long_qualification_name_is_shortened_to_a_valid_name() -> None:
    name = approval_name("q" * 250 + "-x", "rejected", "1a2b3c")
    assert len(name) <= MAX_NAME
    assert name.endswith("q-rejected-1a2b3c")
    assert approval_name("short", "reviewed", "ff") == "short-reviewed-ff"
    cut_at_dash = approval_name("a" * 236 + "-bbbb", "approved", "1a2b3c")
    assert len(cut_at_dash) <= MAX_NAME
    assert "--" not in cut_at_dash  # a dash left at the cut is dropped


def test_the_signer_is_the_username_the_api_server_reports() -> None:
    review = {"status": {"userInfo": {"username": "alice", "groups": ["qa"]}}}
    assert signer_of(review) == "alice"
    empties: list[dict[str, Any]] = [{}, {"status": {}}, {"status": {"userInfo": {}}}]
    for empty in empties:
        with pytest.raises(ApprovalError, match="who you are"):
            signer_of(empty)


def test_the_printout_says_what_was_signed() -> None:
    text = render_approval(_manifest(comment="looked at every row"))
    assert "qualificationapproval/batch-install-1-approved-1a2b3c created in plant" in text
    assert f"Digest:        {DIGEST}" in text
    assert "Signer:        alice" in text
    assert "Meaning:       approved" in text
    assert "Signed at:     2026-03-01T09:30:15Z" in text
    assert "Comment:       looked at every row" in text
    assert "Comment" not in render_approval(_manifest())


@pytest.mark.parametrize(
    "argv",
    [["approve", "q"], ["approve", "q", "--meaning", "accepted"], ["approve", "--meaning", "x"]],
    ids=["no-meaning", "unknown-meaning", "no-name"],
)
def test_approve_refuses_incomplete_arguments_before_the_cluster(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
