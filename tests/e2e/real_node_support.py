"""Fixtures and helpers of the real-node end-to-end tests (no tests here).

The real node (containerd + kubelet on this machine) runs Holon's own images; the servers
the Pods use but that are not Holon (PostgreSQL, the equipment simulator) run on the host,
listening on the Pods' bridge gateway, and get cluster names through selector-less
Services (hack/cluster/node.py explains why).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_cluster import Cluster

from hack.cluster import node
from hack.project import version as project_version
from holon_testing.load import LoadResult
from holon_testing.object_store import S3Server, seaweedfs_server
from holon_testing.postgres import PgServer, PostgresUnavailable, postgres_for_clients
from holon_testing.real_node import RUNTIME_IMAGE
from holon_testing.releases import previous_release
from holon_testing.simulator_process import SimulatedModule, simulated_module

REPO = Path(__file__).resolve().parents[2]
IMAGES_MODULE = "hack.images.build"
VERSION = project_version()  # the tag `make images` gives
NEXT_VERSION = "0.2.1"  # the same image tagged again: a version bump to roll out


@dataclass(frozen=True)
class RealNode:
    state: Path
    socket: Path

    def ctr(self, *args: str) -> str:
        res = subprocess.run(
            ["ctr", "--address", str(self.socket), "-n", "k8s.io", *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if res.returncode != 0:
            pytest.fail(f"ctr {' '.join(args)} failed: {res.stderr}")
        return res.stdout


def cluster_info() -> dict[str, Any]:
    state = Path(os.environ.get("HOLON_CLUSTER_DIR", REPO / ".holon" / "cluster"))
    info: dict[str, Any] = json.loads((state / "cluster.json").read_text())
    return info


@pytest.fixture(scope="session")
def real_node(cluster: Cluster, request: pytest.FixtureRequest) -> RealNode:
    """The cluster's real node with Holon's images imported (built if needed, cached)."""
    info = cluster_info()
    if not info.get("real_node"):
        if os.environ.get("CI"):
            pytest.fail("CI runs the real-node tests: the cluster has no real node")
        pytest.skip("the cluster was started without the real node (REAL_NODE=0)")
    state = Path(str(info["kubeconfig"])).parent
    found = RealNode(state=state, socket=node.containerd_socket(state))
    print("\n[e2e] building (cached) and importing Holon's images", flush=True)
    _build_images(request, found, REPO)
    found.ctr(
        "images", "tag", "--force", f"{RUNTIME_IMAGE}:{VERSION}", f"{RUNTIME_IMAGE}:{NEXT_VERSION}"
    )
    return found


def _build_images(request: pytest.FixtureRequest, found: RealNode, tree: Path, *only: str) -> None:
    """``tree``'s own image builder (``make images`` there: its sources, its version as the
    tag; the layer cache is shared), importing into the real node; its progress shown."""
    cmd = [sys.executable, "-m", IMAGES_MODULE, "--import-address", str(found.socket)]
    cmd += [arg for image in only for arg in ("--only", image)]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    capman = request.config.pluginmanager.getplugin("capturemanager")
    if capman is not None:
        with capman.global_and_fixture_disabled():
            rc = subprocess.run(cmd, cwd=tree, env=env, check=False, timeout=1800).returncode
    else:
        rc = subprocess.run(cmd, cwd=tree, env=env, check=False, timeout=1800).returncode
    if rc != 0:
        pytest.fail(f"{IMAGES_MODULE} in {tree} failed (exit {rc}); see its output")


@pytest.fixture(scope="session")
def previous_release_image(real_node: RealNode, request: pytest.FixtureRequest) -> str:
    """The recorded previous release's runtime image (``[tool.holon] previous-release``),
    built by that commit's own image builder from its own tree and imported: its tag,
    which is that tree's version."""
    tree = previous_release()
    version = str(tomllib.loads((tree / "pyproject.toml").read_text())["project"]["version"])
    if version == VERSION:
        pytest.fail(f"the previous release has this tree's version {VERSION}: bump it")
    print(f"\n[e2e] building (cached) the previous release's runtime image {version}", flush=True)
    _build_images(request, real_node, tree, "mes-runtime")
    return version


