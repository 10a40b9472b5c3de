"""Which commands the engine accepts for an element: the state machine, narrowed by policy.

The same answer for a live tree and for one read from storage, so any replica gives it.
Also the MTP command each phase command becomes (:data:`PHASE_COMMANDS`).
"""

from __future__ import annotations

from collections.abc import Mapping

from mes_runtime.domain.states import Command, ElementState, allowed_commands
from mes_runtime.engine.errors import CommandRejected
from mes_runtime.engine.ports import EquipmentPort
from mes_runtime.engine.tree import BatchTree, Node
from mes_runtime.kernel.codes import ServiceCommand

__all__ = ["PHASE_COMMANDS", "allowed", "require_allowed"]

PHASE_COMMANDS: Mapping[Command, ServiceCommand] = {
    Command.PAUSE: ServiceCommand.PAUSE,
    Command.RESUME: ServiceCommand.RESUME,
    Command.HOLD: ServiceCommand.HOLD,
    Command.RESTART: ServiceCommand.UNHOLD,
    Command.STOP: ServiceCommand.STOP,
    Command.ABORT: ServiceCommand.ABORT,
    Command.COMPLETE: ServiceCommand.COMPLETE,
}


def allowed(equipment: EquipmentPort, tree: BatchTree, node: Node) -> frozenset[Command]:
    """Commands the engine accepts for an element: the state machine, narrowed by policy.

    Start is only for the batch itself (the recipe graph starts everything else); Reset is
    never offered: a final batch is never re-run, a new batch is created instead.
    """
    commands = set(allowed_commands(node.state)) - {Command.RESET}
    if node is not tree.root:
        commands.discard(Command.START)
    phase = node.phase
    if (
        phase is not None
        and node.state is ElementState.RUNNING
        and node.procedure_started
        and (
            phase.complete_after_seconds is not None
            or phase.complete_when is not None
            or equipment.is_continuous(phase.equipment, phase.service, phase.procedure)
        )
    ):
        commands.add(Command.COMPLETE)  # ends a continuous procedure (or its rule early)
    return frozenset(commands)


def require_allowed(
    equipment: EquipmentPort, tree: BatchTree, node: Node, command: Command
) -> None:
    """Refuse a command the element's state (or engine policy) does not allow; the same
    answer for a live tree and for one read from storage (any replica gives it)."""
    if command not in allowed(equipment, tree, node):
        accepted = ", ".join(sorted(c.value for c in allowed(equipment, tree, node))) or "none"
        raise CommandRejected(
            f"{command.value} is not allowed for {node.path} in state {node.state.value} "
            f"(allowed: {accepted})"
        )
