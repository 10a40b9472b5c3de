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
  service's state and never sends a Start twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Self

from mes_runtime.domain.conditions import Condition, parse_condition
from mes_runtime.domain.exceptions import Category
from mes_runtime.domain.execution import GraphRun
from mes_runtime.domain.states import (
    Command,
    CommandNotAllowed,
    ElementState,
    allowed_commands,
    apply_command,
    complete_transient,
    is_active,
    is_final,
)
from mes_runtime.engine.errors import (
    CommandRejected,
    EngineError,
    EquipmentError,
    EquipmentUnavailable,
    UnknownElement,
)
from mes_runtime.engine.live import LiveBatches
from mes_runtime.engine.ports import (
    BatchRecorder,
    ConnectionLost,
    ConnectionRestored,
    EquipmentEvent,
    EquipmentPort,
    Fenced,
    ProcessSample,
    ServiceStateChanged,
    Severity,
)
from mes_runtime.engine.recording import SYSTEM, RetryPolicy, StepRecorder
from mes_runtime.engine.tree import BatchTree, Node
from mes_runtime.engine.values import ProcessValues
from mes_runtime.kernel.clock import utcnow
from mes_runtime.kernel.codes import ServiceCommand, ServiceState
from mes_runtime.kernel.tasks import cancel_and_wait

__all__ = ["BatchEngine"]

log = logging.getLogger(__name__)

PHASE_COMMANDS: Mapping[Command, ServiceCommand] = {
    Command.PAUSE: ServiceCommand.PAUSE,
    Command.RESUME: ServiceCommand.RESUME,
    Command.HOLD: ServiceCommand.HOLD,
    Command.RESTART: ServiceCommand.UNHOLD,
    Command.STOP: ServiceCommand.STOP,
    Command.ABORT: ServiceCommand.ABORT,
    Command.COMPLETE: ServiceCommand.COMPLETE,
}

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

_MAX_EVENTS_PER_DRAIN = 5000
_COMPLETE_CHECK_SECONDS = 0.5


@functools.lru_cache(maxsize=256)
def _parsed(text: str) -> Condition:
    return parse_condition(text)


_SETTLING = frozenset({ElementState.STOPPING, ElementState.ABORTING, *_SETTLED_WHEN})


