"""Process values: the latest of each, limits checked as they arrive, stored in batches.

Every replica supervises every module, so :class:`ProcessValues` keeps the latest sample
of each process value (the UI's live values, transition and completion conditions). A
sample from a module bound to a running batch is checked against that batch's monitored
limits one sample at a time, in arrival order (:mod:`mes_runtime.engine.monitoring`),
and queued for storage; the flusher stores the queue every ``flush_interval`` and keeps
what storage refused, in order, for the next flush.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from mes_runtime.domain.states import is_final
from mes_runtime.engine.monitoring import LimitMonitor
from mes_runtime.engine.ports import BatchRecorder, ProcessSample
from mes_runtime.engine.recording import SYSTEM, StepRecorder
from mes_runtime.engine.tree import BatchTree

__all__ = ["ProcessValues"]

log = logging.getLogger(__name__)


class ProcessValues:
    """The latest values, the limit monitor and the values waiting to be stored."""

    def __init__(self, recorder: BatchRecorder, *, steps: StepRecorder) -> None:
        self._recorder = recorder
        self._steps = steps
        self._latest: dict[str, dict[str, ProcessSample]] = defaultdict(dict)
        self._pending: dict[str, list[ProcessSample]] = defaultdict(list)
        self._monitor = LimitMonitor()

    def register(self, tree: BatchTree) -> None:
        """Watch a batch that became live here."""
        self._monitor.register(tree)

    async def resume(self, tree: BatchTree) -> None:
        """A batch taken over: replay its stored values into the limit and trend monitor,
        so that an excursion or trend in progress is neither raised again nor missed. If
        storage cannot answer now, monitoring starts afresh (said in the log)."""
        watched, since = self._monitor.watched(tree)
        if since is None:
            return
        try:
            samples = await self._recorder.stored_values(
                batch_id=tree.batch_id, watched=watched, since=since
            )
        except Exception as exc:  # storage hiccup: a fresh start is what we had before
            log.warning(
                "batch %s: stored values not read, its limit monitor starts afresh: %s",
                tree.batch_id,
                exc,
            )
            return
        self._monitor.replay(tree, samples)
        log.info(
            "batch %s: %d stored values replayed into its monitor", tree.batch_id, len(samples)
        )

    def drop(self, batch_id: str) -> None:
        """Forget a batch: its unstored values and its limit state."""
        self._pending.pop(batch_id, None)
        self._monitor.drop(batch_id)

    def forget_element(self, batch_id: str, path: str) -> None:
        """A step run again starts afresh: its earlier excursion does not hide a new one."""
        self._monitor.forget(batch_id, path)

    def latest_values(self, bindings: Mapping[str, str]) -> list[dict[str, Any]]:
        """The latest process value of every module bound to a batch (unit -> module), as
        this runtime's equipment sessions see them (every replica supervises every module)."""
        return [
            {
                "unit": unit,
                "equipment": equipment,
                "name": sample.name,
                "value": sample.value,
                "unit_of_measure": sample.unit,
                "timestamp": sample.timestamp.isoformat(),
            }
            for unit, equipment in sorted(bindings.items())
            for sample in sorted(self._latest[equipment].values(), key=lambda s: s.name)
        ]

    def condition_values(self, tree: BatchTree) -> dict[str, float]:
        """What a batch's conditions may name: its formula values and ``unit.value``."""
        values: dict[str, float] = dict(tree.formula_values)
        for unit, equipment in tree.bindings.items():
            for name, sample in self._latest[equipment].items():
                values[f"{unit}.{name}"] = sample.value
        return values

    def take(self, sample: ProcessSample, batches: Iterable[BatchTree]) -> None:
        """Keep a sample as the latest; queue it for each running batch bound to its module."""
        self._latest[sample.equipment][sample.name] = sample
        for tree in batches:
            if not is_final(tree.state) and sample.equipment in tree.bindings.values():
                self._pending[tree.batch_id].append(sample)

    async def check_limits(self, sample: ProcessSample, batches: Iterable[BatchTree]) -> None:
        """Raise an exception on entering an excursion; journal the return inside limits."""
        for tree in list(batches):
            if is_final(tree.state):
                continue
            for finding in self._monitor.check(tree, sample):
                if finding.recovered:
                    await self._steps.journal(
                        batch_id=tree.batch_id,
                        actor=SYSTEM,
                        action="limit.recovered",
                        subject=finding.subject,
                        reason=finding.message,
                    )
                    continue
                await self._steps.exception(
                    batch_id=tree.batch_id,
                    category=finding.category,
                    severity=finding.severity,
                    subject=finding.subject,
                    message=finding.message,
                    trigger=finding.trigger,
                )

    async def run_flusher(self, interval: float) -> None:
        """The flusher task: store the queued values every ``interval`` seconds."""
        while True:
            await asyncio.sleep(interval)
            await self.flush()

    async def flush(self) -> None:
        """Store pending process values; what fails to store is kept for the next flush."""
        pending, self._pending = self._pending, defaultdict(list)
        for batch_id, samples in pending.items():
            if not samples:
                continue
            try:
                await self._recorder.process_values(batch_id=batch_id, samples=samples)
            except Exception as exc:  # storage hiccup: keep the values, in order, and retry
                self._pending[batch_id][:0] = samples
                log.warning(
                    "storing %d process values of %s failed (kept for retry): %s",
                    len(samples),
                    batch_id,
                    exc,
                )
