"""The SFC runner: sequencing, and/or splits and joins, conditions, interrupts, resume."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mes_runtime.domain.errors import ExecutionError
from mes_runtime.domain.execution import GraphRun, StepStatus
from mes_runtime.domain.recipe import Transition
from mes_runtime.domain.states import ElementState
from mes_runtime.library import load_template

DONE = ElementState.COMPLETE
_DEMO = load_template("mab-fedbatch-demo").procedure


@dataclass(frozen=True)
class _Step:
    id: str


@dataclass(frozen=True)
class _Graph:
    steps: tuple[_Step, ...]
    initial: tuple[str, ...]
    transitions: tuple[Transition, ...]


def graph(
    steps: str, initial: str, *transitions: tuple[str, str, str] | tuple[str, str, str, str]
) -> _Graph:
    """``graph("a b c", "a", ("t1", "a", "b"), ("t2", "b", "", "X.y > 1"))``."""
    return _Graph(
        steps=tuple(_Step(s) for s in steps.split()),
        initial=tuple(initial.split()),
        transitions=tuple(
            Transition.model_validate(
                {
                    "id": t[0],
                    "from": t[1].split(),
                    "to": t[2].split(),
                    "condition": t[3] if len(t) > 3 else None,
                }
            )
            for t in transitions
        ),
    )


def test_linear_chain_runs_in_order() -> None:
    run = GraphRun(graph("a b c", "a", ("t1", "a", "b"), ("t2", "b", "c"), ("t3", "c", "")))
    assert run.start() == ["a"]
    assert run.advance({}).start == []  # a still running
    order = ["a"]
    while not run.ended:
        run.step_finished(order[-1], DONE)
        result = run.advance({})
        order += result.start
    assert order == ["a", "b", "c"]
    assert run.fired == ["t1", "t2", "t3"]
    assert run.active_steps() == []


@settings(deadline=None)  # shared CI cores: no timing in tests
@given(st.integers(min_value=1, max_value=30))
def test_any_linear_chain_visits_every_step_once(n: int) -> None:
    names = [f"s{i}" for i in range(n)]
    transitions = [(f"t{i}", names[i], names[i + 1]) for i in range(n - 1)]
    run = GraphRun(graph(" ".join(names), "s0", *transitions, ("end", names[-1], "")))
    visited = run.start()
    while not run.ended:
        run.step_finished(visited[-1], DONE)
        visited += run.advance({}).start
    assert visited == names


def test_and_split_starts_both_and_join_waits_for_both() -> None:
    run = GraphRun(
        graph("a b c d", "a", ("split", "a", "b c"), ("join", "b c", "d"), ("end", "d", ""))
    )
    run.start()
    run.step_finished("a", DONE)
    assert run.advance({}).start == ["b", "c"]
    run.step_finished("c", DONE)
    waiting = run.advance({})
    assert waiting.start == []
    assert not waiting.ended
    assert run.status("c") is StepStatus.FINISHED
    run.step_finished("b", DONE)
    assert run.advance({}).start == ["d"]


def test_parallel_initial_steps_and_join_with_condition() -> None:
    run = GraphRun(
        graph("a b c", "a b", ("go", "a b", "c", "BR.Temperature >= 35.5"), ("end", "c", ""))
    )
    assert run.start() == ["a", "b"]
    run.step_finished("a", DONE)
    run.step_finished("b", DONE)
    cold = run.advance({"BR.Temperature": 30.0})
    assert cold.start == []
    assert cold.waiting_on == frozenset()
    unknown = run.advance({})
    assert unknown.start == []
    assert unknown.waiting_on == frozenset({"BR.Temperature"})
    warm = run.advance({"BR.Temperature": 35.6})
    assert warm.start == ["c"]
    assert warm.fired == ["go"]


@pytest.mark.parametrize(
    ("vcd", "chosen"),
    [(6.0, "harvest"), (3.0, "extend")],
)
def test_or_split_takes_the_first_enabled_in_declared_order(vcd: float, chosen: str) -> None:
    run = GraphRun(
        graph(
            "cult extend harvest",
            "cult",
            ("enough", "cult", "harvest", "BR.VCD >= 5"),
            ("more", "cult", "extend", "True"),
            ("then", "extend", "harvest"),
            ("end", "harvest", ""),
        )
    )
    run.start()
    run.step_finished("cult", DONE)
    result = run.advance({"BR.VCD": vcd})
    assert result.start == [chosen]
    assert len(result.fired) == 1
    assert run.status("cult") is StepStatus.INACTIVE


def test_or_join_activates_the_step_once() -> None:
    run = GraphRun(
        graph("a b c", "a b", ("from-a", "a", "c"), ("from-b", "b", "c"), ("end", "c", ""))
    )
    run.start()
    run.step_finished("a", DONE)
    run.step_finished("b", DONE)
    result = run.advance({})
    assert result.start == ["c"]
    assert result.fired == ["from-a", "from-b"]


def test_a_loop_reactivates_a_step() -> None:
    run = GraphRun(
        graph("a b", "a", ("next", "a", "b"), ("again", "b", "a", "U.n < 2"), ("end", "b", ""))
    )
    run.start()
    starts = ["a"]
    for n in (0, 1, 2):
        run.step_finished("a", DONE)
        starts += run.advance({"U.n": n}).start
        run.step_finished("b", DONE)
        starts += run.advance({"U.n": n}).start
    assert starts == ["a", "b", "a", "b", "a", "b"]
    assert run.ended


@pytest.mark.parametrize(
    ("finals", "interrupt"),
    [
        ([ElementState.STOPPED], ElementState.STOPPING),
        ([ElementState.ABORTED], ElementState.ABORTING),
        ([ElementState.STOPPED, ElementState.ABORTED], ElementState.ABORTING),
        ([ElementState.ABORTED, ElementState.STOPPED], ElementState.ABORTING),
    ],
)
def test_stopped_or_aborted_step_interrupts_the_parent(
    finals: list[ElementState], interrupt: ElementState
) -> None:
    run = GraphRun(graph("a b c", "a b", ("t", "a b", "c"), ("end", "c", "")))
    run.start()
    for step, final in zip(("a", "b"), finals, strict=False):
        run.step_finished(step, final)
    if len(finals) == 1:
        run.step_finished("b", DONE)
    result = run.advance({})
    assert result.interrupt is interrupt
    assert result.start == []
    assert not result.ended
    assert result.fired == []


def test_end_transition_ends_and_nothing_fires_after() -> None:
    run = GraphRun(graph("a b", "a", ("end", "a", ""), ("never", "a", "b")))
    run.start()
    run.step_finished("a", DONE)
    result = run.advance({})
    assert result.ended
    assert result.start == []
    assert result.fired == ["end"]
    again = run.advance({})
    assert again.ended
    assert again.fired == []


def test_misuse_is_refused() -> None:
    with pytest.raises(ExecutionError, match="unknown step 'zz'"):
        GraphRun(graph("a", "a", ("t", "a", "zz")))
    run = GraphRun(graph("a b", "a", ("t", "a", "b"), ("end", "b", "")))
    with pytest.raises(ExecutionError, match="not started"):
        run.advance({})
    run.start()
    with pytest.raises(ExecutionError, match="already started"):
        run.start()
    with pytest.raises(ExecutionError, match="unknown step"):
        run.step_finished("x", DONE)
    with pytest.raises(ExecutionError, match="not active"):
        run.step_finished("b", DONE)
    with pytest.raises(ExecutionError, match="not a final state"):
        run.step_finished("a", ElementState.HELD)
    run.step_finished("a", DONE)
    with pytest.raises(ExecutionError, match="finished, not active"):
        run.step_finished("a", DONE)


def _drive(run: GraphRun, plan: list[tuple[str, float]], resume_at: int, element: Any) -> list[Any]:
    """Finish active steps in the given order, snapshotting and restoring at ``resume_at``."""
    trace: list[Any] = []
    for i, (pick, temperature) in enumerate(plan):
        if i == resume_at:
            run = GraphRun.from_dict(element, json.loads(json.dumps(run.to_dict())))
        active = run.active_steps()
        if active:
            run.step_finished(active[int(pick) % len(active)], DONE)
        result = run.advance({"BR.Temperature": temperature})
        trace.append((result.start, result.ended, result.fired, sorted(run.active_steps())))
    return trace


@settings(deadline=None)  # shared CI cores: no timing in tests
@given(
    st.lists(st.tuples(st.sampled_from("0123"), st.sampled_from([30.0, 36.0])), max_size=25),
    st.integers(min_value=0, max_value=25),
)
def test_resume_after_restart_behaves_like_no_restart(
    plan: list[tuple[str, float]], resume_at: int
) -> None:
    element = _DEMO
    first = GraphRun(element)
    first.start()
    second = GraphRun(element)
    second.start()
    assert _drive(first, plan, len(plan) + 1, element) == _drive(second, plan, resume_at, element)


def test_from_dict_refuses_state_of_another_graph() -> None:
    run = GraphRun(graph("a b", "a", ("t", "a", "b"), ("end", "b", "")))
    run.start()
    other = graph("x", "x", ("end", "x", ""))
    with pytest.raises(ExecutionError, match="does not match"):
        GraphRun.from_dict(other, run.to_dict())


def test_state_is_inspectable() -> None:
    run = GraphRun(graph("a b", "a", ("t", "a", "b"), ("end", "b", "")))
    assert not run.started
    run.start()
    run.step_finished("a", ElementState.STOPPED)
    assert run.started
    assert run.interrupt is ElementState.STOPPING
    assert run.final_state("a") is ElementState.STOPPED
    assert run.final_state("b") is None
    assert run.to_dict() == {
        "started": True,
        "ended": False,
        "interrupt": "stopping",
        "fired": [],
        "steps": {
            "a": {"status": "finished", "final": "stopped"},
            "b": {"status": "inactive", "final": None},
        },
    }
