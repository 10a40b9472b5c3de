"""The test cluster runs real workloads: Deployments, rolling updates, Jobs, garbage collection.

These prove the controller-manager, the scheduler and kwok's simulated kubelets work
together, which every operator e2e test later relies on.
"""

from __future__ import annotations

from typing import Any

import pytest
from e2e_cluster import Cluster

pytestmark = pytest.mark.e2e

IMAGE = "registry.invalid/holon/app"  # never pulled: kwok simulates the containers


def deployment(name: str, tag: str, replicas: int = 3) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": f"{IMAGE}:{tag}"}]},
            },
        },
    }


def replicasets(cluster: Cluster, ns: str, app: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = cluster.get("rs", namespace=ns)["items"]
    return [rs for rs in items if rs["spec"]["selector"]["matchLabels"].get("app") == app]


def test_deployment_rolls_out_to_ready_on_simulated_nodes(cluster: Cluster, namespace: str) -> None:
    cluster.apply(deployment("web", "v1"), namespace=namespace)
    cluster.kubectl("rollout", "status", "deploy/web", "-n", namespace, "--timeout=120s")

    dep = cluster.get("deploy", "web", namespace)
    assert dep["status"]["readyReplicas"] == 3
    pods = cluster.get("pods", namespace=namespace)["items"]
    assert len(pods) == 3
    kwok_nodes = {n["metadata"]["name"] for n in cluster.get("nodes")["items"]}
    for pod in pods:
        assert pod["status"]["phase"] == "Running"
        assert pod["spec"]["nodeName"] in kwok_nodes
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert ready["Ready"] == "True"


def test_rolling_update_without_unavailability_retires_the_old_replicaset(
    cluster: Cluster, namespace: str
) -> None:
    cluster.apply(deployment("api", "v1"), namespace=namespace)
    cluster.kubectl("rollout", "status", "deploy/api", "-n", namespace, "--timeout=120s")
    (old,) = replicasets(cluster, namespace, "api")

    cluster.kubectl("set", "image", "deploy/api", f"app={IMAGE}:v2", "-n", namespace)
    cluster.kubectl("rollout", "status", "deploy/api", "-n", namespace, "--timeout=120s")

    def old_scaled_down() -> bool:
        rs = {r["metadata"]["name"]: r for r in replicasets(cluster, namespace, "api")}
        o = rs[old["metadata"]["name"]]
        return bool(o["spec"]["replicas"] == 0 and o["status"].get("replicas", 0) == 0)

    cluster.eventually("old ReplicaSet scaled to 0", old_scaled_down)
    current = [r for r in replicasets(cluster, namespace, "api") if r["spec"]["replicas"] > 0]
    assert len(current) == 1
    new = current[0]
    assert new["metadata"]["name"] != old["metadata"]["name"]
    assert new["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}:v2"
    assert new["status"]["readyReplicas"] == 3


def test_job_completes(cluster: Cluster, namespace: str) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "migrate"},
        "spec": {
            "completions": 2,
            "parallelism": 2,
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "migrate", "image": f"{IMAGE}:v1"}],
                }
            },
        },
    }
    cluster.apply(job, namespace=namespace)
    cluster.kubectl(
        "wait", "--for=condition=Complete", "job/migrate", "-n", namespace, "--timeout=120s"
    )
    status = cluster.get("job", "migrate", namespace)["status"]
    assert status["succeeded"] == 2
    assert status.get("failed", 0) == 0


def test_deleting_an_owner_garbage_collects_its_dependents(
    cluster: Cluster, namespace: str
) -> None:
    owner = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}}
    cluster.apply(owner, namespace=namespace)
    uid = cluster.get("cm", "owner", namespace)["metadata"]["uid"]
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}
    dependents = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"dependent-{i}", "ownerReferences": [ref]},
        }
        for i in range(2)
    ]
    bystander = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bystander"}}
    cluster.apply(*dependents, bystander, namespace=namespace)
    cluster.apply(deployment("gc", "v1", replicas=2), namespace=namespace)
    cluster.kubectl("rollout", "status", "deploy/gc", "-n", namespace, "--timeout=120s")

    cluster.kubectl("delete", "cm", "owner", "-n", namespace)
    cluster.kubectl("delete", "deploy", "gc", "-n", namespace, "--cascade=background")

    def collected() -> bool:
        names = {c["metadata"]["name"] for c in cluster.get("cm", namespace=namespace)["items"]}
        rs = replicasets(cluster, namespace, "gc")
        pods = cluster.kubectl(
            "get", "pods", "-n", namespace, "-l", "app=gc", "-o", "name"
        ).stdout.split()
        return not ({"dependent-0", "dependent-1"} & names) and not rs and not pods

    cluster.eventually("dependents garbage-collected", collected)
    assert cluster.get("cm", "bystander", namespace)["metadata"]["name"] == "bystander"
