"""A Holon module on the real node, shared by the real-node test modules (no tests here).

The operator from its image, installed by the chart into a namespace of its own and
watching it (:func:`in_cluster`, one per test module); a MESModule on PostgreSQL and the
simulator (both on the host); the runtime's people and a running batch, made as a plant
would (create-admin, create-user and the set-up token, a recipe approved by QA's signature).
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_cluster import Cluster
from real_node_support import (
    OPERATOR_IMAGE,
    PLACEMENT,
    REPO,
    RUNTIME_IMAGE,
    VERSION,
    RealNode,
    host_service,
    pod_logs,
)
from sqlalchemy import select

from holon_testing.postgres import PgServer
from holon_testing.simulator_process import SimulatedModule
from mes_runtime.db.engine import create_engine
from mes_runtime.db.models import JournalEntry
from mes_runtime.ebr.journal import verify_journal
from mes_runtime.library import load_template

CHART = REPO / "charts" / "holon"
GROUP = "mes.holon.dev"
MODULE = "batch"
RUNTIME_SELECTOR = f"app.kubernetes.io/name=mes-runtime,app.kubernetes.io/instance={MODULE}"
RECIPE = "bioreactor-fedbatch"  # BR only: runs on the one simulated module
CULTIVATION = "procedure/BR-UP/cultivation/run-fedbatch"


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


def in_cluster_url(server: PgServer, ns: str, database: str) -> str:
    """``database``'s URL as Pods reach it: the ``postgres`` Service of ``ns``, port 5432."""
    url = server.url(database, host=f"postgres.{ns}.svc.cluster.local")
    return url.replace(f":{server.port}/", ":5432/")


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


def runtime_cli(tree: Path, database_url: str, *args: str) -> str:
    """``mes-runtime ARGS`` of the version whose sources are ``tree`` (this repository, or
    the previous release's) against the module's database, as a platform engineer runs it
    on the host: the last line it printed (a password or a set-up token, never logged)."""
    made = subprocess.run(
        [sys.executable, "-m", "mes_runtime", *args],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tree), "HOLON_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        check=False,
        cwd=tree,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    return made.stdout.strip().splitlines()[-1]


def sign_in(base: str, username: str, password: str) -> dict[str, str]:
    token = httpx.post(
        f"{base}/api/v1/auth/token",
        json={"username": username, "password": password},
        timeout=10,
    )
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def admin_headers(
    base: str, database_url: str, username: str, *, tree: Path = REPO
) -> dict[str, str]:
    """An admin made with ``create-admin``, then a bearer token from the runtime."""
    password = runtime_cli(tree, database_url, "create-admin", "--username", username)
    return sign_in(base, username, password)


def enrol(base: str, database_url: str, username: str, role: str, *, tree: Path = REPO) -> str:
    """A user enrolled as a plant does it (``create-user``, then the user sets a password
    with the one-time set-up token through the runtime): the password."""
    token = runtime_cli(
        tree, database_url, "create-user", "--username", username,
        "--full-name", f"E2E {username}", "--role", role,
    )  # fmt: skip
    password = secrets.token_urlsafe(24)
    set_up = httpx.post(
        f"{base}/api/v1/auth/password/setup",
        json={"username": username, "setup_token": token, "new_password": password},
        timeout=10,
    )
    assert set_up.status_code < 300, set_up.text
    return password


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


ROLES = ("operator", "qa")  # each user is named for their one role


def running_batch_people(
    base: str, database_url: str, admin: dict[str, str], *, tree: Path = REPO
) -> dict[str, str]:
    """An operator and a QA user enrolled, the bioreactor recipe imported and approved by
    QA's signature; the operator's headers."""
    passwords = {name: enrol(base, database_url, name, name, tree=tree) for name in ROLES}
    recipe = load_template(RECIPE)
    imported = httpx.post(
        f"{base}/api/v1/recipes", json=recipe.to_canonical_data(), headers=admin, timeout=30
    )
    assert imported.status_code in {201, 409}, imported.text  # 409: imported earlier
    approved = httpx.post(
        f"{base}/api/v1/recipes/{RECIPE}/{recipe.header.version}/approve",
        json={"password": passwords["qa"], "meaning": "approved"},
        headers=sign_in(base, "qa", passwords["qa"]),
        timeout=30,
    )
    assert approved.status_code == 200, approved.text
    return sign_in(base, "operator", passwords["operator"])


def start_batch(
    base: str, operator: dict[str, str], *, hours: int = 48, recipe: str = RECIPE
) -> str:
    """A batch of the bioreactor recipe (or ``recipe``, a variant) on BR-101, started, once
    its cultivation runs."""
    created = httpx.post(
        f"{base}/api/v1/batches",
        json={"recipe": recipe, "bindings": {"BR": "BR-101"}, "overrides": {"CultDuration": hours}},
        headers=operator,
        timeout=30,
    )
    assert created.status_code == 201, created.text
    batch_id = str(created.json()["id"])
    deadline = time.monotonic() + 120  # a wait, not a timing assertion
    while True:
        batch = httpx.get(f"{base}/api/v1/batches/{batch_id}", headers=operator, timeout=10)
        states = {e["path"]: e["state"] for e in batch.json()["elements"]}
        if states.get(CULTIVATION) == "running":
            return batch_id
        assert time.monotonic() < deadline, f"the cultivation did not start: {states}"
        time.sleep(0.5)
