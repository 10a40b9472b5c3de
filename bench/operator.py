"""Benchmark 5: the operator on the local test cluster (issue #4).

Installs the chart (CRDs from crds/, the release for its ServiceAccount and RBAC), starts
the operator as a host process authenticated with a token of that ServiceAccount (as the
e2e tests do; kwok's Pods do not run anything), and measures through the Kubernetes API
(watches, not polling):

1. apply -> ``Ready=True`` of one MESModule, p50/p95 over repetitions; goal p95 <= 2 s.
   Baseline, interleaved in the same run: apply -> rolled out of a plain Deployment with
   the pod template the operator generated (no operator), judged by the operator's own
   ``DeploymentState.rolled_out``.
2. 500 MESModules in one namespace, created at once: time until all are Ready (goal
   <= 120 s), and the operator's peak RSS meanwhile (VmHWM, goal <= 200 MB). The note
   says when the operator had created all the Deployments and when the cluster had
   rolled them all out, so a miss can be placed on the operator or on the cluster.
3. An Equipment pointing at the runtime's BR-101 simulator on the host: apply ->
   ``Verified=True`` (goal p95 <= 5 s); baseline: the check's own duration, as the
   operator records it in ``status.checkDurationSeconds``.

Capacity: the test cluster's simulated nodes take 110 Pods each (Kubernetes' default), so
3 nodes hold 330 Pods and the 500 modules' Pods would stay Pending ("Too many pods") - a
plant with 500 modules has more nodes. The benchmark adds the kwok nodes it needs for its
own Pods (labelled ``type=kwok-bench``, which cluster.py's node sync leaves alone), cordons
them once the modules are Ready, and deletes them at the end.

Needs the test cluster (``make cluster``); without it every row is skipped. Everything it
creates (namespaces, release, operator, simulator) is removed in ``finally``, on Ctrl-C
too: the operator is stopped first and the finalizers it would have removed are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from lightkube import AsyncClient
from lightkube.codecs import from_dict
from lightkube.config.kubeconfig import KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace, Node, Pod
from lightkube.types import PatchType, on_error_retry
from mes_operator.kube.resources import Equipment, MESModule
from mes_operator.models.crds import GROUP, VERSION
from mes_operator.status.module import DeploymentState

from bench.progress import Progress
from bench.results import Goal, Row, median, percentile
from holon_testing.kube import (
    TEST_CONTEXTS,
    api_endpoint,
    run_tool,
    tool_env,
    write_token_kubeconfig,
)
from holon_testing.operator import OperatorProcess
from mes_runtime.simulator.contract import CONTRACT_MODULES

__all__ = ["FULL", "NAME", "QUICK", "OperatorSize", "run"]

NAME = "operator"
REPO = Path(__file__).resolve().parents[1]
GOAL_READY_P95_S = 2.0
GOAL_BULK_S = 120.0
GOAL_RSS_MB = 200.0
GOAL_VERIFY_S = 5.0
SIM_MODULE = "BR-101"
WARMUP_TIMEOUT_S = 120.0
SINGLE_TIMEOUT_S = 60.0
VERIFY_TIMEOUT_S = 60.0
RSS_SAMPLE_S = 0.5
CREATE_CONCURRENCY = 16
NODE_PODS = 110  # Kubernetes' default pods per node, as cluster.py's simulated nodes have
POD_MARGIN = 30  # room for Pods other test sessions create meanwhile
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
#: the operator's log of the last run is kept here (git-ignored) for a post-mortem
LOG_KEEP = REPO / ".holon" / "bench" / "operator.log"
#: kopf's line for a handler that raised and is retried later (after its backoff)
RETRY_MARK = "failed with an exception and will try again"
_APPLY_SETUP_TIMEOUT_S = 240


@dataclass(frozen=True, slots=True)
class OperatorSize:
    single: int  # apply -> Ready repetitions (and as many plain Deployments)
    bulk: int  # modules created at once
    bulk_timeout_s: float
    equipment: int  # Equipment resources verified, one after another


FULL = OperatorSize(single=20, bulk=500, bulk_timeout_s=240.0, equipment=5)
QUICK = OperatorSize(single=2, bulk=5, bulk_timeout_s=120.0, equipment=1)

METRICS: tuple[tuple[str, str], ...] = (
    ("MESModule apply->Ready p50", "s"),
    ("MESModule apply->Ready p95", "s"),
    ("modules all Ready", "s"),
    ("operator peak RSS", "MB"),
    ("Equipment apply->Verified p50", "s"),
    ("Equipment apply->Verified p95", "s"),
)


class ClusterMissing(RuntimeError):
    """No running test cluster: the benchmark reports skipped rows rather than failing."""


@dataclass(frozen=True, slots=True)
class TestCluster:
    """The local test cluster as ``hack.cluster.cluster`` recorded it."""

    kubeconfig: Path
    kubectl: Path
    helm: Path


def find_cluster() -> TestCluster:
    """The running test cluster, refusing any kubeconfig that is not the test cluster's."""
    state = Path(os.environ.get("HOLON_CLUSTER_DIR", REPO / ".holon" / "cluster"))
    try:
        info: dict[str, Any] = json.loads((state / "cluster.json").read_text())
        config = yaml.safe_load(Path(info["kubeconfig"]).read_text())
    except (OSError, ValueError, KeyError, yaml.YAMLError) as exc:
        raise ClusterMissing(f"no test cluster (make cluster): {exc}") from exc
    context = config.get("current-context") if isinstance(config, dict) else None
    if context not in TEST_CONTEXTS:
        raise ClusterMissing(f"kubeconfig context {context!r} is not the test cluster's")
    bins = Path(info["bin_dir"])
    return TestCluster(
        kubeconfig=Path(info["kubeconfig"]),
        kubectl=Path(info.get("kubectl") or bins / "kubectl"),
        helm=Path(info.get("helm") or bins / "helm"),
    )


