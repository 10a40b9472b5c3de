"""Issue #9 on the real node: the operator upgrades a running module with zero downtime.

The previous release (``[tool.holon] previous-release``, its image built by that commit's
own image builder) runs as a 2-replica orchestrated module on PostgreSQL and the simulator;
a batch runs on it; a client reads, commands and writes through the module's Service
(>= 20 requests/s; the writes import recipe versions, rows of the table whose author column
this tree's version renames). Then ``spec.version`` moves to this tree's version and the
operator runs its machine: verified backup into the object store, expand Job, green slot,
checks, safe point, switch with batch hand-over, observe, contract Job, blue retired.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_cluster import Cluster
from mes_operator.builders.upgrade import JOB_KIND_LABEL
from prometheus_client.parser import text_string_to_metric_families
from real_node_evidence import check_upgrade_evidence, install_record
from real_node_module import (
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
    REPO,
    VERSION,
    CommandLoop,
    RealNode,
    RecipeWriter,
    pod_logs,
    pods,
)
from sqlalchemy import func, select

from holon_testing.load import LoadLoop
from holon_testing.object_store import S3Server
from holon_testing.real_node import (
    CULTIVATION,
    RECIPE,
    RUNTIME_IMAGE,
    admin_headers,
    enrol,
    object_store_secret,
    running_batch_people,
    sign_in,
    start_batch,
)
from holon_testing.releases import previous_release
from mes_runtime.db.engine import create_engine
from mes_runtime.db.migrate import applied_revisions, current_revisions, head_revisions
from mes_runtime.db.models import MasterRecipe, User
from mes_runtime.library import load_template

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

STORE_SECRET = "backup-store"
ACCOUNT = "holon-upgrade"
OBSERVE_SECONDS = 20
DONE = {"Qualified", "RolledBack", "Failed"}
READY_TIMEOUT = 90  # s: how long the new slot may take to get ready
WRITTEN = "upgrade-load"  # the recipe the client imports version after version


def orchestrated(version: str) -> dict[str, Any]:
    """The module at ``version``, upgraded by the operator's machine."""
    body = mesmodule(version)
    body["spec"]["upgradeStrategy"] = {"orchestrated": True, "observeSeconds": OBSERVE_SECONDS}
    body["spec"]["backup"] = {"storeSecret": STORE_SECRET}
    # an upgrade that passes every row needs no signature here (the install's manual
    # approval is test_real_node's): the rule is recorded in its package instead
    body["spec"]["qualification"] = {"autoApproveCategories": ["Upgrade"]}
    return body


def _account_secret(cluster: Cluster, ns: str, password: str) -> None:
    cluster.kubectl(
        "create", "secret", "generic", f"{MODULE}-upgrade-account", "-n", ns,
        f"--from-literal=username={ACCOUNT}", f"--from-literal=password={password}",
    )  # fmt: skip


def _slot_pods(cluster: Cluster, ns: str) -> list[dict[str, Any]]:
    """The runtime Pods of the module's slots (not its Jobs' Pods, which share the labels)."""
    found = pods(cluster, ns, RUNTIME_SELECTOR)
    return [p for p in found if "job-name" not in p["metadata"].get("labels", {})]


def _upgrade(cluster: Cluster, ns: str) -> dict[str, Any]:
    status: dict[str, Any] = cluster.get("mesmodule", MODULE, ns).get("status", {})
    return dict(status.get("upgrade") or {})


def _explain(cluster: Cluster, ns: str) -> str:
    body = cluster.get("mesmodule", MODULE, ns)
    events = cluster.kubectl(
        "get", "events", "-n", ns, "--sort-by=.lastTimestamp",
        "-o", "custom-columns=REASON:.reason,OBJECT:.involvedObject.name,MESSAGE:.message",
        check=False,
    )  # fmt: skip
    return (
        f"status: {body.get('status')}\nevents:\n{events.stdout[-4000:]}\noperator:\n"
        + pod_logs(cluster, ns, "app.kubernetes.io/name=holon-operator")[-4000:]
    )


OPERATOR_METRICS_PORT = 8082  # the chart's operator.metricsPort


