"""The ISA-88 (IEC 61512-1) state machine of a procedural element.

Every procedural element (procedure, unit procedure, operation, phase) follows the same
example state model of the standard. Commands move an element into a state; transient
states (Running and the ``-ing`` states) finish on their own through an internal
completion event. The tables below are the whole truth; the functions only look them up,
so the engine, the API and the UI agree on what an operator may do at any moment.

The transition matrix follows ISA-88.01 (Table "State transition matrix for example
states for procedural elements"): Stop and Abort act on the groups of states drawn inside
their boxes; Idle lies outside both boxes (there is nothing to stop or abort before
Start), and Stopping may still be escalated to Abort.
"""

from __future__ import annotations

from enum import StrEnum

# CommandNotAllowed is re-exported: callers of apply_command catch it from here.
from mes_runtime.domain.errors import CommandNotAllowed, DomainError

__all__ = [
    "COMPLETION",
    "Command",
    "CommandNotAllowed",
    "ElementState",
    "allowed_commands",
    "apply_command",
    "complete_transient",
    "is_active",
    "is_final",
    "is_transient",
]

#: Name of the internal event that ends a transient state (used in journals and logs).
COMPLETION = "done"


class ElementState(StrEnum):
    """States of an ISA-88 procedural element."""

    IDLE = "idle"
    RUNNING = "running"
    COMPLETE = "complete"
    PAUSING = "pausing"
    PAUSED = "paused"
    HOLDING = "holding"
    HELD = "held"
    RESTARTING = "restarting"
    STOPPING = "stopping"
    STOPPED = "stopped"
    ABORTING = "aborting"
    ABORTED = "aborted"


class Command(StrEnum):
    """Commands an operator or a parent element sends to a procedural element."""

    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    HOLD = "hold"
    RESTART = "restart"
    STOP = "stop"
    ABORT = "abort"
    RESET = "reset"
    # A running phase's continuous procedure is told to finish (MTP Complete); the phase
    # stays Running until the service reports Completed. Not an ISA-88 state transition.
    COMPLETE = "complete"


_S = ElementState
_C = Command

# Groups as drawn in the standard's state diagram.
_HOLDABLE = (_S.RUNNING, _S.PAUSING, _S.PAUSED, _S.RESTARTING)
_STOPPABLE = (*_HOLDABLE, _S.HOLDING, _S.HELD)
_ABORTABLE = (*_STOPPABLE, _S.STOPPING)

_TRANSITIONS: dict[ElementState, dict[Command, ElementState]] = {state: {} for state in _S}
_TRANSITIONS[_S.IDLE][_C.START] = _S.RUNNING
_TRANSITIONS[_S.RUNNING][_C.PAUSE] = _S.PAUSING
_TRANSITIONS[_S.PAUSED][_C.RESUME] = _S.RUNNING
_TRANSITIONS[_S.HELD][_C.RESTART] = _S.RESTARTING
for _state in _HOLDABLE:
    _TRANSITIONS[_state][_C.HOLD] = _S.HOLDING
for _state in _STOPPABLE:
    _TRANSITIONS[_state][_C.STOP] = _S.STOPPING
for _state in _ABORTABLE:
    _TRANSITIONS[_state][_C.ABORT] = _S.ABORTING
for _state in (_S.COMPLETE, _S.STOPPED, _S.ABORTED):
    _TRANSITIONS[_state][_C.RESET] = _S.IDLE

_COMPLETIONS: dict[ElementState, ElementState] = {
    _S.RUNNING: _S.COMPLETE,
    _S.PAUSING: _S.PAUSED,
    _S.HOLDING: _S.HELD,
    _S.RESTARTING: _S.RUNNING,
    _S.STOPPING: _S.STOPPED,
    _S.ABORTING: _S.ABORTED,
}

_FINAL = frozenset({_S.COMPLETE, _S.STOPPED, _S.ABORTED})


def allowed_commands(state: ElementState) -> frozenset[Command]:
    """The commands the element accepts in ``state``."""
    return frozenset(_TRANSITIONS[state])


def apply_command(state: ElementState, command: Command) -> ElementState:
    """The state after ``command``; raises :class:`CommandNotAllowed` if it is not valid."""
    target = _TRANSITIONS[state].get(command)
    if target is None:
        allowed = ", ".join(sorted(_TRANSITIONS[state])) or "none"
        raise CommandNotAllowed(
            f"command {command.value!r} is not allowed in state {state.value!r} "
            f"(allowed: {allowed})"
        )
    return target


def is_transient(state: ElementState) -> bool:
    """Whether the state ends by itself through the internal completion event."""
    return state in _COMPLETIONS


def complete_transient(state: ElementState) -> ElementState:
    """The state a transient state reaches when its logic finishes (event ``done``)."""
    target = _COMPLETIONS.get(state)
    if target is None:
        raise DomainError(f"state {state.value!r} is not transient; it has no {COMPLETION!r}")
    return target


def is_final(state: ElementState) -> bool:
    """Complete, Stopped and Aborted: the element has ended and only Reset is possible."""
    return state in _FINAL


def is_active(state: ElementState) -> bool:
    """Started and not yet ended: neither Idle nor a final state."""
    return state is not _S.IDLE and state not in _FINAL
