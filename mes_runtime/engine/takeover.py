"""Taking a batch over: reconcile a tree restored from storage with its equipment.

A runtime that takes a batch over (its owner died, or handed it over) restores the tree
from storage (:func:`~mes_runtime.engine.plan.restore_tree`) and reconciles it with the
equipment as it stands now. Each phase whose service may be running for it is read, not
commanded: a phase whose procedure completed meanwhile becomes Complete (and the recipe
moves on); a service found Held holds its phase with an exception; a Start recorded but
not known to have arrived is sent only if the service is still Idle (it never arrived),
otherwise the phase adopts the run; a phase command recorded ``pending`` is seen through
once. A module that is not connected holds its phases, as a lost connection does; a
Restart then continues from wherever the module is. Then each composite finishes what
the previous owner had not persisted (children that ended, steps not started yet).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from mes_runtime.domain.exceptions import Category
from mes_runtime.domain.execution import GraphRun
from mes_runtime.domain.states import (
    Command,
    CommandNotAllowed,
    ElementState,
    apply_command,
    is_active,
    is_final,
)
from mes_runtime.engine.errors import EquipmentError
from mes_runtime.engine.execution import SETTLING, Execution
from mes_runtime.engine.ports import EquipmentPort, Severity
from mes_runtime.engine.recording import SYSTEM, StepRecorder
from mes_runtime.engine.tree import BatchTree, Node
from mes_runtime.kernel.codes import ServiceCommand, ServiceState

__all__ = ["Reconciler"]

log = logging.getLogger(__name__)

# A phase command recorded as pending (sent or about to be sent when its owner died): the
# element command it carries out, and the service states that show it arrived.
_PENDING_COMMANDS: Mapping[str, tuple[Command, frozenset[ServiceState]]] = {
    "hold": (Command.HOLD, frozenset({ServiceState.HOLDING, ServiceState.HELD})),
    "pause": (Command.PAUSE, frozenset({ServiceState.PAUSING, ServiceState.PAUSED})),
    "stop": (Command.STOP, frozenset({ServiceState.STOPPING, ServiceState.STOPPED})),
    "abort": (Command.ABORT, frozenset({ServiceState.ABORTING, ServiceState.ABORTED})),
    "resume": (
        Command.RESUME,
        frozenset({ServiceState.RESUMING, ServiceState.EXECUTE, ServiceState.COMPLETED}),
    ),
    "unhold": (
        Command.RESTART,
        frozenset({ServiceState.UNHOLDING, ServiceState.EXECUTE, ServiceState.COMPLETED}),
    ),
}


class Reconciler:
    """Reconciles a restored batch with its equipment (under the engine's lock)."""

    def __init__(
        self, *, equipment: EquipmentPort, steps: StepRecorder, execution: Execution
    ) -> None:
        self._equipment = equipment
        self._steps = steps
        self._execution = execution

    async def reconcile(self, tree: BatchTree) -> None:
        for node in list(tree.root.walk()):
            if node.phase is not None:
                await self._reconcile_phase(tree, node)
        for node in reversed(list(tree.root.walk())):  # children before their parents
            if node.phase is None and is_active(node.state):
                await self._reconcile_composite(tree, node)

    async def _reconcile_phase(self, tree: BatchTree, node: Node) -> None:
        assert node.phase is not None
        phase = node.phase
        pending_start = (
            node.state is ElementState.IDLE
            and node.last_command == "start"
            and node.command_outcome == "pending"
        )
        if not pending_start and not (is_active(node.state) and node.procedure_started):
            return  # nothing of this phase can be running on the equipment
        if not self._equipment.is_connected(phase.equipment):
            if pending_start:  # unknown whether Start arrived: a Restart reads the service
                await self._steps.set_state(
                    tree, node, ElementState.RUNNING, SYSTEM, procedure_started=True
                )
            await self._execution.hold_for_equipment(
                tree, node, "not connected when the batch resumed"
            )
            return
        state = await self._equipment.service_state(phase.equipment, phase.service)
        if pending_start:
            if state is ServiceState.IDLE:  # the Start never arrived: send it (once)
                await self._execution.start_node(tree, node, actor=SYSTEM)
                return
            await self._steps.set_state(  # it arrived: the phase owns this run
                tree, node, ElementState.RUNNING, SYSTEM, procedure_started=True, outcome="done"
            )
        if state in {ServiceState.IDLE, ServiceState.RESETTING}:  # the module lost the run
            await self._execution.hold_for_equipment(
                tree, node, "found Idle when the batch resumed"
            )
            return
        if node.command_outcome == "pending" and node.last_command in _PENDING_COMMANDS:
            state = await self._finish_pending_command(tree, node, state)
        held_meanwhile = state is ServiceState.HELD and node.state not in {
            ElementState.HELD,
            ElementState.HOLDING,
        }
        await self._execution.follow_service(tree, node, state)
        if held_meanwhile:
            await self._steps.exception(
                batch_id=tree.batch_id,
                category=Category.EQUIPMENT_LOSS,
                severity=Severity.MAJOR,
                subject=node.path,
                message=f"{phase.equipment}/{phase.service} was found Held when the batch "
                "resumed; phase held, restart it when the cause is cleared",
            )

    async def _finish_pending_command(
        self, tree: BatchTree, node: Node, state: ServiceState
    ) -> ServiceState:
        """Carry out a phase command the previous owner recorded but did not see through
        (it died with the command in flight): if the service shows it arrived, the phase
        takes its effect; if not, it is sent now, once; if the service can no longer take
        it (the procedure ended meanwhile, say), it is recorded as failed. The command was
        journalled when it was given, so the batch ends where its operator asked."""
        assert node.phase is not None
        assert node.last_command is not None
        phase = node.phase
        command, arrived = _PENDING_COMMANDS[node.last_command]
        try:
            target = apply_command(node.state, command)
            if state not in arrived:
                await self._equipment.command(
                    phase.equipment, phase.service, ServiceCommand[node.last_command.upper()]
                )
                state = await self._equipment.service_state(phase.equipment, phase.service)
        except (CommandNotAllowed, EquipmentError) as exc:
            log.warning(
                "%s: the %s recorded before the take-over cannot be carried out: %s",
                node.path,
                node.last_command,
                exc,
            )
            await self._steps.save(tree, node, outcome="failed")
            return state
        await self._steps.set_state(tree, node, target, SYSTEM, outcome="done")
        return state

    async def _reconcile_composite(self, tree: BatchTree, node: Node) -> None:
        """Finish what the previous owner had not persisted around a composite: children
        that ended, steps activated but not started, a graph not started yet."""
        if node.run is None:
            if node.state is ElementState.RUNNING:
                node.run = GraphRun(node.element)
                for step_id in node.run.start():
                    await self._execution.start_child(tree, node, step_id, actor=SYSTEM)
            return
        for step_id in node.run.active_steps():
            child = node.children[step_id]
            if is_final(child.state):
                await self._execution.child_finished(tree, child)
            elif child.state is ElementState.IDLE and not (
                child.last_command == "start" and child.command_outcome == "pending"
            ):
                await self._execution.start_node(tree, child, actor=SYSTEM)
        if node.state in SETTLING:
            await self._execution.settle(tree, node)
        else:
            await self._execution.advance(tree, node)
