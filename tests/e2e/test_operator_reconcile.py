"""A MESModule becomes a running runtime, follows spec changes, heals drift, goes away.

The operator runs on the host with the chart's ServiceAccount token (see
operator_support.py); the children are checked through the API as a user would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from e2e_cluster import Cluster
from operator_support import (  # noqa: F401
    REPO,
    HolonInstall,
    OperatorFactory,
    condition,
    events,
    holon,
    module,
    operators,
)

pytestmark = pytest.mark.e2e

CHILDREN = [
    ("serviceaccount", "batch"),
    ("configmap", "batch-config"),
    ("deployment", "batch-blue"),
    ("service", "batch"),
    ("poddisruptionbudget", "batch"),
]
INTERVAL = 5.0


def _get(cluster: Cluster, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
    res = cluster.kubectl("get", kind, name, "-n", namespace, "-o", "json", check=False)
    return json.loads(res.stdout) if res.returncode == 0 else None


def _ready_at(cluster: Cluster, namespace: str, generation: int) -> bool:
    obj = _get(cluster, "mesmodule", "batch", namespace) or {}
    ready = condition(obj, "Ready")
    return (
        ready.get("status") == "True"
        and ready.get("observedGeneration") == generation
        and (obj.get("status") or {}).get("observedGeneration") == generation
    )


def _reasons(cluster: Cluster, namespace: str) -> list[str]:
    return [e.get("reason", "") for e in events(cluster, namespace, "batch")]


def test_module_lifecycle(
    cluster: Cluster,
    namespace: str,
    operators: OperatorFactory,  # noqa: F811
) -> None:
    operators.start(priority=100, reconcile_interval=INTERVAL)
    cluster.apply(module("batch"), namespace=namespace)

    # Apply -> every child exists, owned; Ready=True at generation 1; kubectl wait works.
    cluster.eventually("Ready at generation 1", lambda: _ready_at(cluster, namespace, 1), 120)
    cluster.kubectl(
        "wait", "--for=condition=Ready", "mesmodule/batch", "-n", namespace, "--timeout=30s"
    )
    uid = cluster.get("mesmodule", "batch", namespace)["metadata"]["uid"]
    for kind, name in CHILDREN:
        child = _get(cluster, kind, name, namespace)
        assert child is not None, f"{kind}/{name} missing"
        assert child["metadata"]["ownerReferences"][0]["uid"] == uid
    finalizers = cluster.get("mesmodule", "batch", namespace)["metadata"]["finalizers"]
    assert "mes.holon.dev/finalizer" in finalizers

    # `kubectl get mes` lists it with the printer columns.
    listed = cluster.kubectl("get", "mes", "-n", namespace).stdout
    assert "mesmodule.mes.holon.dev/batch" in listed
    assert "Ready" in listed

    # A spec change is reconciled: new version -> new image, generation 2.
    patch = '{"spec": {"version": "1.1.0", "features": {"ui": true}}}'
    cluster.kubectl("patch", "mesmodule", "batch", "-n", namespace, "--type=merge", "-p", patch)
    cluster.eventually("Ready at generation 2", lambda: _ready_at(cluster, namespace, 2), 120)
    deployment = cluster.get("deployment", "batch-blue", namespace)
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.endswith(":1.1.0")
    config = cluster.get("configmap", "batch-config", namespace)
    assert config["data"]["HOLON_FEATURE_UI"] == "true"
    cluster.eventually("Updated event", lambda: "Updated" in _reasons(cluster, namespace), 30)
    assert "DriftCorrected" not in _reasons(cluster, namespace)  # a spec change is no drift

    # A hand edit of the Deployment is reverted, with an Event that says so.
    cluster.kubectl(
        "set", "image", "deployment/batch-blue", "runtime=evil/runtime:6.6.6", "-n", namespace
    )

    def reverted() -> bool:
        live = _get(cluster, "deployment", "batch-blue", namespace) or {}
        containers = live.get("spec", {}).get("template", {}).get("spec", {}).get("containers")
        return bool(containers) and containers[0]["image"].endswith(":1.1.0")

    cluster.eventually("hand edit reverted", reverted, INTERVAL * 3)
    cluster.eventually(
        "DriftCorrected event", lambda: "DriftCorrected" in _reasons(cluster, namespace), 30
    )

    # A deleted Deployment is recreated.
    cluster.kubectl("delete", "deployment", "batch-blue", "-n", namespace)
    cluster.eventually(
        "deleted Deployment recreated",
        lambda: _get(cluster, "deployment", "batch-blue", namespace) is not None,
        INTERVAL * 3,
    )

    # kubectl-mes status draws the tree.
    env = {
        **os.environ,
        "KUBECONFIG": str(cluster.kubeconfig),
        "PYTHONPATH": str(REPO / "operator"),
    }
    out = subprocess.run(
        [sys.executable, "-m", "mes_operator.kubectl_plugin", "status", "batch", "-n", namespace],
        capture_output=True, text=True, env=env, check=True, timeout=60,
    ).stdout  # fmt: skip
    assert "batch-blue" in out
    assert "PodDisruptionBudget" in out
    assert "Ready" in out

    # `kubectl describe` explains what happened.
    described = cluster.kubectl("describe", "mesmodule", "batch", "-n", namespace).stdout
    assert "Created" in described
    assert "DriftCorrected" in described

    # Delete -> all children gone, then the module itself.
    cluster.kubectl("delete", "mesmodule", "batch", "-n", namespace, "--timeout=60s")
    for kind, name in CHILDREN:
        assert _get(cluster, kind, name, namespace) is None, f"{kind}/{name} left behind"


def _set_pods_ready(cluster: Cluster, namespace: str, ready: bool) -> int:
    """Report every Pod of the module's Deployment ready or not (as a failing readiness
    probe would; kwok's Pods are ready from the start and stay so), through the Pod's
    status subresource. Returns how many Pods were patched."""
    pods = cluster.get("pods", None, namespace)["items"]
    mine = [p for p in pods if (p["metadata"].get("labels") or {}).get("mes.holon.dev/module")]
    value = "True" if ready else "False"
    for pod in mine:
        conditions = [
            {**c, "status": value} if c.get("type") in {"Ready", "ContainersReady"} else c
            for c in pod["status"].get("conditions") or []
        ]
        statuses = [{**s, "ready": ready} for s in pod["status"].get("containerStatuses") or []]
        patch = {"status": {"conditions": conditions, "containerStatuses": statuses}}
        cluster.kubectl(
            "patch", "pod", pod["metadata"]["name"], "-n", namespace, "--subresource=status",
            "--type=merge", "-p", json.dumps(patch),
        )  # fmt: skip
    return len(mine)


def test_the_deployment_s_status_reaches_the_conditions_without_a_timer(
    cluster: Cluster,
    namespace: str,
    operators: OperatorFactory,  # noqa: F811
) -> None:
    """Issue #18: Ready follows the Deployment's watch events, not the drift timer (set
    to an hour here, longer than the test): the Pods becoming ready makes the module
    Ready, a Pod that stops being ready makes it not Ready, ready again makes it Ready."""
    operators.start(priority=100, reconcile_interval=3600)
    cluster.apply(module("batch"), namespace=namespace)
    cluster.eventually("Ready at generation 1", lambda: _ready_at(cluster, namespace, 1), 60)

    def ready() -> str:
        obj = _get(cluster, "mesmodule", "batch", namespace) or {}
        return str(condition(obj, "Ready").get("status"))

    assert _set_pods_ready(cluster, namespace, False) >= 1
    cluster.eventually("not Ready once its Pod is not", lambda: ready() == "False", 60)
    _set_pods_ready(cluster, namespace, True)
    cluster.eventually("Ready again once its Pod is", lambda: ready() == "True", 60)
