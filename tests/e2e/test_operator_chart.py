"""The chart: lints, renders the CRDs from crds/ behind crds.enabled/keep, least privilege."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_cluster import Cluster
from operator_support import CHART, REPO, HolonInstall, holon  # noqa: F401

pytestmark = pytest.mark.e2e
KUBE = "1.30.0"  # `helm template` does not ask the cluster; the chart needs >= 1.30


def _render(
    cluster: Cluster, *sets: str, release: str = "t", namespace: str = "holon-system"
) -> list[dict[str, Any]]:
    args = ["template", release, str(CHART), "-n", namespace, "--kube-version", KUBE]
    for s in sets:
        args += ["--set", s]
    docs = yaml.safe_load_all(cluster.helm(*args).stdout)
    return [d for d in docs if d]


def test_chart_lints_strictly(cluster: Cluster) -> None:
    res = cluster.helm("lint", "--strict", str(CHART))
    assert "0 chart(s) failed" in res.stdout


def test_values_schema_rejects_a_wrong_type(cluster: Cluster) -> None:
    res = cluster.helm(
        "template", "t", str(CHART), "--kube-version", KUBE, "--set", "replicaCount=two",
        check=False,
    )  # fmt: skip
    assert res.returncode != 0
    assert "replicaCount" in res.stderr


def test_crds_rendered_from_crds_dir_and_kept(cluster: Cluster) -> None:
    rendered = {
        d["metadata"]["name"]: d
        for d in _render(cluster)
        if d["kind"] == "CustomResourceDefinition"
    }
    for path in sorted(Path(REPO / "crds").glob("*.yaml")):
        source = yaml.safe_load(path.read_text())
        name = source["metadata"]["name"]
        assert rendered[name]["spec"] == source["spec"]
        assert rendered[name]["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    not_kept = _render(cluster, "crds.keep=false")
    assert all(
        "annotations" not in d["metadata"] for d in not_kept if d["kind"].startswith("Custom")
    )
    assert not [d for d in _render(cluster, "crds.enabled=false") if d["kind"].startswith("Custom")]


def test_operator_runs_two_replicas_with_a_helm_test(cluster: Cluster) -> None:
    docs = _render(cluster)
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert any(
        d["kind"] == "Pod" and d["metadata"]["annotations"]["helm.sh/hook"] == "test" for d in docs
    )


def _operator_env(docs: list[dict[str, Any]]) -> dict[str, Any]:
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_each_release_meets_in_a_peering_object_of_its_own(cluster: Cluster) -> None:
    """Peering is cluster-wide: two releases sharing one object would leave only one
    operator active for both (the other's namespaces never reconciled)."""
    a = _operator_env(_render(cluster, release="plant-a", namespace="area-1"))
    b = _operator_env(_render(cluster, release="plant-b", namespace="area-2"))
    same_name = _operator_env(_render(cluster, release="plant-a", namespace="area-2"))
    names = {env["HOLON_OPERATOR_PEERING_NAME"] for env in (a, b, same_name)}
    assert names == {"plant-a-holon-area-1", "plant-b-holon-area-2", "plant-a-holon-area-2"}
    chosen = _operator_env(_render(cluster, "operator.peeringName=site-peers"))
    assert chosen["HOLON_OPERATOR_PEERING_NAME"] == "site-peers"
    # each replica is named by its Pod in the peering object (which one is active)
    assert a["POD_ID"] == {"fieldRef": {"fieldPath": "metadata.name"}}


def test_rbac_has_no_wildcards(cluster: Cluster) -> None:
    for sets in ((), ("operator.watchNamespaces={plant-a}",)):
        roles = [d for d in _render(cluster, *sets) if d["kind"] in {"ClusterRole", "Role"}]
        for rule in (rule for role in roles for rule in role["rules"]):
            assert "*" not in rule["verbs"]
            assert "*" not in rule["resources"]
        lead = [r for r in roles if r["metadata"]["name"].endswith("-validation-lead")]
        rules = [rule for role in roles if role not in lead for rule in role["rules"]]
        secrets = [r for r in rules if "secrets" in r["resources"]]
        # read by name; created only in the operator's namespace (its evidence signing key)
        assert sorted(v for r in secrets for v in r["verbs"]) == ["create", "get", "get"]
        key_role = next(r for r in roles if r["metadata"]["name"].endswith("-evidence-key"))
        assert key_role["kind"] == "Role"
        assert [r for r in secrets if "create" in r["verbs"]] == [
            r for r in key_role["rules"] if r["resources"] == ["secrets"] and "create" in r["verbs"]
        ]
        assert {"get"} == {
            v for r in key_role["rules"] if "resourceNames" in r for v in r["verbs"]
        } - {"patch"}
        # evidence records are created, never changed or deleted; only their status moves
        records = [r for r in rules if "qualifications" in r["resources"]]
        assert sorted(v for r in records for v in r["verbs"]) == ["create", "get", "list"]
        # a validation lead signs (creates approvals) and reads; changes no record
        assert [(r["resources"], r["verbs"]) for r in lead[0]["rules"]] == [
            (["qualificationapprovals"], ["create", "get", "list", "watch"]),
            (["qualifications", "mesmodules"], ["get", "list", "watch"]),
        ]


def test_watched_namespaces_get_roles_and_nothing_outside_them(
    cluster: Cluster, namespace: str
) -> None:
    """With operator.watchNamespaces the operator's rights end at those namespaces: a Role
    and RoleBinding in each, a ClusterRole only for what is cluster-scoped (the kubectl
    auth can-i matrix on the real API server). The operator working with exactly these
    rights is shown by the real-node tests, whose chart watches one namespace."""
    other = f"{namespace}-other"
    cluster.kubectl("create", "namespace", other)
    release = f"rb{namespace[-6:]}"
    docs = [
        d
        for d in _render(cluster, f"operator.watchNamespaces={{{namespace}}}")
        if d["kind"] in {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role",
                         "RoleBinding"}
    ]  # fmt: skip
    for doc in docs:  # a release of its own: no clash with the session's install
        doc["metadata"]["name"] = doc["metadata"]["name"].replace("t-holon", release)
        if doc["kind"].endswith("Binding"):
            doc["roleRef"]["name"] = doc["roleRef"]["name"].replace("t-holon", release)
            for subject in doc["subjects"]:
                subject["name"] = subject["name"].replace("t-holon", release)
                subject["namespace"] = namespace
        if doc["kind"] == "ServiceAccount" or doc["metadata"].get("namespace") == "holon-system":
            doc["metadata"]["namespace"] = namespace  # the release's namespace is the test's
    try:
        cluster.apply(*docs)
        sa = f"system:serviceaccount:{namespace}:{release}"

        def can(*args: str) -> bool:
            res = cluster.kubectl("auth", "can-i", *args, "--as", sa, check=False)
            return res.stdout.strip() == "yes"

        inside = {
            ("patch", "mesmodules.mes.holon.dev"): True,
            ("watch", "mesmodules.mes.holon.dev"): True,
            ("create", "deployments.apps"): True,
            ("create", "persistentvolumeclaims"): True,
            ("delete", "persistentvolumeclaims"): False,  # the EBR outlives the module
            ("get", "secrets"): True,
            ("list", "secrets"): False,
            ("create", "pods"): False,
            ("create", "qualifications.mes.holon.dev"): True,  # evidence records ...
            ("update", "qualifications.mes.holon.dev"): False,  # ... never changed
            ("delete", "qualifications.mes.holon.dev"): False,
            ("create", "qualificationapprovals.mes.holon.dev"): False,  # signers' own
            ("create", "secrets"): True,  # its evidence signing key, in its own namespace
        }
        for (verb, resource), allowed in inside.items():
            assert can(verb, resource, "-n", namespace) is allowed, (verb, resource)
        for where in (other, "kube-system", "default"):
            for verb, resource in (("get", "secrets"), ("create", "deployments.apps"),
                                   ("patch", "mesmodules.mes.holon.dev"),
                                   ("create", "secrets")):  # fmt: skip
                assert not can(verb, resource, "-n", where), (verb, resource, where)
        assert not can("get", "secrets", "-A")
        assert can("list", "customresourcedefinitions.apiextensions.k8s.io")
        assert can("watch", "namespaces")
        assert not can("create", "clusterroles.rbac.authorization.k8s.io")
    finally:
        for doc in docs:
            if doc["kind"].startswith("Cluster"):
                cluster.kubectl("delete", doc["kind"].lower(), doc["metadata"]["name"],
                                "--ignore-not-found", check=False)  # fmt: skip
        cluster.kubectl("delete", "namespace", other, "--wait=false", check=False)


def test_service_account_cannot_do_more_than_it_needs(
    cluster: Cluster,
    holon: HolonInstall,  # noqa: F811
) -> None:
    sa = f"system:serviceaccount:{holon.namespace}:{holon.service_account}"

    def can(*args: str) -> bool:
        res = cluster.kubectl("auth", "can-i", *args, "--as", sa, check=False)
        return res.stdout.strip() == "yes"

    assert can("patch", "mesmodules.mes.holon.dev", "-A")
    assert can("create", "deployments.apps", "-n", "default")
    assert can("get", "secrets", "-n", "default")
    assert not can("list", "secrets", "-A")
    assert not can("delete", "qualifications.mes.holon.dev", "-A")
    assert not can("create", "pods", "-n", "default")
    assert not can("delete", "namespaces")
