"""The runtime's Prometheus metrics, and the metering edges that feed them.

The engine is not instrumented from inside: its two ports (``EquipmentPort``,
``BatchRecorder``) and the journal writer are wrapped by thin decorators that count what
passes through them. Everything the engine does reaches storage and equipment through
those ports, so the counts are exact, and the engine stays free of I/O and of metrics.

Every metric lives in the :class:`RuntimeMetrics` object's own registry (not the global
one): tests and benchmarks can run several runtimes in one process, and each replica of a
module exports only its own series (Prometheus adds the ``pod`` label), so gauges such as
``holon_batches_running`` are never double counted: a batch is owned by one replica.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter as Tally
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import Pool, QueuePool

from mes_runtime.domain.exceptions import Category
from mes_runtime.ebr.chain import VerifyResult
from mes_runtime.ebr.journal import Entry, Extra, Journal, StoredEntry, Work
from mes_runtime.engine.ports import (
    BatchRecorder,
    EquipmentEvent,
    EquipmentPort,
    ProcessSample,
    Severity,
    StateChange,
)
from mes_runtime.kernel.codes import ServiceCommand, ServiceState

__all__ = [
    "AUTH_VIAS",
    "FINAL_RESULTS",
    "STATEMENT_KINDS",
    "MeteredEquipment",
    "MeteredJournal",
    "MeteredRecorder",
    "RuntimeMetrics",
    "time_queries",
]

#: What a failed authentication was for, the ``via`` label of the auth metrics.
AUTH_VIAS = ("login", "password", "signature")
#: Final batch states, the ``result`` label of ``holon_batches_finished_total``.
FINAL_RESULTS = ("complete", "stopped", "aborted")
#: The ``statement`` label of ``holon_db_query_duration_seconds`` (anything else: other).
STATEMENT_KINDS = ("select", "insert", "update", "delete", "other")
_COMMAND_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_QUERY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
_LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class RuntimeMetrics:
    """Every runtime metric, in one registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.batches_started = Counter(
            "holon_batches_started", "Batches this replica started running.", registry=r
        )
        self.batches_finished = Counter(
            "holon_batches_finished",
            "Batches that reached a final state on this replica, by result.",
            ["result"],
            registry=r,
        )
        self.batches_taken_over = Counter(
            "holon_batches_taken_over",
            "Running batches this replica took over from another owner (a hand-over, or an "
            "owner that stopped renewing its lease).",
            registry=r,
        )
        self.batches_handed_over = Counter(
            "holon_batches_handed_over",
            "Batch leases this replica released while the batch ran on: at shutdown, or when "
            "the ownership grant moved to the other colour (a peer takes the batch over).",
            registry=r,
        )
        self.batches_running = Gauge(
            "holon_batches_running",
            "Batches executing on this replica (started or taken over here) and not yet final.",
            registry=r,
        )
        self.batches_in_state = Gauge(
            "holon_batches_in_state",
            "Batches started on this replica and not yet final, by their current state.",
            ["state"],
            registry=r,
        )
        self.element_state_changes = Counter(
            "holon_element_state_changes",
            "ISA-88 state changes of procedural elements, by kind (phase ...) and new state.",
            ["kind", "state"],
            registry=r,
        )
        self.values_ingested = Counter(
            "holon_process_values_ingested",
            "Process values from equipment stored against a batch.",
            registry=r,
        )
        self.commands = Counter(
            "holon_equipment_commands",
            "MTP commands sent to equipment (start = procedure start), by command and result.",
            ["command", "result"],
            registry=r,
        )
        self.command_seconds = Histogram(
            "holon_equipment_command_seconds",
            "Round trip of an MTP command: sent until the module acknowledged the write.",
            ["command"],
            buckets=_COMMAND_BUCKETS,
            registry=r,
        )
        self.journal_appends = Counter(
            "holon_journal_appends", "Entries appended to the EBR journal.", registry=r
        )
        self.journal_verifications = Counter(
            "holon_journal_verifications",
            "Verifications of the journal's hash chain, by result (ok, failed).",
            ["result"],
            registry=r,
        )
        self.exceptions = Counter(
            "holon_batch_exceptions",
            "Exceptions recorded for review by exception, by category (limit_excursion, "
            "equipment_loss ...) and severity.",
            ["category", "severity"],
            registry=r,
        )
        self.auth_failures = Counter(
            "holon_auth_failures",
            "Failed authentications (wrong or unknown credentials, locked account), by what "
            "was attempted (login, password, signature).",
            ["via"],
            registry=r,
        )
        self.auth_lockouts = Counter(
            "holon_auth_lockouts",
            "Accounts locked after repeated failed authentications: alert on any increase.",
            ["via"],
            registry=r,
        )
        self.http_requests = Counter(
            "holon_http_requests",
            "HTTP requests answered, by method, route template (unmatched: one value) and "
            "status; the live event stream is counted when its response starts.",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_seconds = Histogram(
            "holon_http_request_duration_seconds",
            "Time from a request's arrival until its response was sent, by method and route "
            "template (the endless live event stream is not timed).",
            ["method", "route"],
            buckets=_HTTP_BUCKETS,
            registry=r,
        )
        self.query_seconds = Histogram(
            "holon_db_query_duration_seconds",
            "Time the database driver took for one statement, by statement kind "
            "(select, insert, update, delete, other).",
            ["statement"],
            buckets=_QUERY_BUCKETS,
            registry=r,
        )
        self.subscription_lag = Histogram(
            "holon_opcua_subscription_lag_seconds",
            "Time from a value's source timestamp (the server's when the module sets none) "
            "to its receipt here, by equipment; negative lags (clock skew) count as 0.",
            ["equipment"],
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self._pool = _PoolCollector()
        r.register(self._pool)
        for kind in STATEMENT_KINDS:
            self.query_seconds.labels(kind)
        for via in AUTH_VIAS:
            self.auth_failures.labels(via)
            self.auth_lockouts.labels(via)
        for result in FINAL_RESULTS:
            self.batches_finished.labels(result)
        for result in ("ok", "failed"):
            self.journal_verifications.labels(result)
        for category in Category:  # both fixed sets: 7 x 3 series, each there from the start
            for severity in Severity:
                self.exceptions.labels(category.value, severity.value)
        self._running: dict[str, str] = {}  # batch id -> current state, until final
        self._states_seen: set[str] = set()
        self._kind_of: Callable[[str, str], str] = lambda batch_id, path: "element"

    # -- what the decorators report -----------------------------------------------------

    def auth_failed(self, via: str, *, locked: bool) -> None:
        """The security alert hook: a failed authentication, and whether it locked."""
        self.auth_failures.labels(via).inc()
        if locked:
            self.auth_lockouts.labels(via).inc()

    def explain_paths(self, kind_of: Callable[[str, str], str]) -> None:
        """How to tell a phase from an operation: ``kind_of(batch_id, path)`` (the engine
        knows; the recorder only sees paths)."""
        self._kind_of = kind_of

    def element_changed(self, batch_id: str, path: str, state: str) -> None:
        try:
            kind = self._kind_of(batch_id, path)
        except LookupError:
            kind = "element"
        self.element_state_changes.labels(kind, state).inc()

    def batch_adopted(self, batch_id: str, state: str) -> None:
        """A batch another owner ran is executed here from now: its end is counted here."""
        if batch_id in self._running or state in FINAL_RESULTS:
            return
        self.batches_taken_over.inc()
        self._running[batch_id] = state
        self._record_running()

    def batch_changed(self, batch_id: str, state: str) -> None:
        if state == "running" and batch_id not in self._running:
            self.batches_started.inc()
        if batch_id not in self._running and state != "running":
            return  # not started here (a state stored before the start): not ours to count
        if state in FINAL_RESULTS:
            del self._running[batch_id]
            self.batches_finished.labels(state).inc()
        else:
            self._running[batch_id] = state
        self._record_running()

    def batches_released(self, batch_ids: Sequence[str]) -> None:
        """The hand-over hook (``BatchOwnership``): these leases were released while their
        batches run on; they no longer execute here (a later take-over counts again)."""
        self.batches_handed_over.inc(len(batch_ids))
        for batch_id in batch_ids:
            self._running.pop(batch_id, None)
        self._record_running()

    def sample_lag(self, equipment: str, seconds: float) -> None:
        """The OPC UA subscription hook: one value's lag (clamped at 0: clock skew)."""
        self.subscription_lag.labels(equipment).observe(max(seconds, 0.0))

    def watch_database(self, engine: AsyncEngine) -> None:
        """Time every statement of ``engine`` by kind, and export its pool's use (read at
        scrape time)."""
        self._pool.pool = engine.sync_engine.pool
        time_queries(engine, self.query_seconds)

    def _record_running(self) -> None:
        self.batches_running.set(len(self._running))
        counts = Tally(self._running.values())
        for known in {*counts, *self._states_seen}:
            self.batches_in_state.labels(known).set(counts.get(known, 0))
        self._states_seen |= set(counts)

    def watch_equipment(self, modules: Callable[[], Mapping[str, bool]]) -> None:
        """Export ``holon_equipment_connected`` from ``modules()`` (name -> connected),
        read at scrape time: always current, nothing to keep in step."""
        self.registry.register(_ConnectedCollector(modules))


class _ConnectedCollector(Collector):
    def __init__(self, modules: Callable[[], Mapping[str, bool]]) -> None:
        self._modules = modules

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "holon_equipment_connected",
            "1 while this replica has a live OPC UA session to the module, else 0.",
            labels=["equipment"],
        )
        for name, connected in sorted(dict(self._modules()).items()):
            family.add_metric([name], 1.0 if connected else 0.0)
        yield family


class _PoolCollector(Collector):
    """``holon_db_pool_*`` of the engine's pool, read at scrape time (families without a
    sample until an engine is watched, and for a pool that does not count)."""

    def __init__(self) -> None:
        self.pool: Pool | None = None

    def collect(self) -> Iterable[Metric]:
        in_use = GaugeMetricFamily(
            "holon_db_pool_connections_in_use",
            "Database connections checked out of this replica's pool now.",
        )
        size = GaugeMetricFamily(
            "holon_db_pool_size",
            "Connections this replica's pool keeps open (it may open max_overflow more).",
        )
        pool = self.pool
        if isinstance(pool, QueuePool):  # the async engines' AsyncAdaptedQueuePool too
            in_use.add_metric([], float(pool.checkedout()))
            size.add_metric([], float(pool.size()))
        yield in_use
        yield size


def time_queries(engine: AsyncEngine, histogram: Histogram) -> None:
    """Observe each statement's driver time in ``histogram`` (label: statement kind), from
    SQLAlchemy's cursor events on the engine's sync core (an AsyncEngine has no events of
    its own). A statement that fails is not observed (the error is what matters)."""
    children = {kind: histogram.labels(kind) for kind in STATEMENT_KINDS}
    other = children["other"]
    started_at = "holon_query_started"

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _before(
        _conn: Any, _cursor: Any, _sql: str, _params: Any, context: Any, _many: bool
    ) -> None:
        if context is not None:
            setattr(context, started_at, time.perf_counter())

    @event.listens_for(engine.sync_engine, "after_cursor_execute")
    def _after(_conn: Any, _cursor: Any, sql: str, _params: Any, context: Any, _many: bool) -> None:
        started = getattr(context, started_at, None)
        if started is None:
            return
        elapsed = time.perf_counter() - started
        words = sql[:24].split(None, 1)  # the first keyword, without copying the statement
        kind = words[0].lower() if words else "other"
        children.get(kind, other).observe(elapsed)


class MeteredRecorder:
    """A ``BatchRecorder`` that counts state changes and stored values, then delegates."""

    def __init__(self, inner: BatchRecorder, metrics: RuntimeMetrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:  # e.g. SqlBatchRecorder.journal_writer
        return getattr(self._inner, name)

    async def journal(
        self,
        *,
        batch_id: str | None,
        actor: str,
        action: str,
        subject: str,
        old_value: object = None,
        new_value: object = None,
        reason: str | None = None,
    ) -> None:  # counted by MeteredJournal, which every append goes through
        await self._inner.journal(
            batch_id=batch_id,
            actor=actor,
            action=action,
            subject=subject,
            old_value=old_value,
            new_value=new_value,
            reason=reason,
        )
        if action == "batch.resume" and batch_id is not None and isinstance(new_value, dict):
            self._metrics.batch_adopted(batch_id, str(new_value.get("state", "running")))

    async def claim(self, batch_id: str) -> None:
        await self._inner.claim(batch_id)

    async def change(self, change: StateChange) -> None:
        await self._inner.change(change)
        if change.action != "element.state":
            return  # a phase's resume fields saved without a state change
        self._metrics.element_changed(change.batch_id, change.element.path, change.element.state)
        if change.batch_state is not None:
            self._metrics.batch_changed(change.batch_id, change.batch_state)

    async def element_state(self, *, batch_id: str, path: str, state: str) -> None:
        await self._inner.element_state(batch_id=batch_id, path=path, state=state)
        self._metrics.element_changed(batch_id, path, state)

    async def batch_state(self, *, batch_id: str, state: str) -> None:
        await self._inner.batch_state(batch_id=batch_id, state=state)
        self._metrics.batch_changed(batch_id, state)

    async def process_values(self, *, batch_id: str, samples: Sequence[ProcessSample]) -> None:
        await self._inner.process_values(batch_id=batch_id, samples=samples)
        self._metrics.values_ingested.inc(len(samples))

    async def stored_values(
        self, *, batch_id: str, watched: Collection[tuple[str, str]], since: datetime
    ) -> list[ProcessSample]:
        return await self._inner.stored_values(batch_id=batch_id, watched=watched, since=since)

    async def exception(
        self,
        *,
        batch_id: str,
        category: Category,
        severity: Severity,
        subject: str,
        message: str,
        trigger: Mapping[str, Any] | None = None,
    ) -> None:
        await self._inner.exception(
            batch_id=batch_id,
            category=category,
            severity=severity,
            subject=subject,
            message=message,
            trigger=trigger,
        )
        self._metrics.exceptions.labels(category.value, severity.value).inc()


class MeteredEquipment:
    """An ``EquipmentPort`` that times every command it sends, then delegates."""

    def __init__(self, inner: EquipmentPort, metrics: RuntimeMetrics) -> None:
        self._inner = inner
        self._metrics = metrics

    @property
    def events(self) -> asyncio.Queue[EquipmentEvent]:
        return self._inner.events

    def is_connected(self, equipment: str) -> bool:
        return self._inner.is_connected(equipment)

    def is_continuous(self, equipment: str, service: str, procedure: str) -> bool:
        return self._inner.is_continuous(equipment, service, procedure)

    async def start_procedure(
        self, equipment: str, service: str, procedure: str, parameters: Mapping[str, float]
    ) -> None:
        with self._timed("start"):
            await self._inner.start_procedure(equipment, service, procedure, parameters)

    async def command(self, equipment: str, service: str, command: ServiceCommand) -> None:
        with self._timed(command.name.lower()):
            await self._inner.command(equipment, service, command)

    async def service_state(self, equipment: str, service: str) -> ServiceState:
        return await self._inner.service_state(equipment, service)

    def _timed(self, command: str) -> _Timed:
        return _Timed(self._metrics, command)


class _Timed:
    """Counts one command by result and observes its round trip when it succeeded."""

    def __init__(self, metrics: RuntimeMetrics, command: str) -> None:
        self._metrics = metrics
        self._command = command
        self._started = 0.0

    def __enter__(self) -> None:
        self._started = time.perf_counter()

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        elapsed = time.perf_counter() - self._started
        result = "ok" if exc_type is None else "error"
        self._metrics.commands.labels(self._command, result).inc()
        if exc_type is None:
            self._metrics.command_seconds.labels(self._command).observe(elapsed)


class MeteredJournal(Journal):
    """The journal writer, counting appends and verification results."""

    def __init__(self, engine: AsyncEngine, *, metrics: RuntimeMetrics) -> None:
        super().__init__(engine)
        self._metrics = metrics

    async def append(
        self,
        *,
        actor: str,
        action: str,
        subject: str,
        batch_id: str | None = None,
        old_value: object = None,
        new_value: object = None,
        reason: str | None = None,
        alongside: Extra | None = None,
    ) -> StoredEntry:
        stored = await super().append(
            actor=actor,
            action=action,
            subject=subject,
            batch_id=batch_id,
            old_value=old_value,
            new_value=new_value,
            reason=reason,
            alongside=alongside,
        )
        self._metrics.journal_appends.inc()
        return stored

    async def append_all(
        self, entries: Sequence[Entry], *, alongside: Extra | None = None
    ) -> list[StoredEntry]:
        stored = await super().append_all(entries, alongside=alongside)
        self._metrics.journal_appends.inc(len(stored))
        return stored

    async def record(self, work: Work) -> list[StoredEntry]:
        stored = await super().record(work)
        self._metrics.journal_appends.inc(len(stored))
        return stored

    async def verify(self, *, chunk_size: int = 20_000) -> VerifyResult:
        result = await super().verify(chunk_size=chunk_size)
        self._metrics.journal_verifications.labels("ok" if result.ok else "failed").inc()
        return result
