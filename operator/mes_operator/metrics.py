"""The operator's Prometheus metrics, served on their own port (``/metrics``, 8082).

Reconciles are counted by resource kind and result and timed; drift corrections are
counted by the kind of child that was restored. Each operator replica exports its own
series; only the active one (kopf peering) reconciles, so the standby's counters stay
flat, which is what a dashboard should show.

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
    "DRIFT_CORRECTIONS",
    "RECONCILES",
    "RECONCILE_SECONDS",
    "REGISTRY",
    "RESULTS",
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