@pytest.fixture(scope="module")
def module_namespace(cluster: Cluster) -> Iterator[str]:
    name = f"e2e-real-{uuid.uuid4().hex[:6]}"
    cluster.create_namespace(name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="session")
def host_postgres() -> Iterator[PgServer]:
    """PostgreSQL on the host, for Pods on the bridge (SCRAM with a random password)."""
    try:
        with postgres_for_clients(node.GATEWAY, node.POD_CIDR) as server:
            yield server
    except PostgresUnavailable as exc:
        pytest.fail(f"the real-node tests need PostgreSQL: {exc}")


@pytest.fixture(scope="session")
def host_object_store(real_node: RealNode) -> Iterator[S3Server]:
    """SeaweedFS's S3 gateway on the host, listening on the Pods' gateway address only."""
    with seaweedfs_server(host=node.GATEWAY) as server:
        yield server


SIMULATOR_TIME_FACTOR = 1200.0


@pytest.fixture(scope="module")
def host_simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedModule]:
    """BR-101 served by the simulator on the host, on the Pods' gateway address, 1200 times
    faster than real time (the batch that runs through a rolling update lasts minutes)."""
    workdir = tmp_path_factory.mktemp("simulator")
    with simulated_module(
        "BR-101", ["string"], workdir, host=node.GATEWAY, time_factor=SIMULATOR_TIME_FACTOR
    ) as modules:
        yield modules["string"]


def pods(cluster: Cluster, namespace: str, selector: str) -> list[dict[str, Any]]:
    """The Pods matching ``selector`` (``k=v,...``); a Job's Pods (schema, backup, OQ: they
    carry the module's labels too) only when the selector asks for ``job-name``."""
    items: list[dict[str, Any]] = cluster.get("pods", namespace=namespace)["items"]
    wanted = dict(part.split("=", 1) for part in selector.split(","))
    return [
        p
        for p in items
        if all(p["metadata"].get("labels", {}).get(k) == v for k, v in wanted.items())
        and ("job-name" in wanted or "job-name" not in p["metadata"].get("labels", {}))
    ]


def ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def pod_logs(cluster: Cluster, namespace: str, selector: str) -> str:
    res = cluster.kubectl(
        "logs", "-n", namespace, "-l", selector, "--tail=40", "--prefix", check=False
    )
    return res.stdout + res.stderr


