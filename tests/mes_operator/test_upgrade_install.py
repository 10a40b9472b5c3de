"""The first install of an orchestrated module: its schema Job (builder), whether it gates
the reconcile, and the status and Events while it does (pure parts; the I/O is tested
against a real API server in tests/e2e/test_operator_upgrade_io.py)."""

from __future__ import annotations

from typing import Any

import pytest
from mes_operator.builders import ModuleContext, build_children, build_deployment
from mes_operator.builders.deployment import container_security
from mes_operator.builders.upgrade import build_install_job, build_migration_job
from mes_operator.models import MESModuleStatus
from mes_operator.status.conditions import condition
from mes_operator.upgrade.actions import EventType
from mes_operator.upgrade.install import (
    MIGRATING_SCHEMA,
    SCHEMA_MIGRATION_FAILED,
    InstallJob,
    held_at_install,
    install_events,
    install_status,
    needs_install_job,
)
from mes_operator.upgrade.observation import JobState
from mes_operator.upgrade.read import termination

from mes_runtime.db.cli import _parser

PG = {"engine": "postgresql", "credentialsSecretRef": {"name": "db", "key": "url"}}
ORCHESTRATED = {"upgradeStrategy": {"orchestrated": True}, "backup": {"storeSecret": "store"}}
NOW = "2026-12-01T02:00:00Z"


def ctx(version: str = "1.0.0", **spec: Any) -> ModuleContext:
    return ModuleContext.from_body(
        {
            "metadata": {"name": "batch", "namespace": "plant", "uid": "u-1", "generation": 1},
            "spec": {
                "module": "batch-execution",
                "version": version,
                "replicas": 2,
                "database": PG,
                **ORCHESTRATED,
                **spec,
            },
        }
    )


def plain(**spec: Any) -> ModuleContext:
    return ctx(upgradeStrategy={}, **spec)


@pytest.mark.parametrize(
    ("module", "status", "gated"),
    [
        (ctx(), {}, True),  # a first install: no Pod has made the schema
        (ctx(), {"observedGeneration": 1, "phase": "Progressing"}, True),
        # installed before (plainly, then orchestrated turned on): the schema is there
        (ctx(), {"currentVersion": "1.0.0"}, False),
        (plain(), {}, False),  # its Pods migrate at start
    ],
    ids=["first-install", "still-first", "installed-before", "not-orchestrated"],
)
def test_only_an_orchestrated_module_never_installed_waits_for_a_schema_job(
    module: ModuleContext, status: dict[str, Any], gated: bool
) -> None:
    assert needs_install_job(module.spec, status) is gated


