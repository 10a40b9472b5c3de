"""A person's command on an element: checked, journalled, then carried out.

The rules: a command the element's state (or engine policy) does not allow changes
nothing and is not journalled (:mod:`mes_runtime.engine.policy`); neither is one that
needs a module that is not connected - checked for every phase a composite would pass it
to, before anything changes. A command is journalled (with the queued command's inbox id,
so a replica taking the batch over knows it was given already) in the transaction of the
first thing it does (a phase's equipment command recorded before it is sent, a composite's
new state; :meth:`~mes_runtime.engine.recording.StepRecorder.held`), so the entry and that
step are stored together or not at all; one the equipment refuses is followed by
``command.failed``. A command fenced meanwhile (another
runtime took the batch over) says whether an equipment command was on its way.
"""

from __future__ import annotations

from mes_runtime.domain.states import Command, ElementState
from mes_runtime.engine.errors import EngineError, EquipmentError, EquipmentUnavailable
from mes_runtime.engine.execution import Execution
from mes_runtime.engine.policy import allowed, require_allowed
from mes_runtime.engine.ports import EquipmentPort, Fenced, JournalNote
from mes_runtime.engine.recording import SYSTEM, StepRecorder
from mes_runtime.engine.tree import BatchTree, Node

__all__ = ["Commands"]


class Commands:
    """Applies people's commands to live elements (under the engine's lock, drained)."""

    def __init__(
        self, *, equipment: EquipmentPort, steps: StepRecorder, execution: Execution
    ) -> None:
        self._equipment = equipment
        self._steps = steps
        self._execution = execution

    async def apply(
        self,
        tree: BatchTree,
        node: Node,
        command: Command,
        *,
        actor: str,
        reason: str | None,
        inbox_id: int | None,
    ) -> ElementState:
        """Apply one command to one element; returns the element's new state."""
        batch_id, path = tree.batch_id, node.path
        if command is Command.START and node is tree.root and node.state is ElementState.IDLE:
            await self._execution.start_node(tree, node, actor=actor)
            return node.state
        require_allowed(self._equipment, tree, node, command)
        self._require_reachable(tree, node, command)
        given = JournalNote(
            actor=actor,
            action=f"command.{command.value}",
            subject=path,
            old_value=node.state.value,
            new_value=None if inbox_id is None else {"inbox": inbox_id},
            reason=reason,
        )
        try:
            async with self._steps.held(batch_id, given):
                try:
                    await self._execution.command_node(tree, node, command, actor=actor)
                except (EngineError, EquipmentError) as exc:  # refused: nothing changed
                    await self._steps.journal(  # the command's entry first, then this
                        batch_id=batch_id,
                        actor=SYSTEM,
                        action="command.failed",
                        subject=path,
                        old_value=node.state.value,
                        reason=str(exc),
                    )
                    raise
        except Fenced as exc:  # taken over meanwhile: was an equipment command on its way?
            in_flight = any(n.command_outcome == "pending" for n in tree.root.walk())
            raise Fenced(batch_id, str(exc), in_flight=in_flight) from exc
        return node.state

    def _require_reachable(self, tree: BatchTree, node: Node, command: Command) -> None:
        """Refuse, before anything changes, a command that cannot reach every module it
        needs (the phases it would reach, through the composites it passes)."""
        down = sorted(
            {
                phase.phase.equipment
                for phase in self._command_targets(tree, node, command)
                if phase.phase is not None
                and not self._equipment.is_connected(phase.phase.equipment)
            }
        )
        if down:
            verb = "is" if len(down) == 1 else "are"
            raise EquipmentUnavailable(
                f"{', '.join(down)} {verb} disconnected: {command.value} of {node.path} cannot "
                "reach it; give the command again once the equipment is back"
            )

    def _command_targets(self, tree: BatchTree, node: Node, command: Command) -> list[Node]:
        """The phases a command on ``node`` is passed down to."""
        if node.phase is not None:
            return [node]
        return [
            target
            for child in node.active_children()
            if command in allowed(self._equipment, tree, child)
            for target in self._command_targets(tree, child, command)
        ]
