"""The pure builders: a MESModule spec in, child manifests out. No cluster."""

from __future__ import annotations

from typing import Any

import pytest
from mes_operator.builders import ModuleContext, build_children, build_data_claim, config_data
from mes_operator.builders.deployment import CONFIG_HASH_ANNOTATION, build_deployment
from mes_operator.builders.pdb import build_pdb
from mes_operator.builders.service import build_service
from mes_operator.builders.shutdown import (
    DRAIN_SECONDS,
    SHUTDOWN_MARGIN_SECONDS,
    SHUTDOWN_TIMEOUT_SECONDS,
)
from mes_operator.builders.upgrade import build_migration_job
from mes_operator.models import Colour

from mes_runtime.settings import Settings

UID = "0b6f3f3e-1111-2222-3333-444455556666"


def module(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mes.holon.dev/v1alpha1",
        "kind": "MESModule",
        "metadata": {"name": "batch", "namespace": "plant-a", "uid": UID, "generation": 3},
        "spec": {"module": "batch-execution", "version": "1.4.2", **spec},
    }


def ctx(**spec: Any) -> ModuleContext:
    return ModuleContext.from_body(module(**spec))


def test_children_in_apply_order_all_owned_and_labelled() -> None:
    children = build_children(ctx())
    assert [c["kind"] for c in children] == [
        "ServiceAccount",
        "ConfigMap",
        "PersistentVolumeClaim",  # the SQLite module's data: labelled, owned by no one
        "Deployment",
        "Service",
        "PodDisruptionBudget",
    ]
    for child in children:
        meta = child["metadata"]
        assert meta["namespace"] == "plant-a"
        assert meta["labels"]["mes.holon.dev/module"] == "batch"
        if child["kind"] == "PersistentVolumeClaim":
            continue
        assert meta["ownerReferences"] == [
            {
                "apiVersion": "mes.holon.dev/v1alpha1",
                "kind": "MESModule",
                "name": "batch",
                "uid": UID,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        assert meta["labels"]["mes.holon.dev/module"] == "batch"
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "holon-operator"
        assert meta["labels"]["app.kubernetes.io/version"] == "1.4.2"


def test_deployment_runs_the_version_as_tag_hardened() -> None:
    deployment = build_deployment(ctx(image="registry.local:5000/holon/runtime"))
    assert deployment["metadata"]["name"] == "batch-blue"
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "registry.local:5000/holon/runtime:1.4.2"
    assert container["args"] == ["serve"]
    assert container["ports"][0]["containerPort"] == 8000
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "batch"
    assert container["envFrom"] == [{"configMapRef": {"name": "batch-config"}}]


def test_sqlite_is_recreated_postgres_rolls_with_the_secret() -> None:
    sqlite = build_deployment(ctx())
    assert sqlite["spec"]["strategy"] == {"type": "Recreate"}
    assert sqlite["spec"]["template"]["spec"]["containers"][0]["env"] == [
        {"name": "HOLON_COLOUR", "value": "blue"}  # no database secret: the SQLite file
    ]
    postgres = build_deployment(
        ctx(
            replicas=3,
            database={"engine": "postgresql", "credentialsSecretRef": {"name": "db"}},
        )
    )
    assert postgres["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    assert postgres["spec"]["replicas"] == 3
    assert postgres["spec"]["template"]["spec"]["containers"][0]["env"] == [
        {"name": "HOLON_COLOUR", "value": "blue"},
        {
            "name": "HOLON_DATABASE_URL",
            "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}},
        },
    ]
    assert "HOLON_DATABASE_URL" not in config_data(
        ctx(database={"engine": "postgresql", "credentialsSecretRef": {"name": "db"}})
    )


def test_features_are_off_by_default_and_switch_on() -> None:
    default = config_data(ctx())
    flags = {k: v for k, v in default.items() if k.startswith("HOLON_FEATURE_")}
    assert flags == {
        "HOLON_FEATURE_ELECTRONIC_SIGNATURES": "false",
        "HOLON_FEATURE_EQUIPMENT_SIMULATOR": "false",
        "HOLON_FEATURE_METRICS": "false",
        "HOLON_FEATURE_REVIEW_BY_EXCEPTION": "false",
        "HOLON_FEATURE_UI": "false",
    }
    assert config_data(ctx(features={"ui": True}))["HOLON_FEATURE_UI"] == "true"
    assert default["HOLON_PORT"] == "8000"
    assert default["HOLON_DATABASE_URL"].startswith("sqlite+aiosqlite:///")


def test_the_metrics_feature_opens_the_named_metrics_port() -> None:
    def ports(**spec: Any) -> dict[str, int]:
        container = build_deployment(ctx(**spec))["spec"]["template"]["spec"]["containers"][0]
        return {p["name"]: p["containerPort"] for p in container["ports"]}

    assert ports() == {"http": 8000}
    assert ports(features={"metrics": True}) == {"http": 8000, "metrics": 9464}
    assert Settings().metrics_port == 9464  # the runtime listens where the Pod says


def test_config_change_rolls_the_pods() -> None:
    def config_hash(**spec: Any) -> str:
        annotations = build_deployment(ctx(**spec))["spec"]["template"]["metadata"]["annotations"]
        value: str = annotations[CONFIG_HASH_ANNOTATION]
        return value

    assert config_hash() == config_hash()
    assert config_hash() != config_hash(features={"metrics": True})


def test_service_selects_the_active_colour_only() -> None:
    blue = build_service(ctx())
    assert blue["spec"]["selector"]["mes.holon.dev/colour"] == "blue"
    green_ctx = ModuleContext.from_body(module(), colour=Colour.GREEN)
    assert build_service(green_ctx)["spec"]["selector"]["mes.holon.dev/colour"] == "green"
    deployment = build_deployment(green_ctx)
    assert deployment["metadata"]["name"] == "batch-green"
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert build_service(green_ctx)["spec"]["selector"].items() <= pod_labels.items()


def test_active_colour_comes_from_the_status() -> None:
    body = module()
    body["status"] = {"activeColour": "green"}
    assert ModuleContext.from_body(body).colour is Colour.GREEN


@pytest.mark.parametrize(
    ("replicas", "budget"),
    [(1, {"maxUnavailable": 1}), (2, {"minAvailable": 1}), (5, {"minAvailable": 4})],
)
def test_pdb_never_blocks_a_single_replica_drain(replicas: int, budget: dict[str, int]) -> None:
    spec: dict[str, Any] = {"replicas": replicas}
    if replicas > 1:
        spec["database"] = {"engine": "postgresql", "credentialsSecretRef": {"name": "db"}}
    pdb = build_pdb(ctx(**spec))
    assert {k: v for k, v in pdb["spec"].items() if k != "selector"} == budget
    assert "mes.holon.dev/colour" not in pdb["spec"]["selector"]["matchLabels"]


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A label selector's meaning (matchLabels and the Exists/DoesNotExist expressions)."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        present = expression["key"] in labels
        if present != (expression["operator"] == "Exists"):
            return False
    return True


@pytest.mark.parametrize("replicas", [1, 3])
def test_pdb_counts_every_slot_pod_and_no_job_pod(replicas: int) -> None:
    """A Job is not scalable: a budget over its Pod could not be computed (no drain)."""
    module = ctx(replicas=replicas, database=PG)
    selector = build_pdb(module)["spec"]["selector"]
    for colour in Colour:
        slot = build_deployment(module, colour=colour)
        assert _selects(selector, slot["spec"]["template"]["metadata"]["labels"]), colour
    for kind in ("install", "expand", "contract"):
        job = build_migration_job(module, kind, "1.1.0", 1)
        assert not _selects(selector, job["spec"]["template"]["metadata"]["labels"]), kind


def test_builders_are_pure() -> None:
    assert build_children(ctx()) == build_children(ctx())


PG = {"engine": "postgresql", "credentialsSecretRef": {"name": "db"}}


def test_rollouts_wait_for_readiness_which_drops_fast_and_liveness_is_lenient() -> None:
    deployment = build_deployment(ctx(replicas=2, database=PG))
    assert deployment["spec"]["minReadySeconds"] == 2
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    ready, live = container["readinessProbe"], container["livenessProbe"]
    assert (ready["periodSeconds"], ready["failureThreshold"]) == (2, 1)
    assert (live["periodSeconds"], live["failureThreshold"]) == (10, 3)


def test_liveness_waits_until_the_runtime_has_started_however_long_its_start() -> None:
    """A runtime that migrates at start (or starts on a busy node) listens late: liveness
    alone (3 x 10 s) restarted it at 30 s, over and over; the startup probe holds liveness
    back for up to ten minutes, then hands over to it."""
    (container,) = build_deployment(ctx())["spec"]["template"]["spec"]["containers"]
    startup = container["startupProbe"]
    assert startup["httpGet"] == container["livenessProbe"]["httpGet"]
    assert startup["periodSeconds"] * startup["failureThreshold"] == 600


@pytest.mark.parametrize("database", [{}, PG], ids=["sqlite", "postgresql"])
@pytest.mark.parametrize(
    ("strategy", "wait"),
    [
        ({}, 300),  # the default wait of a stopping Pod
        ({"podSafePointWaitSeconds": 0}, 0),  # hands over at once
        ({"podSafePointWaitSeconds": 3600}, 3600),  # the most a Pod waits
    ],
    ids=["default", "none", "longest"],
)
def test_the_grace_period_covers_the_drain_the_safe_point_wait_and_the_shutdown(
    database: dict[str, Any], strategy: dict[str, Any], wait: int
) -> None:
    spec: dict[str, Any] = {"upgradeStrategy": strategy}
    module_ctx = ctx(database=database, **spec) if database else ctx(**spec)
    pod = build_deployment(module_ctx)["spec"]["template"]["spec"]
    settings = config_data(module_ctx)
    drain = int(settings["HOLON_DRAIN_SECONDS"])
    shutdown = int(settings["HOLON_SHUTDOWN_TIMEOUT_SECONDS"])
    waited = int(settings["HOLON_SAFE_POINT_WAIT_SECONDS"])
    assert (drain, waited, shutdown) == (DRAIN_SECONDS, wait, SHUTDOWN_TIMEOUT_SECONDS)
    grace = pod["terminationGracePeriodSeconds"]
    assert grace == drain + waited + shutdown + SHUTDOWN_MARGIN_SECONDS
    assert SHUTDOWN_MARGIN_SECONDS > 0  # a margin for the runtime's own shutdown (hand-over)


def test_the_switch_s_safe_point_timeout_rolls_no_pod() -> None:
    """Holding an orchestrated switch longer (a week, say) changes nothing a Pod runs."""

    def pod_and_settings(**strategy: Any) -> tuple[dict[str, Any], dict[str, str]]:
        module_ctx = ctx(
            database=PG,
            backup={"storeSecret": "store"},
            upgradeStrategy={"orchestrated": True, **strategy},
        )
        return build_deployment(module_ctx)["spec"]["template"], config_data(module_ctx)

    short = pod_and_settings(safePointTimeoutSeconds=15)
    assert pod_and_settings(safePointTimeoutSeconds=604800) == short
    assert short[1]["HOLON_SAFE_POINT_WAIT_SECONDS"] == "300"
    assert pod_and_settings(podSafePointWaitSeconds=60) != short


def test_no_placement_leaves_scheduling_to_the_scheduler() -> None:
    for spec in ({}, {"placement": {}}):
        pod = build_deployment(ctx(**spec))["spec"]["template"]["spec"]
        assert "nodeSelector" not in pod
        assert "tolerations" not in pod


def test_placement_goes_into_the_pod_template_of_both_colours() -> None:
    placement = {
        "nodeSelector": {"holon.dev/gmp": "true", "kubernetes.io/arch": "amd64"},
        "tolerations": [
            {"key": "holon.dev/gmp", "value": "true", "effect": "NoSchedule"},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
             "effect": "NoExecute", "tolerationSeconds": 30},
            {"operator": "Exists"},
        ],
    }  # fmt: skip
    body = module(placement=placement)
    for colour in Colour:
        pod = build_deployment(ModuleContext.from_body(body, colour=colour))["spec"]["template"]
        assert pod["spec"]["nodeSelector"] == placement["nodeSelector"]
        assert pod["spec"]["tolerations"] == [
            {"key": "holon.dev/gmp", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
             "effect": "NoExecute", "tolerationSeconds": 30},
            {"operator": "Exists"},
        ]  # fmt: skip


def test_sqlite_data_lives_on_a_claim_that_outlives_the_module() -> None:
    context = ModuleContext.from_body(module())
    children = build_children(context)
    assert [c["kind"] for c in children][:4] == [
        "ServiceAccount",
        "ConfigMap",
        "PersistentVolumeClaim",
        "Deployment",
    ]
    claim = children[2]
    assert claim["metadata"]["name"] == "batch-data"
    assert "ownerReferences" not in claim["metadata"]  # deleting the module keeps the EBR
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    pod = build_deployment(context)["spec"]["template"]["spec"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "batch-data"}} in pod["volumes"]
    assert build_deployment(context)["spec"]["strategy"] == {"type": "Recreate"}


def test_postgres_modules_keep_a_scratch_data_dir() -> None:
    postgres = ModuleContext.from_body(
        module(
            replicas=2,
            database={
                "engine": "postgresql",
                "credentialsSecretRef": {"name": "db", "key": "url"},
            },
        ),
    )
    assert build_data_claim(postgres) is None
    assert "PersistentVolumeClaim" not in [c["kind"] for c in build_children(postgres)]
    volumes = build_deployment(postgres)["spec"]["template"]["spec"]["volumes"]
    assert {"name": "data", "emptyDir": {}} in volumes
