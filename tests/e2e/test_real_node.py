"""The real node runs Holon's own images: Pods that really serve HTTP.

1. A runtime Pod (from `make images`) passes readiness on the real node and answers
   through its ClusterIP Service, from the host and from another Pod by DNS name.
2. The operator runs from its image in the cluster, with its chart's ServiceAccount,
   and reconciles a MESModule whose runtime Pods connect to PostgreSQL and to the
   equipment simulator (both on the host); the install's IQ evidence is captured, verified
   offline and approved (``real_node_evidence``); an Equipment is verified from inside the
   cluster.
3. A version bump rolls the runtime over while a batch runs on the simulator, under a
   steady load of reads and batch commands from the host: every request is answered (the
   runtime drains: readiness false, in-flight requests finish, batches handed over, exit)
   and the batch, taken over by the new version's replicas, completes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_cluster import Cluster
from mes_operator.builders.configmap import DATA_DIR
from mes_operator.builders.context import HTTP_PORT, METRICS_PORT, ModuleContext
from mes_operator.builders.deployment import container_security
from mes_operator.builders.upgrade import build_backup_job
from mes_operator.upgrade.read import BackupResult, backup_result
from prometheus_checks import failing, operator_checks, runtime_checks, unchecked
from real_node_evidence import check_install_evidence, check_interface_evidence
from real_node_module import (
    GROUP,
    MODULE,
    RUNTIME_SELECTOR,
    InCluster,
    batch_when_ended,
    mesmodule,
    module_ready,
    take_overs,
)
from real_node_support import (
    NEXT_VERSION,
    VERSION,
    CommandLoop,
    RealNode,
    get_once_routed,
    pod_logs,
    pods,
    ready,
)

from holon_testing.load import LoadLoop
from holon_testing.object_store import S3Server
from holon_testing.postgres import PgServer
from holon_testing.prometheus import running_prometheus
from holon_testing.real_node import (
    OPERATOR_IMAGE,
    PLACEMENT,
    RUNTIME_IMAGE,
    admin_headers,
    in_cluster_url,
    object_store_secret,
    running_batch_people,
    start_batch,
)
from mes_runtime.db.migrate import head_revisions, upgrade

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]  # Pods really start here

RUNTIME_PORT = HTTP_PORT  # the runtime container port the operator configures
OPERATOR_METRICS_PORT = 8082  # the chart's operator.metricsPort


def test_runtime_pod_answers_through_its_service_from_host_and_pod(
    cluster: Cluster, real_node: RealNode, namespace: str
) -> None:
    labels = {"app": "runtime"}
    cluster.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "runtime"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        **PLACEMENT,
                        "containers": [
                            {
                                "name": "runtime",
                                "image": f"{RUNTIME_IMAGE}:{VERSION}",
                                "args": ["serve"],
                                "env": [
                                    {"name": "HOLON_HOST", "value": "0.0.0.0"},  # noqa: S104
                                    {"name": "HOLON_PORT", "value": "8080"},
                                    {"name": "HOLON_DATA_DIR", "value": "/data"},
                                ],
                                "ports": [{"name": "http", "containerPort": 8080}],
                                "readinessProbe": {
                                    "httpGet": {"path": "/readyz", "port": "http"},
                                    "periodSeconds": 2,
                                },
                                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                            }
                        ],
                        "volumes": [{"name": "data", "emptyDir": {}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "runtime"},
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": "http"}]},
        },
        namespace=namespace,
    )
    res = cluster.kubectl(
        "rollout", "status", "deploy/runtime", "-n", namespace, "--timeout=120s", check=False
    )
    assert res.returncode == 0, pod_logs(cluster, namespace, "app=runtime") + res.stderr
    (pod,) = pods(cluster, namespace, "app=runtime")
    assert pod["spec"]["nodeName"] == "holon-node"
    assert ready(pod)

    service = cluster.get("service", "runtime", namespace)
    from_host = get_once_routed(f"http://{service['spec']['clusterIP']}/readyz")
    assert from_host.status_code == 200
    assert from_host.json()["checks"] == {"database": "ok", "migrations": "ok", "batches": "ok"}

    # `kubectl port-forward` (API server -> kubelet -> containerd), as the README offers
    forward = subprocess.Popen(
        [str(cluster.kubectl_bin), "--context", cluster.context, "-n", namespace,
         "port-forward", "svc/runtime", ":80"],
        env=cluster.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert forward.stdout is not None
        line = forward.stdout.readline()  # "Forwarding from 127.0.0.1:PORT -> 8080"
        assert line.startswith("Forwarding from 127.0.0.1:"), line
        local = line.split()[2]
        forwarded = httpx.get(f"http://{local}/healthz", timeout=10)
        assert forwarded.status_code == 200
    finally:
        forward.terminate()
        forward.wait(timeout=10)
        if forward.stdout is not None:
            forward.stdout.close()

    fetch = (
        "import urllib.request as u; "
        f"r = u.urlopen('http://runtime.{namespace}.svc.cluster.local/healthz', timeout=10); "
        "print(r.status, r.read().decode())"
    )
    cluster.apply(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "client"},
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "spec": {
                        **PLACEMENT,
                        "restartPolicy": "Never",
                        "containers": [
                            {
                                "name": "client",
                                "image": f"{RUNTIME_IMAGE}:{VERSION}",
                                "command": ["python3", "-c", fetch],
                            }
                        ],
                    }
                },
            },
        },
        namespace=namespace,
    )
    done = cluster.kubectl(
        "wait", "--for=condition=complete", "job/client", "-n", namespace, "--timeout=90s",
        check=False,
    )  # fmt: skip
    logs = cluster.kubectl("logs", "job/client", "-n", namespace, check=False)
    assert done.returncode == 0, logs.stdout + logs.stderr
    status, body = logs.stdout.strip().split(" ", 1)
    assert status == "200"
    assert json.loads(body)["status"] == "ok"


def test_operator_from_its_image_runs_a_module_on_postgres_and_the_simulator(
    cluster: Cluster, in_cluster: InCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ns = in_cluster.namespace
    (operator_pod,) = pods(cluster, ns, "app.kubernetes.io/name=holon-operator")
    # the chart's own `helm test` hook (a Pod from the operator image) passes here
    tested = cluster.helm("test", in_cluster.release, "-n", ns, "--timeout", "120s", check=False)
    hook_logs = cluster.kubectl("logs", f"{in_cluster.release}-test-health", "-n", ns, check=False)
    assert tested.returncode == 0, tested.stdout + tested.stderr + hook_logs.stdout
    assert operator_pod["spec"]["nodeName"] == "holon-node"
    assert operator_pod["spec"]["containers"][0]["image"] == f"{OPERATOR_IMAGE}:{VERSION}"
    assert operator_pod["spec"]["serviceAccountName"] == in_cluster.release

    cluster.apply(mesmodule(VERSION), namespace=ns)
    cluster.eventually(
        "MESModule Ready with 2 runtime Pods on the real node",
        lambda: module_ready(cluster, ns),
        180,
    )
    runtime_pods = pods(cluster, ns, RUNTIME_SELECTOR)
    assert len(runtime_pods) == 2, [p["metadata"]["name"] for p in runtime_pods]
    assert all(p["spec"]["nodeName"] == "holon-node" and ready(p) for p in runtime_pods)

    base = in_cluster.runtime_url(cluster)
    readiness = get_once_routed(f"{base}/readyz").json()
    assert readiness["checks"]["database"] == "ok"  # PostgreSQL, by its Service name
    # the install's IQ evidence: captured, verified offline, approved by a validation lead
    check_install_evidence(cluster, in_cluster, base, tmp_path, monkeypatch)

    headers = admin_headers(base, in_cluster.database_url, "admin")
    manifest = in_cluster.simulator.manifest_path
    imported = httpx.post(
        f"{base}/api/v1/equipment",
        content=manifest.read_bytes(),
        headers={**headers, "Content-Type": "application/xml"},
        timeout=30,
    )
    assert imported.status_code == 201, imported.text

    def every_replica_connected() -> bool:
        for pod in pods(cluster, ns, RUNTIME_SELECTOR):
            url = f"http://{pod['status']['podIP']}:{RUNTIME_PORT}/api/v1/equipment"
            listed = httpx.get(url, headers=headers, timeout=10).json()
            if not any(e["name"] == "BR-101" and e["connected"] for e in listed):
                return False
        return True

    cluster.eventually("both runtime replicas connected to BR-101", every_replica_connected, 60)

    cluster.apply(
        {
            "apiVersion": f"{GROUP}/v1alpha1",
            "kind": "Equipment",
            "metadata": {"name": "br-101"},
            "spec": {
                "endpoint": in_cluster.simulator.endpoint,
                "requiredServices": ["Cultivate"],
                "timeoutSeconds": 5,
            },
        },
        namespace=ns,
    )

    def verified() -> bool:
        body = cluster.get("equipment", "br-101", ns)
        conditions = body.get("status", {}).get("conditions", [])
        return any(c["type"] == "Verified" and c["status"] == "True" for c in conditions)

    cluster.eventually("Equipment br-101 Verified by the in-cluster operator", verified, 90)
    check_interface_evidence(cluster, ns, "br-101")


def _backup_pod(cluster: Cluster, ns: str, job: str) -> dict[str, Any] | None:
    """The Job's first Pod once its container has ended (its termination message is set)."""
    for pod in cluster.get("pods", namespace=ns)["items"]:
        if pod["metadata"].get("labels", {}).get("job-name") != job:
            continue
        if _ended(pod) is not None:
            return dict(pod)
    return None


