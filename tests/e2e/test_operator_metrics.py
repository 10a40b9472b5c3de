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
