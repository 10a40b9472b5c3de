"""Journalling helpers: every state change and command is stored before it counts.

:class:`StepRecorder` is the engine's only way to storage (its
:class:`~mes_runtime.engine.ports.BatchRecorder` port). One unit of work
(:class:`~mes_runtime.engine.ports.StateChange`) holds an element's durable state, the
batch's SFC position and the journal entry; the node in memory changes only after it
committed. A failed write is retried with a bounded back-off, never dropped; a fenced one
(another runtime owns the batch now) is never retried: the batch is forgotten here
(``on_fenced``) and :class:`~mes_runtime.engine.ports.Fenced` reaches the caller.

A journal entry can be *held* for a batch's next write (:meth:`StepRecorder.held`): a
person's command is journalled in the same transaction as the first thing it does (the
equipment command recorded before it is sent, or the composite's new state), not in one of
its own before it. If the command writes nothing, the entry is appended on its own when the
command returns; if it fails, before its ``command.failed``; if its write is refused (fenced)
or never stored, the entry goes with it: the journal never names a command whose first
step is not stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from mes_runtime.domain.states import ElementState
from mes_runtime.engine.ports import (
    BatchRecorder,
    ElementRecord,
    Fenced,
    JournalNote,
    StateChange,
)
from mes_runtime.engine.tree import BatchTree, Node
from mes_runtime.kernel.clock import utcnow

__all__ = ["SYSTEM", "RetryPolicy", "StepRecorder"]

log = logging.getLogger(__name__)

#: The actor of what the engine does by itself (not a person's command).
SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long a failed storage write is retried."""

    retry_first: float = 0.05  # first back-off of a failed write
    retry_max: float = 2.0  # longest back-off
    retry_for: float = 600.0  # give up (and log an error) after this many seconds


