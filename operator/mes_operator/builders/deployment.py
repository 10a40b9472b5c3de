"""The runtime Deployment of one colour.

Hardened by default (non-root, read-only root file system, no capabilities, no token):
a GMP system's attack surface is part of its qualification. SQLite is single-writer, so a
SQLite module is recreated rather than rolled.

Rollouts lose no request: a PostgreSQL module rolls one surge Pod at a time and never
takes a ready Pod away first (``maxUnavailable: 0, maxSurge: 1``); a new Pod counts as
available only after ``minReadySeconds``; readiness is probed every 2 s and drops at the
first failure, while liveness stays lenient (a slow database is no reason to restart) and
starts only once the runtime has answered at all (a startup probe allowing
:data:`STARTUP_SECONDS`: a runtime that migrates at start, or starts on a busy node, is not
killed for being slow to listen - liveness alone restarted such Pods after 30 s); and
the grace period covers the runtime's drain and graceful shutdown (``builders.shutdown``).
``spec.placement`` (nodeSelector, tolerations) goes into the Pod template as it is.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mes_operator.builders.configmap import DATA_DIR, config_data, config_hash
from mes_operator.builders.context import (
    HTTP_PORT,
    METRICS_PORT,
    ModuleContext,
    colour_selector_labels,
    config_map_name,
    deployment_name,
    labels,
    metadata,
)
from mes_operator.builders.shutdown import termination_grace_period_seconds
from mes_operator.builders.volume import data_volume
from mes_operator.models.mesmodule import Colour, DatabaseEngine

CONFIG_HASH_ANNOTATION = "mes.holon.dev/config-hash"
RUNTIME_UID = 10001
MIN_READY_SECONDS = 2


def _env(ctx: ModuleContext) -> list[dict[str, Any]]:
    # the slot's colour: while an upgrade's switch grants batches to one colour, only its
    # replicas own batches (the runtime reads the grant from the database)
    env: list[dict[str, Any]] = [{"name": "HOLON_COLOUR", "value": ctx.colour.value}]
    ref = ctx.spec.database.credentials_secret_ref
    if ctx.spec.database.engine is DatabaseEngine.POSTGRESQL and ref is not None:
        env.append(
            {
                "name": "HOLON_DATABASE_URL",
                "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}},
            }
        )
    return env


STARTUP_SECONDS = 600
"""How long a runtime may take to start listening (its migrations at start included)."""


def _probe(path: str, *, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def _ports(ctx: ModuleContext) -> list[dict[str, Any]]:
    """The API, and the metrics port a PodMonitor scrapes by name when metrics are on."""
    ports = [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}]
    if ctx.spec.features.metrics:
        ports.append({"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"})
    return ports


def container_security() -> dict[str, Any]:
    """Every runtime container's hardening (the Pods' and the upgrade Jobs')."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": RUNTIME_UID,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _container(ctx: ModuleContext) -> dict[str, Any]:
    resources = ctx.spec.resources
    container: dict[str, Any] = {
        "name": "runtime",
        "image": ctx.image,
        "imagePullPolicy": "IfNotPresent",
        "args": ["serve"],
        "ports": _ports(ctx),
        "envFrom": [{"configMapRef": {"name": config_map_name(ctx)}}],
        "readinessProbe": _probe("/readyz", period=2, failures=1),
        "livenessProbe": _probe("/healthz", period=10, failures=3),
        "startupProbe": _probe("/healthz", period=2, failures=STARTUP_SECONDS // 2),
        "resources": {
            "requests": {"cpu": resources.cpu, "memory": resources.memory},
            "limits": {"memory": resources.memory_limit},
        },
        "securityContext": container_security(),
        "volumeMounts": [
            {"name": "data", "mountPath": DATA_DIR},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - an emptyDir, not the host's
        ],
    }
    container["env"] = _env(ctx)
    return container


def _strategy(ctx: ModuleContext) -> dict[str, Any]:
    if ctx.spec.database.engine is DatabaseEngine.SQLITE:
        return {"type": "Recreate"}  # one writer: the old Pod goes before the new one starts
    return {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}


def placement_fields(ctx: ModuleContext) -> dict[str, Any]:
    """The Pod spec's nodeSelector and tolerations, only the ones the spec sets."""
    placement = ctx.spec.placement
    if placement is None:
        return {}
    fields: dict[str, Any] = {}
    if placement.node_selector:
        fields["nodeSelector"] = dict(placement.node_selector)
    if placement.tolerations:
        fields["tolerations"] = [
            t.model_dump(by_alias=True, exclude_none=True, mode="json")
            for t in placement.tolerations
        ]
    return fields


def build_deployment(ctx: ModuleContext, *, colour: Colour | None = None) -> dict[str, Any]:
    """The Deployment running one colour (default: the active one) of the module."""
    colour = colour or ctx.colour
    ctx = replace(ctx, colour=colour)  # HOLON_COLOUR names the slot built, not the active one
    pod_labels = {**labels(ctx), **colour_selector_labels(ctx, colour)}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(
            ctx, deployment_name(ctx, colour), **colour_selector_labels(ctx, colour)
        ),
        "spec": {
            "replicas": ctx.spec.replicas,
            "selector": {"matchLabels": colour_selector_labels(ctx, colour)},
            "strategy": _strategy(ctx),
            "minReadySeconds": MIN_READY_SECONDS,
            "template": {
                "metadata": {
                    "labels": pod_labels,
                    "annotations": {CONFIG_HASH_ANNOTATION: config_hash(config_data(ctx))},
                },
                "spec": {
                    "serviceAccountName": ctx.name,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {"fsGroup": RUNTIME_UID},
                    "terminationGracePeriodSeconds": termination_grace_period_seconds(ctx.spec),
                    **placement_fields(ctx),
                    "containers": [_container(ctx)],
                    "volumes": [
                        data_volume(ctx),
                        {"name": "tmp", "emptyDir": {}},
                    ],
                },
            },
        },
    }
