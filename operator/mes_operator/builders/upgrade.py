"""Pure builders for a blue-green upgrade (DESIGN §5): the new slot, its preview Service,
and the Jobs the upgrade runs (backup, expand and contract migrations), plus the first
install's schema Job of an orchestrated module (whose Pods never migrate).

The new slot is the same Deployment as the active one (``builders.deployment``) with its
colour (label, selector, ``HOLON_COLOUR``) and the target version (image tag, version
label, ``HOLON_MODULE_VERSION``); its settings come from its own ConfigMap, since the two
slots run different versions side by side: each rendered for its slot's version, without
the settings that version does not know yet (``builders.runtime_settings``). Migrations
run ``mes-runtime db upgrade expand@head|contract@head`` with the *new* image, so the
revisions applied are the ones the new version ships; the first install runs
``mes-runtime db upgrade heads`` (both branches) with the module's image. Job names are a
function of module, kind, version and attempt: a re-run after an operator crash finds the
Job it created and never starts a second.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

from mes_operator.builders.configmap import DATA_DIR, build_config_map
from mes_operator.builders.context import (
    ModuleContext,
    colour_selector_labels,
    config_map_name,
    labels,
    metadata,
)
from mes_operator.builders.deployment import (
    build_deployment,
    container_security,
    placement_fields,
)
from mes_operator.models.mesmodule import Colour, DatabaseEngine

__all__ = [
    "BACKUP",
    "INSTALL",
    "JOB_BACKOFF_LIMIT",
    "JOB_KIND_LABEL",
    "MIGRATIONS",
    "MIGRATION_BRANCHES",
    "OQ",
    "build_backup_job",
    "build_install_job",
    "build_migration_job",
    "build_new_slot",
    "build_oq_job",
    "build_preview_service",
    "job_name",
    "preview_service_name",
    "slot_config_map_name",
]

JOB_KIND_LABEL = "mes.holon.dev/upgrade-job"
BACKUP = "backup"
MIGRATION_BRANCHES = ("expand", "contract")
"""The alembic branches, run in this order (``mes_runtime/db/compat.py``)."""
INSTALL = "install"
MIGRATIONS = {INSTALL: "heads", **{branch: f"{branch}@head" for branch in MIGRATION_BRANCHES}}
"""Each migration Job's ``mes-runtime db upgrade`` target: a first install makes the whole
schema (both branches' heads); an upgrade runs one branch at a time."""
JOB_BACKOFF_LIMIT = 2
_MAX_NAME = 63


def at_version(ctx: ModuleContext, version: str) -> ModuleContext:
    """The module as it is at ``version`` (the image tag and version labels follow)."""
    return replace(ctx, spec=ctx.spec.model_copy(update={"version": version}))


def slot_config_map_name(ctx: ModuleContext, colour: Colour) -> str:
    """A slot's own ConfigMap (its settings name its version): blue's is the module's
    ConfigMap, so a module that never upgraded keeps the children it always had."""
    return config_map_name(ctx) if colour is Colour.BLUE else f"{ctx.name}-config-{colour.value}"


def build_new_slot(ctx: ModuleContext, colour: Colour, version: str) -> list[dict[str, Any]]:
    """A slot's ConfigMap and Deployment at ``version``, in the order to apply them. Also
    what the plain reconcile applies for the active slot, so that the slot an upgrade
    started is taken over as it is (no restart) once the upgrade is done."""
    new = at_version(ctx, version)
    if colour is Colour.BLUE:
        return [build_config_map(new), build_deployment(new, colour=colour)]
    config = build_config_map(new)
    config["metadata"]["name"] = slot_config_map_name(ctx, colour)
    config["metadata"]["labels"].update(colour_selector_labels(ctx, colour))
    deployment = build_deployment(new, colour=colour)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["envFrom"] = [{"configMapRef": {"name": slot_config_map_name(ctx, colour)}}]
    return [config, deployment]


def preview_service_name(ctx: ModuleContext) -> str:
    """The Service that reaches the slot under test before the switch."""
    return f"{ctx.name}-preview"


def build_preview_service(ctx: ModuleContext, colour: Colour) -> dict[str, Any]:
    """ClusterIP Service on port 80 selecting the slot under test (checks, OQ run)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(ctx, preview_service_name(ctx)),
        "spec": {
            "type": "ClusterIP",
            "selector": colour_selector_labels(ctx, colour),
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def job_name(ctx: ModuleContext, kind: str, version: str, attempt: int) -> str:
    """``<module>-<kind>-<6 hex of version and attempt>``: stable, at most 63 characters.
    ``kind`` is ``backup``, ``expand`` or ``contract`` (``upgrade.actions.JobKind``), or
    ``install`` (a first install's schema: attempt 1 always, named from module and version)."""
    digest = hashlib.sha256(f"{version}/{attempt}".encode()).hexdigest()[:6]
    return f"{ctx.name[: _MAX_NAME - len(kind) - 8]}-{kind}-{digest}"


def _database_env(ctx: ModuleContext) -> list[dict[str, Any]]:
    ref = ctx.spec.database.credentials_secret_ref
    if ctx.spec.database.engine is not DatabaseEngine.POSTGRESQL or ref is None:
        raise ValueError("upgrade Jobs need a PostgreSQL module (spec.database)")
    return [
        {
            "name": "HOLON_DATABASE_URL",
            "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}},
        }
    ]


def _job(
    ctx: ModuleContext,
    kind: str,
    version: str,
    attempt: int,
    *,
    args: list[str],
    env_from: list[dict[str, Any]] | None = None,
    database: bool = True,
) -> dict[str, Any]:
    new = at_version(ctx, version)
    job_labels = {**labels(new), JOB_KIND_LABEL: kind}
    container: dict[str, Any] = {
        "name": kind,
        "image": new.image,
        "imagePullPolicy": "IfNotPresent",
        "args": args,
        "env": _database_env(ctx) if database else [],
        # the Job's result (backup location and digest) is read from the Pod's status
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "resources": {
            "requests": {"cpu": ctx.spec.resources.cpu, "memory": ctx.spec.resources.memory},
            "limits": {"memory": ctx.spec.resources.memory_limit},
        },
        "securityContext": container_security(),
        "volumeMounts": [
            {"name": "data", "mountPath": DATA_DIR},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - an emptyDir, not the host's
        ],
    }
    if env_from:
        container["envFrom"] = env_from
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            **metadata(new, job_name(ctx, kind, version, attempt)),
            "labels": job_labels,
            "annotations": {"mes.holon.dev/attempt": str(attempt)},
        },
        "spec": {
            "backoffLimit": JOB_BACKOFF_LIMIT,
            "template": {
                "metadata": {"labels": job_labels},
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": ctx.name,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    **placement_fields(ctx),  # on the nodes the module's Pods may use
                    "containers": [container],
                    "volumes": [
                        {"name": "data", "emptyDir": {}},
                        {"name": "tmp", "emptyDir": {}},
                    ],
                },
            },
        },
    }


