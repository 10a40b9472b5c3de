"""The install's evidence, checked on the real node as a validation lead would (no tests
here; the real-node test calls :func:`check_install_evidence` right after Ready).

The operator's machine account is made as a plant makes it (a runtime user with role
``upgrade`` and its Secret); the operator then captures the install's Qualification (IQ from
the live system, OQ from the image's suite run as a Job); the
package is downloaded with ``kubectl mes evidence get`` and verified offline against the
public key the operator published, by the plugin and by a verifier written from the format
page alone; a user bound to the chart's validation-lead role approves it with ``kubectl mes
approve``, and the module becomes Qualified. Then someone patches the runtime's ConfigMap
by hand: the operator restores it and records a Drift Qualification chained to the install,
its change a deviation naming the client that made it; the module awaits approval again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from e2e_cluster import Cluster
from mes_operator import kubectl_plugin
from real_node_module import MODULE, InCluster

from holon_testing.kube import write_token_kubeconfig
from holon_testing.real_node import enrol
from tests.mes_operator.evidence import independent_verifier

ACCOUNT = "holon-upgrade"
LEAD = "validation-lead"


def _qualifications(cluster: Cluster, ns: str) -> list[dict[str, Any]]:
    listed = cluster.kubectl(
        "get", "qualifications", "-n", ns, "-l", f"mes.holon.dev/module={MODULE}", "-o", "json"
    )
    return list(json.loads(listed.stdout)["items"])


def _qualified(cluster: Cluster, ns: str) -> dict[str, Any]:
    body = cluster.get("mesmodule", MODULE, ns)
    conditions = body.get("status", {}).get("conditions", [])
    return next(c for c in conditions if c["type"] == "Qualified")


def check_install_evidence(
    cluster: Cluster,
    in_cluster: InCluster,
    base: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ns = in_cluster.namespace
    assert _qualifications(cluster, ns) == []  # no account yet: the operator waits for it
    assert _qualified(cluster, ns)["status"] == "Unknown"
    password = enrol(base, in_cluster.database_url, ACCOUNT, "upgrade")
    cluster.kubectl(
        "create", "secret", "generic", f"{MODULE}-upgrade-account", "-n", ns,
        f"--from-literal=username={ACCOUNT}", f"--from-literal=password={password}",
    )  # fmt: skip
    # the OQ Job (the new image's suite in a scratch installation) runs first, about a minute
    cluster.eventually(
        "the install's Qualification", lambda: bool(_qualifications(cluster, ns)), 360
    )
    (record,) = _qualifications(cluster, ns)
    name = record["metadata"]["name"]
    spec = record["spec"]
    assert (spec["event"], spec["module"]) == ("Install", MODULE)
    assert "previousDigest" not in spec  # the module's first package

    kubeconfig = cluster.kubeconfig
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    package = tmp_path / "install"
    assert kubectl_plugin.main(["evidence", "get", name, "-o", str(package), "-n", ns]) == 0
    document = json.loads((package / "package.json").read_bytes())
    failed = [(r["id"], r["requirement"], r["actual"]) for r in document["iq"]
              if r["result"] != "pass"]  # fmt: skip
    assert failed == [], failed
    assert spec["verdict"] == document["verdict"] == "PROVISIONAL"
    assert {r["requirement"] for r in document["iq"]} >= {f"URS-IQ-{i:02d}" for i in range(1, 11)}
    oq = [(r["id"], r["requirement"], r["result"], r["actual"]) for r in document["oq"]]
    assert [r for r in oq if r[2] != "pass"] == [], oq
    assert {r[1] for r in oq} == {f"URS-OQ-0{i}" for i in range(1, 6)}
    assert all(r["scope"] == "full" for r in document["oq"])

    key_file = tmp_path / "holon-evidence.pem"
    published = cluster.get("configmap", "holon-evidence-key", ns)  # the release's namespace
    key_file.write_text(published["data"]["public.pem"])
    assert kubectl_plugin.main(["evidence", "verify", str(package), "--key", str(key_file),
                                "--first"]) == 0  # fmt: skip
    assert independent_verifier.check(package, key_file.read_bytes(), None) == []
    assert independent_verifier.digest(package) == spec["digest"]
    qualified = _qualified(cluster, ns)
    assert (qualified["status"], qualified["reason"]) == ("Unknown", "AwaitingApproval")

    # a validation lead (a ServiceAccount bound to the chart's role) approves it
    cluster.kubectl("create", "serviceaccount", LEAD, "-n", ns)
    cluster.kubectl(
        "create", "rolebinding", LEAD, "-n", ns,
        "--clusterrole", f"{in_cluster.release}-validation-lead",
        f"--serviceaccount={ns}:{LEAD}",
    )  # fmt: skip
    token = cluster.kubectl("create", "token", LEAD, "-n", ns, "--duration=10m").stdout.strip()
    server, ca = cluster.endpoint()
    lead = write_token_kubeconfig(
        tmp_path / "lead.kubeconfig", server=server, ca=ca, token=token, namespace=ns
    )
    monkeypatch.setenv("KUBECONFIG", str(lead))
    assert kubectl_plugin.main(["approve", name, "--meaning", "approved"]) == 0
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))

    def approved() -> bool:
        condition = _qualified(cluster, ns)
        return condition["status"] == "True"

    cluster.eventually("the module Qualified after the approval", approved, 60)
    assert f"system:serviceaccount:{ns}:{LEAD}" in _qualified(cluster, ns)["message"]
    status = cluster.get("qualification", name, ns)["status"]
    assert (status["approval"], status["verdict"]) == ("Approved", "QUALIFIED")
    assert status["approvedBy"] == f"system:serviceaccount:{ns}:{LEAD}"

    # a hand edit of the runtime's settings: restored, and recorded as a deviation
    config = f"{MODULE}-config"
    data = cluster.get("configmap", config, ns)["data"]
    key = sorted(data)[0]
    cluster.kubectl(
        "patch", "configmap", config, "-n", ns, "--type=merge",
        "-p", json.dumps({"data": {key: "changed-by-hand"}}),
    )  # fmt: skip

    def drift_recorded() -> bool:
        return any(q["spec"]["event"] == "Drift" for q in _qualifications(cluster, ns))

    cluster.eventually("the drift's Qualification", drift_recorded, 90)
    assert cluster.get("configmap", config, ns)["data"][key] == data[key]  # restored
    drift = next(q for q in _qualifications(cluster, ns) if q["spec"]["event"] == "Drift")
    assert drift["spec"]["previousDigest"] == spec["digest"]  # chained to the install
    assert drift["spec"]["verdict"] == "PROVISIONAL"  # a person assesses the deviation
    package = tmp_path / "drift"
    assert (
        kubectl_plugin.main(
            ["evidence", "get", drift["metadata"]["name"], "-o", str(package), "-n", ns]
        )
        == 0
    )
    assert kubectl_plugin.main(["evidence", "verify", str(tmp_path / "install"), str(package),
                                "--key", str(key_file), "--first"]) == 0  # fmt: skip
    deviations = json.loads((package / "package.json").read_bytes())["deviations"]
    (change,) = [d for d in deviations if d["subject"] == f"ConfigMap/{config}"]
    assert change["disposition"] == "deviation"
    assert change["actual"] == {"changed": [f"data.{key}"], "by": "kubectl-patch"}
    qualified = _qualified(cluster, ns)
    assert (qualified["status"], qualified["reason"]) == ("Unknown", "AwaitingApproval")


def check_interface_evidence(cluster: Cluster, ns: str, equipment: str) -> None:
    """The Equipment's verification recorded as an interface Qualification: the session
    and each required service a passing row, the check's duration kept with them."""

    def verified_record() -> list[dict[str, Any]]:
        listed = cluster.kubectl(
            "get", "qualifications", "-n", ns, "-l", f"mes.holon.dev/equipment={equipment}",
            "-o", "json",
        )  # fmt: skip
        items = json.loads(listed.stdout)["items"]
        return [q for q in items if q["spec"]["verdict"] == "PROVISIONAL"]

    cluster.eventually("the Equipment's interface Qualification", lambda: bool(verified_record()),
                       60)  # fmt: skip
    record = verified_record()[-1]
    assert record["spec"]["event"] == "Interface"
    assert record["spec"]["module"] == equipment


