"""The engine's live view of one batch: a tree of procedural elements with their states.

Built once from the batch's immutable control recipe (see :mod:`mes_runtime.engine.plan`)
and mutated only by :class:`mes_runtime.engine.batch.BatchEngine` under its lock. Holds no
I/O: everything here can be unit-tested with plain objects.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mes_runtime.domain.states import ElementState, allowed_commands, is_active

if TYPE_CHECKING:
    from mes_runtime.engine.ports import ElementRecord

__all__ = ["BatchTree", "Node", "PhaseBinding"]


@dataclass(frozen=True, slots=True)
class PhaseBinding:
    """Where and how a phase runs: one MTP service procedure on one module."""

    unit: str
    equipment: str
    service: str
    procedure: str
    parameters: Mapping[str, float]
    complete_after_seconds: float | None = None  # send Complete once executed this long
    complete_when: str | None = None  # send Complete once this condition holds
    interruptible: bool = True  # False: not started while a hand-over waits for a safe point


@dataclass(eq=False, slots=True)
class Node:
    """One procedural element (procedure, unit procedure, operation or phase)."""

    path: str
    step_id: str
    name: str
    kind: str
    depth: int
    element: Any  # the domain element; composite nodes hand it to GraphRun
    phase: PhaseBinding | None = None
    parent: Node | None = None
    children: dict[str, Node] = field(default_factory=dict)  # step id -> child
    state: ElementState = ElementState.IDLE
    run: Any = None  # mes_runtime.domain.execution.GraphRun for composites, once started
    lost_connection: bool = False  # held because its module could not be reached
    procedure_started: bool = False  # the module accepted this phase's Start (this run)
    executing_since: datetime | None = None  # when it last left Idle (its timers' start)
    last_command: str | None = None  # last MTP command recorded for the phase's service
    command_outcome: str | None = None  # pending (recorded before sending), done, failed

    def apply(self, record: ElementRecord) -> None:
        """Take the durable state (as stored) into this node."""
        self.state = ElementState(record.state)
        self.procedure_started = record.procedure_started
        self.lost_connection = record.lost_connection
        self.executing_since = record.executing_since
        self.last_command = record.last_command
        self.command_outcome = record.command_outcome

    @property
    def is_phase(self) -> bool:
        return self.phase is not None

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children.values():
            yield from child.walk()

    def active_children(self) -> list[Node]:
        """Children that have started and not reached a final state."""
        return [c for c in self.children.values() if is_active(c.state)]


@dataclass(eq=False, slots=True)
class BatchTree:
    """All nodes of one batch, indexed by path and by the equipment service they drive."""

    batch_id: str
    recipe_name: str
    recipe_version: int
    root: Node
    bindings: Mapping[str, str]  # unit -> equipment name
    formula_values: Mapping[str, float] = field(default_factory=dict)  # "formula.X" -> value
    by_path: dict[str, Node] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_path = {node.path: node for node in self.root.walk()}

    @property
    def state(self) -> ElementState:
        return self.root.state

    def graph(self) -> dict[str, Any]:
        """The SFC position: every started composite's ``GraphRun.to_dict()`` by path."""
        return {n.path: n.run.to_dict() for n in self.root.walk() if n.run is not None}

    def phases_on(self, equipment: str, service: str | None = None) -> list[Node]:
        """Active phases bound to a module (optionally one service of it)."""
        return [
            n
            for n in self.root.walk()
            if n.phase is not None
            and n.phase.equipment == equipment
            and (service is None or n.phase.service == service)
            and is_active(n.state)
        ]

    def snapshot_elements(self) -> list[dict[str, object]]:
        """The element table the API and UI show, in tree order."""
        rows: list[dict[str, object]] = []
        for node in self.root.walk():
            rows.append(
                {
                    "path": node.path,
                    "name": node.name,
                    "kind": node.kind,
                    "depth": node.depth,
                    "state": node.state.value,
                    "allowed_commands": sorted(c.value for c in allowed_commands(node.state)),
                    "equipment": node.phase.equipment if node.phase else None,
                    "service": node.phase.service if node.phase else None,
                    "procedure": node.phase.procedure if node.phase else None,
                }
            )
        return rows
