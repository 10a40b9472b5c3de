"""Part 11 approvals on the real API server: RBAC, the chart's admission policies, the CRD.

The chart's objects are rendered with ``helm template`` (its approval policies and its
validation-lead ClusterRole, under a release name of this module's own) and applied; the
users are impersonated (``kubectl --as``), so ``request.userInfo`` is theirs. alice and
bob are bound to the validation-lead role in the test's namespace, carol is not; bob made
the change the Qualification records (``spec.changedBy``). ``kubectl mes approve`` runs
once as a ServiceAccount with a token (the plugin authenticates as its kubeconfig says).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_cluster import Cluster
from mes_operator.kubectl_plugin import main as kubectl_mes
from operator_support import CHART

from holon_testing.kube import write_token_kubeconfig
from holon_testing.operator import REPO

pytestmark = pytest.mark.e2e

KUBE = "1.30.0"  # `helm template` does not ask the cluster
DIGEST = "sha256:" + "a" * 64
OTHER_DIGEST = "sha256:" + "b" * 64
LEADS = ("alice", "bob")
NOT_A_LEAD = "carol"
CHANGED_BY = "bob"

SIGNER_REFUSED = (
    "spec.signer must be the authenticated user who signs: it names {named} "
    "but the request comes from {user}"
)
DIGEST_REFUSED = (
    "spec.digest must be the digest of Qualification {q} ({digest}), not {wrong}: "
    "an approval signs exactly the package it names"
)
OWN_CHANGE_REFUSED = (
    "spec.signer {signer} made the change Qualification {q} records (its spec.changedBy): "
    "a signer cannot approve a change they made"
)
NO_QUALIFICATION = "no params found for policy binding with `Deny` parameterNotFoundAction"
IMMUTABLE = "spec is immutable: a QualificationApproval is a signature record"


@pytest.fixture(scope="module")
def lead_role(cluster: Cluster) -> Iterator[str]:
    """The CRDs, and the chart's approval policies and validation-lead role, applied;
    the role's name. Removed afterwards (the CRDs stay, as the chart keeps them)."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    cluster.kubectl(
        "wait", "--for=condition=Established", "crd/qualificationapprovals.mes.holon.dev",
        "crd/qualifications.mes.holon.dev", "--timeout=60s",
    )  # fmt: skip
    release = f"qa{uuid.uuid4().hex[:6]}"
    rendered = cluster.helm(
        "template", release, str(CHART), "--kube-version", KUBE,
        "--show-only", "templates/approval-policy.yaml", "--show-only", "templates/rbac.yaml",
    ).stdout  # fmt: skip
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    role = f"{release}-holon-validation-lead"
    wanted = [
        d
        for d in docs
        if d["kind"].startswith("ValidatingAdmissionPolicy") or d["metadata"]["name"] == role
    ]
    assert sorted(d["kind"] for d in wanted) == [
        "ClusterRole",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingAdmissionPolicyBinding",
    ]
    cluster.apply(*wanted)
    yield role
    for doc in wanted:
        cluster.kubectl(
            "delete", doc["kind"].lower(), doc["metadata"]["name"], "--ignore-not-found",
            check=False,
        )  # fmt: skip


def _qualification(name: str, *, digest: str = DIGEST, changed_by: str = CHANGED_BY) -> Any:
    return {
        "apiVersion": "mes.holon.dev/v1alpha1",
        "kind": "Qualification",
        "metadata": {"name": name},
        "spec": {
            "module": "batch",
            "event": "Install",
            "toVersion": "1.0.0",
            "digest": digest,
            "verdict": "PROVISIONAL",
            "changedBy": changed_by,
        },
    }


def _bind(cluster: Cluster, namespace: str, role: str, *users: str) -> None:
    for user in users:
        cluster.kubectl(
            "create", "rolebinding", f"lead-{user}", "--clusterrole", role, "--user", user,
            "-n", namespace,
        )  # fmt: skip


def _approval(name: str, **spec: str) -> dict[str, Any]:
    return {
        "apiVersion": "mes.holon.dev/v1alpha1",
        "kind": "QualificationApproval",
        "metadata": {"name": name},
        "spec": {
            "qualification": "q1",
            "digest": DIGEST,
            "signer": "alice",
            "meaning": "approved",
            "signedAt": "2026-03-01T09:30:15Z",
        }
        | spec,
    }


