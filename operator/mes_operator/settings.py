"""Every operator setting in one place, applied by the one startup handler.

Read from ``HOLON_OPERATOR_*`` environment variables (the chart sets them), so the same
image runs in the cluster and as a local process in the end-to-end tests.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import kopf

FINALIZER = "mes.holon.dev/finalizer"
ANNOTATION_PREFIX = "mes.holon.dev"
PEERING_NAME = "holon"


def _float(env: Mapping[str, str], key: str, default: float) -> float:
    value = env.get(key)
    return float(value) if value else default


def _int(env: Mapping[str, str], key: str, default: int) -> int:
    value = env.get(key)
    return int(value) if value else default


@dataclass(frozen=True, kw_only=True)
class OperatorConfig:
    """The knobs the operator has, with defaults that suit a small plant."""

    reconcile_interval: float = 30.0
    """Seconds between level-based re-reconciles of every MESModule (drift correction)."""
    equipment_poll: float = 10.0
    """Seconds between looks at whether an Equipment's check interval has elapsed."""
    server_timeout: int = 270
    """Seconds the API server keeps a watch open (kopf issues #585/#957: silent stalls)."""
    client_timeout: int = 300
    """Seconds the client waits on a watch before reconnecting."""
    peering: bool = True
    """Coordinate replicas through a ClusterKopfPeering: one active, the rest standby."""
    priority: int = 0
    """Peering priority; 0 picks a random one so two replicas never tie (a tie pauses both)."""
    peering_lifetime: int = 15
    """Seconds after which a silent peer is presumed dead and the standby takes over."""
    health_port: int = 8081
    """Port of the liveness endpoint (/healthz)."""
    metrics_port: int = 8082
    """Port of the Prometheus endpoint (/metrics); 0 turns it off."""
    peering_name: str = PEERING_NAME
    """Name of the ClusterKopfPeering object the replicas meet in."""
    worker_limit: int = 50
    """Objects reconciled at once. Unbounded, 500 modules applied together ran 500
    reconciles on two cores: API calls timed out and memory peaked near 280 MB."""
    runtime_url: str = "http://{name}.{namespace}.svc"
    """How an orchestrated upgrade reaches a module's runtime (``{name}``, ``{namespace}``):
    the module's Service; an operator outside the cluster (the e2e tests) sets its own."""

    namespace: str | None = None
    """The operator's own namespace (the chart sets it from the Pod): where its evidence
    signing key lives. Unset, no evidence is captured (an operator run by hand)."""
    chart_version: str | None = None
    """The chart that installed the operator, recorded in every evidence package."""
    trace: bool = False
    """Log a timed trace of every handler, child apply and status patch
    (:mod:`mes_operator.trace`): a debug option for where a reaction's time goes."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> OperatorConfig:
        """Settings from ``HOLON_OPERATOR_*`` variables; unset ones keep their default."""
        d = cls()
        return cls(
            reconcile_interval=_float(
                env, "HOLON_OPERATOR_RECONCILE_INTERVAL", d.reconcile_interval
            ),
            equipment_poll=_float(env, "HOLON_OPERATOR_EQUIPMENT_POLL", d.equipment_poll),
            server_timeout=_int(env, "HOLON_OPERATOR_WATCH_SERVER_TIMEOUT", d.server_timeout),
            client_timeout=_int(env, "HOLON_OPERATOR_WATCH_CLIENT_TIMEOUT", d.client_timeout),
            peering=env.get("HOLON_OPERATOR_PEERING", "true").lower() not in {"0", "false"},
            priority=_int(env, "HOLON_OPERATOR_PRIORITY", d.priority),
            peering_lifetime=_int(env, "HOLON_OPERATOR_PEERING_LIFETIME", d.peering_lifetime),
            health_port=_int(env, "HOLON_OPERATOR_HEALTH_PORT", d.health_port),
            metrics_port=_int(env, "HOLON_OPERATOR_METRICS_PORT", d.metrics_port),
            peering_name=env.get("HOLON_OPERATOR_PEERING_NAME") or d.peering_name,
            worker_limit=_int(env, "HOLON_OPERATOR_WORKER_LIMIT", d.worker_limit),
            runtime_url=env.get("HOLON_OPERATOR_RUNTIME_URL") or d.runtime_url,
            namespace=env.get("HOLON_OPERATOR_NAMESPACE") or None,
            chart_version=env.get("HOLON_OPERATOR_CHART_VERSION") or None,
            trace=env.get("HOLON_OPERATOR_TRACE", "false").lower() in {"1", "true"},
        )

    def effective_priority(self) -> int:
        """The configured priority, or a random one in 1..32767 when unset."""
        return self.priority or 1 + secrets.randbelow(32767)


def configure(settings: Any, config: OperatorConfig) -> None:
    """Apply ``config`` to kopf's ``OperatorSettings`` (called by the startup handler)."""
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix=ANNOTATION_PREFIX
    )
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=ANNOTATION_PREFIX, key="last-handled-configuration"
    )
    settings.watching.server_timeout = config.server_timeout
    settings.watching.client_timeout = config.client_timeout
    settings.watching.connect_timeout = 30
    settings.peering.name = config.peering_name
    settings.peering.clusterwide = True
    settings.peering.mandatory = config.peering
    settings.peering.standalone = not config.peering
    settings.peering.priority = config.effective_priority()
    settings.peering.lifetime = config.peering_lifetime
    settings.posting.level = 20  # logging.INFO: kopf's own Events for handler outcomes
    settings.execution.max_workers = 4
    settings.queueing.worker_limit = config.worker_limit
