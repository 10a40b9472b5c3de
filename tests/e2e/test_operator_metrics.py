"""The operator's /metrics after real reconciles and a real drift correction."""

from __future__ import annotations

import httpx
import pytest
from e2e_cluster import Cluster
from operator_support import (  # noqa: F401
    HolonInstall,
    OperatorFactory,
    events,
    holon,
    module,
    operators,
)
from prometheus_client.parser import text_string_to_metric_families

from holon_testing.operator import OperatorProcess

pytestmark = pytest.mark.e2e


def _sample(replica: OperatorProcess, name: str, **labels: str) -> float:
    try:
        text = httpx.get(f"http://127.0.0.1:{replica.metrics_port}/metrics", timeout=10).text
    except httpx.TransportError:
        return -1.0  # not serving yet
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def test_reconciles_and_a_drift_correction_raise_the_counters(
    cluster: Cluster,
    namespace: str,
    operators: OperatorFactory,  # noqa: F811
) -> None:
    replica = operators.start(priority=100, reconcile_interval=5)
    cluster.apply(module("batch"), namespace=namespace)
    cluster.eventually(
        "a successful MESModule reconcile",
        lambda: (
            _sample(replica, "holon_operator_reconciles_total", kind="MESModule", result="ok") >= 1
        ),
        120,
    )
    cluster.eventually(
        "the Deployment exists",
        lambda: (
            cluster.kubectl(
                "get", "deployment", "batch-blue", "-n", namespace, check=False
            ).returncode
            == 0
        ),
        60,
    )
    drift = _sample(replica, "holon_operator_drift_corrections_total", kind="Deployment")
    assert drift == 0

    cluster.kubectl(
        "set", "image", "deployment/batch-blue", "runtime=evil/runtime:6.6.6", "-n", namespace
    )
    cluster.eventually(
        "drift counter rose",
        lambda: _sample(replica, "holon_operator_drift_corrections_total", kind="Deployment") >= 1,
        60,
    )
    reasons = [e.get("reason") for e in events(cluster, namespace, "batch")]
    assert "DriftCorrected" in reasons
    # every MESModule reconcile is timed (the drift above was corrected by the Deployment's
    # own handler, which is not a MESModule reconcile)
    cluster.eventually(
        "the MESModule reconcile timed",
        lambda: (
            _sample(replica, "holon_operator_reconcile_duration_seconds_count", kind="MESModule")
            >= 1
        ),
        30,
    )


def _labelled(replica: OperatorProcess, namespace: str, name: str) -> set[str]:
    """Names of the samples labelled with the MESModule ``namespace/name``."""
    text = httpx.get(f"http://127.0.0.1:{replica.metrics_port}/metrics", timeout=10).text
    return {
        sample.name
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.labels.get("namespace") == namespace and sample.labels.get("module") == name
    }


def test_the_heartbeat_counts_the_modules_and_a_deleted_one_leaves_no_series(
    cluster: Cluster,
    namespace: str,
    operators: OperatorFactory,  # noqa: F811
) -> None:
    """What ``HolonOperatorNotReconciling`` reads, from the real handlers: the active
    replica's heartbeat counts the modules it reconciles, a deletion drops the module from
    the count at once, and a deleted orchestrated module's upgrade series go with it (they
    stayed until the operator restarted)."""
    replica = operators.start(priority=100, reconcile_interval=5)
    postgres = {"engine": "postgresql", "credentialsSecretRef": {"name": "db"}}
    cluster.apply(
        module("plain"),
        module(
            "orch",
            database=postgres,
            upgradeStrategy={"orchestrated": True},
            backup={"storeSecret": "store"},
        ),
        namespace=namespace,
    )
    modules = "holon_operator_modules_reconciled"
    cluster.eventually("both modules in the heartbeat", lambda: _sample(replica, modules) == 2, 120)
    assert _sample(replica, "holon_operator_module_reconcile_timestamp_seconds") > 1.7e9
    cluster.eventually(
        "the orchestrated module's upgrade counters, at 0",
        lambda: "holon_operator_upgrades_started_total" in _labelled(replica, namespace, "orch"),
        60,
    )

    cluster.kubectl("delete", "mesmodule", "orch", "-n", namespace, "--timeout=60s")
    assert _labelled(replica, namespace, "orch") == set()
    assert _sample(replica, modules) == 1
    cluster.kubectl("delete", "mesmodule", "plain", "-n", namespace, "--timeout=60s")
    assert _sample(replica, modules) == 0  # no modules left: no alert