def _ended(pod: dict[str, Any]) -> dict[str, Any] | None:
    """The Pod's (first) container's ``terminated`` state, once it has ended."""
    statuses = pod.get("status", {}).get("containerStatuses") or [{}]
    ended: dict[str, Any] | None = (statuses[0].get("state") or {}).get("terminated")
    return ended


def _run_backup_job(
    cluster: Cluster, ns: str, store_secret: str, attempt: int
) -> tuple[BackupResult, str]:
    """The operator's own backup Job (as its builder makes it) for the running module;
    its result read by the operator's own reader, and the Pod's log; the Job deleted after."""
    ctx = ModuleContext.from_body(cluster.get("mesmodule", MODULE, ns))
    job = build_backup_job(ctx, ctx.spec.version, attempt, store_secret=store_secret)
    name = job["metadata"]["name"]
    cluster.apply(job, namespace=ns)
    try:
        ended: list[dict[str, Any]] = []

        def pod_ended() -> bool:
            pod = _backup_pod(cluster, ns, name)
            ended.extend([pod] if pod else [])
            return pod is not None

        cluster.eventually(f"backup Job {name}'s Pod ended", pod_ended, 240)
        pod = ended[-1]
        log = cluster.kubectl("logs", pod["metadata"]["name"], "-n", ns, check=False)
        state = _ended(pod)
        return backup_result(pod), f"{state}\n{log.stdout}{log.stderr}"
    finally:
        cluster.kubectl(
            "delete", "job", name, "-n", ns, "--cascade=foreground", "--wait=false", check=False
        )