def test_the_install_job_makes_the_whole_schema_with_the_module_s_image() -> None:
    placement = {
        "nodeSelector": {"plant.example/zone": "gmp"},
        "tolerations": [{"key": "gmp", "operator": "Exists", "effect": "NoSchedule"}],
    }
    module = ctx(placement=placement)
    job = build_install_job(module)
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "ghcr.io/holon/mes-runtime:1.0.0"
    assert container["args"] == ["db", "upgrade", "heads"]
    parsed = _parser().parse_args(container["args"][1:])  # the runtime's own CLI accepts it
    assert (parsed.action, parsed.target) == ("upgrade", "heads")
    assert container["env"] == [
        {"name": "HOLON_DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}}}
    ]
    assert container["securityContext"] == container_security()
    runtime = build_deployment(module)["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == runtime["nodeSelector"]
    assert pod["tolerations"] == runtime["tolerations"]
    assert pod["serviceAccountName"] == runtime["serviceAccountName"] == "batch"
    assert pod["restartPolicy"] == "Never"
    assert job["metadata"]["labels"]["mes.holon.dev/upgrade-job"] == "install"
    assert job["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    # the same builder as the upgrade's migrations: only kind and target differ
    expand = build_migration_job(module, "expand", "1.0.0", 1)
    expand_pod = expand["spec"]["template"]["spec"]
    assert {**expand_pod, "containers": None} == {**pod, "containers": None}
    assert {**expand_pod["containers"][0], "name": "install", "args": container["args"]} == (
        container
    )


def test_the_install_job_is_named_from_module_and_version_only() -> None:
    first = build_install_job(ctx())["metadata"]["name"]
    assert first == build_install_job(ctx())["metadata"]["name"]  # a re-run finds it
    assert first.startswith("batch-install-")
    assert build_install_job(ctx("1.0.1"))["metadata"]["name"] != first  # a new version: anew
    assert first not in {
        build_migration_job(ctx(), kind, "1.0.0", 1)["metadata"]["name"]
        for kind in ("expand", "contract")
    }


def test_a_module_turning_orchestrated_on_changes_only_its_config_map() -> None:
    before = {m["kind"]: m for m in build_children(plain())}
    after = {m["kind"]: m for m in build_children(ctx())}
    assert "HOLON_MIGRATE_ON_START" not in before["ConfigMap"]["data"]
    assert after["ConfigMap"]["data"] == {
        **before["ConfigMap"]["data"],
        "HOLON_MIGRATE_ON_START": "false",
    }
    assert "Job" not in after  # and, installed before, no schema Job
    assert not needs_install_job(ctx().spec, {"currentVersion": "1.0.0"})


RUNNING = InstallJob(name="batch-install-abc123", state=JobState.RUNNING)
FAILED = InstallJob(
    name="batch-install-abc123",
    state=JobState.FAILED,
    failure="exit code 1 (Error): permission denied for schema public",
)


def test_while_the_job_runs_the_module_is_progressing_and_not_ready() -> None:
    status = install_status({}, ctx(), RUNNING, now=NOW)
    MESModuleStatus.model_validate(status)  # every key is one the CRD has
    assert status["phase"] == "Progressing"
    assert "currentVersion" not in status
    assert status["targetVersion"] == "1.0.0"
    conditions = status["conditions"]
    progressing = condition(conditions, "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("True", MIGRATING_SCHEMA)
    assert "batch-install-abc123" in progressing["message"]
    assert "mes-runtime db upgrade heads" in progressing["message"]
    assert (condition(conditions, "Ready")["status"], condition(conditions, "Ready")["reason"]) == (
        "False",
        MIGRATING_SCHEMA,
    )
    assert condition(conditions, "MigrationInProgress")["status"] == "True"
    assert condition(conditions, "Degraded")["status"] == "False"
    assert held_at_install(status)
    # the same observation again: the same status (no patch)
    assert install_status(status, ctx(), RUNNING, now="2026-12-01T02:05:00Z") == status


def test_a_failed_job_degrades_the_module_naming_the_job_and_how_it_ended() -> None:
    running = install_status({}, ctx(), RUNNING, now=NOW)
    status = install_status(running, ctx(), FAILED, now="2026-12-01T02:01:00Z")
    MESModuleStatus.model_validate(status)
    assert status["phase"] == "Degraded"
    degraded = condition(status["conditions"], "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", SCHEMA_MIGRATION_FAILED)
    for said in ("Job batch-install-abc123", "exit code 1 (Error): permission denied"):
        assert said in degraded["message"]
    assert "delete the Job to run it again, or set a new spec.version" in degraded["message"]
    assert condition(status["conditions"], "Progressing")["status"] == "False"
    assert condition(status["conditions"], "MigrationInProgress")["status"] == "False"
    assert condition(status["conditions"], "Ready")["status"] == "False"
    assert held_at_install(status)


def test_events_say_each_move_once() -> None:
    running = install_status({}, ctx(), RUNNING, now=NOW)
    (started,) = install_events({}, running)
    assert (started.type, started.reason) == (EventType.NORMAL, MIGRATING_SCHEMA)
    assert install_events(running, running) == []  # a timer's re-reconcile says nothing
    failed = install_status(running, ctx(), FAILED, now=NOW)
    (warning,) = install_events(running, failed)
    assert (warning.type, warning.reason) == (EventType.WARNING, SCHEMA_MIGRATION_FAILED)
    assert "batch-install-abc123" in warning.message
    assert install_events(failed, install_status(failed, ctx(), FAILED, now=NOW)) == []
    # the Job deleted (or a new version): waited for again, said again
    (again,) = install_events(failed, install_status(failed, ctx(), RUNNING, now=NOW))
    assert again.reason == MIGRATING_SCHEMA


def test_a_status_past_the_gate_is_not_held() -> None:
    assert not held_at_install({})
    ready = {"conditions": [{"type": "Progressing", "status": "False", "reason": "Complete"}]}
    assert not held_at_install(ready)


def _pod(**terminated: Any) -> dict[str, Any]:
    return {"status": {"containerStatuses": [{"state": {"terminated": terminated}}]}}


def test_termination_says_how_the_job_s_pod_ended() -> None:
    assert termination(_pod(exitCode=3, reason="Error", message="boom\n")) == (
        "exit code 3 (Error): boom"
    )
    assert termination(_pod(exitCode=137, reason="OOMKilled")) == "exit code 137 (OOMKilled)"
    assert termination(_pod(exitCode=1, message="x" * 900)).endswith("x" * 500)
    assert len(termination(_pod(exitCode=1, message="x" * 900))) < 530
    assert "no exit" in termination(None)
    assert "no exit" in termination({"status": {"containerStatuses": [{"state": {}}]}})