def _create(
    cluster: Cluster, namespace: str, user: str, approval: dict[str, Any], *, dry_run: bool = False
) -> tuple[bool, str]:
    """Create ``approval`` as ``user``: whether it was admitted, and kubectl's stderr."""
    args = ["create", "-n", namespace, "--as", user, "-f", "-"]
    if dry_run:
        args.append("--dry-run=server")
    res = cluster.kubectl(*args, stdin=json.dumps(approval), check=False)
    return res.returncode == 0, " ".join(res.stderr.split())


@pytest.fixture
def signed_namespace(cluster: Cluster, namespace: str, lead_role: str) -> str:
    """The test's namespace with Qualification q1 (changed by bob) and two leads; returns
    once the API server enforces both policies with q1 as a param (informers settle)."""
    cluster.apply(_qualification("q1"), namespace=namespace)
    _bind(cluster, namespace, lead_role, *LEADS)

    def enforced() -> bool:
        # signer dave: refused by the signer policy alone. bob (q1's changedBy) is refused
        # by both policies, and which one answers depends on the API server's order over
        # every release's policies in the cluster (other test modules' releases are still
        # installed): the evidence policy answering first made this wait time out.
        _, wrong_signer = _create(
            cluster, namespace, "alice", _approval("probe", signer="dave"), dry_run=True
        )
        _, wrong_digest = _create(
            cluster, namespace, "alice", _approval("probe", digest=OTHER_DIGEST), dry_run=True
        )
        return "spec.signer must be" in wrong_signer and "spec.digest must be" in wrong_digest

    cluster.eventually("the approval policies enforced with q1 as a param", enforced, 60)
    return namespace


def test_a_lead_signing_as_themselves_with_the_right_digest_is_admitted(
    cluster: Cluster, signed_namespace: str
) -> None:
    admitted, err = _create(cluster, signed_namespace, "alice", _approval("a1"))
    assert admitted, err
    stored = cluster.get("qualificationapproval", "a1", signed_namespace)
    assert stored["spec"]["signer"] == "alice"
    assert stored["spec"]["digest"] == DIGEST
    table = cluster.kubectl("get", "qualapproval", "a1", "-n", signed_namespace).stdout
    assert table.split()[:5] == ["NAME", "QUALIFICATION", "SIGNER", "MEANING", "AGE"]
    assert table.split()[5:9] == ["a1", "q1", "alice", "approved"]


def test_the_same_approval_without_the_role_is_forbidden(
    cluster: Cluster, signed_namespace: str
) -> None:
    approval = _approval("c1", signer=NOT_A_LEAD)
    admitted, err = _create(cluster, signed_namespace, NOT_A_LEAD, approval)
    assert not admitted
    assert "(Forbidden)" in err
    assert f'User "{NOT_A_LEAD}" cannot create resource "qualificationapprovals"' in err


def test_a_signer_naming_someone_else_is_refused(cluster: Cluster, signed_namespace: str) -> None:
    admitted, err = _create(cluster, signed_namespace, "alice", _approval("a2", signer="dave"))
    assert not admitted
    assert SIGNER_REFUSED.format(named="dave", user="alice") in err


def test_a_wrong_digest_is_refused(cluster: Cluster, signed_namespace: str) -> None:
    approval = _approval("a3", digest=OTHER_DIGEST)
    admitted, err = _create(cluster, signed_namespace, "alice", approval)
    assert not admitted
    assert DIGEST_REFUSED.format(q="q1", digest=DIGEST, wrong=OTHER_DIGEST) in err


def test_the_signer_who_made_the_change_cannot_approve_it(
    cluster: Cluster, signed_namespace: str
) -> None:
    for meaning in ("approved", "reviewed"):
        approval = _approval(f"b-{meaning}", signer=CHANGED_BY, meaning=meaning)
        admitted, err = _create(cluster, signed_namespace, CHANGED_BY, approval)
        assert not admitted, meaning
        assert OWN_CHANGE_REFUSED.format(signer=CHANGED_BY, q="q1") in err