def test_the_backup_job_dumps_from_the_runtime_image_into_the_object_store_and_verifies(
    cluster: Cluster, in_cluster: InCluster, host_object_store: S3Server
) -> None:
    """Issue #9's gate on the real node: the runtime image's pg_dump, the store from a Secret,
    a restore into a scratch database compared with the source, the result as the Pod's
    termination message; with the store unreachable, a named failure and no location."""
    ns = in_cluster.namespace
    bucket = "holon-backups"
    object_store_secret(cluster, ns, host_object_store, bucket, "backup-store")
    nowhere = f"http://nowhere.{ns}.svc.cluster.local:9000"
    object_store_secret(
        cluster, ns, host_object_store, bucket, "backup-store-down", endpoint=nowhere
    )

    result, log = _run_backup_job(cluster, ns, "backup-store", attempt=1)
    assert result.problem is None, f"{result.problem}\n{log}"
    version = cluster.get("mesmodule", MODULE, ns)["spec"]["version"]
    assert result.location is not None
    assert result.location.startswith(f"s3://{bucket}/{ns}/{MODULE}/{version}-1/"), result.location
    prefix = result.location.removeprefix(f"s3://{bucket}/")
    with host_object_store.client() as client:
        dump = client.get_bytes(bucket, f"{prefix}/dump.pgc")
    assert result.digest == f"sha256:{hashlib.sha256(dump).hexdigest()}"
    assert dump.startswith(b"PGDMP")  # pg_dump's custom format, made in the Pod

    failed, log = _run_backup_job(cluster, ns, "backup-store-down", attempt=2)
    assert failed.location is None
    assert failed.problem is not None
    assert f"object store unreachable at {nowhere}" in failed.problem, f"{failed.problem}\n{log}"


