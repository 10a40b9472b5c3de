"""The 2658-4 service state machine, without any OPC UA."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mes_runtime.mtp.codes import ServiceCommand as C
from mes_runtime.mtp.codes import ServiceState as S
from mes_runtime.simulator.service_machine import (
    COMMAND_ENABLE,
    TRANSIENT_NEXT,
    CommandOrigin,
    OperationMode,
    ServiceMachine,
    Source,
)

EXT = CommandOrigin.EXTERNAL


def automatic_external(**kwargs: object) -> ServiceMachine:
    machine = ServiceMachine(procedure_ids=frozenset({1, 2}), dwell=0.0, **kwargs)  # type: ignore[arg-type]
    assert machine.request_mode(OperationMode.OPERATOR)
    assert machine.request_mode(OperationMode.AUTOMATIC)
    assert machine.request_source(Source.EXTERNAL)
    return machine


def settle(machine: ServiceMachine, duration: float = 100.0) -> None:
    """Let transient states run out (dwell 0), without completing Execute."""
    for _ in range(5):
        machine.advance(0.01, 0.0, duration)


def test_offline_enables_nothing_and_accepts_nothing() -> None:
    machine = ServiceMachine(procedure_ids=frozenset({1}))
    machine.procedure_req = 1
    assert machine.command_enable == 0
    assert not machine.command(C.START, CommandOrigin.OPERATOR)
    assert machine.state is S.IDLE


def test_offline_cannot_jump_to_automatic() -> None:
    machine = ServiceMachine(procedure_ids=frozenset({1}))
    assert not machine.request_mode(OperationMode.AUTOMATIC)
    assert machine.mode is OperationMode.OFFLINE


def test_source_only_in_automatic() -> None:
    machine = ServiceMachine(procedure_ids=frozenset({1}))
    assert not machine.request_source(Source.EXTERNAL)
    machine.request_mode(OperationMode.OPERATOR)
    assert not machine.request_source(Source.EXTERNAL)


def test_start_needs_a_valid_procedure() -> None:
    machine = automatic_external()
    assert not machine.command_enable & C.START
    assert not machine.request_procedure(7, EXT)
    assert machine.procedure_req == 0
    assert not machine.command_enable & C.START
    assert machine.request_procedure(2, EXT)
    assert machine.command_enable & C.START


def test_external_command_refused_in_operator_mode() -> None:
    machine = ServiceMachine(procedure_ids=frozenset({1}), dwell=0.0)
    machine.request_mode(OperationMode.OPERATOR)
    assert not machine.request_procedure(1, EXT)
    assert machine.request_procedure(1, CommandOrigin.OPERATOR)
    assert not machine.command(C.START, EXT)
    assert machine.command(C.START, CommandOrigin.OPERATOR)
    assert machine.state is S.STARTING


def test_internal_source_refuses_external_commands() -> None:
    machine = automatic_external()
    machine.request_procedure(1, EXT)
    machine.request_source(Source.INTERNAL)
    assert not machine.command(C.START, EXT)


def test_full_run_self_completes_and_resets() -> None:
    machine = automatic_external()
    machine.request_procedure(2, EXT)
    assert machine.command(C.START, EXT)
    assert machine.procedure_cur == 2
    machine.advance(0.01, 0.0, 10.0)
    assert machine.state is S.EXECUTE
    assert not machine.command(C.START, EXT)  # Start is not enabled in Execute
    machine.advance(0.01, 6.0, 10.0)
    assert machine.state is S.EXECUTE
    machine.advance(0.01, 6.0, 10.0)
    assert machine.state is S.COMPLETING
    machine.advance(0.01, 0.0, 10.0)
    assert machine.state is S.COMPLETED
    assert machine.command(C.RESET, EXT)
    machine.advance(0.01, 0.0, 10.0)
    assert machine.state is S.IDLE
    assert machine.procedure_cur == 0


def test_held_does_not_progress_and_unhold_resumes() -> None:
    machine = automatic_external()
    machine.request_procedure(1, EXT)
    machine.command(C.START, EXT)
    settle(machine)
    machine.advance(0.01, 4.0, 10.0)
    assert machine.command(C.HOLD, EXT)
    settle(machine)
    assert machine.state is S.HELD
    machine.advance(0.01, 100.0, 10.0)
    assert machine.state is S.HELD
    assert machine.elapsed == pytest.approx(4.0)
    assert machine.command(C.UNHOLD, EXT)
    machine.advance(0.01, 0.0, 10.0)
    assert machine.state is S.EXECUTE


def test_pause_resume() -> None:
    machine = automatic_external()
    machine.request_procedure(1, EXT)
    machine.command(C.START, EXT)
    settle(machine)
    assert machine.command(C.PAUSE, EXT)
    settle(machine)
    assert machine.state is S.PAUSED
    assert not machine.command(C.UNHOLD, EXT)
    assert machine.command(C.RESUME, EXT)
    settle(machine)
    assert machine.state is S.EXECUTE


def test_transients_wait_for_their_dwell() -> None:
    machine = automatic_external()
    machine.dwell = 1.0
    machine.request_procedure(1, EXT)
    machine.command(C.START, EXT)
    machine.advance(0.5, 0.0, 10.0)
    assert machine.state is S.STARTING
    machine.advance(0.6, 0.0, 10.0)
    assert machine.state is S.EXECUTE


def test_offline_only_from_idle() -> None:
    machine = automatic_external()
    machine.request_procedure(1, EXT)
    machine.command(C.START, EXT)
    assert not machine.request_mode(OperationMode.OFFLINE)
    machine.command(C.ABORT, EXT)
    settle(machine)
    assert machine.state is S.ABORTED
    assert not machine.request_mode(OperationMode.OFFLINE)  # only in Idle
    machine.command(C.RESET, EXT)
    settle(machine)
    assert machine.request_mode(OperationMode.OFFLINE)


@pytest.mark.parametrize("state", list(S))
def test_abort_enabled_everywhere_but_aborting_and_aborted(state: S) -> None:
    expected = state not in {S.ABORTING, S.ABORTED}
    assert bool(COMMAND_ENABLE[state] & C.ABORT) is expected


def test_every_transient_state_ends() -> None:
    assert set(TRANSIENT_NEXT) == {
        S.STARTING,
        S.COMPLETING,
        S.PAUSING,
        S.RESUMING,
        S.HOLDING,
        S.UNHOLDING,
        S.STOPPING,
        S.ABORTING,
        S.RESETTING,
    }


@given(st.lists(st.sampled_from(list(C)), max_size=40))
def test_commands_only_change_state_when_enabled(commands: list[C]) -> None:
    machine = automatic_external()
    machine.request_procedure(1, EXT)
    for command in commands:
        before, enabled = machine.state, machine.command_enable
        accepted = machine.command(command, EXT)
        assert accepted == bool(enabled & command)
        if not accepted:
            assert machine.state is before
        machine.advance(0.01, 0.0, 1e9)
