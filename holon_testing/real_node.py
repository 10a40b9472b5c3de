"""A Holon module on the real node, as the real-node e2e tests and the upgrade benchmark
make it (no pytest here: the fixtures stay in ``tests/e2e``).

The real node runs Holon's own images (:data:`RUNTIME_IMAGE`, :data:`OPERATOR_IMAGE`,
placed there by :data:`PLACEMENT`); the servers its Pods use but that are not Holon
(PostgreSQL, the equipment simulator, the object store) run on the host and get cluster
names through selector-less Services (:func:`host_service`). The runtime's people and a
running batch are made as a plant would: ``create-admin``, ``create-user`` and the set-up
token, a recipe approved by QA's signature (:func:`running_batch_people`,
:func:`start_batch`).

The cluster is anything with ``kubectl`` and ``apply`` (:class:`ClusterTools`): the e2e
tests' ``Cluster``, the benchmark's own runner.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Protocol

import httpx

from hack.cluster import node
from holon_testing.object_store import S3Server
from holon_testing.postgres import PgServer
from mes_runtime.library import load_template

__all__ = [
    "CULTIVATION",
    "OPERATOR_IMAGE",
    "PLACEMENT",
    "RECIPE",
    "ROLES",
    "RUNTIME_IMAGE",
    "ClusterTools",
    "admin_headers",
    "enrol",
    "host_service",
    "in_cluster_url",
    "object_store_secret",
    "running_batch_people",
    "runtime_cli",
    "sign_in",
    "start_batch",
]

ROOT = Path(__file__).resolve().parent.parent
RUNTIME_IMAGE = "holon.local/mes-runtime"
OPERATOR_IMAGE = "holon.local/mes-operator"
PLACEMENT = {
    "nodeSelector": {node.NODE_LABEL[0]: node.NODE_LABEL[1]},
    "tolerations": [{"key": node.NODE_TAINT, "operator": "Exists", "effect": "NoSchedule"}],
}
RECIPE = "bioreactor-fedbatch"  # BR only: runs on the one simulated module
CULTIVATION = "procedure/BR-UP/cultivation/run-fedbatch"


class ClusterTools(Protocol):
    """What these helpers need of a cluster: ``kubectl ARGS`` and an apply of manifests."""

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]: ...

    def apply(self, *manifests: dict[str, Any], namespace: str | None = None) -> None: ...


def host_service(cluster: ClusterTools, namespace: str, name: str, port: int, target: int) -> None:
    cluster.apply(*node.host_service(name, namespace, port, target), namespace=namespace)


def object_store_secret(
    cluster: ClusterTools,
    namespace: str,
    store: S3Server,
    bucket: str,
    secret: str,
    *,
    endpoint: str | None = None,
) -> None:
    """A backup store Secret (the keys the runtime's ``backup`` reads) for ``bucket`` of the
    host's object store, reached by Pods through the Service ``objects`` of ``namespace``
    (``endpoint`` overrides that address: an unreachable store)."""
    if endpoint is None:  # the bucket and the Service: once per namespace
        with store.client() as client:
            client.create_bucket(bucket)
        port = int(store.endpoint.rsplit(":", 1)[1])
        host_service(cluster, namespace, "objects", 9000, port)
    env = store.env(bucket)
    env["HOLON_BACKUP_S3_ENDPOINT"] = (
        endpoint or f"http://objects.{namespace}.svc.cluster.local:9000"
    )
    cluster.kubectl(
        "create", "secret", "generic", secret, "-n", namespace,
        *(f"--from-literal={key}={value}" for key, value in env.items()),
    )  # fmt: skip


def in_cluster_url(server: PgServer, ns: str, database: str) -> str:
    """``database``'s URL as Pods reach it: the ``postgres`` Service of ``ns``, port 5432."""
    url = server.url(database, host=f"postgres.{ns}.svc.cluster.local")
    return url.replace(f":{server.port}/", ":5432/")


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
    base: str, database_url: str, username: str, *, tree: Path = ROOT
) -> dict[str, str]:
    """An admin made with ``create-admin``, then a bearer token from the runtime."""
    password = runtime_cli(tree, database_url, "create-admin", "--username", username)
    return sign_in(base, username, password)


def enrol(base: str, database_url: str, username: str, role: str, *, tree: Path = ROOT) -> str:
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


ROLES = ("operator", "qa")  # each user is named for their one role


def running_batch_people(
    base: str, database_url: str, admin: dict[str, str], *, tree: Path = ROOT
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
