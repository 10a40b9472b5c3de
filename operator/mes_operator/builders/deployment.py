"""The runtime Deployment of one colour.

Hardened by default (non-root, read-only root file system, no capabilities, no token):
a GMP system's attack surface is part of its qualification. SQLite is single-writer, so a
SQLite module is recreated rather than rolled.
"""

from __future__ import annotations

from typing import Any

from mes_operator.builders.configmap import DATA_DIR, config_data, config_hash
from mes_operator.builders.context import (
    HTTP_PORT,
    ModuleContext,
    colour_selector_labels,
    config_map_name,
    deployment_name,
    labels,
    metadata,
)
from mes_operator.models.mesmodule import Colour, DatabaseEngine

CONFIG_HASH_ANNOTATION = "mes.holon.dev/config-hash"
RUNTIME_UID = 10001


def _env(ctx: ModuleContext) -> list[dict[str, Any]]:
    ref = ctx.spec.database.credentials_secret_ref
    if ctx.spec.database.engine is DatabaseEngine.POSTGRESQL and ref is not None:
        return [
            {
                "name": "HOLON_DATABASE_URL",
                "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}},
            }
        ]
    return []


def _probe(path: str, *, period: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": 3,
    }


def _container(ctx: ModuleContext) -> dict[str, Any]:
    resources = ctx.spec.resources
    container: dict[str, Any] = {
        "name": "runtime",
        "image": ctx.image,
        "imagePullPolicy": "IfNotPresent",
        "args": ["serve"],
        "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}],
        "envFrom": [{"configMapRef": {"name": config_map_name(ctx)}}],
        "readinessProbe": _probe("/readyz", period=5),
        "livenessProbe": _probe("/healthz", period=10),
        "resources": {
            "requests": {"cpu": resources.cpu, "memory": resources.memory},
            "limits": {"memory": resources.memory_limit},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": RUNTIME_UID,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [
            {"name": "data", "mountPath": DATA_DIR},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - an emptyDir, not the host's
        ],
    }
    env = _env(ctx)
    if env:
        container["env"] = env
    return container


def build_deployment(ctx: ModuleContext, *, colour: Colour | None = None) -> dict[str, Any]:
    """The Deployment running one colour (default: the active one) of the module."""
    colour = colour or ctx.colour
    pod_labels = {**labels(ctx), **colour_selector_labels(ctx, colour)}
    recreate = ctx.spec.database.engine is DatabaseEngine.SQLITE
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(
            ctx, deployment_name(ctx, colour), **colour_selector_labels(ctx, colour)
        ),
        "spec": {
            "replicas": ctx.spec.replicas,
            "selector": {"matchLabels": colour_selector_labels(ctx, colour)},
            "strategy": {"type": "Recreate"} if recreate else {"type": "RollingUpdate"},
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
                    "containers": [_container(ctx)],
                    "volumes": [
                        {"name": "data", "emptyDir": {}},
                        {"name": "tmp", "emptyDir": {}},
                    ],
                },
            },
        },
    }
