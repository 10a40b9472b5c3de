"""Real-time limit monitoring: out-of-spec process values while a phase runs.

A phase may list process values to watch (``monitor`` in the recipe). While the phase is
Running, every new value is checked against its limits, one sample at a time and in
arrival order (so an excursion and its return inside one burst of events are both seen);
the *entry* into an excursion raises one exception (severity from the limit's
criticality); the return inside limits is journalled, so review by exception sees each
excursion once, with its start and end. A step that a loop runs again starts afresh: its
earlier excursion does not hide a new one (:meth:`LimitMonitor.forget`).

A limit may carry out-of-trend rules (``trend`` in the recipe): each sample of a running
phase is also fed through that limit's :class:`~mes_runtime.domain.exceptions.TrendDetector`
(one per phase run), and a completed pattern raises an ``out_of_trend`` exception with its
evidence (rule, reference, window, values) while the value may still be inside its limits.

A value only counts as back inside once it has cleared the limit by a deadband
(:data:`DEADBAND`, a fraction of the limit span, as alarm-management practice recommends):
a noisy value hovering at a limit is one excursion, not a flood of exceptions.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mes_runtime.domain.control_recipe import ControlPhase
from mes_runtime.domain.exceptions import Category, TrendDetector, TrendPoint
from mes_runtime.domain.recipe import MonitorLimit
from mes_runtime.domain.states import ElementState
from mes_runtime.engine.tree import BatchTree
from mes_runtime.kernel.events import ProcessSample, Severity

__all__ = ["DEADBAND", "Finding", "LimitMonitor"]

#: Recovery deadband as a fraction of the span (low..high), or of the one limit's magnitude.
DEADBAND = 0.02


@dataclass(frozen=True, slots=True)
class Finding:
    """A limit excursion that starts (``recovered=False``) or ends now."""

    recovered: bool
    severity: Severity
    subject: str
    message: str
    category: Category = Category.LIMIT_EXCURSION
    #: The data that triggered it (an exception's ``trigger``): equipment, name, value,
    #: unit, the limits and the phase that watched it.
    trigger: Mapping[str, Any] = field(default_factory=dict)


# (phase path, limit) watched for one (equipment, process value name).
_Watch = tuple[str, MonitorLimit]


class LimitMonitor:
    """Remembers which monitored values are outside their limits, per batch and phase."""

    def __init__(self) -> None:
        self._limits: dict[str, dict[tuple[str, str], list[_Watch]]] = {}
        self._outside: set[tuple[str, str, str]] = set()
        self._trends: dict[tuple[str, str, str], TrendDetector] = {}  # (batch, path, name)

    def register(self, tree: BatchTree) -> None:
        """Collect the monitor limits of every phase of a batch."""
        watches: dict[tuple[str, str], list[_Watch]] = {}
        for node in tree.root.walk():
            if node.phase is not None and isinstance(node.element, ControlPhase):
                for limit in node.element.monitor:
                    key = (node.phase.equipment, limit.name)
                    watches.setdefault(key, []).append((node.path, limit))
        self._limits[tree.batch_id] = watches

    def drop(self, batch_id: str) -> None:
        """Forget a batch entirely (it has ended and left the engine)."""
        self._limits.pop(batch_id, None)
        self._outside = {key for key in self._outside if key[0] != batch_id}
        self._trends = {key: d for key, d in self._trends.items() if key[0] != batch_id}

    def forget(self, batch_id: str, path: str) -> None:
        """Drop what is known about one phase's excursions (it is about to run again)."""
        self._outside = {key for key in self._outside if key[:2] != (batch_id, path)}
        self._trends = {k: d for k, d in self._trends.items() if k[:2] != (batch_id, path)}

    def watched(self, tree: BatchTree) -> tuple[set[tuple[str, str]], datetime | None]:
        """The ``(equipment, name)`` pairs the running phases of ``tree`` monitor, and when
        the earliest of those phases last left Idle: the values to replay on a take-over."""
        pairs: set[tuple[str, str]] = set()
        since: datetime | None = None
        for pair, watches in self._limits.get(tree.batch_id, {}).items():
            for path, _ in watches:
                node = tree.by_path[path]
                if node.state is ElementState.RUNNING and node.executing_since is not None:
                    pairs.add(pair)
                    if since is None or node.executing_since < since:
                        since = node.executing_since
        return pairs, since

    def replay(self, tree: BatchTree, samples: Iterable[ProcessSample]) -> None:
        """Take in what a previous owner of the batch saw (its stored samples, oldest first)
        without raising anything again - it raised and recorded those findings itself - so
        that an excursion or a trend pattern in progress continues across a hand-over,
        neither raised twice nor missed. A sample from before a phase last left Idle is not
        that phase's."""
        for sample in samples:
            for _ in self.check(tree, sample, replaying=True):
                pass

    def check(
        self, tree: BatchTree, sample: ProcessSample, *, replaying: bool = False
    ) -> Iterator[Finding]:
        """Findings for running phases that watch ``sample`` and whose limit it crossed."""
        watches = self._limits.get(tree.batch_id, {}).get((sample.equipment, sample.name), ())
        for path, limit in watches:
            node = tree.by_path[path]
            if node.state is not ElementState.RUNNING:
                continue
            if replaying and (
                node.executing_since is None or sample.timestamp < node.executing_since
            ):
                continue
            key = (tree.batch_id, path, f"{limit.name}[{limit.low},{limit.high}]")
            subject = f"{path}:{sample.equipment}.{limit.name}"
            if limit.trend is not None:
                yield from self._trend(tree.batch_id, path, limit, subject, sample)
            outside = key in self._outside
            inside = _cleared(limit, sample.value) if outside else limit.within(sample.value)
            if not inside and not outside:
                self._outside.add(key)
                yield Finding(
                    recovered=False,
                    severity=Severity(limit.criticality.value),
                    subject=subject,
                    message=(
                        f"{sample.equipment}.{limit.name} = {sample.value:.6g} {sample.unit} "
                        f"is outside {_describe(limit)} while {path} runs"
                    ),
                    trigger={
                        "equipment": sample.equipment,
                        "name": limit.name,
                        "value": sample.value,
                        "unit": sample.unit,
                        "low": limit.low,
                        "high": limit.high,
                        "phase": path,
                    },
                )
            elif inside and outside:
                self._outside.discard(key)
                yield Finding(
                    recovered=True,
                    severity=Severity(limit.criticality.value),
                    subject=subject,
                    message=(
                        f"{sample.equipment}.{limit.name} back within {_describe(limit)} "
                        f"({sample.value:.6g} {sample.unit})"
                    ),
                )

    def _trend(
        self, batch_id: str, path: str, limit: MonitorLimit, subject: str, sample: ProcessSample
    ) -> Iterator[Finding]:
        assert limit.trend is not None
        detector = self._trends.get((batch_id, path, limit.name))
        if detector is None:
            spec = limit.trend.spec(f"{sample.equipment}.{limit.name}", limit.unit)
            detector = self._trends[(batch_id, path, limit.name)] = TrendDetector(spec)
        for found in detector.add(TrendPoint(sample.timestamp, sample.value)):
            yield Finding(
                recovered=False,
                severity=found.severity,
                subject=subject,
                message=f"{found.message} while {path} runs",
                category=Category.OUT_OF_TREND,
                trigger={
                    "equipment": sample.equipment,
                    "name": limit.name,
                    "phase": path,
                    **found.evidence(detector.spec),
                },
            )


def _describe(limit: MonitorLimit) -> str:
    low = "-inf" if limit.low is None else f"{limit.low:g}"
    high = "+inf" if limit.high is None else f"{limit.high:g}"
    return f"[{low}, {high}] {limit.unit}"


def _cleared(limit: MonitorLimit, value: float) -> bool:
    """Inside the limits by at least the deadband (the test for an excursion's end)."""
    if limit.low is not None and limit.high is not None:
        band = DEADBAND * (limit.high - limit.low)
    else:
        band = DEADBAND * abs(limit.low if limit.low is not None else limit.high or 0.0)
    return (limit.low is None or value >= limit.low + band) and (
        limit.high is None or value <= limit.high - band
    )
