"""Executing a batch: starting elements, passing commands down, sequencing, following.

:class:`Execution` is the mutually recursive core of the engine, always called under its
lock, on a live tree:

* starting an element: a composite starts its graph (the pure SFC runner,
  :mod:`mes_runtime.domain.execution`), a phase its MTP procedure after bringing the
  service back to Idle; the Start is recorded (``pending``) before it is sent; a phase
  its recipe marks as not interruptible waits, Idle, while a hand-over is pending (an
  upgrade's switch, or the runtime stopping);
* a command on an element: a composite passes it to its active children, a phase's
  becomes an MTP command (recorded before it is sent); a Restart continues a held phase
  from wherever its equipment is now;
* following the equipment: a phase's state follows its service's state (including a
  pause, hold, resume or unhold given at the module itself); an unreachable module holds
  its phases with an exception;
* sequencing: a finished child moves its parent's graph on, a stopped or aborted one
  ends its parent, and a composite settles its own transient states once its active
  children have; the end of the root ends the batch.

Every change goes through :class:`~mes_runtime.engine.recording.StepRecorder` (stored,
then applied in memory).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping

from mes_runtime.domain.exceptions import Category
from mes_runtime.domain.execution import GraphRun
from mes_runtime.domain.states import (
    Command,
    CommandNotAllowed,
    ElementState,
    allowed_commands,
    apply_command,
    complete_transient,
    is_final,
)
from mes_runtime.engine.errors import EngineError, EquipmentError, EquipmentUnavailable
from mes_runtime.engine.live import LiveBatches
from mes_runtime.engine.policy import PHASE_COMMANDS, allowed
from mes_runtime.engine.ports import EquipmentPort, Severity
from mes_runtime.engine.recording import SYSTEM, StepRecorder
from mes_runtime.engine.tree import BatchTree, Node
from mes_runtime.engine.values import ProcessValues
from mes_runtime.kernel.codes import ServiceCommand, ServiceState

__all__ = ["SETTLING", "Execution"]

log = logging.getLogger(__name__)

# Service states that end a procedure run, and the phase command that leads there.
_EQUIPMENT_ENDINGS: Mapping[ServiceState, Command] = {
    ServiceState.STOPPED: Command.STOP,
    ServiceState.ABORTED: Command.ABORT,
}

# Composite transient state -> (what every active child must be in, for it to settle).
_SETTLED_WHEN: Mapping[ElementState, frozenset[ElementState]] = {
    ElementState.HOLDING: frozenset({ElementState.HELD}),
    ElementState.PAUSING: frozenset({ElementState.PAUSED}),
    ElementState.RESTARTING: frozenset({ElementState.RUNNING}),
}

# The transient state each ending command leads to.
_ENDING_STATE: Mapping[Command, ElementState] = {
    Command.STOP: ElementState.STOPPING,
    Command.ABORT: ElementState.ABORTING,
}

#: Composite states that settle once their active children have.
SETTLING = frozenset({ElementState.STOPPING, ElementState.ABORTING, *_SETTLED_WHEN})


class Execution:
    """Starts, commands, sequences and follows the elements of live batches."""

    def __init__(
        self,
        *,
        equipment: EquipmentPort,
        steps: StepRecorder,
        values: ProcessValues,
        live: LiveBatches,
        hand_over_pending: Callable[[], bool],
        idle_timeout: float,
    ) -> None:
        self._equipment = equipment
        self._steps = steps
        self._values = values
        self._live = live
        # while a hand-over (an upgrade's switch, this runtime's shutdown) waits for a safe
        # point, a phase its recipe marks as not interruptible is not started (it would push
        # the safe point out, maybe for ever): it waits, Idle in its active step, and starts
        # once the hand-over is no longer pending (or under the batch's next owner)
        self._hand_over_pending = hand_over_pending
        self._idle_timeout = idle_timeout

    async def start_node(self, tree: BatchTree, node: Node, *, actor: str) -> None:
        if node.phase is None:
            await self._steps.set_state(tree, node, apply_command(node.state, Command.START), actor)
            node.run = GraphRun(node.element)
            for step_id in node.run.start():
                await self.start_child(tree, node, step_id, actor=actor)
            await self.advance(tree, node)
            return
        phase = node.phase
        if not phase.interruptible and self._hand_over_pending():
            await self._defer(tree, node)
            return
        self._live.deferred[tree.batch_id].discard(node.path)
        try:
            await self.ensure_idle(phase.equipment, phase.service)
            await self._steps.record_command(tree, node, "start")
            await self._equipment.start_procedure(
                phase.equipment, phase.service, phase.procedure, phase.parameters
            )
        except EquipmentError as exc:  # unreachable module or refused command: hold, never lose
            failed = "failed" if node.command_outcome == "pending" else None
            await self._steps.set_state(
                tree, node, apply_command(node.state, Command.START), actor, outcome=failed
            )
            await self.hold_for_equipment(tree, node, f"could not start: {exc}")
            return
        await self._steps.set_state(
            tree,
            node,
            apply_command(node.state, Command.START),
            actor,
            procedure_started=True,
            outcome="done",
        )

    async def _defer(self, tree: BatchTree, node: Node) -> None:
        """Leave a non-interruptible phase Idle while a hand-over is pending (journalled
        once); :meth:`~mes_runtime.engine.completion.Completion.start_deferred` starts it
        when the hand-over no longer waits (or by the batch's next owner)."""
        if node.path in self._live.deferred[tree.batch_id]:
            return
        self._live.deferred[tree.batch_id].add(node.path)
        await self._steps.journal(
            batch_id=tree.batch_id,
            actor=SYSTEM,
            action="phase.deferred",
            subject=node.path,
            reason="a hand-over (an upgrade's switch, or this runtime stopping) waits for a safe "
            "point; this phase is not interruptible, so it starts once the hand-over is done",
        )

    async def start_child(self, tree: BatchTree, parent: Node, step_id: str, *, actor: str) -> None:
        child = parent.children[step_id]
        if child.state is not ElementState.IDLE:  # a loop re-enters a finished step
            await self._reset_subtree(tree, child)
        await self.start_node(tree, child, actor=actor)

    async def _reset_subtree(self, tree: BatchTree, node: Node) -> None:
        for descendant in node.walk():
            descendant.run = None
            descendant.lost_connection = False
            descendant.procedure_started = False
            self._values.forget_element(tree.batch_id, descendant.path)
            if descendant.state is not ElementState.IDLE:
                await self._steps.set_state(tree, descendant, ElementState.IDLE, SYSTEM)

    async def ensure_idle(self, equipment: str, service: str) -> None:
        """Bring a service back to Idle (Reset after an earlier run) before a Start."""
        deadline = asyncio.get_running_loop().time() + self._idle_timeout
        reset_sent = False
        while True:
            state = await self._equipment.service_state(equipment, service)
            if state is ServiceState.IDLE:
                return
            if state in {ServiceState.COMPLETED, ServiceState.STOPPED, ServiceState.ABORTED}:
                if not reset_sent:
                    await self._equipment.command(equipment, service, ServiceCommand.RESET)
                    reset_sent = True
            elif state is not ServiceState.RESETTING:
                raise EquipmentUnavailable(
                    f"{equipment}/{service} is busy ({state.name}); it must be Idle to start"
                )
            if asyncio.get_running_loop().time() > deadline:
                raise EquipmentUnavailable(f"{equipment}/{service} did not return to Idle")
            await asyncio.sleep(0.02)

    async def command_node(
        self, tree: BatchTree, node: Node, command: Command, *, actor: str
    ) -> None:
        target = node.state if command is Command.COMPLETE else apply_command(node.state, command)
        if node.phase is None:
            await self._steps.set_state(tree, node, target, actor)
            for child in node.active_children():
                if command in allowed(self._equipment, tree, child):
                    try:
                        await self.command_node(tree, child, command, actor=actor)
                    except (EngineError, EquipmentError) as exc:  # e.g. it ended meanwhile
                        await self._steps.exception(
                            batch_id=tree.batch_id,
                            category=Category.MANUAL_INTERVENTION,
                            severity=Severity.MAJOR,
                            subject=child.path,
                            message=f"{command.value} of {node.path} did not reach "
                            f"{child.path}: {exc}",
                        )
            await self.settle(tree, node)
            if node.state is ElementState.RUNNING:  # Resume: steps may have become due
                await self.advance(tree, node)
            return
        phase = node.phase
        if command is Command.RESTART:
            await self._restart_phase(tree, node, actor=actor)
            return
        if not self._equipment.is_connected(phase.equipment):
            raise EquipmentUnavailable(
                f"{phase.equipment} is not connected; {command.value} of {node.path} "
                "cannot reach it"
            )
        await self._steps.record_command(tree, node, PHASE_COMMANDS[command].name.lower())
        try:
            await self._equipment.command(phase.equipment, phase.service, PHASE_COMMANDS[command])
        except EquipmentError as exc:
            await self._steps.save(tree, node, outcome="failed")
            raise EquipmentUnavailable(
                f"{phase.equipment}/{phase.service} refused {command.value}: {exc}"
            ) from exc
        await self._steps.set_state(tree, node, target, actor, outcome="done")

    async def _restart_phase(self, tree: BatchTree, node: Node, *, actor: str) -> None:
        """Continue a held phase from wherever its equipment is now.

        Held by the operator: Unhold. Held because the module was unreachable: the module
        may still execute, be held or paused, or have finished meanwhile - the phase
        follows it; or it lost the run (Idle after a power cycle) - the procedure is
        started again. A procedure that never started (the start failed) is started now:
        the service's state then belongs to an earlier phase, not to this one.
        """
        assert node.phase is not None
        phase = node.phase
        if not self._equipment.is_connected(phase.equipment):
            raise EquipmentUnavailable(
                f"{phase.equipment} is still disconnected; restart {node.path} after it is back"
            )
        try:
            state = await self._equipment.service_state(phase.equipment, phase.service)
            if not node.procedure_started or state in {
                ServiceState.IDLE,
                ServiceState.RESETTING,
            }:
                await self.ensure_idle(phase.equipment, phase.service)
                await self._steps.record_command(tree, node, "start")
                await self._equipment.start_procedure(
                    phase.equipment, phase.service, phase.procedure, phase.parameters
                )
                state = ServiceState.STARTING
            elif state is ServiceState.HELD:
                await self._steps.record_command(tree, node, "unhold")
                await self._equipment.command(phase.equipment, phase.service, ServiceCommand.UNHOLD)
                state = ServiceState.UNHOLDING
            elif state is ServiceState.PAUSED:
                await self._steps.record_command(tree, node, "resume")
                await self._equipment.command(phase.equipment, phase.service, ServiceCommand.RESUME)
                state = ServiceState.RESUMING
            elif state in {ServiceState.HOLDING, ServiceState.PAUSING}:
                raise EquipmentUnavailable(
                    f"{phase.equipment}/{phase.service} is {state.name}; restart {node.path} "
                    "once it has settled"
                )
        except EquipmentError as exc:  # refused by the module, or the session dropped just now
            if node.command_outcome == "pending":
                await self._steps.save(tree, node, outcome="failed")
            if isinstance(exc, EquipmentUnavailable):
                raise
            raise EquipmentUnavailable(
                f"{phase.equipment}/{phase.service} refused the restart of {node.path}: {exc}"
            ) from exc
        await self._steps.set_state(
            tree,
            node,
            apply_command(node.state, Command.RESTART),
            actor,
            procedure_started=True,
            lost_connection=False,
            outcome="done" if node.command_outcome == "pending" else None,
        )
        await self.follow_service(tree, node, state)

    async def follow_service(self, tree: BatchTree, node: Node, state: ServiceState) -> None:
        """Move a phase along with its MTP service's state."""
        current = node.state
        if state is ServiceState.COMPLETED and current in {
            ElementState.RUNNING,
            ElementState.RESTARTING,
        }:
            if current is ElementState.RESTARTING:
                await self._steps.set_state(tree, node, complete_transient(current), SYSTEM)
            await self._steps.set_state(tree, node, complete_transient(node.state), SYSTEM)
            await self._reset_service(node)
            await self.child_finished(tree, node)
        elif state in {ServiceState.EXECUTE, ServiceState.STARTING} and current in {
            ElementState.RESTARTING
        }:
            await self._steps.set_state(tree, node, complete_transient(current), SYSTEM)
            await self.settle_parents(tree, node)
        elif state is ServiceState.EXECUTE and current is ElementState.PAUSED:
            await self._steps.set_state(tree, node, ElementState.RUNNING, SYSTEM)
            await self.settle_parents(tree, node)
        elif (
            state is ServiceState.EXECUTE
            and current is ElementState.HELD
            and not node.lost_connection
        ):  # unheld at the module itself
            await self._steps.set_state(tree, node, ElementState.RESTARTING, SYSTEM)
            await self._steps.set_state(tree, node, ElementState.RUNNING, SYSTEM)
            await self.settle_parents(tree, node)
        elif state is ServiceState.PAUSED and current in {
            ElementState.RUNNING,  # paused at the module itself
            ElementState.PAUSING,
        }:
            if current is ElementState.RUNNING:
                await self._steps.set_state(tree, node, ElementState.PAUSING, SYSTEM)
            await self._steps.set_state(tree, node, ElementState.PAUSED, SYSTEM)
            await self.settle_parents(tree, node)
        elif state is ServiceState.HELD and not node.lost_connection:
            # Not from Restarting: a Held notification queued before our Unhold is stale.
            if current in {ElementState.RUNNING, ElementState.PAUSED, ElementState.PAUSING}:
                await self._steps.set_state(
                    tree, node, apply_command(current, Command.HOLD), SYSTEM
                )
            if node.state is ElementState.HOLDING:
                await self._steps.set_state(tree, node, complete_transient(node.state), SYSTEM)
                await self.settle_parents(tree, node)
        elif state in _EQUIPMENT_ENDINGS and not is_final(current):
            command = _EQUIPMENT_ENDINGS[state]
            # Stopping that the module turned into Aborted ends Aborted; Aborting stays.
            if current is not ElementState.ABORTING and current is not _ENDING_STATE[command]:
                try:
                    await self._steps.set_state(tree, node, apply_command(current, command), SYSTEM)
                except CommandNotAllowed:
                    return
            await self._steps.set_state(tree, node, complete_transient(node.state), SYSTEM)
            await self.child_finished(tree, node)

    async def _reset_service(self, node: Node) -> None:
        assert node.phase is not None
        try:
            await self._equipment.command(
                node.phase.equipment, node.phase.service, ServiceCommand.RESET
            )
        except EquipmentError as exc:  # the next start resets again; nothing is lost
            log.warning("reset of %s/%s failed: %s", node.phase.equipment, node.phase.service, exc)

    async def hold_for_equipment(self, tree: BatchTree, node: Node, why: str) -> None:
        """Record an exception, then hold the phase whose equipment cannot be reached.

        The exception is stored first: a runtime stopped between the two writes resumes a
        phase still running on lost equipment and holds it again (one more exception), while
        the reverse order could leave a held phase with no exception to review."""
        assert node.phase is not None
        await self._steps.exception(
            batch_id=tree.batch_id,
            category=Category.EQUIPMENT_LOSS,
            severity=Severity.MAJOR,
            subject=node.path,
            message=f"{node.phase.equipment}: {why}; phase held, restart it once the "
            "equipment is back",
        )
        if node.state in {
            ElementState.RUNNING,
            ElementState.PAUSING,
            ElementState.PAUSED,
            ElementState.RESTARTING,
        }:
            await self._steps.set_state(tree, node, apply_command(node.state, Command.HOLD), SYSTEM)
        if node.state is ElementState.HOLDING:
            await self._steps.set_state(
                tree, node, complete_transient(node.state), SYSTEM, lost_connection=True
            )
        node.lost_connection = True
        await self.settle_parents(tree, node)

    async def child_finished(self, tree: BatchTree, child: Node) -> None:
        parent = child.parent
        if parent is None:
            await self._batch_finished(tree)
            return
        if parent.run is not None:
            parent.run.step_finished(child.step_id, child.state)
        if child.state in {ElementState.STOPPED, ElementState.ABORTED} and parent.state not in {
            ElementState.STOPPING,
            ElementState.ABORTING,
        }:
            command = Command.ABORT if child.state is ElementState.ABORTED else Command.STOP
            if command in allowed_commands(parent.state):
                await self._steps.set_state(
                    tree, parent, apply_command(parent.state, command), SYSTEM
                )
                for sibling in parent.active_children():
                    if command in allowed(self._equipment, tree, sibling):
                        with contextlib.suppress(Exception):
                            await self.command_node(tree, sibling, command, actor=SYSTEM)
        if (
            parent.state in {ElementState.STOPPING, ElementState.ABORTING}
            or parent.state in _SETTLED_WHEN
        ):
            await self.settle(tree, parent)
            return
        await self.advance(tree, parent)

    async def advance(self, tree: BatchTree, node: Node) -> None:
        if node.state is not ElementState.RUNNING or node.run is None:
            return
        advance = node.run.advance(self._values.condition_values(tree))
        for step_id in advance.start:
            await self.start_child(tree, node, step_id, actor=SYSTEM)
        if advance.ended and node.state is ElementState.RUNNING:
            await self._steps.set_state(tree, node, complete_transient(node.state), SYSTEM)
            await self.child_finished(tree, node)

    async def settle(self, tree: BatchTree, node: Node) -> None:
        """Finish a composite's transient state once its active children have."""
        state = node.state
        active = node.active_children()
        if state in {ElementState.STOPPING, ElementState.ABORTING}:
            if not active:
                await self._steps.set_state(tree, node, complete_transient(state), SYSTEM)
                await self.child_finished(tree, node)
            return
        wanted = _SETTLED_WHEN.get(state)
        if wanted is not None and all(child.state in wanted for child in active):
            await self._steps.set_state(tree, node, complete_transient(state), SYSTEM)
            if node.state is ElementState.RUNNING:
                await self.advance(tree, node)
            await self.settle_parents(tree, node)

    async def settle_parents(self, tree: BatchTree, node: Node) -> None:
        if node.parent is not None and node.parent.state in _SETTLED_WHEN:
            await self.settle(tree, node.parent)

    async def _batch_finished(self, tree: BatchTree) -> None:
        await self._values.flush()
        await self._steps.journal(
            batch_id=tree.batch_id,
            actor=SYSTEM,
            action="batch.end",
            subject=tree.root.path,
            new_value=tree.state.value,
        )
        self._live.finished(tree.batch_id)
