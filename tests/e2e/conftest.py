"""End-to-end fixtures: a real Kubernetes API server, brought up (or reused) per session.

Why a session fixture that starts the cluster itself: `make test` must pass on a fresh
machine with no extra step, so the first e2e test pays for `python3 -m hack.cluster.cluster up`
(a cold build once per machine, then a warm start in seconds, or a reuse). The fixture
refuses any kubeconfig whose current context is not the test cluster, so an e2e run can
never touch a real cluster by accident (HOLON_E2E_KUBECONFIG may point at a kind cluster
made by `make cluster CLUSTER=kind`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_cluster import Cluster, NotTestClusterError, ensure_test_context
from real_node_module import in_cluster  # noqa: F401 - the operator on the real node, by name
from real_node_support import (  # noqa: F401 - the real-node tests' fixtures, by name
    defective_release_image,
    host_object_store,
    host_postgres,
    host_simulator,
    module_namespace,
    previous_release_image,
    real_node,
)

REPO = Path(__file__).resolve().parents[2]
CLUSTER_MODULE = "hack.cluster.cluster"
# the first e2e test's setup may include the one-time cold build of the cluster binaries
CLUSTER_SETUP_TIMEOUT = 3600
IMAGES_SETUP_TIMEOUT = 1800


@pytest.hookimpl(trylast=True)  # after -m/-k deselection: the first test that will run
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give the first e2e test room for the one-time cluster build (pytest-timeout counts
    fixture setup); every other test keeps the project's default timeout."""
    e2e = [item for item in items if item.get_closest_marker("e2e")]
    if e2e:
        e2e[0].add_marker(pytest.mark.timeout(CLUSTER_SETUP_TIMEOUT))
    # likewise the first test on the real node builds Holon's images (cold: a debootstrap
    # and the wheel's dependencies)
    real = [item for item in e2e if "real_node" in getattr(item, "fixturenames", ())]
    if real:
        real[0].add_marker(pytest.mark.timeout(IMAGES_SETUP_TIMEOUT))


def _bring_up(config: pytest.Config) -> dict[str, Any]:
    """Run `python -m hack.cluster.cluster up` with pytest's capture off, so build progress
    is visible."""
    capman = config.pluginmanager.getplugin("capturemanager")
    cmd = [sys.executable, "-m", CLUSTER_MODULE, "up"]
    if capman is not None:
        with capman.global_and_fixture_disabled():
            print("\n[e2e] bringing up the test cluster (reused if running)", flush=True)
            rc = subprocess.run(cmd, check=False, timeout=CLUSTER_SETUP_TIMEOUT).returncode
    else:
        rc = subprocess.run(cmd, check=False, timeout=CLUSTER_SETUP_TIMEOUT).returncode
    if rc != 0:
        pytest.fail(f"{CLUSTER_MODULE} up failed (exit {rc}); see its output")
    info_path = (
        Path(os.environ.get("HOLON_CLUSTER_DIR", REPO / ".holon" / "cluster")) / "cluster.json"
    )
    info: dict[str, Any] = json.loads(info_path.read_text())
    return info


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Cluster:
    explicit = os.environ.get("HOLON_E2E_KUBECONFIG")
    if explicit:
        kubeconfig = Path(explicit)
        kubectl = shutil.which("kubectl")
        helm = shutil.which("helm")
        if kubectl is None or helm is None:
            pytest.fail("HOLON_E2E_KUBECONFIG is set, so kubectl and helm must be on PATH")
        kubectl_bin, helm_bin = Path(kubectl), Path(helm)
    else:
        info = _bring_up(request.config)
        kubeconfig = Path(info["kubeconfig"])
        kubectl_bin = Path(info.get("kubectl") or Path(info["bin_dir"]) / "kubectl")
        helm_bin = Path(info.get("helm") or Path(info["bin_dir"]) / "helm")
    try:
        context = ensure_test_context(kubeconfig)
    except NotTestClusterError as exc:
        pytest.fail(str(exc))
    return Cluster(kubeconfig, kubectl_bin, helm_bin, context, tmp_path_factory.mktemp("helm"))


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    """A fresh namespace per test, deleted (without waiting) afterwards."""
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    cluster.create_namespace(name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
