"""The event pump: equipment events, handled in order, under the engine's lock.

One task reads the :class:`~mes_runtime.engine.ports.EquipmentPort` queue and hands each
burst of events to the engine under its lock (at most ``_MAX_EVENTS_PER_DRAIN`` per hold).
Commands drain the queue too before they act (:meth:`EventPump.drain`), so that no
notification older than a command is applied after it. What each event does:

* a process sample becomes the latest value, is checked against monitored limits and
  queued for storage (:mod:`mes_runtime.engine.values`); new values may make transition
  and completion conditions hold, so running graphs advance and due Completes are sent;
* a service state change moves the phases that own the service's run along with it;
* a lost connection holds the phases running on the module (with an exception) and is
  journalled for each batch bound to it, as is the connection's return.

One bad event must not stop the engine nor drop the others: it is logged and the pump
goes on; an event for a batch another runtime took over is skipped.
"""

from __future__ import annotations

import asyncio
import logging

from mes_runtime.domain.states import ElementState, is_final
from mes_runtime.engine.completion import Completion
from mes_runtime.engine.execution import Execution
from mes_runtime.engine.live import LiveBatches
from mes_runtime.engine.ports import (
    ConnectionLost,
    ConnectionRestored,
    EquipmentEvent,
    EquipmentPort,
    Fenced,
    ProcessSample,
    ServiceStateChanged,
)
from mes_runtime.engine.recording import SYSTEM, StepRecorder
from mes_runtime.engine.values import ProcessValues

__all__ = ["EventPump"]

log = logging.getLogger(__name__)

_MAX_EVENTS_PER_DRAIN = 5000


class EventPump:
    """Reads equipment events and handles them under the engine's lock."""

    def __init__(
        self,
        *,
        equipment: EquipmentPort,
        lock: asyncio.Lock,
        live: LiveBatches,
        execution: Execution,
        steps: StepRecorder,
        values: ProcessValues,
        completion: Completion,
    ) -> None:
        self._equipment = equipment
        self._lock = lock
        self._live = live
        self._execution = execution
        self._steps = steps
        self._values = values
        self._completion = completion
        self.inbox: list[EquipmentEvent] = []  # taken from the queue, not yet handled

    async def run(self) -> None:
        """The pump task: wait for an event, then handle all that arrived, under the lock."""
        queue = self._equipment.events
        while True:
            event = await queue.get()  # not inbox.append(await ...): a drain swaps the list
            self.inbox.append(event)
            async with self._lock:
                try:
                    await self.drain()
                except Exception:  # the pump must outlive any bug in handling
                    log.exception("batch engine failed to handle equipment events")

    async def drain(self) -> None:
        """Handle every equipment event received so far; called under the lock.

        Commands drain too before they act: an operator's command then meets the engine's
        view of every event that arrived before it (e.g. the Completed a restored session
        reports), never a stale one that would be applied after it - to the next phase
        started on the same service.
        """
        queue = self._equipment.events
        events, self.inbox = self.inbox, []
        while len(events) < _MAX_EVENTS_PER_DRAIN:  # bounds one hold of the lock
            try:
                events.append(queue.get_nowait())
            except asyncio.QueueEmpty:
                break
        if events:
            await self._handle(events)

    async def _handle(self, events: list[EquipmentEvent]) -> None:
        samples_seen = False
        for event in events:
            try:
                if isinstance(event, ProcessSample):
                    self._values.take(event, self._live.batches.values())
                    await self._values.check_limits(event, self._live.batches.values())
                    samples_seen = True
                elif isinstance(event, ServiceStateChanged):
                    for tree in list(self._live.batches.values()):
                        for node in tree.phases_on(event.equipment, event.service):
                            # A phase whose Start never reached the module (held at once)
                            # does not own the service: its state is someone else's run.
                            if node.procedure_started:
                                await self._execution.follow_service(tree, node, event.state)
                elif isinstance(event, ConnectionLost):
                    await self._connection_lost(event)
                elif isinstance(event, ConnectionRestored):
                    await self._connection_restored(event)
            except Fenced:  # another runtime took the batch over: forgotten already
                continue
            except Exception:  # one bad event must not stop the engine nor drop the others
                log.exception("batch engine failed to handle %r", event)
        if samples_seen:  # new values may satisfy transition and completion conditions
            for tree in list(self._live.batches.values()):
                if is_final(tree.state):
                    continue
                await self._completion.complete_due(tree)
                for node in list(tree.root.walk()):
                    if node.phase is None and node.state is ElementState.RUNNING:
                        try:
                            await self._execution.advance(tree, node)
                        except Fenced:
                            break
                        except Exception:  # logged; the other batches go on
                            log.exception("batch engine failed to advance %s", node.path)

    async def _connection_lost(self, event: ConnectionLost) -> None:
        for tree in list(self._live.batches.values()):
            if event.equipment not in tree.bindings.values() or is_final(tree.state):
                continue
            await self._steps.journal(
                batch_id=tree.batch_id,
                actor=SYSTEM,
                action="equipment.connection_lost",
                subject=event.equipment,
                reason=event.reason,
            )
            for node in tree.phases_on(event.equipment):
                await self._execution.hold_for_equipment(
                    tree, node, f"connection lost: {event.reason}"
                )

    async def _connection_restored(self, event: ConnectionRestored) -> None:
        for tree in list(self._live.batches.values()):
            if event.equipment in tree.bindings.values() and not is_final(tree.state):
                await self._steps.journal(
                    batch_id=tree.batch_id,
                    actor=SYSTEM,
                    action="equipment.connection_restored",
                    subject=event.equipment,
                )
