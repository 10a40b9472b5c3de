"""Control recipes: resolved, bound, immutable copies that the master cannot reach."""

from __future__ import annotations

import copy
from typing import Any

import pydantic
import pytest

from mes_runtime.domain.control_recipe import ControlPhase, ControlRecipe, ResolvedParameter
from mes_runtime.domain.errors import RecipeError
from mes_runtime.domain.recipe import Criticality, MasterRecipe

RUN = "procedure/BR-UP/cultivation/run-fedbatch"


def _control(data: dict[str, Any], **kwargs: Any) -> ControlRecipe:
    master = MasterRecipe.model_validate(data)
    return ControlRecipe.from_master(master, batch_id="B-001", bindings={"BR": "BR-101"}, **kwargs)


def test_resolves_formula_and_literals(recipe_data: dict[str, Any]) -> None:
    control = _control(recipe_data)
    run = control.element(RUN)
    assert isinstance(run, ControlPhase)
    assert run.equipment == "BR-101"
    assert run.unit == "BR"
    assert (run.service, run.procedure) == ("Cultivate", "FedBatch")
    assert run.parameter_values() == {"TemperatureSP": 36.5, "Duration": 2.0}
    temp = run.parameters[0]
    assert temp == ResolvedParameter(
        name="TemperatureSP",
        value=36.5,
        unit="degC",
        source="formula:CultTemp",
        low=35.5,
        high=37.5,
        criticality=Criticality.CRITICAL,
    )
    fill = control.element("procedure/BR-UP/cultivation/fill")
    assert isinstance(fill, ControlPhase)
    assert fill.parameters[0].source == "literal"
    assert fill.parameter_values() == {"Volume": 100.0}
    assert [e.path for e in control.elements()] == [
        "procedure",
        "procedure/BR-UP",
        "procedure/BR-UP/cultivation",
        "procedure/BR-UP/cultivation/fill",
        RUN,
    ]
    assert [p.id for p in control.phases()] == ["fill", "run-fedbatch"]
    assert control.equipment_for("BR") == "BR-101"
    assert control.formula_values() == {"formula.CultTemp": 36.5, "formula.Duration": 2.0}
    assert control.master_digest == MasterRecipe.model_validate(recipe_data).digest()
    assert (control.recipe_name, control.recipe_version) == ("mini", 1)


def test_overrides_apply_inside_limits_and_are_recorded(recipe_data: dict[str, Any]) -> None:
    control = _control(recipe_data, overrides={"CultTemp": 37.0})
    run = control.element(RUN)
    assert isinstance(run, ControlPhase)
    assert run.parameter_values()["TemperatureSP"] == 37.0
    assert [(o.name, o.master_value, o.value) for o in control.overrides] == [
        ("CultTemp", 36.5, 37.0)
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"overrides": {"CultTemp": 38.0}}, "outside 35.5..37.5"),
        ({"overrides": {"Nope": 1.0}}, "unknown formula parameters: Nope"),
        ({"bindings": {}}, "without equipment binding: BR"),
    ],
)
def test_refuses_what_cannot_run(
    recipe_data: dict[str, Any], kwargs: dict[str, Any], message: str
) -> None:
    master = MasterRecipe.model_validate(recipe_data)
    arguments: dict[str, Any] = {"batch_id": "B-1", "bindings": {"BR": "BR-101"}, **kwargs}
    with pytest.raises(RecipeError, match=message):
        ControlRecipe.from_master(master, **arguments)


def test_refuses_an_invalid_master(recipe_data: dict[str, Any]) -> None:
    recipe_data["formula"][1]["value"] = 9
    with pytest.raises(RecipeError, match="formula/Duration"):
        _control(recipe_data)


def test_unknown_path_and_unit(recipe_data: dict[str, Any]) -> None:
    control = _control(recipe_data)
    with pytest.raises(RecipeError, match="no element"):
        control.element("procedure/nope")
    with pytest.raises(RecipeError, match="not bound"):
        control.equipment_for("TK")


def test_master_changes_never_reach_the_control_recipe(recipe_data: dict[str, Any]) -> None:
    master = MasterRecipe.model_validate(recipe_data)
    control = ControlRecipe.from_master(master, batch_id="B-1", bindings={"BR": "BR-101"})
    before = control.to_dict()
    # Mutate what is mutable inside the master (the phase's parameter dict) ...
    phase = master.procedure.steps[0].steps[0].steps[1]
    phase.parameters.clear()
    # ... and approve a new version with other values.
    newer_data = copy.deepcopy(recipe_data)
    newer_data["header"]["version"] = 2
    newer_data["formula"][0]["value"] = 37.0
    MasterRecipe.model_validate(newer_data)
    assert control.to_dict() == before
    run = control.element(RUN)
    assert isinstance(run, ControlPhase)
    assert run.parameter_values() == {"TemperatureSP": 36.5, "Duration": 2.0}


def test_is_deeply_frozen(recipe_data: dict[str, Any]) -> None:
    control = _control(recipe_data)
    run = control.element(RUN)
    assert isinstance(run, ControlPhase)
    with pytest.raises(pydantic.ValidationError):
        run.equipment = "BR-102"  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError):
        run.parameters[0].value = 40.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        run.parameters[0] = run.parameters[1]  # type: ignore[index]


def test_round_trips_through_plain_data(recipe_data: dict[str, Any]) -> None:
    control = _control(recipe_data, overrides={"Duration": 3})
    assert ControlRecipe.from_dict(control.to_dict()) == control