# --- what the watches record ----------------------------------------------------------


def condition_true(obj: Mapping[str, Any], type_: str) -> bool:
    """Whether ``status.conditions`` holds ``type_`` with status True."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return bool(cond.get("status") == "True")
    return False


def rolled_out(obj: Mapping[str, Any]) -> bool:
    """The operator's own notion of a Deployment being done, applied to any Deployment."""
    return DeploymentState.from_object(obj).rolled_out


class Tracker:
    """Follows one kind in one namespace; remembers when each object was first seen and
    first seen satisfying ``predicate`` (``time.perf_counter``), and lets callers wait."""

    def __init__(self, predicate: Callable[[Mapping[str, Any]], bool]) -> None:
        self.predicate = predicate
        self.seen: dict[str, float] = {}
        self.done: dict[str, float] = {}
        self.objects: dict[str, dict[str, Any]] = {}
        self._changed = asyncio.Condition()

    def observe(self, obj: dict[str, Any], at: float) -> bool:
        """Record one watched object; True if it newly satisfies the predicate."""
        name = str(obj["metadata"]["name"])
        self.objects[name] = obj
        self.seen.setdefault(name, at)
        if name not in self.done and self.predicate(obj):
            self.done[name] = at
            return True
        return False

    async def follow(self, client: AsyncClient, resource: Any, namespace: str) -> None:
        # on_error_retry: the server ends watches now and then; resume, do not stop
        watch = client.watch(resource, namespace=namespace, on_error=on_error_retry)
        async for _kind, obj in watch:
            if self.observe(obj.to_dict(), time.perf_counter()):
                async with self._changed:
                    self._changed.notify_all()

    async def wait(self, names: Iterable[str], within: float) -> bool:
        """Wait until every name satisfied the predicate; False after ``within`` s."""
        wanted = set(names)
        try:
            async with asyncio.timeout(within), self._changed:
                await self._changed.wait_for(lambda: wanted <= self.done.keys())
        except TimeoutError:
            return False
        return True


# --- the operator process -------------------------------------------------------------


# --- the environment: chart, namespace, operator, simulator ---------------------------


