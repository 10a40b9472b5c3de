"""The operator's Prometheus metrics, served on their own port (``/metrics``, 8082).

Reconciles are counted by resource kind and result and timed; drift corrections are
counted by the kind of child that was restored. Each operator replica exports its own
series; only the active one (kopf peering) reconciles, so the standby's counters stay
flat, which is what a dashboard should show.

Equipment verifications (the OPC UA check of an ``Equipment``) are counted and timed by
their result, the ``Verified`` condition's reason: ``AllServicesPresent`` (verified), or
why not (``ServiceMissing``, ``Unreachable``, ``ConnectionRejected``, ``CertificateRejected``,
``BrowseFailed``, ``CertificateSecretMissing``).

kopf's own work queue is not exported: kopf keeps its per-object queues in a local of its
watcher and publishes no depth, so there is nothing to read without patching kopf.

Results: ``ok``; ``retry`` (``kopf.TemporaryError``: not yet, e.g. a busy API server);
``invalid`` (``kopf.PermanentError``: a spec the operator cannot act on); ``error``
(anything else: kopf retries it, and the ``HolonOperatorReconcileErrors`` alert fires).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import kopf
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

__all__ = [
    "CHECK_RESULTS",
    "DRIFT_CORRECTIONS",
    "EQUIPMENT_CHECKS",
    "EQUIPMENT_CHECK_SECONDS",
    "RECONCILES",
    "RECONCILE_SECONDS",
    "REGISTRY",
    "RESULTS",
    "equipment_checked",
    "measured_reconcile",
    "serve_metrics",
]

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry()
RESULTS = ("ok", "retry", "invalid", "error")
KINDS = ("MESModule", "Equipment")

RECONCILES = Counter(
    "holon_operator_reconciles",
    "Reconciles by resource kind and result (ok, retry, invalid, error).",
    ["kind", "result"],
    registry=REGISTRY,
)
RECONCILE_SECONDS = Histogram(
    "holon_operator_reconcile_duration_seconds",
    "Time one reconcile took, by resource kind.",
    ["kind"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
DRIFT_CORRECTIONS = Counter(
    "holon_operator_drift_corrections",
    "Children restored to the spec after a change outside the operator, by child kind.",
    ["kind"],
    registry=REGISTRY,
)
EQUIPMENT_CHECKS = Counter(
    "holon_operator_equipment_checks",
    "Equipment verifications (OPC UA check of the required MTP services), by result: the "
    "Verified condition's reason.",
    ["result"],
    registry=REGISTRY,
)
EQUIPMENT_CHECK_SECONDS = Histogram(
    "holon_operator_equipment_check_duration_seconds",
    "Time one Equipment verification took (connect, browse), by result.",
    ["result"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60),
    registry=REGISTRY,
)
#: The reasons a check ends with (``mes_operator.equipment.check`` and the reconcile).
CHECK_RESULTS = (
    "AllServicesPresent",
    "ServiceMissing",
    "Unreachable",
    "ConnectionRejected",
    "CertificateRejected",
    "BrowseFailed",
    "CertificateSecretMissing",
)
for _result in CHECK_RESULTS:
    EQUIPMENT_CHECKS.labels(_result)
    EQUIPMENT_CHECK_SECONDS.labels(_result)
for _kind in KINDS:
    RECONCILE_SECONDS.labels(_kind)
    for _result in RESULTS:
        RECONCILES.labels(_kind, _result)
for _child in ("Deployment", "Service", "ConfigMap", "PodDisruptionBudget", "ServiceAccount"):
    DRIFT_CORRECTIONS.labels(_child)


@asynccontextmanager
async def measured_reconcile(kind: str) -> AsyncIterator[None]:
    """Count and time the reconcile run inside the block; exceptions pass through."""
    started = time.perf_counter()
    result = "error"
    try:
        yield
        result = "ok"
    except kopf.TemporaryError:
        result = "retry"
        raise
    except kopf.PermanentError:
        result = "invalid"
        raise
    finally:
        RECONCILES.labels(kind, result).inc()
        RECONCILE_SECONDS.labels(kind).observe(time.perf_counter() - started)


def equipment_checked(result: str, seconds: float) -> None:
    """Count one Equipment verification by its result (condition reason) and time it."""
    EQUIPMENT_CHECKS.labels(result).inc()
    EQUIPMENT_CHECK_SECONDS.labels(result).observe(seconds)


def serve_metrics(port: int, *, host: str = "0.0.0.0") -> int | None:  # noqa: S104 - Pod IP
    """Serve ``/metrics`` from a daemon thread; the port bound, or None when off (0) or
    taken (the operator runs on without metrics rather than not at all; the log says so)."""
    if port <= 0:
        return None
    try:
        server, _ = start_http_server(port, addr=host, registry=REGISTRY)
    except OSError as exc:
        log.warning("metrics endpoint not started on port %d: %s", port, exc)
        return None
    return int(server.server_address[1])
