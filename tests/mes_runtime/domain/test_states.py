"""The ISA-88 procedural state machine against an independently written table."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mes_runtime.domain.errors import CommandNotAllowed, DomainError
from mes_runtime.domain.states import (
    Command,
    ElementState,
    allowed_commands,
    apply_command,
    complete_transient,
    is_active,
    is_final,
    is_transient,
)

# Written out row by row from the ISA-88.01 state transition matrix (not generated from
# the module's groups): state -> {command: next state}. Absent pairs are rejected.
EXPECTED: dict[str, dict[str, str]] = {
    "idle": {"start": "running"},
    "running": {"pause": "pausing", "hold": "holding", "stop": "stopping", "abort": "aborting"},
    "complete": {"reset": "idle"},
    "pausing": {"hold": "holding", "stop": "stopping", "abort": "aborting"},
    "paused": {"resume": "running", "hold": "holding", "stop": "stopping", "abort": "aborting"},
    "holding": {"stop": "stopping", "abort": "aborting"},
    "held": {"restart": "restarting", "stop": "stopping", "abort": "aborting"},
    "restarting": {"hold": "holding", "stop": "stopping", "abort": "aborting"},
    "stopping": {"abort": "aborting"},
    "stopped": {"reset": "idle"},
    "aborting": {},
    "aborted": {"reset": "idle"},
}

EXPECTED_DONE = {
    "running": "complete",
    "pausing": "paused",
    "holding": "held",
    "restarting": "running",
    "stopping": "stopped",
    "aborting": "aborted",
}

PAIRS = [(state, command) for state in ElementState for command in Command]


def test_table_covers_every_state() -> None:
    assert set(EXPECTED) == {s.value for s in ElementState}
    assert len(PAIRS) == 12 * 9  # complete is no ISA-88 transition: refused in every state


@pytest.mark.parametrize(("state", "command"), PAIRS)
def test_every_state_command_pair(state: ElementState, command: Command) -> None:
    expected = EXPECTED[state.value].get(command.value)
    if expected is None:
        assert command not in allowed_commands(state)
        with pytest.raises(CommandNotAllowed) as info:
            apply_command(state, command)
        message = str(info.value)
        assert state.value in message
        assert command.value in message
        for allowed in EXPECTED[state.value]:
            assert allowed in message
    else:
        assert command in allowed_commands(state)
        assert apply_command(state, command) is ElementState(expected)


@pytest.mark.parametrize("state", list(ElementState))
def test_allowed_commands_match_table(state: ElementState) -> None:
    assert allowed_commands(state) == frozenset(Command(c) for c in EXPECTED[state.value])


@pytest.mark.parametrize("state", list(ElementState))
def test_completion_of_transient_states(state: ElementState) -> None:
    expected = EXPECTED_DONE.get(state.value)
    assert is_transient(state) is (expected is not None)
    if expected is None:
        with pytest.raises(DomainError, match=state.value):
            complete_transient(state)
    else:
        assert complete_transient(state) is ElementState(expected)


@pytest.mark.parametrize("state", list(ElementState))
def test_final_and_active(state: ElementState) -> None:
    final = state.value in {"complete", "stopped", "aborted"}
    assert is_final(state) is final
    assert is_active(state) is (not final and state.value != "idle")


def test_command_not_allowed_is_a_domain_error_and_lists_none() -> None:
    with pytest.raises(DomainError, match=r"allowed: none"):
        apply_command(ElementState.ABORTING, Command.STOP)


_EVENTS = st.lists(st.one_of(st.sampled_from(list(Command)), st.just("done")), max_size=60)


@settings(deadline=None)  # shared CI cores: no timing in tests
@given(_EVENTS)
def test_random_sequences_stay_in_defined_states(events: list[Command | str]) -> None:
    state = ElementState.IDLE
    for event in events:
        before = state
        if event == "done":
            if is_transient(state):
                state = complete_transient(state)
            else:
                with pytest.raises(DomainError):
                    complete_transient(state)
        else:
            assert isinstance(event, Command)
            try:
                state = apply_command(state, event)
            except CommandNotAllowed:
                assert state is before  # a rejected command never changes state
                assert event not in allowed_commands(state)
            else:
                assert event in allowed_commands(before)
        assert state in set(ElementState)


@settings(deadline=None)  # shared CI cores: no timing in tests
@given(_EVENTS)
def test_every_state_can_still_reach_idle(events: list[Command | str]) -> None:
    """Liveness: whatever happened, abort/stop + done + reset brings the element back."""
    state = ElementState.IDLE
    for event in events:
        if event == "done" and is_transient(state):
            state = complete_transient(state)
        elif isinstance(event, Command) and event in allowed_commands(state):
            state = apply_command(state, event)
    for _ in range(4):
        if state is ElementState.IDLE:
            break
        if Command.RESET in allowed_commands(state):
            state = apply_command(state, Command.RESET)
        elif Command.ABORT in allowed_commands(state):
            state = apply_command(state, Command.ABORT)
        else:
            state = complete_transient(state)
    assert state is ElementState.IDLE
