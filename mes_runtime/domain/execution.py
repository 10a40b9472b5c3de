"""The pure SFC runner for one procedural element's graph of steps.

The engine owns time, equipment and storage; this module owns only the sequencing rule
of a sequential function chart, so that the rule is exhaustively testable and identical
for procedures, unit procedures and operations:

* :meth:`GraphRun.start` activates the initial steps;
* the engine reports each step's end with :meth:`GraphRun.step_finished`;
* :meth:`GraphRun.advance` fires every enabled transition in declared order. A transition
  is enabled when *all* its ``from`` steps finished Complete (and-join) and its condition
  holds. Firing consumes the ``from`` steps (so of several transitions leaving one step,
  the first enabled one wins: or-split) and activates every ``to`` step (and-split);
  ``to: []`` ends the graph.

A step that ended Stopped or Aborted freezes the graph: no transition fires any more and
:class:`Advance` tells the engine to drive the parent to Stopping or Aborting.

The whole state is plain data (:meth:`GraphRun.to_dict` / :meth:`GraphRun.from_dict`) so
that a batch survives a runtime restart or a blue-green switch mid-run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from mes_runtime.domain.conditions import Condition, parse_condition
from mes_runtime.domain.errors import ExecutionError
from mes_runtime.domain.recipe import Transition
from mes_runtime.domain.states import ElementState, is_final

__all__ = ["Advance", "Graph", "GraphRun", "StepStatus"]


class StepStatus(StrEnum):
    """Where a step stands in its parent's graph."""

    INACTIVE = "inactive"
    ACTIVE = "active"
    FINISHED = "finished"


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


class Graph(Protocol):
    """Anything with SFC steps: master or control procedure, unit procedure, operation."""

    @property
    def steps(self) -> Sequence[_HasId]: ...
    @property
    def initial(self) -> Sequence[str]: ...
    @property
    def transitions(self) -> Sequence[Transition]: ...


@dataclass(frozen=True, slots=True)
class Advance:
    """The outcome of one :meth:`GraphRun.advance`.

    ``start``: steps to start now (in order). ``ended``: the graph reached an end
    transition. ``interrupt``: Stopping/Aborting if a step ended Stopped/Aborted and the
    parent must follow. ``fired``: transition ids fired by this call (for the journal).
    ``waiting_on``: names a condition needed but ``values`` lacked (treated as false).
    """

    start: list[str]
    ended: bool
    interrupt: ElementState | None = None
    fired: list[str] = field(default_factory=list)
    waiting_on: frozenset[str] = frozenset()


