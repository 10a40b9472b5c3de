"""The upgrade machine's I/O edge (upgrade/fetch, execute, drive) against a real API server
and a real runtime process.

The operator's code runs in this process with a token of the chart's ServiceAccount, so
every call it makes is checked by the chart's RBAC. The runtime is a real ``mes-runtime
serve`` (SQLite) on the host: the machine account signs in to it and moves its real
batch-ownership grant. Pods are kwok's (simulated: Ready at once, a Job's Pod completes
without running anything), so the backup Job "completes" without a report - which is
exactly the verified-backup gate's case: no verified backup, no migration.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from e2e_cluster import Cluster
from lightkube import AsyncClient, KubeConfig
from mes_operator.builders.context import ModuleContext
from mes_operator.evidence.store import fetch
from mes_operator.evidence.verify import verify_package
from mes_operator.models.mesmodule import Colour, UpgradePhase, UpgradeStatus
from mes_operator.reconcile.events import Event
from mes_operator.reconcile.module import reconcile_module
from mes_operator.reconcile.qualify import Capture
from mes_operator.upgrade import (
    DeleteColour,
    DeployColour,
    MoveActiveSelector,
    MovePreviewService,
    SetGrant,
    UpgradeEvent,
)
from mes_operator.upgrade.execute import execute
from mes_operator.upgrade.fetch import observe
from mes_operator.upgrade.observation import Observation
from mes_operator.upgrade.runtime import Runtime
from operator_support import (  # noqa: F401
    HolonInstall,
    OperatorFactory,
    condition,
    holon,
    module,
    operators,
)
from operator_support import events as kube_events

from holon_testing.runtime_process import RuntimeProcess, serving

pytestmark = pytest.mark.e2e

PASSWORD = "a long machine passphrase for upgrades"
KIND = "mes.holon.dev/upgrade-job"
STORE = {  # never reached: the simulated backup Job runs nothing
    "HOLON_BACKUP_S3_ENDPOINT": "http://object-store.invalid:8333",
    "HOLON_BACKUP_S3_ACCESS_KEY": "wire-test-access-key",
    "HOLON_BACKUP_S3_SECRET_KEY": "wire-test-secret-key",
    "HOLON_BACKUP_S3_BUCKET": "holon-backups",
}


def _secret(name: str, data: dict[str, str]) -> dict[str, Any]:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": encoded}


@pytest.fixture
def runtime_process(tmp_path: Path) -> Iterator[RuntimeProcess]:
    """A real runtime with a machine account of role upgrade (its password set)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'runtime.db'}"
    made = subprocess.run(
        [sys.executable, "-m", "mes_runtime", "create-user", "--username", "upgrader",
         "--full-name", "Holon operator", "--role", "upgrade", "--database-url", url],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    token = made.stdout.strip().splitlines()[-1]
    with serving(tmp_path, database_url=url, data_dir=str(tmp_path)) as runtime:
        answer = httpx.post(
            f"{runtime.url}/api/v1/auth/password/setup",
            json={"username": "upgrader", "setup_token": token, "new_password": PASSWORD},
            timeout=30,
        )
        assert answer.status_code == 204, answer.text
        yield runtime


@pytest.fixture
async def kube(operators: OperatorFactory) -> AsyncIterator[AsyncClient]:  # noqa: F811
    """An API client holding only the chart's ServiceAccount token."""
    config = KubeConfig.from_file(operators.kubeconfig())
    client = AsyncClient(config=config, field_manager="holon-operator")
    yield client
    await client.close()


@pytest.fixture
async def access(runtime_process: RuntimeProcess) -> AsyncIterator[Runtime]:
    http = httpx.AsyncClient(timeout=10)
    yield Runtime(http=http, url=runtime_process.url)
    await http.aclose()


def _setup(cluster: Cluster, namespace: str) -> None:
    cluster.apply(
        _secret("batch-upgrade-account", {"username": "upgrader", "password": PASSWORD}),
        _secret("store", STORE),
        _secret("db", {"url": "postgresql+asyncpg://holon@db.invalid/holon"}),
        module(
            "batch",
            replicas=2,
            database={"engine": "postgresql", "credentialsSecretRef": {"name": "db"}},
            upgradeStrategy={"orchestrated": True, "observeSeconds": 5},
            backup={"storeSecret": "store"},
        ),
        namespace=namespace,
    )


def _body(cluster: Cluster, namespace: str) -> dict[str, Any]:
    body: dict[str, Any] = cluster.get("mesmodule", "batch", namespace)
    return body


async def _reconcile(
    kube: AsyncClient, runtime: Runtime, cluster: Cluster, namespace: str, events: list[Event]
) -> dict[str, Any]:
    await reconcile_module(kube, _body(cluster, namespace), emit=events.append, runtime=runtime)
    return _body(cluster, namespace)


async def _until(what: str, check: Any, within: float = 90) -> Any:
    """Await check() until it returns something truthy (a bound, not a timing assert)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not (result := await check()):
        if loop.time() > deadline:
            pytest.fail(f"not within {within:.0f}s: {what}")
        await asyncio.sleep(0.5)
    return result


def _image(cluster: Cluster, namespace: str, colour: str) -> str:
    dep = cluster.get("deployment", f"batch-{colour}", namespace)
    return str(dep["spec"]["template"]["spec"]["containers"][0]["image"])


async def _install(
    kube: AsyncClient, access: Runtime, cluster: Cluster, namespace: str, events: list[Event]
) -> None:
    """The orchestrated module at 1.0.0, installed by the plain reconcile (after its schema
    Job, which kwok's Pod completes)."""
    _setup(cluster, namespace)

    async def installed() -> bool:
        body = await _reconcile(kube, access, cluster, namespace, events)
        return (body.get("status") or {}).get("currentVersion") == "1.0.0"

    await _until("the module at 1.0.0 (plain reconcile)", installed)


def _set_version(cluster: Cluster, namespace: str, version: str) -> None:
    patch = json.dumps({"spec": {"version": version}})
    cluster.kubectl("patch", "mesmodule", "batch", "-n", namespace, "--type=merge", "-p", patch)


async def _grant(access: Runtime) -> dict[str, Any]:
    """The runtime's batch-ownership grant, read as the machine account."""
    async with httpx.AsyncClient(timeout=10) as http:
        login = {"username": "upgrader", "password": PASSWORD}
        token = (await http.post(f"{access.url}/api/v1/auth/token", json=login)).json()
        answer = await http.get(
            f"{access.url}/api/v1/upgrade/owner",
            headers={"Authorization": f"Bearer {token['access_token']}"},
        )
    grant: dict[str, Any] = answer.json()
    return grant


def _jobs(cluster: Cluster, namespace: str, *, install: bool = False) -> list[dict[str, Any]]:
    """The module's upgrade Jobs; with ``install``, its first install's schema Job too."""
    items: list[dict[str, Any]] = cluster.get("jobs", None, namespace)["items"]
    return [j for j in items if install or j["metadata"]["labels"].get(KIND) != "install"]


async def test_an_unverified_backup_stops_the_upgrade_before_any_migration(
    cluster: Cluster, namespace: str, kube: AsyncClient, access: Runtime
) -> None:
    events: list[Event] = []
    await _install(kube, access, cluster, namespace, events)

    # a new version: the machine, not the plain reconcile, takes it from here
    _set_version(cluster, namespace, "1.1.0")
    body = await _reconcile(kube, access, cluster, namespace, events)
    upgrade = body["status"]["upgrade"]
    assert upgrade["phase"] == "VerifiedBackup", upgrade
    assert (upgrade["fromVersion"], upgrade["toVersion"], upgrade["colour"]) == (
        "1.0.0",
        "1.1.0",
        "green",
    )
    assert body["status"]["phase"] == "Upgrading"
    assert condition(body, "Progressing")["reason"] == "VerifiedBackup"
    assert _image(cluster, namespace, "blue").endswith(":1.0.0"), "blue was rolled"
    assert "UpgradeStarted" in [e.reason for e in events]

    # the backup Job: the serving version's image, the store only through its Secret
    (job,) = _jobs(cluster, namespace)
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].endswith(":1.0.0")
    assert container["envFrom"] == [{"secretRef": {"name": "store"}}]
    assert f"s3://$(HOLON_BACKUP_S3_BUCKET)/{namespace}/batch/1.0.0-1" in container["args"]
    keys = {STORE["HOLON_BACKUP_S3_ACCESS_KEY"], STORE["HOLON_BACKUP_S3_SECRET_KEY"]}
    assert not keys & set(json.dumps(job).split('"')), "a store key was copied into the Job"

    # kwok completes the Job's Pod without a report: the gate refuses it and rolls back
    async def ended() -> dict[str, Any] | None:
        body = await _reconcile(kube, access, cluster, namespace, events)
        phase = body["status"]["upgrade"]["phase"]
        return body if phase == "RolledBack" else None

    body = await _until("the upgrade rolled back", ended)
    assert [
        j["metadata"]["labels"]["mes.holon.dev/upgrade-job"] for j in _jobs(cluster, namespace)
    ] == ["backup"], "a migration ran without a verified backup"
    degraded = condition(body, "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "BackupNotVerified")
    assert "the backup Job reported nothing" in degraded["message"]
    assert body["status"]["upgrade"]["cause"] == "BackupNotVerified"
    assert body["status"]["activeColour"] == "blue"
    assert body["status"]["currentVersion"] == "1.0.0"
    warnings = [e for e in events if e.type == "Warning"]
    assert [e.reason for e in warnings] == ["BackupNotVerified", "RolledBack"], events
    assert _image(cluster, namespace, "blue").endswith(":1.0.0")
    # the real runtime holds the hand-back: blue owns the batches
    async with httpx.AsyncClient(timeout=10) as http:
        anonymous = await http.get(f"{access.url}/api/v1/upgrade/owner")
        assert anonymous.status_code == 401  # the grant is not public
    grant = await _grant(access)
    assert (grant["colour"], grant["upgrade_pending"]) == ("blue", False)

    # rolled back at this version: the machine keeps the module where it is
    again = await _reconcile(kube, access, cluster, namespace, events)
    assert again["status"]["upgrade"] == body["status"]["upgrade"]
    assert len(_jobs(cluster, namespace)) == 1


async def test_slots_selectors_and_grant_are_ensured_idempotently(
    cluster: Cluster, namespace: str, kube: AsyncClient, access: Runtime
) -> None:
    events: list[Event] = []
    await _install(kube, access, cluster, namespace, events)
    said: list[UpgradeEvent] = []
    ctx = ModuleContext.from_body(_body(cluster, namespace))
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    upgrade = UpgradeStatus(
        phase=UpgradePhase.DEPLOY_GREEN,
        from_version="1.0.0",
        to_version="1.1.0",
        started_at=now,
        phase_started_at=now,
        colour=Colour.GREEN,
    )
    actions = (
        SetGrant(colour=Colour.BLUE, upgrade_pending=False, reason="green starting"),
        DeployColour(colour=Colour.GREEN, version="1.1.0"),
        MovePreviewService(colour=Colour.GREEN),
    )
    for _ in range(2):  # twice: the second run changes nothing
        seen = await observe(kube, access, ctx, upgrade, now=datetime.now(UTC), request=None)
        await execute(kube, access, ctx, upgrade, actions, seen=seen, emit=said.append)

    async def green_ready() -> Observation | None:
        seen = await observe(kube, access, ctx, upgrade, now=datetime.now(UTC), request=None)
        return seen if seen.new_ready else None

    seen = await _until("green ready at 1.1.0 (kwok's Pods)", green_ready)
    assert (seen.new_exists, seen.old_exists) == (True, True)
    assert (seen.grant, seen.upgrade_pending, seen.selector) == (Colour.BLUE, False, Colour.BLUE)
    assert seen.safe_point.safe  # no batch runs
    assert _image(cluster, namespace, "green").endswith(":1.1.0")
    assert _image(cluster, namespace, "blue").endswith(":1.0.0")
    green_env = cluster.get("deployment", "batch-green", namespace)["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert {"name": "HOLON_COLOUR", "value": "green"} in green_env["env"]
    assert green_env["envFrom"] == [{"configMapRef": {"name": "batch-config-green"}}]
    preview = cluster.get("service", "batch-preview", namespace)
    assert preview["spec"]["selector"]["mes.holon.dev/colour"] == "green"

    switch = (
        MoveActiveSelector(colour=Colour.GREEN),
        SetGrant(colour=Colour.GREEN, upgrade_pending=False, reason="switched"),
    )
    await execute(kube, access, ctx, upgrade, switch, seen=seen, emit=said.append)
    seen = await observe(kube, access, ctx, upgrade, now=datetime.now(UTC), request=None)
    assert (seen.selector, seen.grant) == (Colour.GREEN, Colour.GREEN)

    await execute(kube, access, ctx, upgrade, (DeleteColour(colour=Colour.GREEN),), seen=seen,
                  emit=said.append)  # fmt: skip
    seen = await observe(kube, access, ctx, upgrade, now=datetime.now(UTC), request=None)
    assert not seen.new_exists
    for kind, name in (("configmap", "batch-config-green"), ("service", "batch-preview")):
        gone = cluster.kubectl("get", kind, name, "-n", namespace, check=False)
        assert gone.returncode != 0, f"{kind}/{name} left behind"
    assert cluster.get("configmap", "batch-config", namespace)  # blue's settings stay


def _job_of(cluster: Cluster, namespace: str, kind: str) -> dict[str, Any] | None:
    jobs = [
        j for j in _jobs(cluster, namespace, install=True) if j["metadata"]["labels"][KIND] == kind
    ]
    return jobs[0] if jobs else None


def _complete(cluster: Cluster, namespace: str, kind: str) -> bool:
    job = _job_of(cluster, namespace, kind)
    conditions = ((job or {}).get("status") or {}).get("conditions") or []
    return any(c["type"] == "Complete" and c["status"] == "True" for c in conditions)


def _report_backup(cluster: Cluster, namespace: str, job: str, location: str) -> None:
    """What `mes-runtime backup create --verify --result-file /dev/termination-log` writes
    (kwok's Pod ran nothing, so the test writes its summary into the Pod's status)."""
    pods = cluster.get("pods", None, namespace)["items"]
    (pod,) = [p for p in pods if p["metadata"]["labels"].get("job-name") == job]
    summary = {"verified": True, "location": location, "digest": "ab" * 32, "mismatches": []}
    terminated = pod["status"]["containerStatuses"][0]["state"].get("terminated") or {}
    patch = {
        "status": {
            "containerStatuses": [
                {
                    **pod["status"]["containerStatuses"][0],
                    "state": {
                        "terminated": {
                            **terminated,
                            "exitCode": 0,
                            "reason": "Completed",
                            "message": json.dumps(summary),
                        }
                    },
                }
            ]
        }
    }
    cluster.kubectl(
        "patch", "pod", pod["metadata"]["name"], "-n", namespace, "--subresource=status",
        "--type=merge", "-p", json.dumps(patch),
    )  # fmt: skip


async def test_an_orchestrated_upgrade_runs_every_phase_to_qualified(
    cluster: Cluster, namespace: str, kube: AsyncClient, access: Runtime
) -> None:
    """The happy path through the real API server and the real runtime's grant: Jobs run
    in order, green comes up beside blue, the Service and the grant switch, blue goes,
    and the plain reconcile takes green over without touching it."""
    events: list[Event] = []
    await _install(kube, access, cluster, namespace, events)
    _set_version(cluster, namespace, "1.1.0")
    body = await _reconcile(kube, access, cluster, namespace, events)
    assert body["status"]["upgrade"]["phase"] == "VerifiedBackup"

    async def backup_done() -> bool:
        return _complete(cluster, namespace, "backup")

    await _until("the backup Job complete", backup_done)
    backup = _job_of(cluster, namespace, "backup")
    assert backup is not None
    location = f"s3://holon-backups/{namespace}/batch/1.0.0-1"
    _report_backup(cluster, namespace, backup["metadata"]["name"], location)

    phases: list[str] = []

    async def reached(phase: str) -> Any:
        async def check() -> dict[str, Any] | None:
            body = await _reconcile(kube, access, cluster, namespace, events)
            upgrade = (body.get("status") or {}).get("upgrade") or {}
            if not phases or phases[-1] != upgrade.get("phase"):
                phases.append(str(upgrade.get("phase")))
            return body if upgrade.get("phase") == phase else None

        return await _until(f"the upgrade at {phase}", check)

    body = await reached("Observe")
    assert body["status"]["upgrade"]["backupLocation"] == location
    assert body["status"]["upgrade"]["backupDigest"] == "sha256:" + "ab" * 32
    assert body["status"]["activeColour"] == "green"
    assert (
        cluster.get("service", "batch", namespace)["spec"]["selector"]["mes.holon.dev/colour"]
        == "green"
    )
    assert _image(cluster, namespace, "green").endswith(":1.1.0")
    assert _image(cluster, namespace, "blue").endswith(":1.0.0")  # warm, owning nothing
    body = await reached("Qualified")
    assert "Failed" not in phases, phases
    assert "RollingBack" not in phases, phases
    kinds = [
        j["metadata"]["labels"]["mes.holon.dev/upgrade-job"] for j in _jobs(cluster, namespace)
    ]
    assert sorted(kinds) == ["backup", "contract", "expand"]
    for kind in ("expand", "contract"):
        job = _job_of(cluster, namespace, kind)
        assert job is not None
        container = job["spec"]["template"]["spec"]["containers"][0]
        assert container["image"].endswith(":1.1.0")
        assert container["args"] == ["db", "upgrade", f"{kind}@head"]
    gone = cluster.kubectl("get", "deployment", "batch-blue", "-n", namespace, check=False)
    assert gone.returncode != 0, "blue was not retired"
    assert body["status"]["currentVersion"] == "1.1.0"
    reasons = [e.reason for e in events]
    for reason in ("UpgradeStarted", "BackupVerified", "Switched", "UpgradeDone"):
        assert reason in reasons, reasons
    assert not [e for e in events if e.type == "Warning"], events
    grant = await _grant(access)
    assert (grant["colour"], grant["upgrade_pending"]) == ("green", False)

    # the plain reconcile takes green over as it is: no new generation, no restart
    green = cluster.get("deployment", "batch-green", namespace)
    events.clear()
    body = await _reconcile(kube, access, cluster, namespace, events)
    after = cluster.get("deployment", "batch-green", namespace)
    assert after["metadata"]["generation"] == green["metadata"]["generation"]
    assert body["status"]["phase"] == "Ready"
    assert (body["status"]["activeColour"], body["status"]["currentVersion"]) == ("green", "1.1.0")
    # (the ServiceAccount and the PDB only take the new version's label)
    touched = [e.message.split()[1] for e in events if e.reason in {"Updated", "DriftCorrected"}]
    assert not {"Deployment", "ConfigMap", "Service"} & set(touched), events


def test_the_operator_process_drives_an_orchestrated_version_change(
    cluster: Cluster,
    namespace: str,
    operators: OperatorFactory,  # noqa: F811
    runtime_process: RuntimeProcess,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The kopf handlers, not this test, step the upgrade: a version change goes to the
    machine (blue is never rolled to it), and the unverified backup rolls it back with the
    cause in the conditions and the MESModule's Events. Events alone: the timer's interval
    is longer than the test, so the install Job and the backup Job finishing are what
    step the module on (a Job watch), as the spec change and the Deployments do."""
    monkeypatch.setenv("HOLON_OPERATOR_RUNTIME_URL", runtime_process.url)
    operators.start(priority=100, reconcile_interval=3600)
    _setup(cluster, namespace)

    def at(version: str) -> bool:
        status = _body(cluster, namespace).get("status") or {}
        return status.get("currentVersion") == version and status.get("phase") == "Ready"

    cluster.eventually("the module Ready at 1.0.0", lambda: at("1.0.0"), 120)
    _set_version(cluster, namespace, "1.1.0")

    def rolled_back() -> bool:
        assert _image(cluster, namespace, "blue").endswith(":1.0.0"), "blue was rolled"
        upgrade = (_body(cluster, namespace).get("status") or {}).get("upgrade") or {}
        return upgrade.get("phase") == "RolledBack"

    cluster.eventually("the upgrade rolled back by the operator", rolled_back, 120)
    body = _body(cluster, namespace)
    assert condition(body, "Degraded")["reason"] == "BackupNotVerified"
    assert body["status"]["currentVersion"] == "1.0.0"
    reasons = [e.get("reason") for e in kube_events(cluster, namespace, "batch")]
    for reason in ("UpgradeStarted", "BackupNotVerified", "RolledBack"):
        assert reason in reasons, reasons
    assert [
        j["metadata"]["labels"]["mes.holon.dev/upgrade-job"] for j in _jobs(cluster, namespace)
    ] == ["backup"]


def _fail_pods(cluster: Cluster, namespace: str, job: str, message: str) -> None:
    """End every unfinished Pod of ``job`` with exit code 3 and ``message`` (what a real
    failing container reports; kwok's Pods only ever succeed, and these are unscheduled)."""
    for pod in cluster.get("pods", None, namespace)["items"]:
        labels = pod["metadata"].get("labels") or {}
        if labels.get("job-name") != job or pod["status"].get("phase") in {"Failed", "Succeeded"}:
            continue
        container = pod["spec"]["containers"][0]
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        ended = {"exitCode": 3, "reason": "Error", "message": message}
        status = {
            "phase": "Failed",
            "containerStatuses": [
                {
                    "name": container["name"],
                    "image": container["image"],
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "state": {"terminated": {**ended, "startedAt": now, "finishedAt": now}},
                }
            ],
        }
        cluster.kubectl(
            "patch", "pod", pod["metadata"]["name"], "-n", namespace, "--subresource=status",
            "--type=merge", "-p", json.dumps({"status": status}),
        )  # fmt: skip


def _deployments(cluster: Cluster, namespace: str, module_name: str) -> list[str]:
    items = cluster.get("deployments", None, namespace)["items"]
    return [
        d["metadata"]["name"]
        for d in items
        if d["metadata"]["labels"].get("mes.holon.dev/module") == module_name
    ]


async def test_an_orchestrated_first_install_makes_its_schema_by_a_job_first(
    cluster: Cluster, namespace: str, kube: AsyncClient
) -> None:
    """Issue #9: an orchestrated module's Pods never migrate, so its first install runs
    `mes-runtime db upgrade heads` as a Job and creates the Deployment only once the Job
    succeeded (kwok's Pod completes, the real Job controller marks it Complete); a failed
    Job (its Pods ended by this test, the Job controller giving up after backoffLimit)
    degrades the module, naming the Job and the Pod's exit, once, and is not retried
    until it is deleted. Run as the chart's ServiceAccount: RBAC is the chart's."""
    events: list[Event] = []

    async def reconcile(name: str) -> dict[str, Any]:
        body = cluster.get("mesmodule", name, namespace)
        await reconcile_module(kube, body, emit=events.append)
        got: dict[str, Any] = cluster.get("mesmodule", name, namespace)
        return got

    _setup(cluster, namespace)  # "batch", orchestrated, on PostgreSQL, never installed
    body = await reconcile("batch")
    job = _job_of(cluster, namespace, "install")
    assert job is not None, "no schema Job"
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].endswith(":1.0.0")
    assert container["args"] == ["db", "upgrade", "heads"]
    assert container["env"][0]["name"] == "HOLON_DATABASE_URL"
    assert _deployments(cluster, namespace, "batch") == [], "a Deployment before the schema"
    progressing = condition(body, "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("True", "MigratingSchema")
    assert job["metadata"]["name"] in progressing["message"]
    assert condition(body, "Ready")["status"] == "False"
    assert condition(body, "MigrationInProgress")["status"] == "True"

    async def deployed() -> bool:
        await reconcile("batch")
        made = _deployments(cluster, namespace, "batch")
        if made:  # only ever after the Job succeeded (Complete is final)
            assert _complete(cluster, namespace, "install"), "the Deployment came first"
        return bool(made)

    await _until("the Deployment after the schema Job", deployed)
    config = cluster.get("configmap", "batch-config", namespace)
    assert config["data"]["HOLON_MIGRATE_ON_START"] == "false"
    dep = cluster.get("deployment", "batch-blue", namespace)
    env_from = dep["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    assert env_from == [{"configMapRef": {"name": "batch-config"}}]

    async def ready() -> bool:
        status = (await reconcile("batch")).get("status") or {}
        return status.get("currentVersion") == "1.0.0"

    await _until("the module Ready at 1.0.0", ready)
    reasons = [e.reason for e in events]
    for reason in ("MigratingSchema", "SchemaMigrated"):
        assert reasons.count(reason) == 1, events
    assert not [e for e in events if e.type == "Warning"], events  # no drift: all born
    assert len(_jobs(cluster, namespace, install=True)) == 1

    # a Job that fails: its Pods placed nowhere (never run by kwok), ended by the test
    events.clear()
    cluster.apply(
        module(
            "line",
            database={"engine": "postgresql", "credentialsSecretRef": {"name": "db"}},
            upgradeStrategy={"orchestrated": True},
            backup={"storeSecret": "store"},
            placement={"nodeSelector": {"holon.dev/e2e": "nowhere"}},
        ),
        namespace=namespace,
    )
    await reconcile("line")
    (failing,) = [
        j
        for j in _jobs(cluster, namespace, install=True)
        if j["metadata"]["labels"]["mes.holon.dev/module"] == "line"
    ]
    name = failing["metadata"]["name"]
    said = "alembic: permission denied for schema public"

    async def job_failed() -> bool:
        _fail_pods(cluster, namespace, name, said)
        conditions = cluster.get("job", name, namespace).get("status", {}).get("conditions") or []
        return any(c["type"] == "Failed" and c["status"] == "True" for c in conditions)

    await _until("the Job failed (backoffLimit spent)", job_failed, within=180)
    body = await reconcile("line")
    degraded = condition(body, "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "SchemaMigrationFailed")
    assert f"Job {name}" in degraded["message"]
    assert f"exit code 3 (Error): {said}" in degraded["message"]
    assert body["status"]["phase"] == "Degraded"
    await reconcile("line")  # and again: no second Job, no second Warning, no Deployment
    warnings = [e for e in events if e.type == "Warning"]
    assert [e.reason for e in warnings] == ["SchemaMigrationFailed"], events
    assert name in warnings[0].message
    assert _deployments(cluster, namespace, "line") == []
    assert cluster.get("job", name, namespace)["metadata"]["uid"] == failing["metadata"]["uid"]

    # deleting the failed Job is the retry: the same name, a new Job
    cluster.kubectl("delete", "job", name, "-n", namespace, "--wait=true", "--timeout=60s")
    body = await reconcile("line")
    again = cluster.get("job", name, namespace)
    assert again["metadata"]["uid"] != failing["metadata"]["uid"]
    assert condition(body, "Progressing")["reason"] == "MigratingSchema"
    assert condition(body, "Degraded")["status"] == "False"


def _config_hash(cluster: Cluster, namespace: str) -> str:
    dep = cluster.get("deployment", "batch-blue", namespace)
    return str(dep["spec"]["template"]["metadata"]["annotations"]["mes.holon.dev/config-hash"])


async def test_a_module_installed_plainly_that_turns_orchestrated_on_runs_no_schema_job(
    cluster: Cluster, namespace: str, kube: AsyncClient
) -> None:
    """Its Pods made the schema when they started: turning ``orchestrated`` on changes its
    ConfigMap (its Pods migrate no more, so they roll to it) and runs no Job."""
    events: list[Event] = []
    pg = {"engine": "postgresql", "credentialsSecretRef": {"name": "db"}}
    cluster.apply(
        _secret("store", STORE),
        _secret("db", {"url": "postgresql+asyncpg://holon@db.invalid/holon"}),
        module("batch", database=pg),
        namespace=namespace,
    )

    async def ready() -> dict[str, Any] | None:
        await reconcile_module(kube, _body(cluster, namespace), emit=events.append)
        body = _body(cluster, namespace)
        return body if (body.get("status") or {}).get("phase") == "Ready" else None

    await _until("the plain module Ready", ready)
    config = cluster.get("configmap", "batch-config", namespace)
    assert "HOLON_MIGRATE_ON_START" not in config["data"]
    hashed = _config_hash(cluster, namespace)
    patch = {
        "spec": {"upgradeStrategy": {"orchestrated": True}, "backup": {"storeSecret": "store"}}
    }
    cluster.kubectl(
        "patch", "mesmodule", "batch", "-n", namespace, "--type=merge", "-p", json.dumps(patch)
    )
    body = await ready()  # rolled to the new ConfigMap; no gate on the way
    assert body is None or condition(body, "Progressing")["reason"] != "MigratingSchema"
    body = await _until("Ready with the new settings", ready)
    config = cluster.get("configmap", "batch-config", namespace)
    assert config["data"]["HOLON_MIGRATE_ON_START"] == "false"
    assert _config_hash(cluster, namespace) != hashed, "the Pods did not roll to it"
    assert _jobs(cluster, namespace, install=True) == []
    assert body["status"]["currentVersion"] == "1.0.0"
    assert "MigratingSchema" not in [e.reason for e in events]


async def test_a_failed_oq_on_green_rolls_back_and_its_package_says_not_qualified(
    cluster: Cluster, namespace: str, kube: AsyncClient, access: Runtime
) -> None:
    """With evidence captured, green's OQ Job (the new version's image) runs before the
    switch. kwok's Pod ends without the suite's report - an OQ that reported nothing, which
    is a failed row: the upgrade rolls back before anything was handed over, and the
    attempt's signed package (kept, verifiable offline) says NOT QUALIFIED naming the row,
    with the disruption record of what happened; ``Qualified`` follows it."""
    events: list[Event] = []
    await _install(kube, access, cluster, namespace, events)  # no evidence for the install
    key = Ed25519PrivateKey.generate()
    capture = Capture(key=key, runtime=access)

    async def step() -> dict[str, Any]:
        await reconcile_module(
            kube, _body(cluster, namespace), emit=events.append, runtime=access, capture=capture
        )
        return _body(cluster, namespace)

    _set_version(cluster, namespace, "1.1.0")
    assert (await step())["status"]["upgrade"]["phase"] == "VerifiedBackup"

    async def backup_done() -> bool:
        return _complete(cluster, namespace, "backup")

    await _until("the backup Job complete", backup_done)
    backup = _job_of(cluster, namespace, "backup")
    assert backup is not None
    _report_backup(cluster, namespace, backup["metadata"]["name"], "s3://holon-backups/x/1")

    async def recorded() -> dict[str, Any] | None:
        body = await step()
        return body if (body.get("status") or {}).get("lastEvidence") else None

    body = await _until("the attempt's package", recorded, within=120)
    upgrade = body["status"]["upgrade"]
    assert (upgrade["phase"], upgrade["cause"]) == ("RolledBack", "OperationalQualificationFailed")
    assert "OQ-01 (URS-OQ-04): the OQ Job reported no rows" in upgrade["message"]
    oq_job = _job_of(cluster, namespace, "oq")
    assert oq_job is not None
    container = oq_job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].endswith(":1.1.0")
    assert container["args"][:3] == ["oq", "--scope", "full"]
    assert "env" not in container or all("secretKeyRef" not in str(e) for e in container["env"])
    phases = [m["phase"] for m in upgrade["timeline"]]
    assert "SafePoint" not in phases  # green never owned a batch
    assert phases[-2:] == ["RollingBack", "RolledBack"]
    assert body["status"]["activeColour"] == "blue"
    grant = await _grant(access)
    assert grant["colour"] == "blue"

    last = body["status"]["lastEvidence"]
    assert (last["event"], last["version"], last["attempt"]) == ("Rollback", "1.1.0", 1)
    assert last["verdict"] == "NOT QUALIFIED"
    qualified = condition(body, "Qualified")
    assert (qualified["status"], qualified["reason"]) == ("False", "NotQualified")
    record = cluster.get("qualification", last["qualification"], namespace)
    assert record["spec"]["verdict"] == "NOT QUALIFIED"
    files = await fetch(kube, record["spec"]["packageLocation"])
    verified = verify_package(files, key.public_key())
    assert verified.ok, verified.problems
    document = verified.document
    assert document is not None
    assert (document["header"]["fromVersion"], document["header"]["toVersion"]) == (
        "1.0.0",
        "1.1.0",
    )
    failed = {r["id"]: r for r in document["oq"] if r["result"] != "pass"}
    assert set(failed) >= {"OQ-01", "UPG-01"}, document["oq"]
    assert failed["OQ-01"]["requirement"] == "URS-OQ-04"
    assert failed["UPG-01"]["actual"]["cause"] == "OperationalQualificationFailed"
    assert failed["UPG-01"]["actual"]["atPhase"] == "OperationalQualification"
    disruption = document["disruption"]
    assert (disruption["outcome"], disruption["rollbacks"]) == ("rolledBack", 1)
    assert disruption["journalVerified"] is True  # the real runtime's chain
    assert disruption["handOver"]["takeovers"] == 0
    assert disruption["switches"][-1]["to"] == "blue"  # the hand-back at the rollback
    # recorded once: more reconciles add no Qualification
    await step()
    items = cluster.get("qualifications", None, namespace)["items"]
    assert [q["metadata"]["name"] for q in items] == [last["qualification"]]