def install_record(cluster: Cluster, ns: str, within: float = 300) -> dict[str, Any]:
    """The module's install Qualification, once the operator has recorded it."""
    cluster.eventually("the install's Qualification", lambda: bool(_qualifications(cluster, ns)),
                       within)  # fmt: skip
    (record,) = _qualifications(cluster, ns)
    assert record["spec"]["event"] == "Install"
    return record


def check_upgrade_evidence(
    cluster: Cluster,
    ns: str,
    install: dict[str, Any],
    *,
    versions: tuple[str, str],
    batch_id: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Any]:
    """The orchestrated upgrade's package, as a validation lead checks it: chained to the
    install's, verified offline; OQ ran on the new version before the switch (the OQ Job
    finished before the grant moved) and passed; the upgrade's own rows passed; the
    disruption record holds the measured phases, the switch window, the batch's hand-over
    gap and the journal around the switch; the module's auto-approval rule approved it (no
    signature), which the package records. Its package document."""

    def upgrades() -> list[dict[str, Any]]:
        return [q for q in _qualifications(cluster, ns) if q["spec"]["event"] == "Upgrade"]

    cluster.eventually("the upgrade's Qualification", lambda: bool(upgrades()), 240)
    (record,) = upgrades()
    spec = record["spec"]
    assert (spec["fromVersion"], spec["toVersion"]) == versions
    assert spec["previousDigest"] == install["spec"]["digest"]  # chained to the install
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    first, package = tmp_path / "install", tmp_path / "upgrade"
    for name, where in (
        (install["metadata"]["name"], first),
        (record["metadata"]["name"], package),
    ):
        assert kubectl_plugin.main(["evidence", "get", name, "-o", str(where), "-n", ns]) == 0
    key_file = tmp_path / "holon-evidence.pem"
    key_file.write_text(cluster.get("configmap", "holon-evidence-key", ns)["data"]["public.pem"])
    assert kubectl_plugin.main(["evidence", "verify", str(first), str(package),
                                "--key", str(key_file), "--first"]) == 0  # fmt: skip
    assert independent_verifier.check(package, key_file.read_bytes(), spec["previousDigest"]) == []
    document: dict[str, Any] = json.loads((package / "package.json").read_bytes())
    failed = [(r["id"], r["requirement"], r["actual"])
              for r in document["iq"] + document["oq"] if r["result"] != "pass"]  # fmt: skip
    assert failed == [], failed
    # the module lists Upgrade in autoApproveCategories: every row passed and no difference
    # is left unexplained (no approved baseline yet), so the rule approves it, recorded
    assert spec["verdict"] == document["verdict"] == "QUALIFIED"
    assert document["autoApproval"]["category"] == "Upgrade"
    assert document["autoApproval"]["ruleVersion"] == "1"
    tested = {r["requirement"] for r in document["oq"]}
    assert tested >= {*(f"URS-OQ-0{i}" for i in range(1, 7)), "URS-UP-01"}, tested

    upgrade = cluster.get("mesmodule", MODULE, ns)["status"]["upgrade"]
    switched = next(m["at"] for m in upgrade["timeline"] if m["phase"] == "Switch")
    listed = cluster.kubectl(
        "get",
        "jobs",
        "-n",
        ns,
        "-o",
        "json",
        "-l",
        f"mes.holon.dev/upgrade-job=oq,app.kubernetes.io/version={versions[1]}",
    )  # fmt: skip  (the install's own OQ Job, of the version before, is not the upgrade's)
    (job,) = json.loads(listed.stdout)["items"]
    assert job["spec"]["template"]["spec"]["containers"][0]["image"].endswith(f":{versions[1]}")
    assert job["status"]["completionTime"] <= switched, (job["status"], upgrade["timeline"])

    disruption = document["disruption"]
    assert disruption["outcome"] == "switched"
    assert disruption["rollbacks"] == 0
    assert disruption["switchWindowSeconds"] is not None
    phases = {p["phase"]: p["seconds"] for p in disruption["phases"]}
    assert phases["OperationalQualification"] is not None
    assert batch_id in disruption["handOver"]["batches"], disruption["handOver"]
    assert disruption["handOver"]["maxGapSeconds"] is not None
    assert disruption["recordsNow"] > disruption["recordsBeforeSwitch"] > 0
    assert disruption["journalVerified"] is True
    assert disruption["switches"][-1]["to"] == upgrade["colour"]
    qualified = _qualified(cluster, ns)
    assert (qualified["status"], qualified["reason"]) == ("True", "Qualified"), qualified
    assert "auto-approved" in qualified["message"]
    status = cluster.get("qualification", record["metadata"]["name"], ns)["status"]
    assert (status["approval"], status["verdict"]) == ("AutoApproved", "QUALIFIED")
    print(f"[upgrade evidence] {record['metadata']['name']}: disruption {disruption}", flush=True)
    return document