class GraphRun:
    """Sequencing state of one element's graph; see the module docstring for the rule."""

    def __init__(self, element: Graph) -> None:
        self._step_ids = [step.id for step in element.steps]
        known = set(self._step_ids)
        self._initial = list(element.initial)
        self._transitions = list(element.transitions)
        for ref in (*self._initial, *(s for t in self._transitions for s in (*t.from_, *t.to))):
            if ref not in known:
                raise ExecutionError(f"graph refers to unknown step {ref!r}")
        self._conditions: dict[str, Condition] = {
            t.id: parse_condition(t.condition) for t in self._transitions if t.condition is not None
        }
        self._status = dict.fromkeys(self._step_ids, StepStatus.INACTIVE)
        self._final: dict[str, ElementState] = {}
        self._started = False
        self._ended = False
        self._interrupt: ElementState | None = None
        self._fired: list[str] = []

    # -- inspection ------------------------------------------------------------------

    @property
    def started(self) -> bool:
        """Whether :meth:`start` was called."""
        return self._started

    @property
    def ended(self) -> bool:
        """Whether an end transition fired."""
        return self._ended

    @property
    def interrupt(self) -> ElementState | None:
        """Stopping/Aborting once a step ended Stopped/Aborted, else ``None``."""
        return self._interrupt

    @property
    def fired(self) -> list[str]:
        """Every transition fired so far, in order."""
        return list(self._fired)

    def status(self, step_id: str) -> StepStatus:
        """The status of one step."""
        self._require(step_id)
        return self._status[step_id]

    def final_state(self, step_id: str) -> ElementState | None:
        """The final state a finished step reported, if it is finished."""
        self._require(step_id)
        return self._final.get(step_id)

    def active_steps(self) -> list[str]:
        """Steps started and not yet finished, in declaration order."""
        return [s for s in self._step_ids if self._status[s] is StepStatus.ACTIVE]

    # -- driving ---------------------------------------------------------------------

    def start(self) -> list[str]:
        """Activate the initial steps and return them (the engine starts them)."""
        if self._started:
            raise ExecutionError("graph already started")
        self._started = True
        for step_id in self._initial:
            self._status[step_id] = StepStatus.ACTIVE
        return list(self._initial)

    def step_finished(self, step_id: str, final_state: ElementState) -> None:
        """Record that an active step reached ``final_state`` (Complete/Stopped/Aborted)."""
        self._require(step_id)
        if not is_final(final_state):
            raise ExecutionError(f"{final_state.value!r} is not a final state")
        if self._status[step_id] is not StepStatus.ACTIVE:
            raise ExecutionError(f"step {step_id!r} is {self._status[step_id].value}, not active")
        self._status[step_id] = StepStatus.FINISHED
        self._final[step_id] = final_state
        if final_state is ElementState.ABORTED:
            self._interrupt = ElementState.ABORTING
        elif final_state is ElementState.STOPPED and self._interrupt is None:
            self._interrupt = ElementState.STOPPING

    def advance(self, values: Mapping[str, float]) -> Advance:
        """Fire every enabled transition once, in declared order; see the module docs."""
        if not self._started:
            raise ExecutionError("graph not started")
        if self._ended or self._interrupt is not None:
            return Advance(start=[], ended=self._ended, interrupt=self._interrupt)
        start: list[str] = []
        fired: list[str] = []
        waiting: set[str] = set()
        for transition in self._transitions:
            if not all(self._completed(s) for s in transition.from_):
                continue
            condition = self._conditions.get(transition.id)
            if condition is not None:
                missing = condition.names - values.keys()
                if missing:
                    waiting |= missing
                    continue
                if not condition.evaluate(values):
                    continue
            for step_id in transition.from_:
                self._status[step_id] = StepStatus.INACTIVE
                del self._final[step_id]
            fired.append(transition.id)
            self._fired.append(transition.id)
            if transition.ends:
                self._ended = True
                break
            for step_id in transition.to:
                if self._status[step_id] is not StepStatus.ACTIVE:
                    self._status[step_id] = StepStatus.ACTIVE
                    self._final.pop(step_id, None)
                    start.append(step_id)
        return Advance(start=start, ended=self._ended, fired=fired, waiting_on=frozenset(waiting))

    # -- persistence -----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible state (the graph itself comes from the control recipe)."""
        return {
            "started": self._started,
            "ended": self._ended,
            "interrupt": None if self._interrupt is None else self._interrupt.value,
            "fired": list(self._fired),
            "steps": {
                step_id: {
                    "status": self._status[step_id].value,
                    "final": self._final[step_id].value if step_id in self._final else None,
                }
                for step_id in self._step_ids
            },
        }

    @classmethod
    def from_dict(cls, element: Graph, data: Mapping[str, Any]) -> GraphRun:
        """Rebuild the run of ``element`` from :meth:`to_dict` output."""
        run = cls(element)
        steps = data["steps"]
        if set(steps) != set(run._step_ids):
            raise ExecutionError("saved graph state does not match the element's steps")
        run._started = bool(data["started"])
        run._ended = bool(data["ended"])
        interrupt = data.get("interrupt")
        run._interrupt = None if interrupt is None else ElementState(interrupt)
        run._fired = [str(t) for t in data.get("fired", [])]
        for step_id, saved in steps.items():
            run._status[step_id] = StepStatus(saved["status"])
            if saved.get("final") is not None:
                run._final[step_id] = ElementState(saved["final"])
        return run

    # -- helpers ---------------------------------------------------------------------

    def _completed(self, step_id: str) -> bool:
        return (
            self._status[step_id] is StepStatus.FINISHED
            and self._final.get(step_id) is ElementState.COMPLETE
        )

    def _require(self, step_id: str) -> None:
        if step_id not in self._status:
            raise ExecutionError(f"unknown step {step_id!r}")
