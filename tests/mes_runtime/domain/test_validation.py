"""Recipe validation: one test per kind of problem, each with the path it concerns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mes_runtime.domain.capabilities import (
    Capabilities,
    Capability,
    ParameterSpec,
    ProcessValueSpec,
)
from mes_runtime.domain.recipe import MasterRecipe
from mes_runtime.domain.validation import IssueCode, ValidationIssue, validate_recipe

OP = "procedure/BR-UP/cultivation"
RUN = f"{OP}/run-fedbatch"


def _op(data: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = data["procedure"]["steps"][0]["steps"][0]
    return op


def _phase(data: dict[str, Any], index: int) -> dict[str, Any]:
    phase: dict[str, Any] = _op(data)["steps"][index]
    return phase


def _issues(data: dict[str, Any], **kwargs: Any) -> set[tuple[str, IssueCode]]:
    found = validate_recipe(MasterRecipe.model_validate(data), **kwargs)
    for issue in found:
        assert isinstance(issue, ValidationIssue)
        assert issue.message
    return {(i.path, i.code) for i in found}


def test_valid_recipe_has_no_issues(recipe_data: dict[str, Any]) -> None:
    assert validate_recipe(MasterRecipe.model_validate(recipe_data)) == []


def _extra_step(data: dict[str, Any]) -> None:
    _op(data)["steps"].append(
        {
            "id": "orphan",
            "service": "Prepare",
            "procedure": "Fill",
            "parameters": {"Volume": {"value": 1, "unit": "L"}},
        }
    )
    _op(data)["transitions"].append({"id": "orphan-out", "from": ["orphan"], "to": []})


def _loop(data: dict[str, Any]) -> None:
    """fill -> (run-fedbatch <-> refill) or fill -> end: the loop has no way out."""
    _op(data)["steps"].append(
        {
            "id": "refill",
            "service": "Prepare",
            "procedure": "Fill",
            "parameters": {"Volume": {"value": 1, "unit": "L"}},
        }
    )
    _op(data)["transitions"][1:] = [
        {"id": "again", "from": ["run-fedbatch"], "to": ["refill"]},
        {"id": "back", "from": ["refill"], "to": ["run-fedbatch"]},
        {"id": "skip", "from": ["fill"], "to": []},
    ]


def _dead_end(data: dict[str, Any]) -> None:
    _op(data)["transitions"][1] = {"id": "out", "from": ["fill"], "to": []}
    _op(data)["transitions"][0]["condition"] = None


CASES: list[tuple[str, Callable[[dict[str, Any]], None], set[tuple[str, IssueCode]]]] = [
    (
        "unreachable step",
        _extra_step,
        {(f"{OP}/orphan", IssueCode.UNREACHABLE_STEP)},
    ),
    (
        "loop without exit",
        _loop,
        {
            (f"{OP}/refill", IssueCode.LOOP_WITHOUT_EXIT),
            (f"{OP}/run-fedbatch", IssueCode.LOOP_WITHOUT_EXIT),
        },
    ),
    (
        "dead end",
        _dead_end,
        {(f"{OP}/run-fedbatch", IssueCode.LOOP_WITHOUT_EXIT)},
    ),
    (
        "no end transition",
        lambda d: _op(d)["transitions"].pop(),
        {(OP, IssueCode.NO_END)},
    ),
    (
        "transition to unknown step",
        lambda d: _op(d)["transitions"][0].update(to=["run-fedbach"]),
        {(f"{OP}/transition:filled", IssueCode.UNKNOWN_STEP)},
    ),
    (
        "transition from nothing",
        lambda d: _op(d)["transitions"].append({"id": "x", "from": [], "to": ["fill"]}),
        {(f"{OP}/transition:x", IssueCode.EMPTY_TRANSITION)},
    ),
    (
        "no initial step",
        lambda d: _op(d).update(initial=[]),
        {
            (OP, IssueCode.NO_INITIAL_STEP),
            (f"{OP}/fill", IssueCode.UNREACHABLE_STEP),
            (f"{OP}/run-fedbatch", IssueCode.UNREACHABLE_STEP),
        },
    ),
    (
        "unknown initial step",
        lambda d: _op(d).update(initial=["fil"]),
        {
            (OP, IssueCode.UNKNOWN_STEP),
            (f"{OP}/fill", IssueCode.UNREACHABLE_STEP),
            (f"{OP}/run-fedbatch", IssueCode.UNREACHABLE_STEP),
        },
    ),
    (
        "duplicate step id",
        lambda d: _phase(d, 1).update(id="fill"),
        {
            (f"{OP}/fill", IssueCode.DUPLICATE_ID),
            (f"{OP}/transition:filled", IssueCode.UNKNOWN_STEP),
            (f"{OP}/transition:done", IssueCode.UNKNOWN_STEP),
        },
    ),
    (
        "unknown formula parameter",
        lambda d: _phase(d, 1)["parameters"].update(TemperatureSP={"formula": "CultTmp"}),
        {(f"{RUN}/TemperatureSP", IssueCode.UNKNOWN_FORMULA_PARAMETER)},
    ),
    (
        "unknown unit in condition",
        lambda d: _op(d)["transitions"][0].update(condition="XX.Temperature > 1"),
        {(f"{OP}/transition:filled", IssueCode.UNKNOWN_NAME)},
    ),
    (
        "unknown process value in condition",
        lambda d: _op(d)["transitions"][0].update(condition="BR.Temperatur > 1"),
        {(f"{OP}/transition:filled", IssueCode.UNKNOWN_NAME)},
    ),
    (
        "unknown formula name in condition",
        lambda d: _op(d)["transitions"][0].update(condition="BR.Temperature > formula.X"),
        {(f"{OP}/transition:filled", IssueCode.UNKNOWN_NAME)},
    ),
    (
        "condition syntax",
        lambda d: _op(d)["transitions"][0].update(condition="BR.Temperature > max(1, 2)"),
        {(f"{OP}/transition:filled", IssueCode.CONDITION_SYNTAX)},
    ),
    (
        "formula unit mismatch",
        lambda d: d["formula"][0].update(unit="degF", value=97, low=95, high=99),
        {(f"{RUN}/TemperatureSP", IssueCode.UNIT_MISMATCH)},
    ),
    (
        "literal unit mismatch",
        lambda d: _phase(d, 0)["parameters"].update(Volume={"value": 100, "unit": "mL"}),
        {(f"{OP}/fill/Volume", IssueCode.UNIT_MISMATCH)},
    ),
    (
        "literal outside equipment limits",
        lambda d: _phase(d, 0)["parameters"].update(Volume={"value": 2500, "unit": "L"}),
        {(f"{OP}/fill/Volume", IssueCode.LITERAL_OUT_OF_LIMITS)},
    ),
    (
        "formula value outside equipment limits",
        lambda d: d["formula"][0].update(value=41, high=45),
        {(f"{RUN}/TemperatureSP", IssueCode.FORMULA_OUT_OF_LIMITS)},
    ),
    (
        "formula value outside its own limits",
        lambda d: d["formula"][1].update(value=5),
        {("formula/Duration", IssueCode.FORMULA_OUT_OF_LIMITS)},
    ),
    (
        "missing equipment capability",
        lambda d: _phase(d, 1).update(service="Harvest", procedure="Harvest", parameters={}),
        {(RUN, IssueCode.MISSING_CAPABILITY)},
    ),
    (
        "parameter the capability does not have",
        lambda d: _phase(d, 0)["parameters"].update(Speed={"value": 1, "unit": "rpm"}),
        {(f"{OP}/fill/Speed", IssueCode.UNKNOWN_PARAMETER)},
    ),
    (
        "unit procedure on a unit without requirement",
        lambda d: d["procedure"]["steps"][0].update(unit="XR"),
        {("procedure/BR-UP", IssueCode.UNKNOWN_UNIT)},
    ),
    (
        "monitor on an unknown process value",
        lambda d: _phase(d, 1)["monitor"][0].update(name="Temp"),
        {(f"{RUN}/monitor/Temp", IssueCode.UNKNOWN_NAME)},
    ),
    (
        "monitor in the wrong unit",
        lambda d: _phase(d, 1)["monitor"][0].update(unit="K", low=300, high=310),
        {(f"{RUN}/monitor/Temperature", IssueCode.UNIT_MISMATCH)},
    ),
    (
        "duplicate formula parameter",
        lambda d: d["formula"].append(dict(d["formula"][1])),
        {("formula/Duration", IssueCode.DUPLICATE_ID)},
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_reports_each_problem_at_its_path(
    recipe_data: dict[str, Any],
    mutate: Callable[[dict[str, Any]], None],
    expected: set[tuple[str, IssueCode]],
) -> None:
    mutate(recipe_data)
    assert _issues(recipe_data) == expected


def test_reports_every_problem_not_just_the_first(recipe_data: dict[str, Any]) -> None:
    _phase(recipe_data, 0)["parameters"].update(Volume={"value": 2500, "unit": "L"})
    recipe_data["formula"][1].update(value=5)
    _op(recipe_data)["transitions"][0].update(condition="BR.Nope > 1")
    codes = {code for _, code in _issues(recipe_data)}
    assert codes == {
        IssueCode.LITERAL_OUT_OF_LIMITS,
        IssueCode.FORMULA_OUT_OF_LIMITS,
        IssueCode.UNKNOWN_NAME,
    }


def _offer(*, fedbatch_temp_unit: str = "degC", with_pv: bool = True) -> Capabilities:
    return Capabilities(
        procedures=(
            Capability(
                service="Prepare",
                procedure="Fill",
                parameters=(ParameterSpec(name="Volume", unit="L"),),
            ),
            Capability(
                service="Cultivate",
                procedure="FedBatch",
                parameters=(
                    ParameterSpec(name="TemperatureSP", unit=fedbatch_temp_unit),
                    ParameterSpec(name="Duration", unit="h"),
                    ParameterSpec(name="FeedRate", unit="L/h"),
                ),
            ),
        ),
        process_values=(ProcessValueSpec(name="Temperature", unit="degC"),) if with_pv else (),
    )


def test_available_equipment_that_fits(recipe_data: dict[str, Any]) -> None:
    available = {"TK-201": Capabilities(), "BR-101": _offer()}
    assert _issues(recipe_data, available=available) == set()


@pytest.mark.parametrize(
    ("available", "reason"),
    [
        ({}, "no equipment available"),
        ({"BR-101": _offer(fedbatch_temp_unit="K")}, "TemperatureSP' is in 'K'"),
        ({"BR-101": _offer(with_pv=False)}, "no process value 'Temperature'"),
        ({"TK-201": Capabilities()}, "no procedure Prepare/Fill"),
    ],
)
def test_unit_no_available_equipment_satisfies(
    recipe_data: dict[str, Any], available: dict[str, Capabilities], reason: str
) -> None:
    issues = validate_recipe(MasterRecipe.model_validate(recipe_data), available=available)
    assert [(i.path, i.code) for i in issues] == [("equipment/BR", IssueCode.NO_EQUIPMENT)]
    assert reason in issues[0].message


def test_condition_may_read_formula_and_declared_process_values(
    recipe_data: dict[str, Any],
) -> None:
    _op(recipe_data)["transitions"][0]["condition"] = (
        "BR.Temperature >= formula.CultTemp or not BR.Temperature < 30"
    )
    assert _issues(recipe_data) == set()
