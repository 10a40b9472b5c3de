"""Pure builders of a blue-green upgrade: the new slot, the preview Service, the Jobs."""

from __future__ import annotations

from typing import Any

import pytest
from mes_operator.builders import ModuleContext, build_deployment
from mes_operator.builders.upgrade import (
    build_backup_job,
    build_migration_job,
    build_new_slot,
    build_preview_service,
    job_name,
    slot_config_map_name,
)
from mes_operator.models import Colour

from mes_runtime.backup.cli import _parser as backup_parser
from mes_runtime.db.cli import _parser
from mes_runtime.settings import Settings

PG = {"engine": "postgresql", "credentialsSecretRef": {"name": "db", "key": "url"}}


def ctx(name: str = "batch", **spec: Any) -> ModuleContext:
    return ModuleContext.from_body(
        {
            "metadata": {"name": name, "namespace": "plant", "uid": "u-1", "generation": 4},
            "spec": {
                "module": "batch-execution",
                "version": "1.0.0",
                "replicas": 2,
                "database": PG,
                **spec,
            },
        }
    )


def _env(deployment: dict[str, Any]) -> dict[str, Any]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_the_new_slot_is_the_active_one_in_its_colour_at_its_version() -> None:
    blue = build_deployment(ctx())
    config, green = build_new_slot(ctx(), Colour.GREEN, "1.1.0")
    assert green["metadata"]["name"] == "batch-green"
    spec = green["spec"]
    assert spec["selector"]["matchLabels"]["mes.holon.dev/colour"] == "green"
    assert spec["template"]["metadata"]["labels"]["mes.holon.dev/colour"] == "green"
    assert spec["template"]["metadata"]["labels"]["app.kubernetes.io/version"] == "1.1.0"
    container = spec["template"]["spec"]["containers"][0]
    assert container["image"] == "ghcr.io/holon/mes-runtime:1.1.0"
    assert _env(green)["HOLON_COLOUR"] == "green"
    assert _env(green)["HOLON_DATABASE_URL"] == _env(blue)["HOLON_DATABASE_URL"]
    assert container["envFrom"] == [{"configMapRef": {"name": "batch-config-green"}}]
    assert config["metadata"]["name"] == slot_config_map_name(ctx(), Colour.GREEN)
    assert config["data"]["HOLON_MODULE_VERSION"] == "1.1.0"
    # everything but colour and version is the active slot's
    blue_pod, green_pod = blue["spec"]["template"]["spec"], spec["template"]["spec"]
    for key in ("securityContext", "volumes", "terminationGracePeriodSeconds"):
        assert green_pod[key] == blue_pod[key]
    assert spec["replicas"] == blue["spec"]["replicas"] == 2
    # the runtime accepts the new slot's settings
    env = {k: v for k, v in config["data"].items() if v is not None}
    assert Settings.model_validate({k.removeprefix("HOLON_").lower(): v for k, v in env.items()})


def test_preview_service_selects_the_slot_under_test() -> None:
    svc = build_preview_service(ctx(), Colour.BLUE)
    assert svc["metadata"]["name"] == "batch-preview"
    assert svc["spec"]["selector"]["mes.holon.dev/colour"] == "blue"
    assert svc["metadata"]["ownerReferences"][0]["uid"] == "u-1"


@pytest.mark.parametrize("branch", ["expand", "contract"])
def test_migration_job_runs_the_branch_with_the_new_image(branch: str) -> None:
    job = build_migration_job(ctx(), branch, "1.1.0", 1)
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "ghcr.io/holon/mes-runtime:1.1.0"
    assert container["args"] == ["db", "upgrade", f"{branch}@head"]
    parsed = _parser().parse_args(container["args"][1:])  # the runtime's own CLI accepts it
    assert (parsed.action, parsed.target) == ("upgrade", f"{branch}@head")
    assert container["env"][0]["name"] == "HOLON_DATABASE_URL"
    assert pod["restartPolicy"] == "Never"
    assert job["metadata"]["labels"]["mes.holon.dev/upgrade-job"] == branch
    assert job["metadata"]["ownerReferences"][0]["controller"] is True