@dataclass
class Environment:
    cluster: TestCluster
    workdir: Path
    release: str = field(default_factory=lambda: f"holon-bench-{uuid.uuid4().hex[:6]}")
    namespace: str = field(default_factory=lambda: f"bench-op-{uuid.uuid4().hex[:6]}")
    installed: bool = False
    namespace_created: bool = False
    nodes: list[str] = field(default_factory=list)

    @property
    def system_namespace(self) -> str:
        return f"{self.release}-system"

    async def tool(self, binary: Path, *args: str, check: bool = True) -> str:
        env = tool_env(self.cluster.kubeconfig, self.workdir / "helm")
        res = await asyncio.to_thread(
            run_tool, binary, *args, env=env, timeout=_APPLY_SETUP_TIMEOUT_S, check=check
        )
        return res.stdout

    async def install(self) -> None:
        """CRDs from crds/ (as the e2e tests), then the chart for its ServiceAccount/RBAC."""
        kubectl, helm = self.cluster.kubectl, self.cluster.helm
        await self.tool(
            kubectl, "apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds")
        )
        for crd in (f"mesmodules.{GROUP}", f"equipment.{GROUP}"):
            await self.tool(
                kubectl, "wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s"
            )
        await self.tool(kubectl, "create", "namespace", self.system_namespace)
        self.installed = True
        await self.tool(
            helm, "install", self.release, str(REPO / "charts" / "holon"),
            "-n", self.system_namespace, "--set", "crds.enabled=false",
            "--wait", "--timeout", "180s",
        )  # fmt: skip

    async def start_operator(self) -> OperatorProcess:
        args = ("create", "token", self.release, "-n", self.system_namespace, "--duration=1h")
        token = (await self.tool(self.cluster.kubectl, *args)).strip()
        server, ca = api_endpoint(
            self.cluster.kubeconfig, ca_file=self.cluster.kubeconfig.parent / "bench-ca.crt"
        )
        path = self.workdir / "operator.kubeconfig"
        kubeconfig = write_token_kubeconfig(
            path, server=server, ca=ca, token=token, namespace=self.namespace
        )
        return OperatorProcess.spawn(
            kubeconfig=kubeconfig,
            namespace=self.namespace,
            log=self.workdir / "operator.log",
            settings={"HOLON_OPERATOR_PEERING": "false"},  # one replica: no peering to leave
        )

    async def cleanup(self, client: AsyncClient, operator: OperatorProcess | None) -> None:
        """Operator off, its finalizers dropped (it is not there to remove them), then
        the namespaces and the release go; nothing waits for the namespaces to vanish."""
        if operator is not None:
            operator.stop()
            _keep_log(operator)
        if self.namespace_created:
            with contextlib.suppress(ApiError, httpx.HTTPError):
                await _drop_finalizers(client, self.namespace)
            with contextlib.suppress(ApiError, httpx.HTTPError):
                await client.delete(Namespace, self.namespace)
        for node in self.nodes:
            with contextlib.suppress(ApiError, httpx.HTTPError):
                await client.delete(Node, node)
        if self.installed:
            await self.tool(
                self.cluster.helm, "uninstall", self.release, "-n", self.system_namespace,
                "--wait", "--timeout", "120s", check=False,
            )  # fmt: skip
            await self.tool(
                self.cluster.kubectl, "delete", "namespace", self.system_namespace,
                "--wait=false", check=False,
            )  # fmt: skip


def _keep_log(operator: OperatorProcess) -> None:
    with contextlib.suppress(OSError):
        LOG_KEEP.parent.mkdir(parents=True, exist_ok=True)
        LOG_KEEP.write_bytes(operator.log.read_bytes())


async def _drop_finalizers(client: AsyncClient, namespace: str) -> None:
    patch = {"metadata": {"finalizers": None}}
    semaphore = asyncio.Semaphore(CREATE_CONCURRENCY)

    async def drop(resource: Any, name: str) -> None:
        async with semaphore:
            with contextlib.suppress(ApiError):
                await client.patch(
                    resource, name, patch, namespace=namespace, patch_type=PatchType.MERGE
                )

    jobs = []
    for resource in (MESModule, Equipment):
        async for obj in client.list(resource, namespace=namespace):
            if obj.metadata.finalizers:
                jobs.append(drop(resource, obj.metadata.name))
    await asyncio.gather(*jobs)


