"""Benchmark: a one-replica upgrade run by the operator on the real node (issue #9).

The operator from its image (the chart, watching one namespace of its own); two MESModules
of this tree's runtime image, one replica each, on PostgreSQL and the BR-101 simulator, both
on the host and reached through selector-less Services (``holon_testing.real_node``):

* ``batch``, orchestrated (``spec.upgradeStrategy.orchestrated``, a short observe window of
  :data:`OBSERVE_SECONDS`, the verified backup into SeaweedFS's S3 gateway on the host, the
  machine account ``holon-upgrade``): the upgrade's total time, the apply of the new
  ``spec.version`` -> ``status.upgrade.phase`` Qualified (verified backup, expand Job, green
  slot, checks, safe point, switch, observe, contract Job, blue retired), once idle and
  once with a batch of the bioreactor recipe running on the simulator (1200 times real
  time), handed over at the switch;
* ``plain``, not orchestrated, the in-run baseline: the same version change is a plain
  Deployment rolling update (apply -> rolled out and Ready at the new version).

Each new version is this tree's runtime image tagged again on the real node (``ctr images
tag``): the same bytes, so the numbers are the machinery's, not a different build's.
Meanwhile a load loop reads ``GET /api/v1/batches`` through the module's Service from the
host (:data:`LOAD_RATE` requests/s) and counts every non-2xx answer and transport error:
failed requests, goal 0. Repetitions interleave (idle, running batch, plain); the times are
medians, the failed requests the sum over every upgrade. ``--quick`` does one of each.

Times are taken from a watch of the MESModules (lightkube), not by polling. Needs the test
cluster with its real node (``make cluster``, REAL_NODE on) and PostgreSQL; without them
every row is skipped. Everything it makes (namespace, release, modules, host servers,
image tags) is removed in ``finally``, on Ctrl-C too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from lightkube import AsyncClient
from lightkube.config.kubeconfig import KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.types import PatchType, on_error_retry
from mes_operator.kube.resources import MESModule
from mes_operator.models.crds import GROUP, VERSION

from bench.operator import ClusterMissing, TestCluster, condition_true, find_cluster
from bench.progress import Progress
from bench.results import Goal, Row, median
from hack.cluster import node
from hack.project import version as project_version
from holon_testing.kube import run_tool, tool_env
from holon_testing.load import LoadLoop, LoadResult
from holon_testing.object_store import seaweedfs_server
from holon_testing.postgres import PostgresUnavailable, postgres_for_clients
from holon_testing.real_node import (
    OPERATOR_IMAGE,
    PLACEMENT,
    RUNTIME_IMAGE,
    admin_headers,
    enrol,
    host_service,
    in_cluster_url,
    object_store_secret,
    running_batch_people,
    sign_in,
    start_batch,
)
from holon_testing.simulator_process import simulated_module

__all__ = ["FULL", "METRICS", "NAME", "QUICK", "Sample", "UpgradeResult", "UpgradeSize", "run"]

NAME = "upgrade"
REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "charts" / "holon"
IMAGE_BUILD = "hack.images.build"
THIS_VERSION = project_version()  # the tag `make images` gives this tree's images
MODULE = "batch"  # the orchestrated module
PLAIN = "plain"  # the baseline: a version change rolls its Deployment
BACKUP_STORE = "backup-store"  # the Secret that names the object store
BUCKET = "holon-bench-upgrades"
ACCOUNT = "holon-upgrade"  # the machine account the operator signs in as
OBSERVE_SECONDS = 5
SIMULATOR_TIME_FACTOR = 1200.0  # the 48 h batch lasts 2.4 min
BATCH_HOURS = 48
LOAD_RATE = 24.0  # requests/s through the Service (issue #9: >= 20)
LOAD_WORKERS = 3
STEADY_S = 3.0  # load before the apply and after the end, as the e2e test does
UPGRADE_TIMEOUT_S = 600.0
READY_TIMEOUT_S = 300.0
EVIDENCE_TIMEOUT_S = 600.0
DONE = frozenset({"Qualified", "RolledBack", "Failed"})
ENDED = frozenset({"complete", "stopped", "aborted"})
#: the last run's operator log and module status are kept here (git-ignored)
LOG_KEEP = REPO / ".holon" / "bench" / "upgrade.log"


@dataclass(frozen=True, slots=True)
class UpgradeSize:
    repetitions: int  # of each: idle upgrade, upgrade with a running batch, plain rollout


FULL = UpgradeSize(repetitions=3)
QUICK = UpgradeSize(repetitions=1)

METRICS: tuple[tuple[str, str], ...] = (
    ("one-replica upgrade, idle", "s"),
    ("one-replica upgrade, running batch", "s"),
    ("failed requests during the upgrades", "requests"),
    ("install -> Ready -> Qualified(provisional)", "s"),
)


# --- the cluster and its real node ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RealNodeCluster:
    cluster: TestCluster
    socket: Path  # the real node's containerd


def find_real_node() -> RealNodeCluster:
    """The test cluster (``bench.operator.find_cluster``'s checks) if it has its real node."""
    cluster = find_cluster()
    state = Path(os.environ.get("HOLON_CLUSTER_DIR", REPO / ".holon" / "cluster"))
    info: dict[str, Any] = json.loads((state / "cluster.json").read_text())
    if not info.get("real_node"):
        raise ClusterMissing("the test cluster has no real node (started with REAL_NODE=0)")
    return RealNodeCluster(cluster, node.containerd_socket(cluster.kubeconfig.parent))


@dataclass
class Kube:
    """kubectl and helm on the test cluster; a failed command raises ``ToolFailed``."""

    cluster: TestCluster
    helm_home: Path

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        env = tool_env(self.cluster.kubeconfig, self.helm_home)
        return run_tool(self.cluster.kubectl, *args, env=env, stdin=stdin, check=check)

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = tool_env(self.cluster.kubeconfig, self.helm_home)
        return run_tool(self.cluster.helm, *args, env=env, timeout=300, check=check)

    def apply(self, *manifests: dict[str, Any], namespace: str | None = None) -> None:
        doc = json.dumps({"apiVersion": "v1", "kind": "List", "items": list(manifests)})
        self.kubectl("apply", *(["-n", namespace] if namespace else []), "-f", "-", stdin=doc)

    def get(self, kind: str, name: str, namespace: str) -> Any:
        return json.loads(self.kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout)


def ctr(socket: Path, *args: str) -> None:
    subprocess.run(
        ["ctr", "--address", str(socket), "-n", "k8s.io", *args],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip


def next_versions(base: str) -> Iterator[str]:
    """Versions after ``base`` that no release uses: 0.2.0 -> 0.2.101, 0.2.102, ..."""
    major, minor, _ = base.split("-", 1)[0].split(".", 2)
    n = 100
    while True:
        n += 1
        yield f"{major}.{minor}.{n}"


# --- what the watch records ------------------------------------------------------------


def settled(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    """(version, outcome) once a module has got to a version: an orchestrated module's
    upgrade ended (outcome Qualified, RolledBack or Failed, ``status.upgrade.toVersion``);
    another module Ready for its generation (outcome Ready, ``status.currentVersion``)."""
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    if (spec.get("upgradeStrategy") or {}).get("orchestrated"):
        upgrade = status.get("upgrade") or {}
        if upgrade.get("phase") in DONE and upgrade.get("toVersion"):
            return str(upgrade["toVersion"]), str(upgrade["phase"])
        return None
    if ready_for_generation(obj) and status.get("currentVersion"):
        return str(status["currentVersion"]), "Ready"
    return None


def ready_for_generation(obj: Mapping[str, Any]) -> bool:
    """Ready=True, observed for the module's current generation."""
    generation = (obj.get("metadata") or {}).get("generation")
    conditions = (obj.get("status") or {}).get("conditions") or []
    return condition_true(obj, "Ready") and any(
        c.get("type") == "Ready" and c.get("observedGeneration") == generation for c in conditions
    )


class VersionWatch:
    """Follows the MESModules of one namespace: when each (module, version) first settled
    (``time.perf_counter``) and how, and when each upgrade phase was first seen."""

    def __init__(self) -> None:
        self.reached: dict[tuple[str, str], tuple[float, str]] = {}
        self.phases: dict[tuple[str, str], list[tuple[str, float]]] = {}
        self.latest: dict[str, dict[str, Any]] = {}
        self.ready: dict[str, float] = {}
        """When each module was first Ready."""
        self.evidence: dict[str, tuple[float, dict[str, Any]]] = {}
        """When each module's first evidence was recorded (``status.lastEvidence``), and it."""
        self._changed = asyncio.Condition()

    def observe(self, obj: dict[str, Any], at: float) -> bool:
        name = str(obj["metadata"]["name"])
        self.latest[name] = obj
        if name not in self.ready and ready_for_generation(obj):
            self.ready[name] = at
        last = (obj.get("status") or {}).get("lastEvidence")
        if name not in self.evidence and last:
            self.evidence[name] = (at, dict(last))
        upgrade = (obj.get("status") or {}).get("upgrade") or {}
        if upgrade.get("phase") and upgrade.get("toVersion"):
            seen = self.phases.setdefault((name, str(upgrade["toVersion"])), [])
            if not seen or seen[-1][0] != upgrade["phase"]:
                seen.append((str(upgrade["phase"]), at))
        got = settled(obj)
        if got is None or (name, got[0]) in self.reached:
            return False
        self.reached[(name, got[0])] = (at, got[1])
        return True

    async def follow(self, client: AsyncClient, namespace: str) -> None:
        watch = client.watch(MESModule, namespace=namespace, on_error=on_error_retry)
        async for _kind, obj in watch:
            had = len(self.evidence)
            if self.observe(obj.to_dict(), time.perf_counter()) or len(self.evidence) > had:
                async with self._changed:
                    self._changed.notify_all()

    async def first_evidence(self, name: str, within: float) -> tuple[float, dict[str, Any]]:
        """When ``name``'s first evidence was recorded, and its reference."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: name in self.evidence)
        return self.evidence[name]

    async def wait(self, name: str, version: str, within: float) -> tuple[float, str]:
        """When ``name`` settled at ``version`` and how; TimeoutError after ``within`` s."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: (name, version) in self.reached)
        return self.reached[(name, version)]


# --- the measurements -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    """One version change: apply -> settled, and the load meanwhile."""

    seconds: float
    sent: int
    failed: int
    rate: float  # requests/s the load loop offered
    failures: tuple[str, ...] = ()
    phases: tuple[tuple[str, float], ...] = ()  # upgrade phase -> seconds in it, in order


@dataclass
class UpgradeResult:
    idle: list[Sample] = field(default_factory=list)
    batch: list[Sample] = field(default_factory=list)
    plain: list[Sample] = field(default_factory=list)
    batches_running_through: int = 0  # upgrades whose batch still ran when they ended
    install: Install | None = None


@dataclass(frozen=True, slots=True)
class Install:
    """The orchestrated module's install: apply -> Ready -> its first evidence recorded."""

    ready: float  # s from the apply
    evidence: float  # s from the apply to the Install Qualification
    verdict: str
    account: float  # s from the apply until the machine account's Secret existed
    oq_job: float | None  # s the install's OQ Job ran (its Job's start to completion)


def sample(seconds: float, load: LoadResult, phases: tuple[tuple[str, float], ...] = ()) -> Sample:
    return Sample(seconds, load.sent, load.failed, load.rate, tuple(load.failures[:3]), phases)


def phase_seconds(
    seen: list[tuple[str, float]], started: float, ended: float
) -> tuple[tuple[str, float], ...]:
    """How long each phase lasted, as the watch saw them: from the apply to the first phase
    (``Pending``, the operator picking the change up), then each until the next, up to the
    end (the end phase itself takes no time). A phase both entered and left between two
    watch events is not seen; its time counts in the one before it."""
    marks = [("Pending", started), *seen]
    return tuple(
        (phase, (marks[i + 1][1] if i + 1 < len(marks) else ended) - at)
        for i, (phase, at) in enumerate(marks)
        if phase not in DONE
    )


def phase_medians(samples: list[Sample]) -> str:
    """``Phase median-s`` for every phase seen, in the order first seen."""
    spans: dict[str, list[float]] = {}
    for one in samples:
        for phase, seconds in one.phases:
            spans.setdefault(phase, []).append(seconds)
    return ", ".join(f"{phase} {median(values):.1f}" for phase, values in spans.items())


@dataclass
class Bench:
    """One run: the cluster, the namespace and what was made in it, for ``cleanup``."""

    found: RealNodeCluster
    kube: Kube
    client: AsyncClient
    workdir: Path
    say: Progress
    namespace: str = field(default_factory=lambda: f"bench-up-{uuid.uuid4().hex[:6]}")
    installed: bool = False
    namespace_created: bool = False
    tags: list[str] = field(default_factory=list)
    versions: Iterator[str] = field(default_factory=lambda: next_versions(THIS_VERSION))
    watch: VersionWatch = field(default_factory=VersionWatch)

    @property
    def release(self) -> str:
        return f"holon-{self.namespace[-6:]}"

    async def sync(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """A blocking call off the event loop (the watch keeps its timestamps honest)."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def images(self) -> None:
        """This tree's images built (cached) and imported into the real node, as the e2e
        tests do; the builder's progress goes to stderr."""
        socket = str(self.found.socket)
        cmd = [sys.executable, "-m", IMAGE_BUILD, "--import-address", socket]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        done = await self.sync(
            subprocess.run, cmd, cwd=REPO, env=env, stdout=sys.stderr, check=False, timeout=1800
        )
        if done.returncode != 0:
            raise RuntimeError(f"{IMAGE_BUILD} failed (exit {done.returncode}); see its output")

    async def new_version(self) -> str:
        """This tree's runtime image tagged again: a version to move to."""
        version = next(self.versions)
        image = f"{RUNTIME_IMAGE}:{version}"
        await self.sync(
            ctr, self.found.socket, "images", "tag", "--force",
            f"{RUNTIME_IMAGE}:{THIS_VERSION}", image,
        )  # fmt: skip
        self.tags.append(image)
        return version

    async def install(self, values: Path) -> None:
        """The namespace, this tree's CRDs, the chart with the operator image watching it."""
        ns = self.namespace
        await self.sync(self.kube.kubectl, "create", "namespace", ns)
        self.namespace_created = True
        await self.eventually(
            f"ServiceAccount default in {ns}",
            lambda: (
                self.kube.kubectl("get", "sa", "default", "-n", ns, check=False).returncode == 0
            ),
            60,
        )
        crds = ("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
        await self.sync(self.kube.kubectl, *crds)
        await self.sync(
            values.write_text,
            json.dumps(
                {
                    "crds": {"enabled": False},
                    "replicaCount": 1,
                    "image": {"repository": OPERATOR_IMAGE, "tag": THIS_VERSION},
                    "operator": {"watchNamespaces": [ns], "reconcileInterval": 10},
                    **PLACEMENT,
                }
            ),
        )
        self.installed = True
        await self.sync(
            self.kube.helm, "install", self.release, str(CHART), "-n", ns, "-f", str(values),
            "--wait", "--timeout", "180s",
        )  # fmt: skip

    async def eventually(self, what: str, check: Any, within: float) -> None:
        deadline = time.monotonic() + within
        while not await self.sync(check):
            if time.monotonic() > deadline:
                raise RuntimeError(f"not within {within:.0f} s: {what}\n{self.explain()}")
            await asyncio.sleep(1)

    async def module(self, name: str, secret: str, *, orchestrated: bool) -> str:
        """``name`` at this tree's version, Ready; its Service's base URL."""
        ns = self.namespace
        await self.sync(self.kube.apply, module_body(name, secret, orchestrated), namespace=ns)
        await self.eventually(
            f"MESModule {name} Ready",
            lambda: ready_for_generation(self.kube.get("mesmodule", name, ns)),
            READY_TIMEOUT_S,
        )
        service = await self.sync(self.kube.get, "service", name, ns)
        base = f"http://{service['spec']['clusterIP']}"
        await self.eventually(f"{base} routed", lambda: routed(base), 60)
        return base

    async def change(self, name: str, url: str, headers: dict[str, str]) -> Sample:
        """``spec.version`` of ``name`` moved to a new version under load: apply -> settled."""
        version = await self.new_version()
        bound = UPGRADE_TIMEOUT_S + 3 * STEADY_S + 30
        with LoadLoop(
            url, headers, rate=LOAD_RATE, workers=LOAD_WORKERS, max_seconds=bound
        ) as load:
            await asyncio.sleep(STEADY_S)
            started = time.perf_counter()
            await self.client.patch(
                MESModule, name, {"spec": {"version": version}},
                namespace=self.namespace, patch_type=PatchType.MERGE,
            )  # fmt: skip
            try:
                at, outcome = await self.watch.wait(name, version, UPGRADE_TIMEOUT_S)
            except TimeoutError:
                raise RuntimeError(
                    f"{name} not at {version} within {UPGRADE_TIMEOUT_S:.0f} s\n{self.explain()}"
                ) from None
            await asyncio.sleep(STEADY_S)
        if outcome not in {"Qualified", "Ready"}:
            raise RuntimeError(
                f"the upgrade of {name} to {version} ended {outcome}\n{self.explain()}"
            )
        phases = phase_seconds(self.watch.phases.get((name, version), []), started, at)
        return sample(at - started, load.result, phases)

    def explain(self) -> str:
        """The modules' status, the namespace's Events and the operator's log tail."""
        ns = self.namespace
        events = self.kube.kubectl(
            "get", "events", "-n", ns, "--sort-by=.lastTimestamp",
            "-o", "custom-columns=REASON:.reason,OBJECT:.involvedObject.name,MESSAGE:.message",
            check=False,
        )  # fmt: skip
        logs = self.kube.kubectl(
            "logs", "-n", ns, "-l", "app.kubernetes.io/name=holon-operator", "--tail=60",
            check=False,
        )  # fmt: skip
        status = {n: o.get("status") for n, o in self.watch.latest.items()}
        text = f"status: {status}\nevents:\n{events.stdout[-4000:]}\noperator:\n{logs.stdout}"
        with contextlib.suppress(OSError):
            LOG_KEEP.parent.mkdir(parents=True, exist_ok=True)
            LOG_KEEP.write_text(text)
        return text[-6000:]

    async def cleanup(self) -> None:
        """Modules first (the operator removes its finalizers), then the release, the
        namespace (not waited for) and the image tags."""
        ns, kube = self.namespace, self.kube
        if self.namespace_created:
            await self.sync(
                kube.kubectl, "delete", "mesmodules", "--all", "-n", ns, "--timeout=90s",
                check=False,
            )  # fmt: skip
        if self.installed:
            await self.sync(
                kube.helm, "uninstall", self.release, "-n", ns, "--wait", "--timeout", "120s",
                check=False,
            )  # fmt: skip
        if self.namespace_created:
            for name in (MODULE, PLAIN):  # left over if the operator went first
                with contextlib.suppress(ApiError, httpx.HTTPError):
                    await self.client.patch(
                        MESModule, name, {"metadata": {"finalizers": None}},
                        namespace=ns, patch_type=PatchType.MERGE,
                    )  # fmt: skip
            await self.sync(kube.kubectl, "delete", "namespace", ns, "--wait=false", check=False)
        for image in self.tags:
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                await self.sync(ctr, self.found.socket, "images", "rm", image)


def module_body(name: str, secret: str, orchestrated: bool) -> dict[str, Any]:
    """A one-replica module of this tree's image on the database of Secret ``secret``."""
    spec: dict[str, Any] = {
        "module": "batch-execution",
        "version": THIS_VERSION,
        "image": RUNTIME_IMAGE,
        "replicas": 1,
        "features": {"electronicSignatures": True},  # QA approves the batch's recipe
        "database": {
            "engine": "postgresql",
            "credentialsSecretRef": {"name": secret, "key": "url"},
        },
        "placement": PLACEMENT,
    }
    if orchestrated:
        spec["upgradeStrategy"] = {"orchestrated": True, "observeSeconds": OBSERVE_SECONDS}
        spec["backup"] = {"storeSecret": BACKUP_STORE}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "MESModule",
        "metadata": {"name": name},
        "spec": spec,
    }


def routed(base: str) -> bool:
    """The Service answers from the host (kube-proxy programs its rules a moment after it)."""
    try:
        return httpx.get(f"{base}/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def batch_state(base: str, headers: dict[str, str], batch_id: str) -> str:
    batch = httpx.get(f"{base}/api/v1/batches/{batch_id}", headers=headers, timeout=10)
    batch.raise_for_status()
    return str(batch.json()["state"])


def stop_batch(base: str, headers: dict[str, str], batch_id: str) -> None:
    """Stop the batch (the next one needs BR-101) and wait until it has ended."""
    if batch_state(base, headers, batch_id) in ENDED:
        return
    stopped = httpx.post(
        f"{base}/api/v1/batches/{batch_id}/commands",
        json={"command": "stop", "path": "procedure", "reason": "benchmark: next repetition"},
        headers=headers,
        timeout=30,
    )
    if stopped.status_code != 200 and batch_state(base, headers, batch_id) not in ENDED:
        raise RuntimeError(f"stopping batch {batch_id}: HTTP {stopped.status_code} {stopped.text}")
    deadline = time.monotonic() + 120
    while batch_state(base, headers, batch_id) not in ENDED:
        if time.monotonic() > deadline:
            raise RuntimeError(f"batch {batch_id} did not end within 120 s of its stop")
        time.sleep(0.5)


async def measure(bench: Bench, size: UpgradeSize) -> UpgradeResult:
    """Set up both modules, then ``size.repetitions`` x (idle, running batch, plain)."""
    ns, kube, say = bench.namespace, bench.kube, bench.say
    with contextlib.ExitStack() as stack:
        pg = await bench.sync(
            stack.enter_context, postgres_for_clients(node.GATEWAY, node.POD_CIDR)
        )
        store = await bench.sync(stack.enter_context, seaweedfs_server(host=node.GATEWAY))
        modules = await bench.sync(
            stack.enter_context,
            simulated_module(
                "BR-101", ["string"], bench.workdir, host=node.GATEWAY,
                time_factor=SIMULATOR_TIME_FACTOR,
            ),
        )  # fmt: skip
        simulator = modules["string"]
        say(f"host: PostgreSQL :{pg.port}, S3 {store.endpoint}, BR-101 {simulator.endpoint}")
        say(f"installing the chart as {bench.release} in {ns}")
        await bench.install(bench.workdir / "values.json")
        watcher = asyncio.create_task(bench.watch.follow(bench.client, ns))
        try:
            urls: dict[str, str] = {}
            for name in (MODULE, PLAIN):
                database = f"{name}_{ns[-6:]}"
                await bench.sync(pg.create_database, database)
                urls[name] = pg.url(database)
                secret = f"{name}-db"
                pod_url = in_cluster_url(pg, ns, database)
                await bench.sync(
                    kube.kubectl, "create", "secret", "generic", secret, "-n", ns,
                    f"--from-literal=url={pod_url}",
                )  # fmt: skip
            await bench.sync(host_service, kube, ns, "postgres", 5432, pg.port)
            await bench.sync(object_store_secret, kube, ns, store, BUCKET, BACKUP_STORE)
            say("modules: orchestrated and plain, one replica each, at " + THIS_VERSION)
            applied = time.perf_counter()
            base = await bench.module(MODULE, f"{MODULE}-db", orchestrated=True)
            plain = await bench.module(PLAIN, f"{PLAIN}-db", orchestrated=False)
            admin = await bench.sync(admin_headers, base, urls[MODULE], "admin")
            imported = await bench.sync(
                httpx.post, f"{base}/api/v1/equipment",
                content=simulator.manifest_path.read_bytes(),
                headers={**admin, "Content-Type": "application/xml"}, timeout=30,
            )  # fmt: skip
            if imported.status_code != 201:
                raise RuntimeError(f"equipment import: HTTP {imported.status_code} {imported.text}")
            password = await bench.sync(enrol, base, urls[MODULE], ACCOUNT, "upgrade")
            await bench.sync(
                kube.kubectl, "create", "secret", "generic", f"{MODULE}-upgrade-account",
                "-n", ns, f"--from-literal=username={ACCOUNT}",
                f"--from-literal=password={password}",
            )  # fmt: skip
            account = time.perf_counter() - applied
            operator = await bench.sync(running_batch_people, base, urls[MODULE], admin)
            password = await bench.sync(enrol, base, urls[MODULE], "supervisor", "supervisor")
            supervisor = await bench.sync(sign_in, base, "supervisor", password)
            plain_admin = await bench.sync(admin_headers, plain, urls[PLAIN], "admin")
            people = People(operator, supervisor, plain_admin)
            install = await installed(bench, applied, account)
            say(
                f"install -> Ready {install.ready:.1f} s -> {install.verdict} "
                f"{install.evidence:.1f} s (account at {install.account:.1f} s, OQ Job "
                f"{install.oq_job if install.oq_job is not None else float('nan'):.1f} s)"
            )
            result = await repetitions(bench, size, base, plain, people)
            result.install = install
            return result
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            say("cleaning up (modules, release, namespace, host servers, image tags)")
            await bench.cleanup()


async def installed(bench: Bench, applied: float, account: float) -> Install:
    """The orchestrated module's install, timed from its apply: Ready (the watch), its
    first evidence (the install's Qualification, OQ included), how long its OQ Job ran."""
    try:
        at, last = await bench.watch.first_evidence(MODULE, EVIDENCE_TIMEOUT_S)
    except TimeoutError:
        raise RuntimeError(
            f"no evidence for {MODULE} within {EVIDENCE_TIMEOUT_S:.0f} s\n{bench.explain()}"
        ) from None
    listed = await bench.sync(
        bench.kube.kubectl, "get", "jobs", "-n", bench.namespace, "-o", "json",
        "-l", f"mes.holon.dev/upgrade-job=oq,app.kubernetes.io/instance={MODULE}",
    )  # fmt: skip
    jobs = json.loads(listed.stdout)["items"]
    oq = None
    if jobs and (jobs[0].get("status") or {}).get("completionTime"):
        status = jobs[0]["status"]
        oq = (_rfc3339(status["completionTime"]) - _rfc3339(status["startTime"])).total_seconds()
    return Install(
        ready=bench.watch.ready[MODULE] - applied,
        evidence=at - applied,
        verdict=str(last.get("verdict")),
        account=account,
        oq_job=oq,
    )


def _rfc3339(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True, slots=True)
class People:
    """Bearer headers: the batch's operator (the orchestrated module's reads), a supervisor
    (stops the batch: the next repetition's needs BR-101), the plain module's admin."""

    operator: dict[str, str]
    supervisor: dict[str, str]
    plain_admin: dict[str, str]


async def repetitions(
    bench: Bench, size: UpgradeSize, base: str, plain: str, people: People
) -> UpgradeResult:
    result = UpgradeResult()
    say = bench.say
    for i in range(size.repetitions):
        rep = f"{i + 1}/{size.repetitions}"
        operator = people.operator
        got = await bench.change(MODULE, f"{base}/api/v1/batches", operator)
        result.idle.append(got)
        say(f"{rep} idle upgrade {got.seconds:.1f} s, {got.sent} reads failed {got.failed}")
        say(f"{rep} phases (s): {phase_medians([got])}")
        batch_id = await bench.sync(start_batch, base, operator, hours=BATCH_HOURS)
        got = await bench.change(MODULE, f"{base}/api/v1/batches", operator)
        result.batch.append(got)
        state = await bench.sync(batch_state, base, operator, batch_id)
        result.batches_running_through += state not in ENDED
        say(
            f"{rep} upgrade with batch {batch_id} ({state} at the end) {got.seconds:.1f} s, "
            f"{got.sent} reads failed {got.failed}"
        )
        await bench.sync(stop_batch, base, people.supervisor, batch_id)
        got = await bench.change(PLAIN, f"{plain}/api/v1/batches", people.plain_admin)
        result.plain.append(got)
        say(f"{rep} plain rollout {got.seconds:.1f} s, {got.sent} reads failed {got.failed}")
    return result


# --- rows --------------------------------------------------------------------------------


def rows_for(result: UpgradeResult) -> list[Row]:
    upgrades = result.idle + result.batch
    plain = "a plain Deployment rolling update of the same images (the non-orchestrated module)"
    timed = (
        f"orchestrated, observeSeconds {OBSERVE_SECONDS}: apply of spec.version -> "
        "status.upgrade.phase Qualified; baseline: apply -> rolled out and Ready at the new version"
    )
    reps = {"repetitions": len(result.idle), "baseline_repetitions": len(result.plain)}
    failures = [f for s in upgrades for f in s.failures][:3]
    reads = (
        f"GET /api/v1/batches through the Service from the host, offered at "
        f"{min(s.rate for s in upgrades + result.plain):.1f}+ requests/s"
    )
    return [
        Row(NAME, METRICS[0][0], median([s.seconds for s in result.idle]), "s",
            baseline=median([s.seconds for s in result.plain]), baseline_label=plain,
            counts=reps, note=_with_phases(timed, result.idle)),
        Row(NAME, METRICS[1][0], median([s.seconds for s in result.batch]), "s",
            baseline=median([s.seconds for s in result.plain]), baseline_label=plain,
            counts={**reps, "batches_running_through": result.batches_running_through},
            note=_with_phases(
                f"a bioreactor batch running on the simulator ({SIMULATOR_TIME_FACTOR:.0f}x), "
                "handed over at the switch", result.batch)),
        Row(NAME, METRICS[2][0], float(sum(s.failed for s in upgrades)), METRICS[2][1],
            goal=Goal(0, higher_is_better=False),
            baseline=float(sum(s.failed for s in result.plain)),
            baseline_label="failed requests during the plain rolling updates, same load",
            counts={
                "upgrades": len(upgrades),
                "requests": sum(s.sent for s in upgrades),
                "baseline_requests": sum(s.sent for s in result.plain),
            },
            note=reads + (f"; first failures: {failures}" if failures else "")),
        _install_row(result.install),
    ]  # fmt: skip


def _install_row(install: Install | None) -> Row:
    metric, unit = METRICS[3]
    if install is None:
        return Row.skipped(NAME, metric, unit, "the install was not timed")
    oq = f"{install.oq_job:.1f} s" if install.oq_job is not None else "not found"
    return Row(
        NAME, metric, install.evidence, unit,
        goal=Goal(60, higher_is_better=False),
        baseline=install.ready,
        baseline_label="apply -> Ready, the same install (no evidence)",
        counts={"installs": 1},
        note=f"apply of the orchestrated module -> its Install Qualification recorded "
        f"({install.verdict}): IQ from the live system, OQ from its image's Job ({oq}), "
        f"signed and kept; the machine account's Secret was made {install.account:.1f} s "
        "after the apply (by the bench, as soon as the runtime answered)",
    )  # fmt: skip


def _with_phases(note: str, samples: list[Sample]) -> str:
    phases = phase_medians(samples)
    return f"{note}; phases (median s): {phases}" if phases else note


def skipped_rows(reason: str) -> list[Row]:
    return [Row.skipped(NAME, metric, unit, reason) for metric, unit in METRICS]


# --- entry point -----------------------------------------------------------------------


async def run(*, quick: bool = False, progress: Progress | None = None) -> list[Row]:
    """Run the upgrade benchmark (``quick``: one upgrade of each kind, minutes)."""
    size = QUICK if quick else FULL
    say = progress or Progress(NAME, enabled=False)
    try:
        found = find_real_node()
    except ClusterMissing as exc:
        say(str(exc))
        return skipped_rows(str(exc))
    with tempfile.TemporaryDirectory(prefix="holon-bench-upgrade-") as tmp:
        workdir = Path(tmp)
        config = KubeConfig.from_file(found.cluster.kubeconfig)
        client = AsyncClient(config, field_manager="holon-bench", trust_env=False)
        bench = Bench(found, Kube(found.cluster, workdir / "helm"), client, workdir, say)
        try:
            say("images: this tree's, built (cached) and imported into the real node")
            await bench.images()
            result = await measure(bench, size)
        except PostgresUnavailable as exc:
            say(f"no PostgreSQL: {exc}")
            return skipped_rows(f"no PostgreSQL: {exc}")
        finally:
            await client.close()
    return rows_for(result)