def build_migration_job(
    ctx: ModuleContext, kind: str, version: str, attempt: int
) -> dict[str, Any]:
    """A migration Job with ``version``'s image: ``expand`` or ``contract`` (an upgrade's,
    the new version's revisions) or ``install`` (the first install's whole schema)."""
    if kind not in MIGRATIONS:
        raise ValueError(f"not a migration: {kind!r} (install, expand or contract)")
    return _job(ctx, kind, version, attempt, args=["db", "upgrade", MIGRATIONS[kind]])


def build_install_job(ctx: ModuleContext) -> dict[str, Any]:
    """The first install's schema Job of an orchestrated module, at ``spec.version``: named
    from module and version only, so a re-run after a crash finds it, and a new version
    (or the Job deleted) starts a new one."""
    return build_migration_job(ctx, INSTALL, ctx.spec.version, 1)


def build_backup_job(
    ctx: ModuleContext, version: str, attempt: int, *, store_secret: str
) -> dict[str, Any]:
    """The verified backup before the expand migration, with the *running* version's image
    (it knows the schema it dumps): ``mes-runtime backup create --verify`` dumps into the
    object store named by ``store_secret`` (its ``HOLON_BACKUP_S3_*`` variables, bucket
    included), under this module's prefix, restores it into a scratch database, compares
    row counts, the journal's head and the schema revisions, and writes its summary
    (``location``, ``digest``, ``verified``, ``mismatches`` or ``error``) as the
    termination message (:func:`mes_operator.upgrade.read.backup_result`)."""
    # $(VAR) in args is expanded by the kubelet from the container's environment (the
    # Secret's variables included)
    target = f"s3://$(HOLON_BACKUP_S3_BUCKET)/{ctx.namespace}/{ctx.name}/{version}-{attempt}"
    return _job(
        ctx,
        BACKUP,
        version,
        attempt,
        args=[
            "backup",
            "create",
            "--verify",
            "--to",
            target,
            "--result-file",
            "/dev/termination-log",
        ],
        env_from=[{"secretRef": {"name": store_secret}}],
    )


OQ = "oq"
OQ_DEADLINE = 900
"""Seconds an OQ Job may run (the full suite's batch takes about a minute)."""


def build_oq_job(
    ctx: ModuleContext,
    *,
    version: str,
    scope: str,
    reason: str,
    attempt: int | None = None,
    suffix: str | None = None,
) -> dict[str, Any]:
    """The OQ Job at ``version``: ``mes-runtime oq`` in a scratch installation of its own
    (simulator and runtime on SQLite in the Pod; never the plant's database), its JSON rows
    as the last line of its log. Named after what it qualifies, so a re-run after a crash
    finds it: an orchestrated upgrade's ``attempt`` (run on green's image before the
    switch), or ``suffix`` (a plain install's or version change's evidence key). Run once
    (a failed OQ is a result, not a retry)."""
    if (attempt is None) == (suffix is None):
        raise ValueError("an OQ Job is named by an upgrade attempt or by a suffix, not both")
    job = _job(
        ctx, OQ, version, attempt or 1,
        args=[OQ, "--scope", scope, "--reason", reason],
        database=False,
    )  # fmt: skip
    if suffix is not None:  # not an upgrade attempt's
        job["metadata"]["name"] = f"{ctx.name[: _MAX_NAME - len(OQ) - 8]}-{OQ}-{suffix[:6]}"
        del job["metadata"]["annotations"]["mes.holon.dev/attempt"]
    job["spec"]["backoffLimit"] = 0
    job["spec"]["activeDeadlineSeconds"] = OQ_DEADLINE
    (container,) = job["spec"]["template"]["spec"]["containers"]
    container["env"] = [{"name": "HOLON_LOG_LEVEL", "value": "WARNING"}]
    # a runtime and the simulator run inside: more than one runtime Pod asks for
    container["resources"] = {"requests": {"cpu": "200m", "memory": "256Mi"},
                              "limits": {"memory": "1Gi"}}  # fmt: skip
    return job
