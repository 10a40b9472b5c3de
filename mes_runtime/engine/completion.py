"""Phase completion and deferred starts: what the engine does on its own, on time.

A continuous procedure ends when its rule says so: after ``complete_after_seconds`` of
execution, or once its ``complete_when`` condition holds. :class:`Completion` sends that
Complete (once, journalled as ``command.complete`` with the reason): from its own task
twice a second, and from the event pump as soon as new values arrive. The same task starts
the non-interruptible phases that were deferred while a hand-over waited for a safe point,
once it no longer waits (each one still due).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable

from mes_runtime.domain.conditions import Condition, parse_condition
from mes_runtime.domain.exceptions import Category
from mes_runtime.domain.states import Command, ElementState, is_final
from mes_runtime.engine.errors import EngineError, EquipmentError
from mes_runtime.engine.execution import Execution
from mes_runtime.engine.live import LiveBatches
from mes_runtime.engine.ports import Fenced, Severity
from mes_runtime.engine.recording import SYSTEM, StepRecorder
from mes_runtime.engine.tree import BatchTree
from mes_runtime.engine.values import ProcessValues
from mes_runtime.kernel.clock import utcnow

__all__ = ["Completion"]

_COMPLETE_CHECK_SECONDS = 0.5


@functools.lru_cache(maxsize=256)
def _parsed(text: str) -> Condition:
    return parse_condition(text)


class Completion:
    """Sends due Completes and starts deferred phases (its task; or called under the lock)."""

    def __init__(
        self,
        *,
        lock: asyncio.Lock,
        live: LiveBatches,
        execution: Execution,
        steps: StepRecorder,
        values: ProcessValues,
        hand_over_pending: Callable[[], bool],
    ) -> None:
        self._lock = lock
        self._live = live
        self._execution = execution
        self._steps = steps
        self._values = values
        self._hand_over_pending = hand_over_pending

    async def run(self) -> None:
        """Send Complete to continuous procedures whose time is up (checked twice a second;
        conditions are checked as values arrive); start phases deferred for a hand-over
        once it no longer waits."""
        while True:
            await asyncio.sleep(_COMPLETE_CHECK_SECONDS)
            async with self._lock:
                for tree in list(self._live.batches.values()):
                    if is_final(tree.state):
                        self._live.deferred.pop(tree.batch_id, None)
                        continue
                    await self.complete_due(tree)
                    await self.start_deferred(tree)

    async def complete_due(self, tree: BatchTree) -> None:
        """Send Complete (once) to each running phase whose completion rule holds now."""
        values: dict[str, float] | None = None
        for node in tree.root.walk():
            phase = node.phase
            if (
                phase is None
                or node.state is not ElementState.RUNNING
                or not node.procedure_started
                or node.last_command == "complete"  # sent already (or tried and failed)
                or (phase.complete_after_seconds is None and phase.complete_when is None)
            ):
                continue
            why = None
            since = node.executing_since
            after = phase.complete_after_seconds
            if (
                after is not None
                and since is not None
                and (utcnow() - since).total_seconds() >= after
            ):
                why = f"executed for {after:g} s"
            if why is None and phase.complete_when is not None:
                values = self._values.condition_values(tree) if values is None else values
                condition = _parsed(phase.complete_when)
                if not condition.names - values.keys() and condition.evaluate(values):
                    why = f"condition {phase.complete_when!r} holds"
            if why is None:
                continue
            try:
                await self._steps.journal(
                    batch_id=tree.batch_id,
                    actor=SYSTEM,
                    action="command.complete",
                    subject=node.path,
                    old_value=node.state.value,
                    reason=why,
                )
                await self._execution.command_node(tree, node, Command.COMPLETE, actor=SYSTEM)
            except Fenced:
                raise
            except (EngineError, EquipmentError) as exc:
                await self._steps.exception(
                    batch_id=tree.batch_id,
                    category=Category.EQUIPMENT_LOSS,
                    severity=Severity.MAJOR,
                    subject=node.path,
                    message=f"Complete could not be sent ({why}): {exc}; "
                    "give the Complete command when the equipment is back",
                )

    async def start_deferred(self, tree: BatchTree) -> None:
        """Start the phases deferred for a hand-over, if none is pending any more and each
        is still due (Idle, in an active step of a running parent)."""
        paths = self._live.deferred.get(tree.batch_id)
        if not paths or self._hand_over_pending():
            return
        for path in sorted(paths):
            node = tree.by_path[path]
            parent = node.parent
            due = (
                node.state is ElementState.IDLE
                and parent is not None
                and parent.state is ElementState.RUNNING
                and parent.run is not None
                and node.step_id in parent.run.active_steps()
            )
            paths.discard(path)
            if due:
                await self._execution.start_node(tree, node, actor=SYSTEM)
