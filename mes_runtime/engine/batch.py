"""The batch engine: runs control recipes on equipment and records every step.

One :class:`BatchEngine` per runtime process. It owns the live :class:`BatchTree` of every
running batch and mutates it only under one lock, from two sources:

* commands from people (through the API), and
* equipment events (service state changes, process values, connection loss) read from the
  :class:`~mes_runtime.engine.ports.EquipmentPort` queue by one pump task.

The rules it enforces:

* element states change only through the ISA-88 state machine
  (:mod:`mes_runtime.domain.states`); a rejected command changes nothing and is not
  journalled, and neither is a command that needs a module that is not connected (checked
  for every phase a composite would pass it to, before anything changes); a command the
  equipment refuses is journalled, followed by ``command.failed``;
* a phase's state follows its MTP service's state (including a pause, hold, resume or
  unhold given at the module itself), once the phase's Start has reached the module
  (before that, the service's state belongs to another run); phase commands become MTP
  commands;
* before a command acts, every equipment event received so far is handled, so that no
  notification older than the command is applied after it;
* a composite element sequences its children with the pure SFC runner
  (:mod:`mes_runtime.domain.execution`) and settles its own transient states once its
  active children have;
* losing the connection to a module holds the phases running on it and raises an
  exception; after reconnection an operator's Restart continues where the equipment is;
* monitored process values are checked one sample at a time, in arrival order
  (:mod:`mes_runtime.engine.monitoring`); process values are stored in batches by a
  flusher that keeps what storage refused for the next flush;
* every state change and command is journalled and persisted before it is acknowledged:
  one unit of work (:class:`~mes_runtime.engine.ports.StateChange`) holds the element's
  durable state, the batch's SFC position and the journal entry, and memory changes only
  after it committed; a failed write is retried with a bounded back-off, never dropped;
* an equipment command is recorded (``pending``) before it is sent, so that a runtime
  resuming the batch (:meth:`BatchEngine.resume`) knows it may have arrived, reads the
  service's state and never sends a Start twice; a person's command is journalled in that
  same unit of work (or in its first state change), so a phase command costs two
  transactions: the command with its record before the send, the new state after it.

:class:`BatchEngine` is the façade; the work is done by collaborators that share its lock:

* :mod:`~mes_runtime.engine.live`       - the batches live here, finish signals, retention;
* :mod:`~mes_runtime.engine.policy`     - which commands an element accepts;
* :mod:`~mes_runtime.engine.commands`   - a person's command: checked, journalled, applied;
* :mod:`~mes_runtime.engine.execution`  - starting, commanding, sequencing, following phases;
* :mod:`~mes_runtime.engine.pump`       - the equipment event pump;
* :mod:`~mes_runtime.engine.completion` - due Completes, phases deferred for a hand-over;
* :mod:`~mes_runtime.engine.values`     - latest values, limit checks, the value flusher;
* :mod:`~mes_runtime.engine.recording`  - journalling and storing states, with retries;
* :mod:`~mes_runtime.engine.takeover`   - reconciling a batch taken over with its equipment.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any, Self

from mes_runtime.domain.states import Command, ElementState, is_final
from mes_runtime.engine.commands import Commands
from mes_runtime.engine.completion import Completion
from mes_runtime.engine.errors import CommandRejected, UnknownElement
from mes_runtime.engine.execution import Execution
from mes_runtime.engine.live import LiveBatches
from mes_runtime.engine.policy import allowed, require_allowed
from mes_runtime.engine.ports import BatchRecorder, EquipmentPort
from mes_runtime.engine.pump import EventPump
from mes_runtime.engine.recording import SYSTEM, RetryPolicy, StepRecorder
from mes_runtime.engine.takeover import Reconciler
from mes_runtime.engine.tree import BatchTree, Node
from mes_runtime.engine.values import ProcessValues
from mes_runtime.kernel.tasks import cancel_and_wait

__all__ = ["BatchEngine"]

#: At shutdown, how long the step in flight may take to finish.
_STOP_GRACE_SECONDS = 5.0


class BatchEngine:
    """Runs batches. Use as an async context manager to start and stop its tasks."""

    def __init__(
        self,
        *,
        equipment: EquipmentPort,
        recorder: BatchRecorder,
        flush_interval: float = 0.2,
        idle_timeout: float = 10.0,
        retain_finished: int = 50,
        retry_for: float = 600.0,
        hand_over_pending: Callable[[], bool] = lambda: False,
    ) -> None:
        self._equipment = equipment
        self._flush_interval = flush_interval
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._steps = StepRecorder(
            recorder, policy=RetryPolicy(retry_for=retry_for), on_fenced=self._forget
        )
        self._values = ProcessValues(recorder, steps=self._steps)
        # Finished batches stay live (snapshot, wait_finished) until this many newer ones
        # have finished; older ones are read from the database (memory stays bounded).
        self._live = LiveBatches(values=self._values, retain_finished=retain_finished)
        self._execution = Execution(
            equipment=equipment,
            steps=self._steps,
            values=self._values,
            live=self._live,
            hand_over_pending=hand_over_pending,
            idle_timeout=idle_timeout,
        )
        self._commands = Commands(equipment=equipment, steps=self._steps, execution=self._execution)
        self._reconciler = Reconciler(
            equipment=equipment, steps=self._steps, execution=self._execution
        )
        self._completion = Completion(
            lock=self._lock,
            live=self._live,
            execution=self._execution,
            steps=self._steps,
            values=self._values,
            hand_over_pending=hand_over_pending,
        )
        self._events = EventPump(
            equipment=equipment,
            lock=self._lock,
            live=self._live,
            execution=self._execution,
            steps=self._steps,
            values=self._values,
            completion=self._completion,
        )

    # -- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._tasks = [
            asyncio.create_task(self._events.run(), name="batch-engine-pump"),
            asyncio.create_task(
                self._values.run_flusher(self._flush_interval), name="batch-engine-flush"
            ),
            asyncio.create_task(self._completion.run(), name="batch-engine-complete"),
        ]
        return self

    async def __aexit__(self, *exc: object) -> None:
        # the step in flight (an event being handled, a command) finishes and is stored
        # first: the lock is taken before the tasks are cancelled, so a hand-over does not
        # leave half a step for the next owner to reconcile - unless the step is stuck
        # (storage down, retrying): then it is cancelled after a grace period, and the
        # next owner reconciles from what was stored (that is what resume is for)
        locked = False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_STOP_GRACE_SECONDS):
                await self._lock.acquire()
                locked = True
        try:
            await cancel_and_wait(self._tasks)
            self._tasks = []
        finally:
            if locked:
                self._lock.release()
        await self._values.flush()

    # -- queries -----------------------------------------------------------------------

    def batch_ids(self) -> list[str]:
        return list(self._live.batches)

    def tree(self, batch_id: str) -> BatchTree:
        return self._live.tree(batch_id)

    def snapshot(self, batch_id: str) -> dict[str, Any]:
        """State of every element, the commands each allows now, and the latest values."""
        tree = self.tree(batch_id)
        elements = tree.snapshot_elements()
        for row in elements:
            node = tree.by_path[str(row["path"])]
            row["allowed_commands"] = sorted(c.value for c in self.allowed(tree, node))
        values = self.latest_values(tree.bindings)
        return {"id": batch_id, "state": tree.state.value, "elements": elements, "values": values}

    def latest_values(self, bindings: Mapping[str, str]) -> list[dict[str, Any]]:
        """The latest process value of every module bound to a batch (unit -> module), as
        this runtime's equipment sessions see them (every replica supervises every module)."""
        return self._values.latest_values(bindings)

    def allowed(self, tree: BatchTree, node: Node) -> frozenset[Command]:
        """Commands the engine accepts for an element (:func:`~mes_runtime.engine.policy.
        allowed`): the state machine, narrowed by policy."""
        return allowed(self._equipment, tree, node)

    def require_allowed(self, tree: BatchTree, node: Node, command: Command) -> None:
        """Refuse a command the element's state (or engine policy) does not allow; the same
        answer for a live tree and for one read from storage (any replica gives it)."""
        require_allowed(self._equipment, tree, node, command)

    async def wait_finished(self, batch_id: str) -> ElementState:
        """Wait until the batch reaches a final state (Complete, Stopped, Aborted).

        Bound the wait with ``asyncio.timeout`` at the call site.
        """
        tree = self.tree(batch_id)
        await self._live.wait_finished(batch_id)
        return tree.state

    # -- commands ----------------------------------------------------------------------

    async def start_batch(self, tree: BatchTree, *, actor: str, reason: str | None = None) -> None:
        """Register a batch and start its procedure."""
        async with self._lock:
            await self._register(tree, claim=True)
            await self._steps.journal(
                batch_id=tree.batch_id,
                actor=actor,
                action="batch.start",
                subject=tree.root.path,
                new_value={"recipe": tree.recipe_name, "version": tree.recipe_version},
                reason=reason,
            )
            await self._execution.start_node(tree, tree.root, actor=actor)

    async def resume(
        self,
        tree: BatchTree,
        *,
        owner: str,
        previous_owner: str | None,
        gap_seconds: float,
        epoch: int,
    ) -> None:
        """Take over a batch restored from storage (:func:`~mes_runtime.engine.plan.
        restore_tree`) and reconcile it with its equipment as it stands now
        (:mod:`~mes_runtime.engine.takeover`).

        Journalled first (``batch.resume``: who took over, from whom, the gap). Then each
        phase whose service may be running for it is read, not commanded: a phase whose
        procedure completed meanwhile becomes Complete (and the recipe moves on); a service
        found Held holds its phase with an exception; a Start recorded but not known to have
        arrived is sent only if the service is still Idle (it never arrived), otherwise the
        phase adopts the run. A module that is not connected holds its phases, as a lost
        connection does; a Restart then continues from wherever the module is.
        """
        async with self._lock:
            await self._register(tree, claim=False)
            await self._values.resume(tree)
            await self._steps.journal(
                batch_id=tree.batch_id,
                actor=SYSTEM,
                action="batch.resume",
                subject=tree.root.path,
                new_value={
                    "owner": owner,
                    "previous_owner": previous_owner,
                    "gap_seconds": round(gap_seconds, 3),
                    "epoch": epoch,
                    "state": tree.state.value,  # as stored, before reconciling
                },
            )
            await self._reconciler.reconcile(tree)
            if is_final(tree.state):  # it ended while no one watched
                self._live.signal_finished(tree.batch_id)

    async def disown(self, batch_id: str, *, why: str = "another runtime owns it now") -> None:
        """Stop executing a batch another runtime has claimed (its writes are fenced), or
        one this runtime hands over (after the step in flight: the engine's lock)."""
        async with self._lock:
            self._forget(batch_id, why=why)

    def _forget(self, batch_id: str, *, why: str = "another runtime owns it now") -> None:
        self._live.forget(batch_id, why=why)

    async def _register(self, tree: BatchTree, *, claim: bool) -> None:
        """Make a batch live here (under the lock); ``claim``: a new one, owned from now."""
        await self._events.drain()
        if tree.batch_id in self._live.batches:
            raise CommandRejected(f"batch {tree.batch_id!r} is already running")
        if claim:
            await self._steps.claim(tree.batch_id)
        self._live.add(tree)

    async def command(
        self,
        batch_id: str,
        path: str,
        command: Command,
        *,
        actor: str,
        reason: str | None = None,
        inbox_id: int | None = None,
    ) -> ElementState:
        """Apply one command to one element; returns the element's new state
        (:mod:`~mes_runtime.engine.commands`).

        ``inbox_id`` names the queued command being applied (journalled with it, so that a
        replica taking the batch over knows it was given already)."""
        async with self._lock:
            tree = self.tree(batch_id)
            node = tree.by_path.get(path)
            if node is None:
                raise UnknownElement(batch_id, path)
            await self._events.drain()
            return await self._commands.apply(
                tree, node, command, actor=actor, reason=reason, inbox_id=inbox_id
            )
