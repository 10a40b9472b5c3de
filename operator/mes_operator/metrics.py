"""The operator's Prometheus metrics, served on their own port (``/metrics``, 8082).

Reconciles are counted by resource kind and result and timed; drift corrections are
counted by the kind of child that was restored. Each operator replica exports its own
series; only the active one (kopf peering) reconciles, so the standby's counters stay
flat, which is what a dashboard should show.

Equipment verifications (the OPC UA check of an ``Equipment``) are counted and timed by
their result, the ``Verified`` condition's reason: ``AllServicesPresent`` (verified), or
why not (``ServiceMissing``, ``Unreachable``, ``ConnectionRejected``, ``CertificateRejected``,
``BrowseFailed``, ``CertificateSecretMissing``; with a manifest also ``NodesMissing``,
``ReadFailed``, ``ManifestNotFound``, ``ManifestInvalid``).

Upgrades (:mod:`mes_operator.upgrade.metering` records them, after each persisted step)
carry ``namespace`` and ``module`` labels, the MESModule's (scrape the operator with
``honor_labels: true``, as the chart's ServiceMonitor does, or Prometheus renames them
``exported_namespace``); versions are no label, since they grow without bound. Attempts
started and ended by outcome (``qualified``, ``rolled_back``, ``failed``), rollbacks by
cause (the CamelCase ``status.upgrade.cause``, a fixed set in the machine), the time each
phase took, measured between the persisted ``phaseStartedAt`` stamps (so a fail-over does
not reset it), and gauges of the upgrade in flight: when its current phase started,
whether it is held at the safe point, whether ``spec.paused`` holds it. The gauges are read
from the status the active replica last stepped, and a replica that has not stepped a
module for :attr:`UpgradeNow.stale_after` seconds drops its series: a standby that once
was active would otherwise report an upgrade stuck in a phase it left long ago.

Whether the release reconciles at all: ``holon_operator_module_reconcile_timestamp_seconds``
(when this replica last ended a MESModule reconcile without an error, or handled a deletion)
and ``holon_operator_modules_reconciled`` (how many modules it reconciled in the
:attr:`ReconcileHeartbeat.window` before then). Only the active replica moves them; a
standby keeps the values of its last active spell, or none. The ``HolonOperatorNotReconciling``
alert reads the count of the replica with the newest time: modules existed when the release
last reconciled, and nobody has since.

kopf's own work queue is not exported: kopf keeps its per-object queues in a local of its
watcher and publishes no depth, so there is nothing to read without patching kopf.

Results: ``ok``; ``retry`` (``kopf.TemporaryError``: not yet, e.g. a busy API server);
``invalid`` (``kopf.PermanentError``: a spec the operator cannot act on); ``error``
(anything else: kopf retries it, and the ``HolonOperatorReconcileErrors`` alert fires).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import kopf
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = [
    "CHECK_RESULTS",
    "DRIFT_CORRECTIONS",
    "EQUIPMENT_CHECKS",
    "EQUIPMENT_CHECK_SECONDS",
    "RECONCILES",
    "RECONCILE_HEARTBEAT",
    "RECONCILE_SECONDS",
    "REGISTRY",
    "RESULTS",
    "UPGRADES_ENDED",
    "UPGRADES_STARTED",
    "UPGRADE_NOW",
    "UPGRADE_OUTCOMES",
    "UPGRADE_PHASE_SECONDS",
    "UPGRADE_ROLLBACKS",
    "ReconcileHeartbeat",
    "UpgradeNow",
    "equipment_checked",
    "measured_reconcile",
    "serve_metrics",
    "upgrade_series",
    "upgrade_series_removed",
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
    "NodesMissing",
    "ReadFailed",
    "ManifestNotFound",
    "ManifestInvalid",
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

UPGRADE_OUTCOMES = ("qualified", "rolled_back", "failed")
UPGRADES_STARTED = Counter(
    "holon_operator_upgrades_started",
    "Upgrade attempts begun (a new version, or a retry), by MESModule.",
    ["namespace", "module"],
    registry=REGISTRY,
)
UPGRADES_ENDED = Counter(
    "holon_operator_upgrades_ended",
    "Upgrade attempts ended, by MESModule and outcome (qualified, rolled_back, failed).",
    ["namespace", "module", "outcome"],
    registry=REGISTRY,
)
UPGRADE_ROLLBACKS = Counter(
    "holon_operator_upgrade_rollbacks",
    "Rollbacks begun (the move to RollingBack), by MESModule and cause.",
    ["namespace", "module", "cause"],
    registry=REGISTRY,
)
UPGRADE_PHASE_SECONDS = Histogram(
    "holon_operator_upgrade_phase_duration_seconds",
    "Time an upgrade spent in a phase, observed when it leaves the phase (from the "
    "persisted phaseStartedAt, second precision), by MESModule and phase.",
    ["namespace", "module", "phase"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200),
    registry=REGISTRY,
)


def upgrade_series(namespace: str, module: str) -> None:
    """Create a module's upgrade counters at zero (idempotent), before its first upgrade:
    ``increase()`` sees no rise in a series that is born at 1."""
    UPGRADES_STARTED.labels(namespace, module)
    for outcome in UPGRADE_OUTCOMES:
        UPGRADES_ENDED.labels(namespace, module, outcome)


def upgrade_series_removed(namespace: str, module: str) -> None:
    """Drop a deleted module's upgrade series (counters, phase durations, in-flight gauges):
    left behind they would be exported until the operator restarts."""
    for family in (UPGRADES_STARTED, UPGRADES_ENDED, UPGRADE_ROLLBACKS, UPGRADE_PHASE_SECONDS):
        family.remove_by_labels({"namespace": namespace, "module": module})
    UPGRADE_NOW.clear(namespace, module)


@dataclass(frozen=True, kw_only=True)
class _Now:
    phase: str
    phase_started: float
    held: bool
    paused: bool
    seen: float


class UpgradeNow(Collector):
    """The upgrade in flight per module, as this replica last stepped it (scrape-time).

    ``holon_operator_upgrade_phase_started_timestamp_seconds{namespace,module,phase}``: Unix
    time the current phase started (one series per module, its phase as label);
    ``holon_operator_upgrade_held{namespace,module}``: 1 while held at the safe point;
    ``holon_operator_upgrade_paused{namespace,module}``: 1 while ``spec.paused`` holds it. No
    series for a module without an upgrade in flight, or not stepped here for
    ``stale_after`` seconds (the operator sets it from its reconcile interval)."""

    def __init__(self, *, stale_after: float = 300.0, clock: Callable[[], float] = time.monotonic):
        self.stale_after = stale_after
        self._clock = clock
        self._modules: dict[tuple[str, str], _Now] = {}

    def set(
        self,
        namespace: str,
        module: str,
        *,
        phase: str,
        phase_started: float,
        held: bool,
        paused: bool = False,
    ) -> None:
        """The module's upgrade is in ``phase`` since ``phase_started`` (Unix time)."""
        now = _Now(
            phase=phase, phase_started=phase_started, held=held, paused=paused, seen=self._clock()
        )
        self._modules[(namespace, module)] = now

    def clear(self, namespace: str, module: str) -> None:
        """No upgrade in flight on the module (ended, or never begun)."""
        self._modules.pop((namespace, module), None)

    def collect(self) -> Iterator[Metric]:
        started = GaugeMetricFamily(
            "holon_operator_upgrade_phase_started_timestamp_seconds",
            "Unix time the current phase of the upgrade in flight started, by MESModule and phase.",
            labels=["namespace", "module", "phase"],
        )
        held = GaugeMetricFamily(
            "holon_operator_upgrade_held",
            "1 while the upgrade in flight is held at the safe point (until resumed), by "
            "MESModule.",
            labels=["namespace", "module"],
        )
        paused = GaugeMetricFamily(
            "holon_operator_upgrade_paused",
            "1 while spec.paused holds the upgrade in flight (a rollback is not held), by "
            "MESModule.",
            labels=["namespace", "module"],
        )
        oldest = self._clock() - self.stale_after
        for (namespace, module), now in list(self._modules.items()):
            if now.seen < oldest:
                continue
            started.add_metric([namespace, module, now.phase], now.phase_started)
            held.add_metric([namespace, module], 1.0 if now.held else 0.0)
            paused.add_metric([namespace, module], 1.0 if now.paused else 0.0)
        yield started
        yield held
        yield paused