class StepRecorder:
    """Stores element states, command records, journal entries and exceptions, retrying."""

    def __init__(
        self,
        recorder: BatchRecorder,
        *,
        policy: RetryPolicy,
        on_fenced: Callable[[str], None],
    ) -> None:
        self._recorder = recorder
        self._policy = policy
        self._on_fenced = on_fenced
        self._held: dict[str, list[JournalNote]] = {}  # batch -> entries for its next write

    @contextlib.asynccontextmanager
    async def held(self, batch_id: str, note: JournalNote) -> AsyncIterator[None]:
        """Hold ``note`` for the batch's next write inside the block (journalled in its
        transaction, before its own entry; :meth:`journal` and :meth:`exception` append it
        first). Not written by the end of a block that ends normally: appended on its own
        then. A block that raises drops it unwritten (a caller journalling the failure does
        so inside the block, and that writes it first)."""
        self._held[batch_id] = [*self._held.get(batch_id, []), note]
        try:
            yield
            await self._flush_held(batch_id)
        finally:
            self._held.pop(batch_id, None)

    async def _flush_held(self, batch_id: str | None) -> None:
        """Append the entries held for ``batch_id`` on their own (before another entry)."""
        held = self._held.get(batch_id, []) if batch_id is not None else []
        while held:
            write = functools.partial(
                self._recorder.journal,
                batch_id=batch_id,
                actor=held[0].actor,
                action=held[0].action,
                subject=held[0].subject,
                old_value=held[0].old_value,
                new_value=held[0].new_value,
                reason=held[0].reason,
            )
            await self.retry(f"journal {held[0].action}", write)
            held.pop(0)

    async def _change(self, what: str, change: StateChange) -> None:
        """Write a unit of work carrying the entries held for its batch (then released)."""
        held = self._held.get(change.batch_id)
        if held:
            change = replace(change, preceding=(*held, *change.preceding))
        await self.retry(what, lambda: self._recorder.change(change))
        if held:
            held.clear()

    async def set_state(
        self,
        tree: BatchTree,
        node: Node,
        state: ElementState,
        actor: str,
        *,
        procedure_started: bool | None = None,
        lost_connection: bool | None = None,
        outcome: str | None = None,
    ) -> None:
        """Persist an element's new state with its journal entry (one unit of work), then
        change it in memory. Resume flags given here are written with the state."""
        old = node.state
        record = self._record(
            node,
            state=state,
            procedure_started=procedure_started,
            lost_connection=lost_connection,
            outcome=outcome,
        )
        if old is state:
            if record != self._record(node):
                await self.save(
                    tree,
                    node,
                    procedure_started=procedure_started,
                    lost_connection=lost_connection,
                    outcome=outcome,
                )
            return
        change = StateChange(
            batch_id=tree.batch_id,
            element=record,
            graph=tree.graph(),
            actor=actor,
            action="element.state",
            old_value=old.value,
            new_value=state.value,
            batch_state=state.value if node is tree.root else None,
        )
        await self._change(f"{node.path} -> {state.value}", change)
        node.apply(record)

    def _record(
        self,
        node: Node,
        *,
        state: ElementState | None = None,
        procedure_started: bool | None = None,
        lost_connection: bool | None = None,
        command: str | None = None,
        outcome: str | None = None,
    ) -> ElementRecord:
        """The durable form of ``node``, with the given fields changed."""
        state = node.state if state is None else state
        since = node.executing_since
        if state is ElementState.IDLE:
            since = None
        elif node.state is ElementState.IDLE and state is ElementState.RUNNING:
            since = utcnow()
        return ElementRecord(
            path=node.path,
            state=state.value,
            procedure_started=(
                node.procedure_started if procedure_started is None else procedure_started
            ),
            lost_connection=node.lost_connection if lost_connection is None else lost_connection,
            executing_since=since,
            last_command=node.last_command if command is None else command,
            command_outcome=node.command_outcome if outcome is None else outcome,
        )

    async def save(
        self,
        tree: BatchTree,
        node: Node,
        *,
        procedure_started: bool | None = None,
        lost_connection: bool | None = None,
        command: str | None = None,
        outcome: str | None = None,
    ) -> None:
        """Persist a phase's resume fields without a state change (journalled as
        ``equipment.command`` with the command and its outcome)."""
        record = self._record(
            node,
            procedure_started=procedure_started,
            lost_connection=lost_connection,
            command=command,
            outcome=outcome,
        )
        assert node.phase is not None
        change = StateChange(
            batch_id=tree.batch_id,
            element=record,
            graph=tree.graph(),
            actor=SYSTEM,
            action="equipment.command",
            new_value={
                "service": f"{node.phase.equipment}/{node.phase.service}",
                "command": record.last_command,
                "outcome": record.command_outcome,
            },
        )
        await self._change(f"{node.path} record", change)
        node.apply(record)

    async def record_command(self, tree: BatchTree, node: Node, command: str) -> None:
        """Record (fenced) that ``command`` is about to be sent to the phase's service: a
        resuming runtime then reads the service instead of sending it again."""
        await self.save(tree, node, command=command, outcome="pending")

    async def retry(self, what: str, write: Callable[[], Awaitable[None]]) -> None:
        """Run a storage write until it succeeds: back-off doubling up to ``retry_max``,
        each failure logged; after ``retry_for`` seconds the error is raised (and logged
        by the caller). A fenced write is never retried: another runtime owns the batch."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._policy.retry_for
        delay = self._policy.retry_first
        attempt = 0
        while True:
            try:
                await write()
                if attempt:
                    log.warning("%s: stored after %d failed attempt(s)", what, attempt)
                return
            except Fenced as fenced:  # never retried: forget the batch, tell the caller
                self._on_fenced(fenced.batch_id)
                raise
            except Exception as exc:
                attempt += 1
                if loop.time() + delay > deadline:
                    log.error("%s: giving up after %d attempts: %s", what, attempt, exc)
                    raise
                log.warning(
                    "%s: storing failed (attempt %d, retry in %.2f s): %s",
                    what,
                    attempt,
                    delay,
                    exc,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._policy.retry_max)

    async def journal(self, **entry: Any) -> None:
        await self._flush_held(entry.get("batch_id"))
        await self.retry(f"journal {entry.get('action')}", lambda: self._recorder.journal(**entry))

    async def exception(self, **entry: Any) -> None:
        await self._flush_held(entry.get("batch_id"))
        await self.retry(
            f"exception on {entry.get('subject')}", lambda: self._recorder.exception(**entry)
        )

    async def claim(self, batch_id: str) -> None:
        """Claim a new batch for this runtime (fenced from now on)."""
        await self.retry("claim", lambda: self._recorder.claim(batch_id))
