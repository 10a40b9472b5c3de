"""A Holon module on the real node, shared by the real-node test modules (no tests here).

The operator from its image, installed by the chart into a namespace of its own and
watching it (:func:`in_cluster`, one per test module); a MESModule on PostgreSQL and the
simulator (both on the host); the runtime's people and a running batch, made as a plant
would (create-admin, create-user and the set-up token, a recipe approved by QA's signature).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from e2e_cluster import Cluster
from real_node_support import REPO, VERSION, RealNode, pod_logs
from sqlalchemy import select

from holon_testing.postgres import PgServer
from holon_testing.real_node import (
    OPERATOR_IMAGE,
    PLACEMENT,
    RUNTIME_IMAGE,
    host_service,
    in_cluster_url,
)
from holon_testing.simulator_process import SimulatedModule
from mes_runtime.db.engine import create_engine
from mes_runtime.db.models import JournalEntry
from mes_runtime.ebr.journal import verify_journal

CHART = REPO / "charts" / "holon"
GROUP = "mes.holon.dev"
MODULE = "batch"
RUNTIME_SELECTOR = f"app.kubernetes.io/name=mes-runtime,app.kubernetes.io/instance={MODULE}"


@dataclass
class InCluster:
    namespace: str
    release: str
    database_url: str  # as the host reaches it
    simulator: SimulatedModule

    def runtime_url(self, cluster: Cluster) -> str:
        service = cluster.get("service", MODULE, self.namespace)
        return f"http://{service['spec']['clusterIP']}"


def mesmodule(version: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": "MESModule",
        "metadata": {"name": MODULE},
        "spec": {
            "module": "batch-execution",
            "version": version,
            "image": RUNTIME_IMAGE,
            "replicas": 2,
            # QA approves the batch's recipe; Prometheus scrapes the replicas
            "features": {"electronicSignatures": True, "metrics": True},
            "database": {
                "engine": "postgresql",
                "credentialsSecretRef": {"name": "runtime-db", "key": "url"},
            },
            "placement": PLACEMENT,
        },
    }


@pytest.fixture(scope="module")
def in_cluster(
    cluster: Cluster,
    real_node: RealNode,
    module_namespace: str,
    host_postgres: PgServer,
    host_simulator: SimulatedModule,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[InCluster]:
    """The chart with the operator image on the real node, watching this namespace; the
    runtime's database and the simulator reachable by Service names."""
    ns = module_namespace
    release = f"holon-{ns[-6:]}"
    database = f"holon_{ns[-6:]}"
    host_postgres.create_database(database)
    host_service(cluster, ns, "postgres", 5432, host_postgres.port)
    pod_url = in_cluster_url(host_postgres, ns, database)
    cluster.kubectl(
        "create", "secret", "generic", "runtime-db", "-n", ns,
        f"--from-literal=url={pod_url}",
    )  # fmt: skip
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    values = tmp_path_factory.mktemp("values") / "values.json"
    values.write_text(
        json.dumps(
            {
                "crds": {"enabled": False},
                "replicaCount": 1,
                "image": {"repository": OPERATOR_IMAGE, "tag": VERSION},
                "operator": {"watchNamespaces": [ns], "reconcileInterval": 10},
                **PLACEMENT,
            }
        )
    )
    try:
        installed = cluster.helm(
            "install", release, str(CHART), "-n", ns, "-f", str(values),
            "--wait", "--timeout", "180s", check=False,
        )  # fmt: skip
        assert installed.returncode == 0, installed.stderr + pod_logs(
            cluster, ns, "app.kubernetes.io/name=holon-operator"
        )
        yield InCluster(ns, release, host_postgres.url(database), host_simulator)
    finally:
        cluster.kubectl("delete", "mesmodules,equipment", "--all", "-n", ns, "--timeout=60s",
                        check=False)  # fmt: skip
        cluster.helm("uninstall", release, "-n", ns, "--wait", "--timeout", "120s", check=False)


def module_ready(cluster: Cluster, ns: str) -> bool:
    body = cluster.get("mesmodule", MODULE, ns)
    conditions = body.get("status", {}).get("conditions", [])
    return any(
        c["type"] == "Ready"
        and c["status"] == "True"
        and c.get("observedGeneration") == body["metadata"]["generation"]
        for c in conditions
    )


ENDED = {"complete", "stopped", "aborted"}


def batch_when_ended(
    cluster: Cluster, view: str, headers: dict[str, str], limit: float = 600
) -> dict[str, Any]:
    """The batch's view (``view``, its URL) once it has ended, waiting up to ``limit`` s."""
    last: list[dict[str, Any]] = []

    def ended() -> bool:
        last.append(httpx.get(view, headers=headers, timeout=10).json())
        return str(last[-1]["state"]) in ENDED

    cluster.eventually("the batch to end", ended, limit)
    return last[-1]


async def take_overs(database_url: str, batch_id: str) -> tuple[bool, list[dict[str, Any]]]:
    engine = create_engine(database_url)
    try:
        result = await verify_journal(engine)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(JournalEntry.new_value).where(
                        JournalEntry.batch_id == batch_id, JournalEntry.action == "batch.resume"
                    )
                )
            ).scalars()
            resumes = [
                {k: v for k, v in json.loads(r).items() if k in {"gap_seconds", "epoch"}}
                for r in rows
            ]
    finally:
        await engine.dispose()
    return result.ok, resumes
