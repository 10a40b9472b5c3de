"""Two operator replicas, one active: SIGKILL the active one mid-reconcile, the standby
takes over and the final state is correct."""

from __future__ import annotations

import json
from typing import Any

import pytest
from e2e_cluster import Cluster
from operator_support import (  # noqa: F401
    HolonInstall,
    OperatorFactory,
    condition,
    holon,
    module,
    operators,
)

pytestmark = pytest.mark.e2e


def _module(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    res = cluster.kubectl("get", "mesmodule", name, "-n", namespace, "-o", "json", check=False)
    return json.loads(res.stdout) if res.returncode == 0 else {}


def test_standby_takes_over_after_sigkill(
    cluster: Cluster,
    namespace: str,
    operators: OperatorFactory,  # noqa: F811
) -> None:
    active = operators.start(priority=200)
    # As in a rolling start: the second replica joins once the first one is peering.
    cluster.eventually(
        "active replica peering", lambda: "Resuming operations" in active.output(), 60
    )
    standby = operators.start(priority=100)

    # The active replica is working: a first module becomes Ready.
    cluster.apply(module("first"), namespace=namespace)
    cluster.eventually(
        "first Ready",
        lambda: condition(_module(cluster, namespace, "first"), "Ready").get("status") == "True",
        120,
    )
    # kopf starts every replica paused until peering says otherwise: the standby stays so.
    assert "Handler 'module_changed'" in active.output()
    assert "Handler 'module_changed'" not in standby.output()
    assert standby.proc.poll() is None

    # Several modules at once, then SIGKILL mid-reconcile.
    names = [f"m{i}" for i in range(5)]
    cluster.apply(*(module(n) for n in names), namespace=namespace)
    active.kill()

    def all_ready() -> bool:
        return all(
            condition(_module(cluster, namespace, n), "Ready").get("status") == "True"
            for n in names
        )

    cluster.eventually("all modules Ready after failover", all_ready, 120)
    for name in names:
        deployment = cluster.get("deployment", f"{name}-blue", namespace)
        assert deployment["spec"]["replicas"] == 1
    assert standby.proc.poll() is None