def test_an_approval_never_changes(cluster: Cluster, signed_namespace: str) -> None:
    admitted, err = _create(cluster, signed_namespace, "alice", _approval("a4"))
    assert admitted, err
    # as the cluster's admin: RBAC allows the patch, the CRD's transition rule does not
    for patch in ({"meaning": "rejected"}, {"signer": "dave"}, {"comment": "added later"}):
        res = cluster.kubectl(
            "patch", "qualificationapproval", "a4", "-n", signed_namespace, "--type=merge",
            "-p", json.dumps({"spec": patch}), check=False,
        )  # fmt: skip
        assert res.returncode != 0, patch
        assert IMMUTABLE in res.stderr, patch
    # a lead may create approvals, not edit them (RBAC, before any rule)
    res = cluster.kubectl(
        "patch", "qualificationapproval", "a4", "-n", signed_namespace, "--as", "alice",
        "--type=merge", "-p", '{"spec": {"meaning": "rejected"}}', check=False,
    )  # fmt: skip
    assert 'User "alice" cannot patch resource "qualificationapprovals"' in res.stderr
    stored = cluster.get("qualificationapproval", "a4", signed_namespace)
    assert stored["spec"]["meaning"] == "approved"
    assert "comment" not in stored["spec"]


def test_a_namespace_without_qualifications_has_nothing_to_sign(
    cluster: Cluster, namespace: str, lead_role: str
) -> None:
    """parameterNotFoundAction Deny: no Qualification at all, no approval. (With another
    Qualification present, one naming a missing Qualification is admitted: CEL sees one
    param at a time and cannot say "none of them is named so"; see approval-policy.yaml.)"""
    _bind(cluster, namespace, lead_role, "alice")
    outcome: list[tuple[bool, str]] = []

    def refused_for_no_params() -> bool:
        outcome[:] = [_create(cluster, namespace, "alice", _approval("m1"), dry_run=True)]
        return NO_QUALIFICATION in outcome[0][1]

    cluster.eventually("an approval refused for want of any Qualification", refused_for_no_params)
    admitted, err = _create(cluster, namespace, "alice", _approval("m1"))
    assert not admitted
    assert NO_QUALIFICATION in err
    # the documented gap: another Qualification makes the missing one's approval pass
    cluster.apply(_qualification("q-other", changed_by="erin"), namespace=namespace)
    cluster.eventually(
        "a Qualification as param",
        lambda: _create(cluster, namespace, "alice", _approval("m2"), dry_run=True)[0],
        60,
    )


def test_kubectl_mes_approve_signs_as_the_authenticated_user(
    cluster: Cluster,
    signed_namespace: str,
    lead_role: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The plugin as a lead would run it: its kubeconfig holds only a ServiceAccount's
    token, so the signer is whoever the API server says that token is."""
    ns = signed_namespace
    cluster.kubectl("create", "serviceaccount", "lead", "-n", ns)
    user = f"system:serviceaccount:{ns}:lead"
    _bind(cluster, ns, lead_role, user)
    cluster.apply(_qualification("q-own", changed_by=user), namespace=ns)
    token = cluster.kubectl("create", "token", "lead", "-n", ns, "--duration=10m").stdout
    server, ca = cluster.endpoint()
    kubeconfig = write_token_kubeconfig(
        tmp_path / "lead.kubeconfig", server=server, ca=ca, token=token.strip(), namespace=ns
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))

    def settled() -> bool:  # RBAC and the policies' params have seen the new objects
        may_sign, _ = _create(cluster, ns, user, _approval("p", signer=user), dry_run=True)
        own = _approval("p", signer=user, qualification="q-own")
        _, refusal = _create(cluster, ns, user, own, dry_run=True)
        return may_sign and OWN_CHANGE_REFUSED.format(signer=user, q="q-own") in refusal

    cluster.eventually("the ServiceAccount may sign q1 and q-own is a param", settled, 60)
    capsys.readouterr()

    assert kubectl_mes(["approve", "q1", "--meaning", "reviewed", "--comment", "rows read"]) == 0
    out = capsys.readouterr().out
    assert f"Signer:        {user}" in out
    assert f"Digest:        {DIGEST}" in out
    name = out.split()[0].removeprefix("qualificationapproval/")
    assert name.startswith("q1-reviewed-")
    stored = cluster.get("qualificationapproval", name, ns)["spec"]
    assert stored["signer"] == user
    assert (stored["meaning"], stored["comment"]) == ("reviewed", "rows read")
    assert stored["signedAt"].endswith("Z")

    assert kubectl_mes(["approve", "q-own", "--meaning", "approved", "-n", ns]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("kubectl mes: ")
    assert OWN_CHANGE_REFUSED.format(signer=user, q="q-own") in captured.err

    assert kubectl_mes(["approve", "missing", "--meaning", "approved"]) == 1
    assert 'qualifications.mes.holon.dev "missing" not found' in capsys.readouterr().err
