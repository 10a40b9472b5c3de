"""The MTP service state machine (VDI/VDE/NAMUR 2658-4), pure: no I/O, no clock.

One :class:`ServiceMachine` per service holds the state (``StateCur``), the operation
mode (Offline / Operator / Automatic) and source (Internal / External), the requested and
current procedure, and how far the running procedure has got. The OPC UA server feeds it
requests and writes its outputs; tests drive it directly.

Rules implemented (2658-4):

* ``CommandEn`` is the mask of commands the state allows; it is 0 while Offline, and Start
  (and Restart) are only enabled once a valid procedure is requested (``ProcedureReq``;
  an unknown id sets it to 0). Offline may be entered only in Idle.
* A command is accepted only from the origin that owns the service: the operator
  (``CommandOp``) in Operator mode, the orchestration layer (``CommandExt``) in Automatic
  mode with External source, the module itself (``CommandInt``) in Automatic/Internal.
* Transient states (Starting, Completing, Pausing, ...) end by themselves after a short
  dwell; Execute self-completes once the procedure's simulated duration is reached.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from mes_runtime.mtp.codes import ServiceCommand, ServiceState

__all__ = [
    "COMMAND_ENABLE",
    "TRANSIENT_NEXT",
    "CommandOrigin",
    "OperationMode",
    "ServiceMachine",
    "Source",
]

S = ServiceState
C = ServiceCommand


class OperationMode(IntEnum):
    OFFLINE = 1
    OPERATOR = 2
    AUTOMATIC = 3


class Source(IntEnum):
    INTERNAL = 1
    EXTERNAL = 2


class CommandOrigin(IntEnum):
    OPERATOR = 1
    EXTERNAL = 2
    INTERNAL = 3


_STOPPABLE = {
    S.IDLE,
    S.STARTING,
    S.EXECUTE,
    S.COMPLETING,
    S.COMPLETED,
    S.PAUSING,
    S.PAUSED,
    S.RESUMING,
    S.HOLDING,
    S.HELD,
    S.UNHOLDING,
    S.RESETTING,
}

#: state -> command -> next state.
_TRANSITIONS: dict[ServiceState, dict[ServiceCommand, ServiceState]] = {
    S.IDLE: {C.START: S.STARTING},
    S.EXECUTE: {
        C.COMPLETE: S.COMPLETING,
        C.HOLD: S.HOLDING,
        C.PAUSE: S.PAUSING,
        C.RESTART: S.STARTING,
    },
    S.STARTING: {C.HOLD: S.HOLDING},
    S.COMPLETING: {C.HOLD: S.HOLDING},
    S.PAUSING: {C.HOLD: S.HOLDING},
    S.PAUSED: {C.RESUME: S.RESUMING, C.HOLD: S.HOLDING},
    S.RESUMING: {C.HOLD: S.HOLDING},
    S.UNHOLDING: {C.HOLD: S.HOLDING},
    S.HELD: {C.UNHOLD: S.UNHOLDING},
    S.COMPLETED: {C.RESET: S.RESETTING},
    S.STOPPED: {C.RESET: S.RESETTING},
    S.ABORTED: {C.RESET: S.RESETTING},
}
for _state in S:
    _TRANSITIONS.setdefault(_state, {})
    if _state in _STOPPABLE:
        _TRANSITIONS[_state][C.STOP] = S.STOPPING
    if _state not in {S.ABORTING, S.ABORTED}:
        _TRANSITIONS[_state][C.ABORT] = S.ABORTING

#: state -> bit mask of commands the state allows.
COMMAND_ENABLE: dict[ServiceState, int] = {
    state: sum(int(command) for command in commands) for state, commands in _TRANSITIONS.items()
}

#: transient state -> the state it ends in by itself.
TRANSIENT_NEXT: dict[ServiceState, ServiceState] = {
    S.STARTING: S.EXECUTE,
    S.COMPLETING: S.COMPLETED,
    S.PAUSING: S.PAUSED,
    S.RESUMING: S.EXECUTE,
    S.HOLDING: S.HELD,
    S.UNHOLDING: S.EXECUTE,
    S.STOPPING: S.STOPPED,
    S.ABORTING: S.ABORTED,
    S.RESETTING: S.IDLE,
}


@dataclass(slots=True)
class ServiceMachine:
    """State, operation mode, source and procedure progress of one service."""

    procedure_ids: frozenset[int]
    dwell: float = 0.05
    state: ServiceState = S.IDLE
    mode: OperationMode = OperationMode.OFFLINE
    source: Source = Source.INTERNAL
    procedure_req: int = 0
    procedure_cur: int = 0
    elapsed: float = 0.0
    _in_state: float = field(default=0.0, repr=False)
    #: every command the service accepted, in order (what tests check reached the module)
    history: list[ServiceCommand] = field(default_factory=list, repr=False)
    #: every state the service entered, in order (a state may last less than a poll)
    states: list[ServiceState] = field(default_factory=list, repr=False)

    @property
    def command_enable(self) -> int:
        if self.mode is OperationMode.OFFLINE:
            return 0
        mask = COMMAND_ENABLE[self.state]
        if self.procedure_req not in self.procedure_ids:
            mask &= ~(int(C.START) | int(C.RESTART))
        return mask

    def owner(self) -> CommandOrigin | None:
        """Who may command the service now."""
        if self.mode is OperationMode.OPERATOR:
            return CommandOrigin.OPERATOR
        if self.mode is OperationMode.AUTOMATIC:
            return (
                CommandOrigin.EXTERNAL if self.source is Source.EXTERNAL else CommandOrigin.INTERNAL
            )
        return None

    def request_mode(self, mode: OperationMode) -> bool:
        """Operator request (``StateOffOp``/``StateOpOp``/``StateAutOp``)."""
        allowed = {
            OperationMode.OFFLINE: {OperationMode.OPERATOR},
            OperationMode.OPERATOR: {OperationMode.OFFLINE, OperationMode.AUTOMATIC},
            OperationMode.AUTOMATIC: {OperationMode.OFFLINE, OperationMode.OPERATOR},
        }[self.mode]
        if mode not in allowed:
            return False
        if mode is OperationMode.OFFLINE and self.state is not S.IDLE:
            return False  # a service may go Offline only in Idle
        self.mode = mode
        return True

    def request_source(self, source: Source) -> bool:
        """Source request (``SrcExtOp``/``SrcIntOp``); only meaningful in Automatic."""
        if self.mode is not OperationMode.AUTOMATIC:
            return False
        self.source = source
        return True

    def request_procedure(self, procedure_id: int, origin: CommandOrigin) -> bool:
        """``Procedure*`` write of the owning source; an unknown id requests nothing
        (``ProcedureReq`` = 0), so Start stays disabled."""
        if origin is not self.owner():
            return False
        valid = procedure_id in self.procedure_ids
        self.procedure_req = procedure_id if valid else 0
        return valid

    def command(self, command: int, origin: CommandOrigin) -> bool:
        """Apply one command; False when the origin does not own the service, the command
        is unknown or ``CommandEn`` does not enable it."""
        if origin is not self.owner():
            return False
        try:
            cmd = ServiceCommand(command)
        except ValueError:
            return False
        if not self.command_enable & int(cmd):
            return False
        target = _TRANSITIONS[self.state][cmd]
        self.history.append(cmd)
        if cmd in {C.START, C.RESTART}:
            self.procedure_cur = self.procedure_req
            self.elapsed = 0.0
        self._enter(target)
        return True

    def advance(self, real_dt: float, sim_dt: float, duration: float) -> None:
        """Let time pass: transient states end after ``dwell`` real seconds, Execute
        accumulates simulated time and completes when it reaches ``duration``."""
        self._in_state += real_dt
        if self.state is S.EXECUTE:
            self.elapsed += sim_dt
            if self.elapsed >= duration:
                self._enter(S.COMPLETING)
        elif self.state in TRANSIENT_NEXT and self._in_state >= self.dwell:
            following = TRANSIENT_NEXT[self.state]
            if following is S.IDLE:
                self.procedure_cur = 0
                self.elapsed = 0.0
            self._enter(following)

    def _enter(self, state: ServiceState) -> None:
        self.state = state
        self._in_state = 0.0
        self.states.append(state)