def get_once_routed(url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """GET through a Service address once kube-proxy has programmed it: a Service's rules
    appear a moment after the Service (until then this host rejects the address)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return httpx.get(url, headers=headers, timeout=10)
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


class CommandLoop:
    """Batch commands from the host while a batch runs: Hold then Restart of the whole
    batch, each sent once the batch has settled from the previous one (so every command is
    one the batch allows), through the Service - any replica, owner or not. Every answer
    but 200 and every transport error counts as a failed command. Stopping finishes the
    pair under way: the batch is never left held."""

    def __init__(
        self, base: str, headers: dict[str, str], batch_id: str, *, pause: float = 2.0
    ) -> None:
        self.base = base
        self.headers = headers
        self.batch_id = batch_id
        self.pause = pause
        self.result = LoadResult()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="commands", daemon=True)
        self._started = 0.0

    def _state(self, client: httpx.Client) -> str | None:
        try:
            response = client.get(f"{self.base}/api/v1/batches/{self.batch_id}")
        except httpx.HTTPError:
            return None  # the reads are the load loop's to count
        return str(response.json()["state"]) if response.status_code == 200 else None

    def _settle(self, client: httpx.Client, wanted: str) -> bool:
        deadline = time.monotonic() + 60  # a pair is finished even when asked to stop:
        while time.monotonic() < deadline:  # the batch is never left held
            state = self._state(client)
            if state == wanted:
                return True
            if state in {"complete", "stopped", "aborted"}:
                return False
            time.sleep(0.1)
        return False

    def _run(self) -> None:
        with httpx.Client(headers=self.headers, timeout=60) as client:
            while not self._stop.is_set() and self._settle(client, "running"):
                for command, settled in (("hold", "held"), ("restart", "running")):
                    error = None
                    try:
                        response = client.post(
                            f"{self.base}/api/v1/batches/{self.batch_id}/commands",
                            json={"command": command, "path": "procedure"},
                        )
                        if response.status_code != 200:
                            error = f"{command}: HTTP {response.status_code}: {response.text[:200]}"
                    except httpx.HTTPError as exc:
                        error = f"{command}: {type(exc).__name__}: {exc}"
                    self.result.sent += 1
                    if error is not None:
                        self.result.failed += 1
                        self.result.failures.append(error)
                    if error is not None or not self._settle(client, settled):
                        break
                self._stop.wait(self.pause)

    def __enter__(self) -> CommandLoop:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=90)
        self.result.seconds = time.monotonic() - self._started


class RecipeWriter:
    """Writes that create records, from the host at a steady rate through the Service:
    each imports the recipe ``recipe`` as its next version (one new ``master_recipes``
    row). The versions answered 201 are remembered (:attr:`created`); every other answer
    and every transport error counts as a failed request."""

    def __init__(
        self, base: str, headers: dict[str, str], recipe: dict[str, Any], *, rate: float = 2.0
    ) -> None:
        self.base = base
        self.headers = headers
        self.recipe = recipe
        self.interval = 1.0 / rate
        self.result = LoadResult()
        self.created: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="writes", daemon=True)
        self._started = 0.0

    def _run(self) -> None:
        version = 0
        with httpx.Client(headers=self.headers, timeout=30) as client:
            while not self._stop.wait(self.interval):
                version += 1
                body = {**self.recipe, "header": {**self.recipe["header"], "version": version}}
                error = None
                try:
                    response = client.post(f"{self.base}/api/v1/recipes", json=body)
                    if response.status_code != 201:
                        error = f"v{version}: HTTP {response.status_code}: {response.text[:200]}"
                except httpx.HTTPError as exc:
                    error = f"v{version}: {type(exc).__name__}: {exc}"
                self.result.sent += 1
                if error is None:
                    self.created.append(version)
                else:
                    self.result.failed += 1
                    self.result.failures.append(error)

    def __enter__(self) -> RecipeWriter:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        self.result.seconds = time.monotonic() - self._started


DEFECT_VERSION = "0.3.0"
"""A later release with a defect: this tree, its ``/readyz`` never ready."""
DEFECT = """    checks: dict[str, str] = {}
"""


@pytest.fixture(scope="session")
def defective_release_image(
    real_node: RealNode, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """This tree (its commit) released as :data:`DEFECT_VERSION` with one defect written
    into its readiness (a check that always fails), built by its own image builder and
    imported: the release an upgrade must roll back from."""
    tree = tmp_path_factory.mktemp("defective-release")
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", "HEAD"], check=True, capture_output=True
    )
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    health = tree / "mes_runtime" / "api" / "health.py"
    source = health.read_text()
    assert DEFECT in source, "the readiness handler changed: update DEFECT"
    health.write_text(source.replace(DEFECT, DEFECT.replace("{}", '{"defect": "on purpose"}')))
    pyproject = tree / "pyproject.toml"
    ours, theirs = f'\nversion = "{VERSION}"\n', f'\nversion = "{DEFECT_VERSION}"\n'
    text = pyproject.read_text()
    assert ours in text
    pyproject.write_text(text.replace(ours, theirs))
    print(f"\n[e2e] building the defective release's runtime image {DEFECT_VERSION}", flush=True)
    _build_images(request, real_node, tree, "mes-runtime")
    return DEFECT_VERSION