@dataclass(frozen=True, slots=True)
class _Timing:
    flush_interval: float
    idle_timeout: float
    stop_grace: float = 5.0  # at shutdown, how long the step in flight may take to finish


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
        upgrade_pending: Callable[[], bool] = lambda: False,
    ) -> None:
        self._equipment = equipment
        self._recorder = recorder
        # while an upgrade waits for a safe point, a phase its recipe marks as not
        # interruptible is not started (it would push the safe point out, maybe for ever):
        # it waits, Idle in its active step, and starts once the upgrade is no longer pending
        self._upgrade_pending = upgrade_pending
        self._timing = _Timing(flush_interval=flush_interval, idle_timeout=idle_timeout)
        self._steps = StepRecorder(
            recorder, policy=RetryPolicy(retry_for=retry_for), on_fenced=self._forget
        )
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._values = ProcessValues(recorder, steps=self._steps)
        # Finished batches stay live (snapshot, wait_finished) until this many newer ones
        # have finished; older ones are read from the database (memory stays bounded).
        self._live = LiveBatches(values=self._values, retain_finished=retain_finished)
        self._inbox: list[EquipmentEvent] = []  # taken from the queue, not yet handled

    # -- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._tasks = [
            asyncio.create_task(self._pump(), name="batch-engine-pump"),
            asyncio.create_task(
                self._values.run_flusher(self._timing.flush_interval),
                name="batch-engine-flush",
            ),
            asyncio.create_task(self._completer(), name="batch-engine-complete"),
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
            async with asyncio.timeout(self._timing.stop_grace):
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
                or self._equipment.is_continuous(phase.equipment, phase.service, phase.procedure)
            )
        ):
            commands.add(Command.COMPLETE)  # ends a continuous procedure (or its rule early)
        return frozenset(commands)

    def require_allowed(self, tree: BatchTree, node: Node, command: Command) -> None:
        """Refuse a command the element's state (or engine policy) does not allow; the same
        answer for a live tree and for one read from storage (any replica gives it)."""
        if command not in self.allowed(tree, node):
            allowed = ", ".join(sorted(c.value for c in self.allowed(tree, node))) or "none"
            raise CommandRejected(
                f"{command.value} is not allowed for {node.path} in state {node.state.value} "
                f"(allowed: {allowed})"
            )

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
            await self._start_node(tree, tree.root, actor=actor)

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
        restore_tree`) and reconcile it with its equipment as it stands now.

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
            await self._reconcile(tree)
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
        await self._drain()
        if tree.batch_id in self._live.batches:
            raise CommandRejected(f"batch {tree.batch_id!r} is already running")
        if claim:
            await self._steps.claim(tree.batch_id)
        self._live.add(tree)

    async def _reconcile(self, tree: BatchTree) -> None:
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
            await self._hold_for_equipment(tree, node, "not connected when the batch resumed")
            return
        state = await self._equipment.service_state(phase.equipment, phase.service)
        if pending_start:
            if state is ServiceState.IDLE:  # the Start never arrived: send it (once)
                await self._start_node(tree, node, actor=SYSTEM)
                return
            await self._steps.set_state(  # it arrived: the phase owns this run
                tree, node, ElementState.RUNNING, SYSTEM, procedure_started=True, outcome="done"
            )
        if state in {ServiceState.IDLE, ServiceState.RESETTING}:  # the module lost the run
            await self._hold_for_equipment(tree, node, "found Idle when the batch resumed")
            return
        if node.command_outcome == "pending" and node.last_command in _PENDING_COMMANDS:
            state = await self._finish_pending_command(tree, node, state)
        held_meanwhile = state is ServiceState.HELD and node.state not in {
            ElementState.HELD,
            ElementState.HOLDING,
        }
        await self._follow_service(tree, node, state)
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
                    await self._start_child(tree, node, step_id, actor=SYSTEM)
            return
        for step_id in node.run.active_steps():
            child = node.children[step_id]
            if is_final(child.state):
                await self._child_finished(tree, child)
            elif child.state is ElementState.IDLE and not (
                child.last_command == "start" and child.command_outcome == "pending"
            ):
                await self._start_node(tree, child, actor=SYSTEM)
        if node.state in _SETTLING:
            await self._settle(tree, node)
        else:
            await self._advance(tree, node)

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
        """Apply one command to one element; returns the element's new state.

        ``inbox_id`` names the queued command being applied (journalled with it, so that a
        replica taking the batch over knows it was given already)."""
        async with self._lock:
            tree = self.tree(batch_id)
            node = tree.by_path.get(path)
            if node is None:
                raise UnknownElement(batch_id, path)
            await self._drain()
            if command is Command.START and node is tree.root and node.state is ElementState.IDLE:
                await self._start_node(tree, node, actor=actor)
                return node.state
            self.require_allowed(tree, node, command)
            self._require_reachable(tree, node, command)
            await self._steps.journal(
                batch_id=batch_id,
                actor=actor,
                action=f"command.{command.value}",
                subject=path,
                old_value=node.state.value,
                new_value=None if inbox_id is None else {"inbox": inbox_id},
                reason=reason,
            )
            try:
                await self._command_node(tree, node, command, actor=actor)
            except Fenced as exc:  # taken over meanwhile: was an equipment command on its way?
                in_flight = any(n.command_outcome == "pending" for n in tree.root.walk())
                raise Fenced(batch_id, str(exc), in_flight=in_flight) from exc
            except (EngineError, EquipmentError) as exc:  # refused: nothing changed, say so
                await self._steps.journal(
                    batch_id=batch_id,
                    actor=SYSTEM,
                    action="command.failed",
                    subject=path,
                    old_value=node.state.value,
                    reason=str(exc),
                )
                raise
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
            if command in self.allowed(tree, child)
            for target in self._command_targets(tree, child, command)
        ]

    # -- starting ----------------------------------------------------------------------

    async def _start_node(self, tree: BatchTree, node: Node, *, actor: str) -> None:
        if node.phase is None:
            await self._steps.set_state(tree, node, apply_command(node.state, Command.START), actor)
            node.run = GraphRun(node.element)
            for step_id in node.run.start():
                await self._start_child(tree, node, step_id, actor=actor)
            await self._advance(tree, node)
            return
        phase = node.phase
        if not phase.interruptible and self._upgrade_pending():
            await self._defer(tree, node)
            return
        self._live.deferred[tree.batch_id].discard(node.path)
        try:
            await self._ensure_idle(phase.equipment, phase.service)
            await self._steps.record_command(tree, node, "start")
            await self._equipment.start_procedure(
                phase.equipment, phase.service, phase.procedure, phase.parameters
            )
        except EquipmentError as exc:  # unreachable module or refused command: hold, never lose
            failed = "failed" if node.command_outcome == "pending" else None
            await self._steps.set_state(
                tree, node, apply_command(node.state, Command.START), actor, outcome=failed
            )
            await self._hold_for_equipment(tree, node, f"could not start: {exc}")
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
        """Leave a non-interruptible phase Idle while an upgrade is pending (journalled
        once); :meth:`_start_deferred` starts it when the upgrade no longer waits."""
        if node.path in self._live.deferred[tree.batch_id]:
            return
        self._live.deferred[tree.batch_id].add(node.path)
        await self._steps.journal(
            batch_id=tree.batch_id,
            actor=SYSTEM,
            action="phase.deferred",
            subject=node.path,
            reason="an upgrade waits for a safe point; this phase is not interruptible, "
            "so it starts once the upgrade has switched",
        )

    async def _start_deferred(self, tree: BatchTree) -> None:
        """Start the phases deferred for an upgrade, if none is pending any more and each
        is still due (Idle, in an active step of a running parent)."""
        paths = self._live.deferred.get(tree.batch_id)
        if not paths or self._upgrade_pending():
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
                await self._start_node(tree, node, actor=SYSTEM)

    async def _start_child(
        self, tree: BatchTree, parent: Node, step_id: str, *, actor: str
    ) -> None:
        child = parent.children[step_id]
        if child.state is not ElementState.IDLE:  # a loop re-enters a finished step
            await self._reset_subtree(tree, child)
        await self._start_node(tree, child, actor=actor)

    async def _reset_subtree(self, tree: BatchTree, node: Node) -> None:
        for descendant in node.walk():
            descendant.run = None
            descendant.lost_connection = False
            descendant.procedure_started = False
            self._values.forget_element(tree.batch_id, descendant.path)
            if descendant.state is not ElementState.IDLE:
                await self._steps.set_state(tree, descendant, ElementState.IDLE, SYSTEM)

    async def _ensure_idle(self, equipment: str, service: str) -> None:
        """Bring a service back to Idle (Reset after an earlier run) before a Start."""
        deadline = asyncio.get_running_loop().time() + self._timing.idle_timeout
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

    # -- commands on elements ----------------------------------------------------------

    async def _command_node(
        self, tree: BatchTree, node: Node, command: Command, *, actor: str
    ) -> None:
        target = node.state if command is Command.COMPLETE else apply_command(node.state, command)
        if node.phase is None:
            await self._steps.set_state(tree, node, target, actor)
            for child in node.active_children():
                if command in self.allowed(tree, child):
                    try:
                        await self._command_node(tree, child, command, actor=actor)
                    except (EngineError, EquipmentError) as exc:  # e.g. it ended meanwhile
                        await self._steps.exception(
                            batch_id=tree.batch_id,
                            category=Category.MANUAL_INTERVENTION,
                            severity=Severity.MAJOR,
                            subject=child.path,
                            message=f"{command.value} of {node.path} did not reach "
                            f"{child.path}: {exc}",
                        )
            await self._settle(tree, node)
            if node.state is ElementState.RUNNING:  # Resume: steps may have become due
                await self._advance(tree, node)
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
                await self._ensure_idle(phase.equipment, phase.service)
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
        await self._follow_service(tree, node, state)

    # -- equipment events --------------------------------------------------------------

    async def _pump(self) -> None:
        queue = self._equipment.events
        while True:
            event = await queue.get()  # not inbox.append(await ...): a drain swaps the list
            self._inbox.append(event)
            async with self._lock:
                try:
                    await self._drain()
                except Exception:  # the pump must outlive any bug in handling
                    log.exception("batch engine failed to handle equipment events")

    async def _drain(self) -> None:
        """Handle every equipment event received so far; called under the lock.

        Commands drain too before they act: an operator's command then meets the engine's
        view of every event that arrived before it (e.g. the Completed a restored session
        reports), never a stale one that would be applied after it - to the next phase
        started on the same service.
        """
        queue = self._equipment.events
        events, self._inbox = self._inbox, []
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
                                await self._follow_service(tree, node, event.state)
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
                await self._complete_due(tree)
                for node in list(tree.root.walk()):
                    if node.phase is None and node.state is ElementState.RUNNING:
                        try:
                            await self._advance(tree, node)
                        except Fenced:
                            break
                        except Exception:  # logged; the other batches go on
                            log.exception("batch engine failed to advance %s", node.path)

    async def _follow_service(self, tree: BatchTree, node: Node, state: ServiceState) -> None:
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
            await self._child_finished(tree, node)
        elif state in {ServiceState.EXECUTE, ServiceState.STARTING} and current in {
            ElementState.RESTARTING
        }:
            await self._steps.set_state(tree, node, complete_transient(current), SYSTEM)
            await self._settle_parents(tree, node)
        elif state is ServiceState.EXECUTE and current is ElementState.PAUSED:
            await self._steps.set_state(tree, node, ElementState.RUNNING, SYSTEM)
            await self._settle_parents(tree, node)
        elif (
            state is ServiceState.EXECUTE
            and current is ElementState.HELD
            and not node.lost_connection
        ):  # unheld at the module itself
            await self._steps.set_state(tree, node, ElementState.RESTARTING, SYSTEM)
            await self._steps.set_state(tree, node, ElementState.RUNNING, SYSTEM)
            await self._settle_parents(tree, node)
        elif state is ServiceState.PAUSED and current in {
            ElementState.RUNNING,  # paused at the module itself
            ElementState.PAUSING,
        }:
            if current is ElementState.RUNNING:
                await self._steps.set_state(tree, node, ElementState.PAUSING, SYSTEM)
            await self._steps.set_state(tree, node, ElementState.PAUSED, SYSTEM)
            await self._settle_parents(tree, node)
        elif state is ServiceState.HELD and not node.lost_connection:
            # Not from Restarting: a Held notification queued before our Unhold is stale.
            if current in {ElementState.RUNNING, ElementState.PAUSED, ElementState.PAUSING}:
                await self._steps.set_state(
                    tree, node, apply_command(current, Command.HOLD), SYSTEM
                )
            if node.state is ElementState.HOLDING:
                await self._steps.set_state(tree, node, complete_transient(node.state), SYSTEM)
                await self._settle_parents(tree, node)
        elif state in _EQUIPMENT_ENDINGS and not is_final(current):
            command = _EQUIPMENT_ENDINGS[state]
            # Stopping that the module turned into Aborted ends Aborted; Aborting stays.
            if current is not ElementState.ABORTING and current is not _ENDING_STATE[command]:
                try:
                    await self._steps.set_state(tree, node, apply_command(current, command), SYSTEM)
                except CommandNotAllowed:
                    return
            await self._steps.set_state(tree, node, complete_transient(node.state), SYSTEM)
            await self._child_finished(tree, node)

    async def _reset_service(self, node: Node) -> None:
        assert node.phase is not None
        try:
            await self._equipment.command(
                node.phase.equipment, node.phase.service, ServiceCommand.RESET
            )
        except EquipmentError as exc:  # the next start resets again; nothing is lost
            log.warning("reset of %s/%s failed: %s", node.phase.equipment, node.phase.service, exc)

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
                await self._hold_for_equipment(tree, node, f"connection lost: {event.reason}")

    async def _connection_restored(self, event: ConnectionRestored) -> None:
        for tree in list(self._live.batches.values()):
            if event.equipment in tree.bindings.values() and not is_final(tree.state):
                await self._steps.journal(
                    batch_id=tree.batch_id,
                    actor=SYSTEM,
                    action="equipment.connection_restored",
                    subject=event.equipment,
                )

    async def _hold_for_equipment(self, tree: BatchTree, node: Node, why: str) -> None:
        """Hold a phase whose equipment cannot be reached; record an exception."""
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
        assert node.phase is not None
        await self._steps.exception(
            batch_id=tree.batch_id,
            category=Category.EQUIPMENT_LOSS,
            severity=Severity.MAJOR,
            subject=node.path,
            message=f"{node.phase.equipment}: {why}; phase held, restart it once the "
            "equipment is back",
        )
        await self._settle_parents(tree, node)

    # -- sequencing --------------------------------------------------------------------

    async def _child_finished(self, tree: BatchTree, child: Node) -> None:
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
                    if command in self.allowed(tree, sibling):
                        with contextlib.suppress(Exception):
                            await self._command_node(tree, sibling, command, actor=SYSTEM)
        if (
            parent.state in {ElementState.STOPPING, ElementState.ABORTING}
            or parent.state in _SETTLED_WHEN
        ):
            await self._settle(tree, parent)
            return
        await self._advance(tree, parent)

    async def _advance(self, tree: BatchTree, node: Node) -> None:
        if node.state is not ElementState.RUNNING or node.run is None:
            return
        advance = node.run.advance(self._values.condition_values(tree))
        for step_id in advance.start:
            await self._start_child(tree, node, step_id, actor=SYSTEM)
        if advance.ended and node.state is ElementState.RUNNING:
            await self._steps.set_state(tree, node, complete_transient(node.state), SYSTEM)
            await self._child_finished(tree, node)

    async def _settle(self, tree: BatchTree, node: Node) -> None:
        """Finish a composite's transient state once its active children have."""
        state = node.state
        active = node.active_children()
        if state in {ElementState.STOPPING, ElementState.ABORTING}:
            if not active:
                await self._steps.set_state(tree, node, complete_transient(state), SYSTEM)
                await self._child_finished(tree, node)
            return
        wanted = _SETTLED_WHEN.get(state)
        if wanted is not None and all(child.state in wanted for child in active):
            await self._steps.set_state(tree, node, complete_transient(state), SYSTEM)
            if node.state is ElementState.RUNNING:
                await self._advance(tree, node)
            await self._settle_parents(tree, node)

    async def _settle_parents(self, tree: BatchTree, node: Node) -> None:
        if node.parent is not None and node.parent.state in _SETTLED_WHEN:
            await self._settle(tree, node.parent)

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

    # -- recording ---------------------------------------------------------------------

    async def _completer(self) -> None:
        """Send Complete to continuous procedures whose time is up (checked twice a second;
        conditions are checked as values arrive); start phases deferred for an upgrade
        once it no longer waits."""
        while True:
            await asyncio.sleep(_COMPLETE_CHECK_SECONDS)
            async with self._lock:
                for tree in list(self._live.batches.values()):
                    if is_final(tree.state):
                        self._live.deferred.pop(tree.batch_id, None)
                        continue
                    await self._complete_due(tree)
                    await self._start_deferred(tree)

    async def _complete_due(self, tree: BatchTree) -> None:
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
                await self._command_node(tree, node, Command.COMPLETE, actor=SYSTEM)
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