def node_manifest(name: str) -> Any:
    """A simulated node like cluster.py's, but labelled so that its node sync ignores it."""
    resources = {"cpu": "32", "memory": "256Gi", "pods": str(NODE_PODS)}
    return Node.from_dict(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": {KWOK_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {
                    "kubernetes.io/arch": "amd64",
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/hostname": name,
                    "type": "kwok-bench",
                },
            },
            "status": {"allocatable": resources, "capacity": resources},
        }
    )


def nodes_needed(pods_wanted: int, capacity: int, pods_existing: int) -> int:
    """Extra nodes for ``pods_wanted`` more Pods (plus a margin) on top of what exists."""
    short = pods_existing + pods_wanted + POD_MARGIN - capacity
    return max(0, -(-short // NODE_PODS))


async def add_capacity(client: AsyncClient, env: Environment, pods_wanted: int) -> int:
    """Add (and wait for Ready) the simulated nodes the benchmark's Pods need."""
    capacity = 0
    async for node in client.list(Node):
        if not (node.spec and node.spec.unschedulable):
            allocatable = (node.status.allocatable if node.status else None) or {}
            capacity += int(allocatable.get("pods", "0"))
    existing = 0
    async for pod in client.list(Pod, namespace="*"):
        if pod.status is None or pod.status.phase not in {"Succeeded", "Failed"}:
            existing += 1
    extra = nodes_needed(pods_wanted, capacity, existing)
    for i in range(extra):
        name = f"{env.release}-node-{i}"
        await client.create(node_manifest(name))
        env.nodes.append(name)

    async def all_ready() -> bool:
        for name in env.nodes:
            node = await client.get(Node, name)
            conditions = (node.status.conditions if node.status else None) or []
            if not any(c.type == "Ready" and c.status == "True" for c in conditions):
                return False
        return True

    for _ in range(120):  # kwok marks a node Ready within a second or two
        if await all_ready():
            return extra
        await asyncio.sleep(0.5)
    raise RuntimeError(f"simulated nodes {env.nodes} not Ready within 60 s")


async def cordon(client: AsyncClient, nodes: Iterable[str]) -> None:
    """No new Pods on the benchmark's nodes: other sessions' Pods must not land on nodes
    that are about to go."""
    for name in nodes:
        with contextlib.suppress(ApiError):
            await client.patch(
                Node, name, {"spec": {"unschedulable": True}}, patch_type=PatchType.MERGE
            )


@contextlib.asynccontextmanager
async def simulator(workdir: Path) -> AsyncIterator[str]:
    """The runtime's BR-101 simulator as a process on the host; yields its endpoint."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mes_runtime", "simulate",
        "--module", SIM_MODULE, "--manifest-dir", str(workdir / "manifests"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        stdin=asyncio.subprocess.DEVNULL, cwd=REPO,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        endpoint = ""
        async with asyncio.timeout(60):
            while not endpoint:
                line = (await proc.stdout.readline()).decode()
                if not line:
                    raise RuntimeError("the simulator exited before printing its endpoint")
                name, _, rest = line.partition("\t")
                if name == SIM_MODULE:
                    endpoint = rest.split("\t", 1)[0].strip()
        yield endpoint
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await proc.wait()


# --- manifests -------------------------------------------------------------------------


def module_manifest(name: str, namespace: str, **labels: str) -> Any:
    return from_dict(
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "MESModule",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"module": "batch-execution", "version": "1.0.0"},
        }
    )


def plain_deployment(name: str, namespace: str, template: Mapping[str, Any]) -> Any:
    """A Deployment with the operator's pod template but its own labels (so no Service
    or PodDisruptionBudget of a module selects its Pods) and no owner."""
    pod = copy.deepcopy(dict(template))
    labels = {"bench.holon.dev/plain": name}
    pod["metadata"] = {"labels": labels}
    return Deployment.from_dict(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": pod},
        }
    )


def equipment_manifest(name: str, namespace: str, endpoint: str) -> Any:
    services = [s.name for s in CONTRACT_MODULES[SIM_MODULE].services]
    return from_dict(
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Equipment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"endpoint": endpoint, "requiredServices": services, "timeoutSeconds": 5},
        }
    )


def _owned_template(deployments: Tracker, owner: str) -> dict[str, Any]:
    for obj in deployments.objects.values():
        owners = obj["metadata"].get("ownerReferences") or []
        if any(o.get("kind") == "MESModule" and o.get("name") == owner for o in owners):
            template: dict[str, Any] = obj["spec"]["template"]
            return template
    raise RuntimeError(f"no Deployment owned by MESModule {owner} seen")


# --- the measurements -------------------------------------------------------------------


@dataclass
class SingleResult:
    module_s: list[float]
    plain_s: list[float]


async def measure_single(
    client: AsyncClient,
    env: Environment,
    modules: Tracker,
    deployments: Tracker,
    count: int,
    say: Progress,
) -> SingleResult:
    """Interleaved: module i apply -> Ready, then plain Deployment i apply -> rolled out."""
    template = _owned_template(deployments, "warmup")
    result = SingleResult([], [])
    for i in range(count):
        name = f"single-{i}"
        started = time.perf_counter()
        await client.create(module_manifest(name, env.namespace, bench="single"))
        if not await modules.wait([name], SINGLE_TIMEOUT_S):
            raise RuntimeError(f"MESModule {name} not Ready within {SINGLE_TIMEOUT_S:.0f} s")
        result.module_s.append(modules.done[name] - started)
        plain = f"plain-{i}"
        started = time.perf_counter()
        await client.create(plain_deployment(plain, env.namespace, template))
        if not await deployments.wait([plain], SINGLE_TIMEOUT_S):
            raise RuntimeError(f"Deployment {plain} not rolled out in {SINGLE_TIMEOUT_S:.0f} s")
        result.plain_s.append(deployments.done[plain] - started)
    say(
        f"single: module p50 {median(result.module_s):.2f} s, "
        f"plain Deployment p50 {median(result.plain_s):.2f} s"
    )
    return result


@dataclass
class BulkResult:
    modules: int
    ready: int
    elapsed_s: float
    created_s: float  # all MESModules accepted by the API
    deployments_created_s: float | None  # the operator had made every module's Deployment
    deployments_rolled_out_s: float | None  # the cluster had rolled them all out
    peak_rss_mb: float
    rss_before_mb: float  # VmRSS when the bulk started (after the single-module phase)
    samples: int
    handler_retries: int


async def measure_bulk(
    client: AsyncClient,
    env: Environment,
    operator: OperatorProcess,
    modules: Tracker,
    deployments: Tracker,
    size: OperatorSize,
    say: Progress,
) -> BulkResult:
    names = [f"bulk-{i:04d}" for i in range(size.bulk)]
    semaphore = asyncio.Semaphore(CREATE_CONCURRENCY)

    async def create(name: str) -> None:
        async with semaphore:
            await client.create(module_manifest(name, env.namespace, bench="bulk"))

    samples = 0
    rss_before = operator.status_kb("VmRSS")
    started = time.perf_counter()
    all_ready = asyncio.ensure_future(modules.wait(names, size.bulk_timeout_s))
    await asyncio.gather(*(create(n) for n in names))
    created = time.perf_counter() - started
    say(f"bulk: {size.bulk} MESModules created in {created:.1f} s")
    last_report = time.perf_counter()
    while not all_ready.done():
        operator.sample()
        samples += 1
        if time.perf_counter() - last_report >= 15:
            last_report = time.perf_counter()
            ready = sum(1 for n in names if n in modules.done)
            say(f"bulk: {ready}/{size.bulk} Ready, operator RSS {operator.peak_kb() / 1024:.0f} MB")
        await asyncio.wait({all_ready}, timeout=RSS_SAMPLE_S)
    ok = all_ready.result()
    elapsed = (max(modules.done[n] for n in names) if ok else time.perf_counter()) - started
    operator.sample()
    owned = _owned_deployments(deployments, set(names))
    return BulkResult(
        modules=size.bulk,
        ready=sum(1 for n in names if n in modules.done),
        elapsed_s=elapsed,
        created_s=created,
        deployments_created_s=_last(deployments.seen, owned, len(names), started),
        deployments_rolled_out_s=_last(deployments.done, owned, len(names), started),
        peak_rss_mb=operator.peak_kb() / 1024,
        rss_before_mb=rss_before / 1024,
        samples=samples,
        handler_retries=operator.count_in_log(RETRY_MARK),
    )


def _owned_deployments(deployments: Tracker, owners: set[str]) -> list[str]:
    return [
        name
        for name, obj in deployments.objects.items()
        if any(
            o.get("kind") == "MESModule" and o.get("name") in owners
            for o in obj["metadata"].get("ownerReferences") or []
        )
    ]


def _last(times: Mapping[str, float], names: list[str], want: int, started: float) -> float | None:
    """When the last of ``want`` objects got there, or None if not all did."""
    got = [times[n] for n in names if n in times]
    return max(got) - started if len(got) >= want else None


@dataclass
class EquipmentResult:
    verified_s: list[float]
    check_s: list[float]


async def measure_equipment(
    client: AsyncClient, env: Environment, equipment: Tracker, count: int, say: Progress
) -> EquipmentResult:
    result = EquipmentResult([], [])
    async with simulator(env.workdir) as endpoint:
        say(f"equipment: simulator {SIM_MODULE} at {endpoint}")
        for i in range(count):
            name = f"eq-{i}"
            started = time.perf_counter()
            await client.create(equipment_manifest(name, env.namespace, endpoint))
            if not await equipment.wait([name], VERIFY_TIMEOUT_S):
                raise RuntimeError(f"Equipment {name} not Verified in {VERIFY_TIMEOUT_S:.0f} s")
            result.verified_s.append(equipment.done[name] - started)
            status = equipment.objects[name].get("status") or {}
            result.check_s.append(float(status.get("checkDurationSeconds") or 0.0))
    return result


# --- rows --------------------------------------------------------------------------------


def rows_for(single: SingleResult, bulk: BulkResult, equipment: EquipmentResult) -> list[Row]:
    reps = {"repetitions": len(single.module_s), "baseline_repetitions": len(single.plain_s)}
    plain = "apply -> rolled out of a plain Deployment with the operator's pod template"
    bulk_counts = {
        "modules": bulk.modules,
        "ready": bulk.ready,
        "handler_retries": bulk.handler_retries,
    }
    parts = [f"MESModules created in {bulk.created_s:.1f} s"]
    if bulk.deployments_created_s is not None:
        parts.append(f"operator made all Deployments by {bulk.deployments_created_s:.1f} s")
    if bulk.deployments_rolled_out_s is not None:
        parts.append(f"cluster rolled them out by {bulk.deployments_rolled_out_s:.1f} s")
    if bulk.ready < bulk.modules:
        parts.append(f"only {bulk.ready}/{bulk.modules} Ready when the benchmark gave up")
    if bulk.handler_retries:
        parts.append(
            f"{bulk.handler_retries} operator handler runs failed and were retried later "
            f"(see {LOG_KEEP.relative_to(REPO)})"
        )
    eq_counts = {"repetitions": len(equipment.verified_s)}
    check = "the check's own duration (status.checkDurationSeconds)"
    return [
        Row(NAME, METRICS[0][0], median(single.module_s), "s",
            baseline=median(single.plain_s), baseline_label=plain, counts=reps),
        Row(NAME, METRICS[1][0], percentile(single.module_s, 95), "s",
            goal=Goal(GOAL_READY_P95_S, higher_is_better=False),
            baseline=percentile(single.plain_s, 95), baseline_label=plain, counts=reps),
        Row(NAME, f"{bulk.modules} {METRICS[2][0]}", bulk.elapsed_s, "s",
            goal=Goal(GOAL_BULK_S, higher_is_better=False), counts=bulk_counts,
            note="; ".join(parts)),
        Row(NAME, METRICS[3][0], bulk.peak_rss_mb, "MB",
            goal=Goal(GOAL_RSS_MB, higher_is_better=False),
            counts={"modules": bulk.modules, "rss_samples": bulk.samples},
            note=f"VmHWM of the operator process over its whole life; VmRSS was "
            f"{bulk.rss_before_mb:.0f} MB just before the {bulk.modules} modules"),
        Row(NAME, METRICS[4][0], median(equipment.verified_s), "s",
            baseline=median(equipment.check_s), baseline_label=check, counts=eq_counts),
        Row(NAME, METRICS[5][0], percentile(equipment.verified_s, 95), "s",
            goal=Goal(GOAL_VERIFY_S, higher_is_better=False),
            baseline=percentile(equipment.check_s, 95), baseline_label=check, counts=eq_counts),
    ]  # fmt: skip


def skipped_rows(reason: str, size: OperatorSize) -> list[Row]:
    return [
        Row.skipped(NAME, f"{size.bulk} {metric}" if i == 2 else metric, unit, reason)
        for i, (metric, unit) in enumerate(METRICS)
    ]


# --- entry point -----------------------------------------------------------------------


async def run(*, quick: bool = False, progress: Progress | None = None) -> list[Row]:
    """Run the operator benchmark (``quick``: a couple of modules, seconds)."""
    size = QUICK if quick else FULL
    say = progress or Progress(NAME, enabled=False)
    try:
        cluster = find_cluster()
    except ClusterMissing as exc:
        say(str(exc))
        return skipped_rows(str(exc), size)
    with tempfile.TemporaryDirectory(prefix="holon-bench-operator-") as tmp:
        env = Environment(cluster=cluster, workdir=Path(tmp))
        config = KubeConfig.from_file(cluster.kubeconfig)
        client = AsyncClient(config, field_manager="holon-bench", trust_env=False)
        operator: OperatorProcess | None = None
        watchers: list[asyncio.Task[None]] = []
        try:
            say(f"installing the chart as {env.release}")
            await env.install()
            await client.create(Namespace(metadata=ObjectMeta(name=env.namespace)))
            env.namespace_created = True
            modules = Tracker(lambda o: condition_true(o, "Ready"))
            deployments = Tracker(rolled_out)
            equipment = Tracker(lambda o: condition_true(o, "Verified"))
            for tracker, resource in (
                (modules, MESModule),
                (deployments, Deployment),
                (equipment, Equipment),
            ):
                watchers.append(
                    asyncio.create_task(tracker.follow(client, resource, env.namespace))
                )
            pods = size.bulk + 2 * size.single + 1
            extra = await add_capacity(client, env, pods)
            if extra:
                say(f"added {extra} simulated node(s) of {NODE_PODS} Pods for {pods} Pods")
            operator = await env.start_operator()
            say(f"operator pid {operator.proc.pid} watching {env.namespace}; warm-up module")
            await client.create(module_manifest("warmup", env.namespace, bench="warmup"))
            if not await modules.wait(["warmup"], WARMUP_TIMEOUT_S):
                raise RuntimeError(
                    f"warm-up MESModule not Ready in {WARMUP_TIMEOUT_S:.0f} s; operator log:\n"
                    + operator.log_tail()
                )
            say(f"single: {size.single} x (MESModule, plain Deployment) apply -> Ready")
            single = await measure_single(client, env, modules, deployments, size.single, say)
            say(f"bulk: {size.bulk} MESModules at once (timeout {size.bulk_timeout_s:.0f} s)")
            bulk = await measure_bulk(client, env, operator, modules, deployments, size, say)
            await cordon(client, env.nodes)
            say(
                f"bulk: {bulk.ready}/{bulk.modules} Ready in {bulk.elapsed_s:.1f} s, "
                f"peak RSS {bulk.peak_rss_mb:.0f} MB"
            )
            if not operator.alive():
                raise RuntimeError("the operator exited:\n" + operator.log_tail())
            say(f"equipment: {size.equipment} x apply -> Verified")
            eq = await measure_equipment(client, env, equipment, size.equipment, say)
        finally:
            for task in watchers:
                task.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
            say("cleaning up (operator, finalizers, namespaces, release)")
            await env.cleanup(client, operator)
            await client.close()
    return rows_for(single, bulk, eq)
