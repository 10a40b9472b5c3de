"""Helm works against the test cluster: the chart lints and installs to Ready.

The project ships as a Helm chart (charts/holon); this proves the harness's helm binary,
the cluster's RBAC for the admin user and kwok's pods are enough to install one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_cluster import Cluster

pytestmark = pytest.mark.e2e

CHART = Path(__file__).parent / "charts" / "holon-e2e-smoke"


def test_helm_lint_passes(cluster: Cluster) -> None:
    res = cluster.helm("lint", "--strict", str(CHART))
    assert "1 chart(s) linted, 0 chart(s) failed" in res.stdout


def test_helm_lint_rejects_a_broken_chart(cluster: Cluster, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    (broken / "templates").mkdir(parents=True)
    (broken / "Chart.yaml").write_text("apiVersion: v2\nname: broken\nversion: 0.1.0\n")
    (broken / "templates" / "cm.yaml").write_text("kind: ConfigMap\nmetadata: {{ .Oops\n")
    res = cluster.helm("lint", str(broken), check=False)
    assert res.returncode != 0
    assert "1 chart(s) failed" in res.stdout + res.stderr


def test_helm_install_rolls_out(cluster: Cluster, namespace: str) -> None:
    cluster.helm(
        "install", "smoke", str(CHART), "-n", namespace,
        "--set", "greeting=from-e2e", "--wait", "--timeout", "120s",
    )  # fmt: skip
    dep = cluster.get("deploy", "smoke-smoke", namespace)
    assert dep["status"]["readyReplicas"] == 2
    cm = cluster.get("cm", "smoke-smoke", namespace)
    assert cm["data"]["greeting"] == "from-e2e"
    listed = cluster.helm("list", "-n", namespace, "-o", "json").stdout
    assert '"status":"deployed"' in listed.replace(" ", "")
    cluster.helm("uninstall", "smoke", "-n", namespace, "--wait", "--timeout", "60s")
    gone = cluster.kubectl("get", "deploy", "smoke-smoke", "-n", namespace, check=False)
    assert gone.returncode != 0
    assert "NotFound" in gone.stderr