def _operator_samples(
    cluster: Cluster, ns: str
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The (one) operator replica's metric samples: (name, sorted labels) -> value."""
    (pod,) = pods(cluster, ns, "app.kubernetes.io/name=holon-operator")
    url = f"http://{pod['status']['podIP']}:{OPERATOR_METRICS_PORT}/metrics"
    text = httpx.get(url, timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def _recipe_rows(database_url: str) -> dict[int, tuple[int, str | None]]:
    """Each written version's row count and its author's user name."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(MasterRecipe.version, func.count(), func.min(User.username))
                .select_from(MasterRecipe)
                .outerjoin(User, User.id == MasterRecipe.created_by_id)
                .where(MasterRecipe.name == WRITTEN)
                .group_by(MasterRecipe.version)
            )
            return {int(v): (int(n), author) for v, n, author in rows}
    finally:
        await engine.dispose()


def test_the_operator_upgrades_the_previous_release_under_load_with_no_failed_request(
    cluster: Cluster,
    in_cluster: InCluster,
    previous_release_image: str,
    host_object_store: S3Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ns = in_cluster.namespace
    before = previous_release_image
    tree = previous_release()
    object_store_secret(cluster, ns, host_object_store, "holon-upgrades", STORE_SECRET)
    cluster.apply(orchestrated(before), namespace=ns)
    cluster.eventually(
        f"the previous release {before} Ready", lambda: module_ready(cluster, ns), 300
    )
    base = in_cluster.runtime_url(cluster)
    admin = admin_headers(base, in_cluster.database_url, "admin", tree=tree)
    imported = httpx.post(
        f"{base}/api/v1/equipment",
        content=in_cluster.simulator.manifest_path.read_bytes(),
        headers={**admin, "Content-Type": "application/xml"},
        timeout=30,
    )
    assert imported.status_code == 201, imported.text
    account = enrol(base, in_cluster.database_url, ACCOUNT, "upgrade", tree=tree)
    _account_secret(cluster, ns, account)
    # the previous release's evidence (it serves neither the installation facts nor the OQ
    # suite: its package says so), the first link of the module's chain
    install = install_record(cluster, ns)
    operator = running_batch_people(base, in_cluster.database_url, admin, tree=tree)
    # 48 h: about 2.5 min at the simulator's pace (longer with the held spells), across the
    # switch (green's OQ runs beside the backup and the expand, not after them)
    batch_id = start_batch(base, operator)
    recipe = load_template(RECIPE).to_canonical_data()
    recipe["header"] = {**recipe["header"], "name": WRITTEN}

    phases: list[tuple[str, float]] = []
    view = f"{base}/api/v1/batches/{batch_id}"
    with (
        LoadLoop(view, operator, rate=24, workers=3, max_seconds=900) as load,
        CommandLoop(base, operator, batch_id) as commands,
        RecipeWriter(base, admin, recipe, rate=2.0) as writes,
    ):
        time.sleep(3)  # steady load before the upgrade starts
        started = time.monotonic()
        cluster.apply(orchestrated(VERSION), namespace=ns)
        deadline = started + 900  # a wait, not a timing assertion
        while True:
            phase = str(_upgrade(cluster, ns).get("phase", ""))
            if phase and (not phases or phases[-1][0] != phase):
                phases.append((phase, time.monotonic()))
                print(f"[upgrade] {phase} at {phases[-1][1] - started:.1f} s", flush=True)
            if phase in DONE and _upgrade(cluster, ns).get("toVersion") == VERSION:
                break
            assert time.monotonic() < deadline, f"no end after 900 s\n{_explain(cluster, ns)}"
            time.sleep(1)
        time.sleep(3)  # and after it
    end = phases[-1][1]
    assert phases[-1][0] == "Qualified", _explain(cluster, ns)
    seen = [name for name, _ in phases]
    waited = {name: (phases[i + 1][1] if i + 1 < len(phases) else end) - at
              for i, (name, at) in enumerate(phases)}  # fmt: skip
    reads, sent, wrote = load.result, commands.result, writes.result
    print(
        f"\n[upgrade {before} -> {VERSION} under load] total {end - started:.1f} s; "
        f"safe point waited {waited.get('SafePoint', 0.0):.1f} s; phases seen {seen}\n"
        f"  {reads.sent} reads ({reads.rate:.1f}/s) failed {reads.failed}; "
        f"{sent.sent} commands failed {sent.failed}; {wrote.sent} writes failed {wrote.failed}",
        flush=True,
    )
    assert (reads.sent + sent.sent + wrote.sent) / reads.seconds >= 20, "load below 20 req/s"
    assert reads.failed == 0, reads.failures[:10]
    assert sent.sent >= 2, "commands were sent during the upgrade"
    assert sent.failed == 0, sent.failures[:10]
    assert wrote.failed == 0, wrote.failures[:10]
    # a step that moves the phase is followed at once by the next: the 1 s poll may not see
    # every phase, the Events say each was passed
    reasons = set(_events(cluster, ns))
    passed = {"UpgradeStarted", "BackupVerified", "Switched", "OldVersionRetired", "UpgradeDone"}
    assert passed <= reasons, reasons
    assert not reasons & {"RolledBack", "BackupNotVerified", "NewVersionNotReady"}, reasons
    # the operator counted it: one attempt, qualified, each phase left once
    counted = _operator_samples(cluster, ns)
    labels = (("module", MODULE), ("namespace", ns))
    assert (
        counted[("holon_operator_upgrades_ended_total", (*labels, ("outcome", "qualified")))] == 1
    )
    left = {
        dict(key)["phase"]: value
        for (name, key), value in counted.items()
        if name == "holon_operator_upgrade_phase_duration_seconds_count"
    }
    print(f"[upgrade] phases left, as the operator counted them: {left}", flush=True)
    assert left.get("Preflight") == 1, left
    assert left.get("ContractMigration") == 1, left

    # the new version serves alone; the schema is at this tree's heads (contract included)
    serving = _slot_pods(cluster, ns)
    images = {c["image"] for p in serving for c in p["spec"]["containers"]}
    assert images == {f"{RUNTIME_IMAGE}:{VERSION}"}
    assert head_revisions() <= applied_revisions(current_revisions(in_cluster.database_url))
    status = cluster.get("mesmodule", MODULE, ns)["status"]
    assert status["currentVersion"] == VERSION
    assert str(status["upgrade"]["backupLocation"]).startswith("s3://holon-upgrades/")

    # every record the client created is there exactly once, its author kept across the rename
    rows = asyncio.run(_recipe_rows(in_cluster.database_url))
    assert writes.created, "the client created records during the upgrade"
    assert {v: rows.get(v) for v in writes.created} == dict.fromkeys(writes.created, (1, "admin"))

    final = batch_when_ended(cluster, view, operator)
    assert final["state"] == "complete", final
    ok, resumes = asyncio.run(take_overs(in_cluster.database_url, batch_id))
    print(f"[upgrade] hand-overs of {batch_id}: {resumes}", flush=True)
    assert ok, "the journal's hash chain verifies"
    assert resumes, "the batch moved to the new version's replicas - journalled"
    check_upgrade_evidence(
        cluster, ns, install, versions=(before, VERSION), batch_id=batch_id,
        tmp_path=tmp_path, monkeypatch=monkeypatch,
    )  # fmt: skip


def _qualified_at(cluster: Cluster, ns: str, version: str) -> bool:
    status = cluster.get("mesmodule", MODULE, ns).get("status", {})
    upgrade = status.get("upgrade") or {}
    return status.get("currentVersion") == version and upgrade.get("phase") == "Qualified"


def _ended(cluster: Cluster, ns: str, version: str, limit: float) -> dict[str, Any]:
    """The upgrade to ``version`` once it has ended (Qualified, RolledBack or Failed)."""
    ended: list[dict[str, Any]] = []

    def done() -> bool:
        upgrade = _upgrade(cluster, ns)
        ended.append(upgrade)
        return upgrade.get("toVersion") == version and upgrade.get("phase") in DONE

    cluster.eventually(f"the upgrade to {version} to end", done, limit)
    return ended[-1]


def _events(cluster: Cluster, ns: str, kind: str | None = None) -> dict[str, str]:
    """The module's Events (of type ``kind``, if given): reason -> latest message."""
    selector = f"involvedObject.kind=MESModule,involvedObject.name={MODULE}"
    listed = cluster.kubectl(
        "get", "events", "-n", ns, "--field-selector",
        selector + (f",type={kind}" if kind else ""), "-o", "json",
    )  # fmt: skip
    items = sorted(json.loads(listed.stdout)["items"], key=lambda e: str(e.get("lastTimestamp")))
    return {e["reason"]: e["message"] for e in items}


def _warnings(cluster: Cluster, ns: str) -> dict[str, str]:
    """The module's Warning Events: reason -> latest message."""
    return _events(cluster, ns, "Warning")


def test_with_the_object_store_unreachable_the_upgrade_stops_before_any_migration(
    cluster: Cluster, in_cluster: InCluster, host_object_store: S3Server
) -> None:
    """The verified-backup gate: the backup Job cannot reach the store, so the upgrade rolls
    back before the expand (nothing migrated, the serving slot untouched), saying why."""
    ns = in_cluster.namespace
    if not _qualified_at(cluster, ns, VERSION):
        pytest.fail("needs the module upgraded by the previous test, which failed")
    serving = {p["metadata"]["name"] for p in _slot_pods(cluster, ns)}
    schema = current_revisions(in_cluster.database_url)
    nowhere = f"http://nowhere.{ns}.svc.cluster.local:9000"
    down = "backup-store-down"
    object_store_secret(cluster, ns, host_object_store, "holon-upgrades", down, endpoint=nowhere)
    body = orchestrated(NEXT_VERSION)
    body["spec"]["backup"] = {"storeSecret": down}
    cluster.apply(body, namespace=ns)

    upgrade = _ended(cluster, ns, NEXT_VERSION, 300)
    print(f"\n[upgrade gate] {upgrade}", flush=True)
    assert upgrade["phase"] == "RolledBack", _explain(cluster, ns)
    assert upgrade["cause"] == "BackupNotVerified"
    assert f"object store unreachable at {nowhere}" in upgrade["message"]
    assert not upgrade.get("backupLocation")
    warnings = _warnings(cluster, ns)
    assert f"object store unreachable at {nowhere}" in warnings["BackupNotVerified"], warnings
    status = cluster.get("mesmodule", MODULE, ns)["status"]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert (conditions["Degraded"]["status"], conditions["Degraded"]["reason"]) == (
        "True",
        "BackupNotVerified",
    ), conditions
    assert current_revisions(in_cluster.database_url) == schema  # no migration ran
    jobs = cluster.kubectl(
        "get", "jobs", "-n", ns, "-o", "name",
        "-l", f"{JOB_KIND_LABEL}=expand,app.kubernetes.io/version={NEXT_VERSION}",
    )  # fmt: skip
    assert jobs.stdout.strip() == "", jobs.stdout  # the expand Job was never created
    assert {p["metadata"]["name"] for p in _slot_pods(cluster, ns)} == serving
    assert status["currentVersion"] == VERSION


def test_a_release_that_never_gets_ready_is_rolled_back_with_no_failed_request(
    cluster: Cluster, in_cluster: InCluster, defective_release_image: str
) -> None:
    """Automatic rollback: the new slot of a release whose readiness never turns true is
    given up after the module's ready timeout; the serving slot is granted and selected
    again, its running batch never leaves it, no request fails, and the cause is in an
    Event and the Degraded condition."""
    ns = in_cluster.namespace
    status = cluster.get("mesmodule", MODULE, ns).get("status", {})
    if status.get("currentVersion") != VERSION:
        pytest.fail("needs the module upgraded by the first test, which failed")
    base = in_cluster.runtime_url(cluster)
    password = enrol(base, in_cluster.database_url, "operator2", "operator")
    operator = sign_in(base, "operator2", password)
    batch_id = start_batch(base, operator)
    serving = {p["metadata"]["name"] for p in _slot_pods(cluster, ns)}
    view = f"{base}/api/v1/batches/{batch_id}"
    body = orchestrated(defective_release_image)
    body["spec"]["upgradeStrategy"]["greenReadyTimeoutSeconds"] = READY_TIMEOUT
    with (
        LoadLoop(view, operator, rate=24, workers=3, max_seconds=600) as load,
        CommandLoop(base, operator, batch_id) as commands,
    ):
        time.sleep(3)
        cluster.apply(body, namespace=ns)
        upgrade = _ended(cluster, ns, defective_release_image, 600)
        time.sleep(3)
    reads, sent = load.result, commands.result
    print(
        f"\n[rollback under load] {upgrade}\n  {reads.sent} reads ({reads.rate:.1f}/s) failed "
        f"{reads.failed}; {sent.sent} commands failed {sent.failed}",
        flush=True,
    )
    assert upgrade["phase"] == "RolledBack", _explain(cluster, ns)
    assert upgrade["cause"] == "NewVersionNotReady", upgrade
    assert reads.rate >= 20, "the load loop must offer at least 20 requests/s"
    assert reads.failed == 0, reads.failures[:10]
    assert sent.failed == 0, sent.failures[:10]
    warnings = _warnings(cluster, ns)
    assert "NewVersionNotReady" in warnings, warnings
    status = cluster.get("mesmodule", MODULE, ns)["status"]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Degraded"]["reason"] == "NewVersionNotReady", conditions
    cluster.eventually(  # the given-up slot's Pods (never ready, never selected) exit
        "only the serving slot's Pods left",
        lambda: {p["metadata"]["name"] for p in _slot_pods(cluster, ns)} == serving,
        120,
    )

    final = batch_when_ended(cluster, view, operator)
    assert final["state"] == "complete", final
    ok, resumes = asyncio.run(take_overs(in_cluster.database_url, batch_id))
    assert ok, "the journal's hash chain verifies"
    assert resumes == [], "the batch never left the serving slot"


PINNED = "fedbatch-pinned"  # the bioreactor recipe with its cultivation not interruptible
SAFE_VERSION = "0.2.2"  # this tree's image tagged again: an upgrade with nothing to roll back


def _pinned_recipe() -> dict[str, Any]:
    recipe = load_template(RECIPE).to_canonical_data()
    recipe["header"] = {**recipe["header"], "name": PINNED}
    unit = recipe["procedure"]["steps"][0]
    cultivation = next(op for op in unit["steps"] if op["id"] == "cultivation")
    phase = next(ph for ph in cultivation["steps"] if ph["id"] == "run-fedbatch")
    phase["interruptible"] = False
    return recipe


def test_the_switch_waits_for_a_phase_that_must_not_be_interrupted(
    cluster: Cluster, in_cluster: InCluster, real_node: RealNode
) -> None:
    """The safe point: while a batch runs a phase marked ``interruptible: false`` the
    upgrade does not switch; with a safe-point timeout shorter than the phase it is held,
    naming the batch and the phase; resumed with a longer timeout it switches only once
    the phase has ended, and completes."""
    ns = in_cluster.namespace
    status = cluster.get("mesmodule", MODULE, ns).get("status", {})
    if status.get("currentVersion") != VERSION:
        pytest.fail("needs the module upgraded by the first test, which failed")
    real_node.ctr(
        "images", "tag", "--force", f"{RUNTIME_IMAGE}:{VERSION}", f"{RUNTIME_IMAGE}:{SAFE_VERSION}"
    )
    base = in_cluster.runtime_url(cluster)
    url = in_cluster.database_url
    admin = admin_headers(base, url, "admin-safe")
    qa_password = enrol(base, url, "qa-safe", "qa")
    operator = sign_in(base, "op-safe", enrol(base, url, "op-safe", "operator"))
    imported = httpx.post(
        f"{base}/api/v1/recipes", json=_pinned_recipe(), headers=admin, timeout=30
    )
    assert imported.status_code == 201, imported.text
    approved = httpx.post(
        f"{base}/api/v1/recipes/{PINNED}/1/approve",
        json={"password": qa_password, "meaning": "approved"},
        headers=sign_in(base, "qa-safe", qa_password),
        timeout=30,
    )
    assert approved.status_code == 200, approved.text
    batch_id = start_batch(base, operator, recipe=PINNED)
    view = f"{base}/api/v1/batches/{batch_id}"

    def cultivation() -> str:
        batch = httpx.get(view, headers=operator, timeout=10).json()
        return str({e["path"]: e["state"] for e in batch["elements"]}[CULTIVATION])

    body = orchestrated(SAFE_VERSION)
    body["spec"]["upgradeStrategy"]["safePointTimeoutSeconds"] = 15
    samples: list[tuple[str, str]] = []  # (upgrade phase, cultivation state), every second
    with LoadLoop(view, operator, rate=24, workers=3, max_seconds=900) as load:
        cluster.apply(body, namespace=ns)

        def held() -> bool:
            upgrade = _upgrade(cluster, ns)
            samples.append((str(upgrade.get("phase")), cultivation()))
            return upgrade.get("toVersion") == SAFE_VERSION and bool(upgrade.get("held"))

        cluster.eventually("the upgrade held at the safe point", held, 300)
        upgrade = _upgrade(cluster, ns)
        print(f"\n[safe point] held: {upgrade}", flush=True)
        assert (upgrade["phase"], upgrade["cause"]) == ("SafePoint", "SafePointTimeout"), upgrade
        assert batch_id in upgrade["message"], upgrade
        assert "run-fedbatch" in upgrade["message"], upgrade
        assert "SafePointTimeout" in _warnings(cluster, ns)
        conditions = {
            c["type"]: c for c in cluster.get("mesmodule", MODULE, ns)["status"]["conditions"]
        }
        assert conditions["Progressing"]["reason"] == "SafePointTimeout", conditions
        assert cultivation() == "running"  # held, not interrupted

        body["spec"]["upgradeStrategy"]["safePointTimeoutSeconds"] = 900
        cluster.apply(body, namespace=ns)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        cluster.kubectl(
            "annotate", "mesmodule", MODULE, "-n", ns, "--overwrite",
            f"mes.holon.dev/upgrade-request=resume/{now}",
        )  # fmt: skip

        def done() -> bool:
            upgrade = _upgrade(cluster, ns)
            samples.append((str(upgrade.get("phase")), cultivation()))
            return upgrade.get("phase") in DONE

        cluster.eventually("the upgrade to end after the phase", done, 600)
    reads = load.result
    print(f"[safe point] {reads.sent} reads failed {reads.failed}", flush=True)
    assert _upgrade(cluster, ns)["phase"] == "Qualified", _explain(cluster, ns)
    switched = {"Switch", "Observe", "RetireBlue", "ContractMigration", "Qualified"}
    early = [s for s in samples if s[0] in switched and s[1] == "running"]
    assert early == [], "switched while the non-interruptible phase ran"
    assert ("SafePoint", "running") in samples
    assert reads.failed == 0, reads.failures[:10]

    final = batch_when_ended(cluster, view, operator)
    assert final["state"] == "complete", final


CRASH_VERSION = "0.2.3"  # this tree's image tagged again, upgraded while operators die
PEERING_LIFETIME = 6  # s: how soon a standby presumes a silent active replica dead
WAITING = {
    "VerifiedBackup", "ExpandMigration", "DeployGreen", "Observe", "RetireBlue",
    "ContractMigration",
}  # fmt: skip
MACHINE = (
    "Preflight", "VerifiedBackup", "ExpandMigration", "DeployGreen", "OperationalQualification",
    "SafePoint", "Switch", "Observe", "RetireBlue", "ContractMigration",
)  # fmt: skip


@dataclass(frozen=True)
class Peer:
    pod: str
    priority: int


def _live_peers(cluster: Cluster, peering: str) -> list[Peer]:
    """The operator replicas alive in the release's peering object, the active one first
    (kopf: the highest priority acts, the others stand by)."""
    body = cluster.get("clusterkopfpeering", peering)
    now = datetime.now(UTC)
    live = [
        Peer(pod=identity, priority=int(peer["priority"]))
        for identity, peer in (body.get("status") or {}).items()
        if peer
        and datetime.fromisoformat(peer["lastseen"]) + timedelta(seconds=int(peer["lifetime"]))
        > now
    ]
    return sorted(live, key=lambda p: p.priority, reverse=True)


def _running_container(cluster: Cluster, ns: str, pod: str) -> str | None:
    """The id of ``pod``'s (one) container while it runs, else None."""
    found = cluster.kubectl("get", "pod", pod, "-n", ns, "-o", "json", check=False)
    if found.returncode != 0:
        return None
    statuses = json.loads(found.stdout)["status"].get("containerStatuses") or []
    if not statuses or "running" not in statuses[0].get("state", {}):
        return None
    return str(statuses[0]["containerID"]).removeprefix("containerd://")


def _command(base: str, headers: dict[str, str], batch_id: str, command: str, settled: str) -> None:
    """``command`` for the whole batch, then its state ``settled``."""
    sent = httpx.post(
        f"{base}/api/v1/batches/{batch_id}/commands",
        json={"command": command, "path": "procedure"},
        headers=headers,
        timeout=30,
    )
    assert sent.status_code == 200, sent.text

    def reached() -> bool:
        view = httpx.get(f"{base}/api/v1/batches/{batch_id}", headers=headers, timeout=10)
        return str(view.json()["state"]) == settled

    deadline = time.monotonic() + 60  # a wait, not a timing assertion
    while not reached():
        assert time.monotonic() < deadline, f"batch {batch_id} not {settled} after {command}"
        time.sleep(0.2)


def test_the_standby_operator_resumes_the_upgrade_after_the_active_one_is_killed_in_each_phase(
    cluster: Cluster, in_cluster: InCluster, real_node: RealNode
) -> None:
    """Crash at every phase: three operator replicas; in each phase of the machine, once,
    the active one is SIGKILLed as soon as the upgrade is seen in it (and once right after
    the new version is applied). A standby takes over each time and the
    upgrade ends as one without kills does: Qualified, the new version alone serving, one
    Job of each kind, the (held) batch handed over and restarted by its new owner with its
    journal intact, no failed read."""
    ns = in_cluster.namespace
    status = cluster.get("mesmodule", MODULE, ns).get("status", {})
    if status.get("currentVersion") not in {VERSION, SAFE_VERSION}:  # this tree's image
        pytest.fail("needs the module upgraded by the first test, which failed")
    peering = f"{in_cluster.release}-{ns}"
    scaled = cluster.helm(
        "upgrade", in_cluster.release, str(REPO / "charts" / "holon"), "-n", ns,
        "--reuse-values", "--set", "replicaCount=3",
        "--set", f"operator.peeringLifetime={PEERING_LIFETIME}",
        "--wait", "--timeout", "180s", check=False,
    )  # fmt: skip
    assert scaled.returncode == 0, scaled.stderr
    cluster.eventually(
        "three operator replicas peering", lambda: len(_live_peers(cluster, peering)) == 3, 120
    )
    real_node.ctr(
        "images", "tag", "--force", f"{RUNTIME_IMAGE}:{VERSION}", f"{RUNTIME_IMAGE}:{CRASH_VERSION}"
    )
    base = in_cluster.runtime_url(cluster)
    password = enrol(base, in_cluster.database_url, "op-crash", "operator")
    operator = sign_in(base, "op-crash", password)
    batch_id = start_batch(base, operator)
    view = f"{base}/api/v1/batches/{batch_id}"
    # held through the upgrade, however long the kills make it: it is handed over held
    _command(base, operator, batch_id, "hold", "held")

    killed: dict[str, tuple[str, str]] = {}  # phase seen -> (pod killed, phase right after)
    seen: list[str] = []

    dead: set[str] = set()  # the containers killed (a Pod's next one has another id)

    def kill_active(phase: str) -> None:
        """SIGKILL the active replica: the highest-priority live peer, once a standby is
        there too and the top peer is not one just killed (its entry outlives it until the
        peering lifetime ends, or its restarted container renews it)."""
        target: list[tuple[str, str]] = []

        def found() -> bool:
            peers = _live_peers(cluster, peering)
            container = _running_container(cluster, ns, peers[0].pod) if peers else None
            target[:] = [(peers[0].pod, container)] if container else []
            return len(peers) >= 2 and container is not None and container not in dead

        cluster.eventually("an active operator and a standby", found, 120)
        pod, container = target[0]
        real_node.ctr("tasks", "kill", "--signal", "SIGKILL", container)
        dead.add(container)
        killed[phase] = (pod, str(_upgrade(cluster, ns).get("phase")))
        print(f"[crash] {phase}: killed {pod} -> {killed[phase][1]}", flush=True)

    started = time.monotonic()
    with LoadLoop(view, operator, rate=24, workers=3, max_seconds=900) as load:
        cluster.apply(orchestrated(CRASH_VERSION), namespace=ns)
        kill_active("apply")  # as the active one starts the upgrade
        deadline = time.monotonic() + 900  # a wait, not a timing assertion
        while True:
            assert time.monotonic() < deadline, f"no end after 900 s\n{_explain(cluster, ns)}"
            upgrade = _upgrade(cluster, ns)
            phase = str(upgrade.get("phase"))
            if upgrade.get("toVersion") != CRASH_VERSION:  # not started yet
                time.sleep(0.2)
                continue
            if not seen or seen[-1] != phase:
                seen.append(phase)
            if phase in DONE:
                break
            if phase not in killed:
                kill_active(phase)
            time.sleep(0.2)
    total = time.monotonic() - started
    reads = load.result
    missed = [p for p in MACHINE if p not in killed]
    print(
        f"\n[crash at every phase] total {total:.1f} s, {len(killed)} kills; phases seen {seen};"
        f" passed faster than a look: {missed}; {reads.sent} reads failed {reads.failed}",
        flush=True,
    )
    assert seen[-1] == "Qualified", _explain(cluster, ns)
    # every phase that waits for something got its kill; the ones the machine may leave
    # within the step that enters them or a second later (Preflight, the checks once green
    # is ready, the safe point when there is one, the switch) get theirs when a look
    # catches them (tests/mes_operator/test_upgrade_crash.py kills in each of them)
    assert not set(missed) & WAITING, (missed, seen)
    assert reads.failed == 0, reads.failures[:10]

    # the end state of an upgrade without kills
    status = cluster.get("mesmodule", MODULE, ns)["status"]
    assert status["currentVersion"] == CRASH_VERSION
    assert status["activeColour"] == status["upgrade"]["colour"]
    assert str(status["upgrade"]["backupLocation"]).startswith("s3://holon-upgrades/")
    images = {c["image"] for p in _slot_pods(cluster, ns) for c in p["spec"]["containers"]}
    assert images == {f"{RUNTIME_IMAGE}:{CRASH_VERSION}"}
    assert head_revisions() <= applied_revisions(current_revisions(in_cluster.database_url))
    # this attempt's Jobs (the backup's runs the old version's image): each made once
    listed = cluster.kubectl("get", "jobs", "-n", ns, "-o", "json", "-l", JOB_KIND_LABEL)
    attempt = str(status["upgrade"]["attempt"])
    kinds = sorted(
        j["metadata"]["labels"][JOB_KIND_LABEL]
        for j in json.loads(listed.stdout)["items"]
        if j["metadata"].get("annotations", {}).get("mes.holon.dev/attempt") == attempt
    )
    assert kinds == ["backup", "contract", "expand", "oq"], kinds  # green's OQ included
    reasons = set(_events(cluster, ns))
    assert {"BackupVerified", "Switched", "OldVersionRetired", "UpgradeDone"} <= reasons
    _command(base, operator, batch_id, "restart", "running")  # by its new owner
    ok, resumes = asyncio.run(take_overs(in_cluster.database_url, batch_id))
    print(f"[crash at every phase] hand-overs of {batch_id}: {resumes}", flush=True)
    assert ok, "the journal's hash chain verifies"
    assert resumes, "the batch moved to the new version's replicas - journalled"
