"""The harness itself: `up` is idempotent (reuses the running cluster), `status` reports it.

The acceptance criteria's times (cold build, warm start <= 30 s) are printed by
`make cluster`, not asserted here: tests make no timing asserts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_cluster import Cluster

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CLUSTER_MODULE = "hack.cluster.cluster"


@pytest.fixture
def local_cluster(cluster: Cluster) -> Cluster:
    if os.environ.get("HOLON_E2E_KUBECONFIG") or cluster.context != "holon-e2e":
        pytest.skip("harness checks apply to the local (kwok) cluster only")
    return cluster


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", CLUSTER_MODULE, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_up_again_reuses_the_running_cluster(local_cluster: Cluster) -> None:
    before = json.loads((local_cluster.kubeconfig.parent / "cluster.json").read_text())
    res = run("up")
    assert res.returncode == 0, res.stderr
    assert "cluster already running" in res.stdout
    assert f"export KUBECONFIG={local_cluster.kubeconfig}" in res.stdout
    after = json.loads((local_cluster.kubeconfig.parent / "cluster.json").read_text())
    assert after["ports"] == before["ports"]


def test_status_lists_components_and_simulated_nodes(local_cluster: Cluster) -> None:
    res = run("status")
    assert res.returncode == 0, res.stdout + res.stderr
    for component in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        assert f"{component} " in res.stdout
    assert "NOT RUNNING" not in res.stdout
    nodes = local_cluster.get("nodes", None)["items"]
    kwok = [n for n in nodes if n["metadata"]["labels"].get("type") == "kwok"]
    expected = json.loads((local_cluster.kubeconfig.parent / "cluster.json").read_text())
    assert len(kwok) == expected["nodes"] >= 1
    for node in kwok:
        assert node["metadata"]["name"] in res.stdout
        conditions = {c["type"]: c["status"] for c in node["status"]["conditions"]}
        assert conditions["Ready"] == "True"