def _serve_once(cluster: Cluster, ns: str, name: str, env: dict[str, str]) -> tuple[int, str]:
    """``mes-runtime serve`` from the runtime image as a one-shot Pod on the real node,
    hardened as the operator runs it: its exit code and what it printed."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            **PLACEMENT,
            "containers": [
                {
                    "name": "runtime",
                    "image": f"{RUNTIME_IMAGE}:{VERSION}",
                    "imagePullPolicy": "Never",
                    "args": ["serve"],
                    "env": [{"name": k, "value": v} for k, v in env.items()],
                    "terminationMessagePolicy": "FallbackToLogsOnError",
                    "securityContext": container_security(),
                    "volumeMounts": [
                        {"name": "data", "mountPath": DATA_DIR},
                        {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - an emptyDir
                    ],
                }
            ],
            "volumes": [{"name": "data", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
        },
    }
    cluster.apply(pod, namespace=ns)
    try:
        ended: list[dict[str, Any]] = []

        def terminated() -> bool:
            state = _ended(cluster.get("pod", name, ns))
            ended.extend([state] if state else [])
            return state is not None

        cluster.eventually(f"Pod {name} ended", terminated, 120)
        log = cluster.kubectl("logs", name, "-n", ns, check=False)
        return int(ended[-1]["exitCode"]), log.stdout + log.stderr
    finally:
        cluster.kubectl("delete", "pod", name, "-n", ns, "--wait=false", check=False)


def test_a_runtime_pod_refuses_a_schema_too_old_or_too_new_naming_both_revisions(
    cluster: Cluster, in_cluster: InCluster, host_postgres: PgServer
) -> None:
    """Issue #9's compatibility gate where it matters, in the image on the real node: the
    runtime neither migrates nor serves a schema it cannot work with, and says why."""
    ns = in_cluster.namespace
    heads = {revision.split("_", 1)[0]: revision for revision in head_revisions()}
    old, new = f"holon_{ns[-6:]}_old", f"holon_{ns[-6:]}_new"
    host_postgres.create_database(old)  # empty: older than any version
    upgrade(host_postgres.create_database(new))  # this version's heads, then a later contract
    later = "contract_9999_a_later_version"
    with host_postgres.connect(new, autocommit=True) as conn:
        conn.execute(
            "UPDATE alembic_version SET version_num = %s WHERE version_num = %s",
            (later, heads["contract"]),
        )

    code, said = _serve_once(
        cluster,
        ns,
        "serve-too-old",
        {
            "HOLON_DATABASE_URL": in_cluster_url(host_postgres, ns, old),
            "HOLON_MIGRATE_ON_START": "false",
        },
    )
    assert code == 2, said
    assert "refusing to start: schema too old" in said, said
    assert heads["expand"] in said, said
    code, said = _serve_once(
        cluster,
        ns,
        "serve-too-new",
        {"HOLON_DATABASE_URL": in_cluster_url(host_postgres, ns, new)},
    )
    assert code == 2, said
    assert "refusing to start: schema too new" in said, said
    assert later in said, said
    assert heads["contract"] in said, said
    with host_postgres.connect(old) as conn:  # refused before any migration: nothing created
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert tables == (0,)


def test_rolling_update_under_load_loses_no_request_and_the_batch_goes_on(
    cluster: Cluster, in_cluster: InCluster
) -> None:
    """A batch runs on the simulator while the 2-replica module rolls to a new version and
    clients read it and command it (>= 20 requests/s) through the Service: no request
    fails, the batch moves to a replica of the new version and completes, and the journal
    records each take-over (its gap is printed)."""
    ns = in_cluster.namespace
    exists = cluster.kubectl("get", "mesmodule", MODULE, "-n", ns, check=False).returncode == 0
    if not exists or not module_ready(cluster, ns):
        pytest.fail("needs the Ready module of the previous test, which failed")
    base = in_cluster.runtime_url(cluster)
    admin = admin_headers(base, in_cluster.database_url, "loadtest")
    operator = running_batch_people(base, in_cluster.database_url, admin)
    batch_id = start_batch(base, operator)
    before = {p["metadata"]["name"] for p in pods(cluster, ns, RUNTIME_SELECTOR)}

    def rolled() -> bool:
        deployment = cluster.get("deployment", f"{MODULE}-blue", ns)
        status = deployment.get("status", {})
        current = {p["metadata"]["name"] for p in pods(cluster, ns, RUNTIME_SELECTOR)}
        images = {
            c["image"] for p in pods(cluster, ns, RUNTIME_SELECTOR) for c in p["spec"]["containers"]
        }
        return (
            status.get("observedGeneration", 0) >= deployment["metadata"]["generation"]
            and status.get("updatedReplicas") == status.get("replicas") == 2
            and status.get("availableReplicas") == 2
            and not (current & before)  # the old Pods have exited, not just turned unready
            and images == {f"{RUNTIME_IMAGE}:{NEXT_VERSION}"}
        )

    view = f"{base}/api/v1/batches/{batch_id}"
    with (
        LoadLoop(view, operator, rate=30, workers=3) as load,
        CommandLoop(base, operator, batch_id) as commands,
    ):
        time.sleep(3)  # steady load before the rollout starts
        cluster.apply(mesmodule(NEXT_VERSION), namespace=ns)
        cluster.eventually("the rolling update to finish", rolled, 240)
        time.sleep(3)  # and after it
    reads, sent = load.result, commands.result
    print(
        f"\n[rolling update under load] {reads.sent} reads in {reads.seconds:.1f} s "
        f"({reads.rate:.1f}/s), failed: {reads.failed}; {sent.sent} batch commands, "
        f"failed: {sent.failed}",
        flush=True,
    )
    assert reads.rate >= 20, "the load loop must offer at least 20 requests/s"
    assert reads.failed == 0, reads.failures[:10]
    assert sent.sent >= 2, "commands were sent during the rollout"
    assert sent.failed == 0, sent.failures[:10]

    final = batch_when_ended(cluster, view, operator, 420)
    assert final["state"] == "complete", final
    ok, resumes = asyncio.run(take_overs(in_cluster.database_url, batch_id))
    print(f"[rolling update under load] take-overs of {batch_id}: {resumes}", flush=True)
    assert ok, "the journal's hash chain verifies"
    assert resumes, "the batch moved to a new replica (every old Pod exited) - journalled"


def test_prometheus_scrapes_the_runtime_and_the_operator(
    cluster: Cluster, in_cluster: InCluster, tmp_path: Path
) -> None:
    """A real Prometheus (Debian's) scrapes the module's runtime replicas and the operator
    in the cluster: after the rolled-over batch, the completed batch is counted once across
    replicas, phases changed state, values were ingested, no journal verification failed;
    requests, each replica's database pool, statements and OPC UA lags are measured; every
    family of both has its query (``prometheus_checks``), which gives what the batch, the
    roll, a verification and a failed login imply; a drift correction raises the
    operator's counter."""
    ns = in_cluster.namespace
    if not module_ready(cluster, ns):
        pytest.fail("needs the Ready module of the previous tests, which failed")
    runtime = [
        f"{p['status']['podIP']}:{METRICS_PORT}" for p in pods(cluster, ns, RUNTIME_SELECTOR)
    ]
    (operator_pod,) = pods(cluster, ns, "app.kubernetes.io/name=holon-operator")
    operator = [f"{operator_pod['status']['podIP']}:{OPERATOR_METRICS_PORT}"]
    with running_prometheus({"runtime": runtime, "operator": operator}, tmp_path) as prometheus:
        cluster.eventually(
            "Prometheus scraping every runtime replica and the operator",
            lambda: (
                prometheus.value('count(up{job="runtime"} == 1)') == len(runtime)
                and prometheus.value('sum(up{job="operator"})') == 1
            ),
            60,
        )
        finished = 'sum(holon_batches_finished_total{result="complete"})'
        cluster.eventually(  # the rolled-over batch ends on a replica of the new version
            "the completed batch in Prometheus", lambda: (prometheus.value(finished) or 0) >= 1, 420
        )
        # a verification runs (on whichever replica the Service picks), so that "no failed
        # verification" is not true merely because none ran
        verifier = admin_headers(
            in_cluster.runtime_url(cluster), in_cluster.database_url, "prometheus-verifier"
        )
        checked = httpx.get(
            f"{in_cluster.runtime_url(cluster)}/api/v1/journal/verify", headers=verifier, timeout=60
        )
        assert checked.status_code == 200, checked.text
        assert checked.json()["ok"], checked.json()
        verified = 'sum(holon_journal_verifications_total{result="ok"})'
        cluster.eventually(
            "the verification in Prometheus", lambda: (prometheus.value(verified) or 0) >= 1, 60
        )
        refused = httpx.post(  # one failed authentication, for the security families
            f"{in_cluster.runtime_url(cluster)}/api/v1/auth/token",
            json={"username": "prometheus-verifier", "password": "not-the-password"},
            timeout=30,
        )
        assert refused.status_code == 401, refused.text
        cluster.eventually(
            "the failed login in Prometheus",
            lambda: (prometheus.value('sum(holon_auth_failures_total{via="login"})') or 0) >= 1,
            60,
        )
        checks = (*runtime_checks(len(runtime)), *operator_checks())
        recorded = prometheus.families("runtime") | prometheus.families("operator")
        assert not unchecked(recorded, checks), "families without a query in prometheus_checks"
        misses = failing(prometheus.value, checks)
        assert not misses, "\n".join(misses)
        drift = 'sum(holon_operator_drift_corrections_total{kind="Deployment"})'
        before = prometheus.value(drift) or 0.0
        cluster.kubectl("scale", "deployment", f"{MODULE}-blue", "--replicas=1", "-n", ns)
        cluster.eventually(
            "the operator's drift counter to rise",
            lambda: (prometheus.value(drift) or 0.0) > before,
            60,
        )
    cluster.eventually("the module Ready again", lambda: module_ready(cluster, ns), 120)


SQLITE_MODULE = "ebr-lite"
SQLITE_SELECTOR = f"app.kubernetes.io/name=mes-runtime,app.kubernetes.io/instance={SQLITE_MODULE}"


def sqlite_module(version: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": "MESModule",
        "metadata": {"name": SQLITE_MODULE},
        "spec": {
            "module": "batch-execution",
            "version": version,
            "image": RUNTIME_IMAGE,
            "placement": PLACEMENT,
        },  # the default engine: SQLite, one replica
    }


def test_a_sqlite_module_keeps_its_record_across_pod_deletion_and_a_version_change(
    cluster: Cluster, in_cluster: InCluster
) -> None:
    """The operator gives a SQLite module a PersistentVolumeClaim (provided here by the
    local cluster's default StorageClass): users, equipment and the journal written before
    are all there, unchanged and verified, after the Pod is deleted and after the module
    moves to a new version (a Recreate rollout onto the same claim)."""
    ns = in_cluster.namespace
    cluster.apply(sqlite_module(VERSION), namespace=ns)
    (pod,) = _sqlite_pods_ready(cluster, ns, VERSION, exclude=set())
    claim = cluster.get("persistentvolumeclaim", f"{SQLITE_MODULE}-data", ns)
    assert claim["status"]["phase"] == "Bound", claim["status"]
    assert "ownerReferences" not in claim["metadata"]  # deleting the module keeps the EBR
    volume = claim["spec"]["volumeName"]

    made = cluster.kubectl(
        "exec", "-n", ns, pod["metadata"]["name"], "--",
        "mes-runtime", "create-admin", "--username", "admin", check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    password = made.stdout.strip().splitlines()[-1]
    base = f"http://{cluster.get('service', SQLITE_MODULE, ns)['spec']['clusterIP']}"
    headers = _login(base, password)
    imported = httpx.post(
        f"{base}/api/v1/equipment",
        content=in_cluster.simulator.manifest_path.read_bytes(),
        headers={**headers, "Content-Type": "application/xml"},
        timeout=30,
    )
    assert imported.status_code == 201, imported.text
    before = _journal(base, headers)
    assert any(e["action"] == "equipment.imported" for e in before), before

    seen = {pod["metadata"]["name"]}
    cluster.kubectl("delete", "pod", "-n", ns, pod["metadata"]["name"], "--wait=false")
    (pod,) = _sqlite_pods_ready(cluster, ns, VERSION, exclude=seen)
    _same_record(base, password, before, "BR-101")

    seen.add(pod["metadata"]["name"])
    cluster.apply(sqlite_module(NEXT_VERSION), namespace=ns)
    (pod,) = _sqlite_pods_ready(cluster, ns, NEXT_VERSION, exclude=seen)
    _same_record(base, password, before, "BR-101")
    claim = cluster.get("persistentvolumeclaim", f"{SQLITE_MODULE}-data", ns)
    assert claim["spec"]["volumeName"] == volume  # the same volume all along
    print(f"\n[sqlite module] {len(before)} journal entries kept on {volume}", flush=True)


def _sqlite_pods_ready(
    cluster: Cluster, ns: str, version: str, *, exclude: set[str]
) -> list[dict[str, Any]]:
    image = f"{RUNTIME_IMAGE}:{version}"

    def one_new_ready_pod() -> bool:
        current = pods(cluster, ns, SQLITE_SELECTOR)
        return (
            len(current) == 1
            and current[0]["metadata"]["name"] not in exclude
            and current[0]["spec"]["containers"][0]["image"] == image
            and ready(current[0])
        )

    cluster.eventually(f"one new Ready Pod of {SQLITE_MODULE} at {version}", one_new_ready_pod, 180)
    return pods(cluster, ns, SQLITE_SELECTOR)


def _login(base: str, password: str) -> dict[str, str]:
    routed = get_once_routed(f"{base}/healthz")  # the Service routes before we sign in
    assert routed.status_code == 200, routed.text
    answer = httpx.post(
        f"{base}/api/v1/auth/token",
        json={"username": "admin", "password": password},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _journal(base: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    verified = httpx.get(f"{base}/api/v1/journal/verify", headers=headers, timeout=30)
    assert verified.status_code == 200, verified.text
    assert verified.json()["ok"], verified.json()
    page = httpx.get(f"{base}/api/v1/journal", params={"limit": 500}, headers=headers, timeout=30)
    assert page.status_code == 200, page.text
    return list(page.json()["entries"])


def _same_record(base: str, password: str, before: list[dict[str, Any]], equipment: str) -> None:
    """The admin signs in with the password set before, the equipment is still imported,
    and the journal verifies and begins with exactly the entries written before."""
    headers = _login(base, password)
    after = _journal(base, headers)
    assert after[: len(before)] == before
    listed = httpx.get(f"{base}/api/v1/equipment", headers=headers, timeout=10).json()
    assert equipment in {e["name"] for e in listed}, listed
