"""Shared fixtures of the operator's end-to-end tests (no tests here; not named test_*).

The chart is installed once per session (its ServiceAccount and ClusterRole are what the
operator runs as); each test gets its own namespace and its own operator process(es),
watching only that namespace, authenticated with a token from the TokenRequest API for
the chart's ServiceAccount, so RBAC is the chart's, not the admin's. Pods do not really
run on the simulated nodes, so the operator runs on the host, as it would in its image.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from e2e_cluster import Cluster

from holon_testing.kube import write_token_kubeconfig
from holon_testing.operator import REPO, OperatorProcess

CHART = REPO / "charts" / "holon"
GROUP = "mes.holon.dev"


@dataclass
class HolonInstall:
    """The chart, installed once: where, and as which ServiceAccount the operator runs."""

    namespace: str
    release: str
    service_account: str


@dataclass
class OperatorFactory:
    """Starts operator replicas for one test namespace; stops them all afterwards."""

    cluster: Cluster
    install: HolonInstall
    namespace: str
    workdir: Path
    peering_name: str = field(default_factory=lambda: f"holon-e2e-{uuid.uuid4().hex[:8]}")
    started: list[OperatorProcess] = field(default_factory=list)

    def kubeconfig(self) -> Path:
        """A kubeconfig whose only credential is a token of the chart's ServiceAccount."""
        path = self.workdir / "operator.kubeconfig"
        if path.exists():
            return path
        token = self.cluster.kubectl(
            "create",
            "token",
            self.install.service_account,
            "-n",
            self.install.namespace,
            "--duration=1h",
        ).stdout.strip()
        server, ca = self.cluster.endpoint()
        return write_token_kubeconfig(
            path, server=server, ca=ca, token=token, namespace=self.namespace
        )

    def start(self, *, priority: int, reconcile_interval: float = 5) -> OperatorProcess:
        replica = OperatorProcess.spawn(
            kubeconfig=self.kubeconfig(),
            namespace=self.namespace,
            log=self.workdir / f"operator-{len(self.started)}.log",
            settings={
                "HOLON_OPERATOR_RECONCILE_INTERVAL": str(reconcile_interval),
                "HOLON_OPERATOR_EQUIPMENT_POLL": "2",
                "HOLON_OPERATOR_PRIORITY": str(priority),
                "HOLON_OPERATOR_PEERING_NAME": self.peering_name,
                "HOLON_OPERATOR_PEERING_LIFETIME": "6",
            },
            priority=priority,
        )
        self.started.append(replica)
        return replica

    def stop_all(self) -> None:
        """Delete this test's resources while an operator still runs (its finalizer needs
        one), then stop the replicas; finalizers left by a failed test are removed so
        the namespace can go."""
        if any(r.proc.poll() is None for r in self.started):
            self.cluster.kubectl(
                "delete", "mesmodules,equipment", "--all", "-n", self.namespace,
                "--timeout=60s", check=False,
            )  # fmt: skip
        for replica in self.started:
            replica.stop()
        left = self.cluster.kubectl(
            "get", "mesmodules,equipment", "-n", self.namespace, "-o", "name", check=False
        ).stdout.split()
        for name in left:
            self.cluster.kubectl(
                "patch", name, "-n", self.namespace, "--type=merge",
                "-p", '{"metadata": {"finalizers": []}}', check=False,
            )  # fmt: skip
        self.cluster.kubectl(
            "delete", "clusterkopfpeering", self.peering_name, "--wait=false", check=False
        )


@pytest.fixture(scope="session")
def holon(cluster: Cluster) -> Iterator[HolonInstall]:
    """The CRDs (server-side applied from crds/) and the chart, installed once."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    for crd in (
        "mesmodules", "equipment", "qualifications", "qualificationapprovals",
        "clusterkopfpeerings",
    ):  # fmt: skip
        group = "kopf.dev" if crd.startswith("clusterkopf") else GROUP
        cluster.kubectl(
            "wait", "--for=condition=Established", f"crd/{crd}.{group}", "--timeout=60s"
        )
    namespace = f"holon-system-{uuid.uuid4().hex[:6]}"
    release = f"holon-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", namespace)
    try:  # the clean-up runs even when the install itself fails (no leftovers for others)
        # CRDs come from crds/ above (they outlive releases: crds.keep); the chart's own
        # CRD templates are checked by test_operator_chart.py with `helm template`.
        cluster.helm(
            "install", release, str(CHART), "-n", namespace,
            "--set", "crds.enabled=false", "--wait", "--timeout", "180s",
        )  # fmt: skip
        yield HolonInstall(namespace=namespace, release=release, service_account=release)
    finally:
        cluster.helm(
            "uninstall", release, "-n", namespace, "--wait", "--timeout", "120s", check=False
        )
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@pytest.fixture
def operators(
    cluster: Cluster, holon: HolonInstall, namespace: str, tmp_path: Path
) -> Iterator[OperatorFactory]:
    """Start operator replicas for this test's namespace (stopped afterwards)."""
    factory = OperatorFactory(cluster=cluster, install=holon, namespace=namespace, workdir=tmp_path)
    yield factory
    factory.stop_all()


def module(name: str, **spec: Any) -> dict[str, Any]:
    """A MESModule manifest."""
    return {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": "MESModule",
        "metadata": {"name": name},
        "spec": {"module": "batch-execution", "version": "1.0.0", **spec},
    }


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return {}


def events(cluster: Cluster, namespace: str, name: str) -> list[dict[str, Any]]:
    """Events whose involved object is ``name`` in ``namespace``."""
    listed = json.loads(
        cluster.kubectl(
            "get",
            "events",
            "-n",
            namespace,
            "--field-selector",
            f"involvedObject.name={name}",
            "-o",
            "json",
        ).stdout
    )
    items: list[dict[str, Any]] = listed["items"]
    return items