def test_jobs_run_where_the_module_s_pods_may_run() -> None:
    placement = {
        "nodeSelector": {"plant.example/zone": "gmp"},
        "tolerations": [{"key": "gmp", "operator": "Exists", "effect": "NoSchedule"}],
    }
    placed = ctx(placement=placement)
    runtime = build_deployment(placed)["spec"]["template"]["spec"]
    jobs = [
        build_backup_job(placed, "1.0.0", 1, store_secret="backup-store"),
        *(build_migration_job(placed, branch, "1.1.0", 1) for branch in ("expand", "contract")),
    ]
    for job in jobs:
        pod = job["spec"]["template"]["spec"]
        assert pod["nodeSelector"] == runtime["nodeSelector"] == placement["nodeSelector"]
        assert pod["tolerations"] == runtime["tolerations"] == placement["tolerations"]
    unplaced = build_migration_job(ctx(), "expand", "1.1.0", 1)["spec"]["template"]["spec"]
    assert "nodeSelector" not in unplaced
    assert "tolerations" not in unplaced


def test_job_names_are_stable_per_version_and_attempt_and_fit() -> None:
    c = ctx()
    assert job_name(c, "expand", "1.1.0", 1) == job_name(c, "expand", "1.1.0", 1)
    assert job_name(c, "expand", "1.1.0", 1) != job_name(c, "expand", "1.1.0", 2)
    assert job_name(c, "expand", "1.1.0", 1) != job_name(c, "expand", "1.1.1", 1)
    long = ctx(name="m" * 47)
    for kind in ("backup", "expand", "contract"):
        assert len(job_name(long, kind, "10.20.30-rc.1", 12)) <= 63


def test_migration_job_refuses_what_is_not_a_branch_or_not_postgresql() -> None:
    with pytest.raises(ValueError, match="not a migration"):
        build_migration_job(ctx(), "backup", "1.1.0", 1)
    sqlite = ModuleContext.from_body(
        {
            "metadata": {"name": "s", "namespace": "plant", "uid": "u"},
            "spec": {"module": "batch-execution", "version": "1.0.0"},
        }
    )
    with pytest.raises(ValueError, match="PostgreSQL"):
        build_migration_job(sqlite, "expand", "1.1.0", 1)


def test_backup_job_names_its_store_and_target() -> None:
    job = build_backup_job(ctx(), "1.1.0", 1, store_secret="backup-store")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "ghcr.io/holon/mes-runtime:1.1.0"
    args = container["args"]
    assert args[:3] == ["backup", "create", "--verify"]
    parsed = backup_parser().parse_args(args[1:])  # the runtime's own CLI accepts it
    assert parsed.to == "s3://$(HOLON_BACKUP_S3_BUCKET)/plant/batch/1.1.0-1"
    assert str(parsed.result_file) == "/dev/termination-log"
    assert container["envFrom"] == [{"secretRef": {"name": "backup-store"}}]


ORCHESTRATED = {"upgradeStrategy": {"orchestrated": True}, "backup": {"storeSecret": "store"}}


@pytest.mark.parametrize("colour", [Colour.BLUE, Colour.GREEN])
def test_an_orchestrated_module_s_pods_never_migrate_in_either_slot(colour: Colour) -> None:
    config, deployment = build_new_slot(ctx(**ORCHESTRATED), colour, "1.1.0")
    assert config["data"]["HOLON_MIGRATE_ON_START"] == "false"
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert "HOLON_MIGRATE_ON_START" not in {e["name"] for e in container["env"]}  # one source


def test_a_plain_module_s_settings_leave_migrating_to_the_runtime_s_default() -> None:
    """Unset, not "true": turning this on changed no other module's ConfigMap (no rollout)."""
    config, _ = build_new_slot(ctx(), Colour.BLUE, "1.0.0")
    assert "HOLON_MIGRATE_ON_START" not in config["data"]