UPGRADE_NOW = UpgradeNow()
REGISTRY.register(UPGRADE_NOW)


class ReconcileHeartbeat(Collector):
    """When this replica last reconciled a MESModule, and how many modules there were then.

    A per-Pod "reconciles per minute" cannot tell a dead operator from a standby (whose
    counters stay flat by design) nor from a cluster without modules. These two gauges can:
    the replica with the newest ``holon_operator_module_reconcile_timestamp_seconds`` is the
    one that reconciled last, and its ``holon_operator_modules_reconciled`` says whether
    modules were there to reconcile. Both are absent until the first reconcile ends, so a
    replica that was never active exports neither. A deletion counts as a reconcile (the
    module is gone from the count at once), so deleting the last module is no alert."""

    def __init__(self, *, window: float = 300.0, clock: Callable[[], float] = time.time):
        self.window = window
        """Seconds before the last reconcile in which a module must have been reconciled to
        be counted (the operator sets it from its reconcile interval: every module's timer
        runs several times in it)."""
        self._clock = clock
        self._last: float | None = None
        self._seen: dict[tuple[str, str], float] = {}

    def reconciled(self, namespace: str, module: str, *, failed: bool = False) -> None:
        """A reconcile of the module ended; ``failed``: with an error (no heartbeat: the
        ``HolonOperatorReconcileErrors`` alert covers those)."""
        now = self._clock()
        self._seen[(namespace, module)] = now
        if not failed:
            self._last = now

    def deleted(self, namespace: str, module: str) -> None:
        """The module is gone (its finalizer handled)."""
        self._seen.pop((namespace, module), None)
        self._last = self._clock()

    def collect(self) -> Iterator[Metric]:
        last = GaugeMetricFamily(
            "holon_operator_module_reconcile_timestamp_seconds",
            "Unix time this replica last ended a MESModule reconcile without an error (or "
            "handled a deletion); absent on a replica that never reconciled.",
        )
        modules = GaugeMetricFamily(
            "holon_operator_modules_reconciled",
            "MESModules this replica reconciled in the window before its last reconcile: the "
            "modules there were when it last reconciled.",
        )
        if self._last is not None:
            oldest = self._last - self.window
            last.add_metric([], self._last)
            modules.add_metric([], sum(1 for t in list(self._seen.values()) if t >= oldest))
        yield last
        yield modules


RECONCILE_HEARTBEAT = ReconcileHeartbeat()
REGISTRY.register(RECONCILE_HEARTBEAT)


@asynccontextmanager
async def measured_reconcile(
    kind: str, *, module: tuple[str, str] | None = None
) -> AsyncIterator[None]:
    """Count and time the reconcile run inside the block; exceptions pass through.
    ``module`` (namespace, name): a MESModule's, which also beats :data:`RECONCILE_HEARTBEAT`."""
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
        if module is not None:
            RECONCILE_HEARTBEAT.reconciled(*module, failed=result == "error")


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
