"""The batches live in this runtime: their trees, finish signals and retention.

A batch is live here from the moment this runtime starts or takes it over until another
runtime owns it (:meth:`LiveBatches.forget`) or enough newer batches have finished: a
finished batch stays live (snapshot, ``wait_finished``) until ``retain_finished`` newer
ones have finished, and is read from the database after that, so memory stays bounded.
Also kept per batch: the non-interruptible phases deferred while a hand-over waits.
Mutated only under the engine's lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict

from mes_runtime.engine.errors import UnknownBatch
from mes_runtime.engine.tree import BatchTree
from mes_runtime.engine.values import ProcessValues

__all__ = ["LiveBatches"]

log = logging.getLogger(__name__)


class LiveBatches:
    """The registry of live batches (``batches``) and what is kept for each."""

    def __init__(self, *, values: ProcessValues, retain_finished: int) -> None:
        self._values = values
        self._retain_finished = retain_finished
        self.batches: dict[str, BatchTree] = {}
        self.deferred: dict[str, set[str]] = defaultdict(set)  # batch id -> phase paths
        self._finished: dict[str, asyncio.Event] = {}
        self._ended: list[str] = []

    def tree(self, batch_id: str) -> BatchTree:
        try:
            return self.batches[batch_id]
        except KeyError:
            raise UnknownBatch(batch_id) from None

    def add(self, tree: BatchTree) -> None:
        """Make a batch live here (its limits watched, its end awaited)."""
        self.batches[tree.batch_id] = tree
        self._finished[tree.batch_id] = asyncio.Event()
        self._values.register(tree)

    async def wait_finished(self, batch_id: str) -> None:
        await self._finished[batch_id].wait()

    def signal_finished(self, batch_id: str) -> None:
        """Wake ``wait_finished`` of a batch found final when it was resumed."""
        self._finished[batch_id].set()

    def finished(self, batch_id: str) -> None:
        """A batch ended: wake its waiters; drop the oldest finished beyond retention."""
        self._finished[batch_id].set()
        self._ended.append(batch_id)
        while len(self._ended) > self._retain_finished:
            gone = self._ended.pop(0)
            self.batches.pop(gone, None)
            self._finished.pop(gone, None)
            self._values.drop(gone)

    def forget(self, batch_id: str, *, why: str = "another runtime owns it now") -> None:
        """Stop executing a batch here (another runtime owns it, or it was handed over)."""
        if self.batches.pop(batch_id, None) is None:
            return
        log.warning("batch %s: %s; this runtime stops executing it", batch_id, why)
        self.deferred.pop(batch_id, None)
        self._values.drop(batch_id)
        self._finished.pop(batch_id, None)
        with contextlib.suppress(ValueError):
            self._ended.remove(batch_id)
