"""The master recipe model: loading, shape checks, canonical JSON and digest."""

from __future__ import annotations

import copy
import json
from typing import Any

import pydantic
import pytest

from mes_runtime.domain.exceptions import RunRule
from mes_runtime.domain.recipe import (
    MasterRecipe,
    MonitorLimit,
    Phase,
    RecipeStatus,
    UnitProcedure,
)


def test_loads_from_plain_data(recipe_data: dict[str, Any]) -> None:
    recipe = MasterRecipe.model_validate(recipe_data)
    assert recipe.header.status is RecipeStatus.DRAFT
    transition = recipe.procedure.steps[0].steps[0].transitions[0]
    assert transition.from_ == ("fill",)
    assert transition.to == ("run-fedbatch",)
    assert recipe.formula_parameter("CultTemp") is not None
    assert recipe.formula_parameter("Nope") is None
    assert recipe.requirement("BR") is not None


def test_element_paths_parents_first(recipe_data: dict[str, Any]) -> None:
    recipe = MasterRecipe.model_validate(recipe_data)
    paths = [path for path, _ in recipe.elements()]
    assert paths == [
        "procedure",
        "procedure/BR-UP",
        "procedure/BR-UP/cultivation",
        "procedure/BR-UP/cultivation/fill",
        "procedure/BR-UP/cultivation/run-fedbatch",
    ]
    phases = list(recipe.phases())
    assert [(p, unit, phase.id) for p, unit, phase in phases] == [
        ("procedure/BR-UP/cultivation/fill", "BR", "fill"),
        ("procedure/BR-UP/cultivation/run-fedbatch", "BR", "run-fedbatch"),
    ]
    assert isinstance(dict(recipe.elements())["procedure/BR-UP"], UnitProcedure)
    assert isinstance(phases[0][2], Phase)


def _set(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    target: Any = data
    keys = dotted.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if isinstance(target, list) else target[key]
    last = keys[-1]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return data


PHASE = "procedure.steps.0.steps.0.steps.1"


@pytest.mark.parametrize(
    ("dotted", "value", "message"),
    [
        ("header.version", 0, "greater than or equal to 1"),
        ("header.status", "released", "draft"),
        ("header.name", "bad/name", "pattern"),
        ("formula.0.low", 40.0, "low 40.0 is greater than high"),
        ("formula.0.criticality", "severe", "critical"),
        (
            f"{PHASE}.parameters.TemperatureSP",
            {"formula": "CultTemp", "value": 1, "unit": "x"},
            "not both",
        ),
        (f"{PHASE}.parameters.TemperatureSP", {}, "not both"),
        (f"{PHASE}.parameters.TemperatureSP", {"value": 36.5}, "both value and unit"),
        (f"{PHASE}.colour", "red", "Extra inputs"),
        (f"{PHASE}.id", "a/b", "pattern"),
        ("equipment.0.capabilities.0.parameters.0.low", 5000, "low 5000.0 > high"),
    ],
)
def test_rejects_bad_shape(
    recipe_data: dict[str, Any], dotted: str, value: Any, message: str
) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        MasterRecipe.model_validate(_set(recipe_data, dotted, value))


def test_is_frozen(recipe_data: dict[str, Any]) -> None:
    recipe = MasterRecipe.model_validate(recipe_data)
    with pytest.raises(pydantic.ValidationError):
        recipe.header.version = 2  # type: ignore[misc]


def test_canonical_json_is_key_order_independent(recipe_data: dict[str, Any]) -> None:
    recipe = MasterRecipe.model_validate(recipe_data)
    reordered = json.loads(json.dumps(recipe_data), object_pairs_hook=lambda p: dict(reversed(p)))
    again = MasterRecipe.model_validate(reordered)
    assert again.to_canonical_json() == recipe.to_canonical_json()
    assert again.digest() == recipe.digest()
    assert '"from":["fill"]' in recipe.to_canonical_json()
    assert MasterRecipe.model_validate(json.loads(recipe.to_canonical_json())) == recipe


def test_digest_follows_content_not_status(recipe_data: dict[str, Any]) -> None:
    recipe = MasterRecipe.model_validate(recipe_data)
    assert recipe.digest().startswith("sha256:")
    assert len(recipe.digest()) == 7 + 64
    approved = copy.deepcopy(recipe_data)
    approved["header"]["status"] = "approved"
    assert MasterRecipe.model_validate(approved).digest() == recipe.digest()
    assert MasterRecipe.model_validate(approved).to_canonical_json() != recipe.to_canonical_json()
    changed = copy.deepcopy(recipe_data)
    changed["formula"][0]["value"] = 36.6
    assert MasterRecipe.model_validate(changed).digest() != recipe.digest()


def test_a_monitor_limit_may_carry_out_of_trend_rules() -> None:
    """``trend`` beside the limits: parsed into the detector's spec; absent, it is left out
    of the canonical form, so a recipe without one keeps the digest it was signed with."""
    plain = MonitorLimit(name="pH", unit="pH", low=6.8, high=7.2)
    assert "trend" not in plain.model_dump(mode="json", by_alias=True)
    watched = MonitorLimit.model_validate(
        {
            "name": "pH",
            "unit": "pH",
            "low": 6.8,
            "high": 7.2,
            "trend": {"center": 7.0, "sigma": 0.01, "rules": ["nelson-1", "nelson-5"]},
        }
    )
    assert watched.trend is not None
    again = MonitorLimit.model_validate(watched.model_dump(mode="json", by_alias=True))
    assert again == watched
    spec = watched.trend.spec("BR-101.pH", "pH")
    assert (spec.parameter, spec.center, spec.sigma) == ("BR-101.pH", 7.0, 0.01)
    assert spec.rules == {RunRule.BEYOND_3_SIGMA, RunRule.TWO_OF_3_BEYOND_2_SIGMA}
    with pytest.raises(pydantic.ValidationError):
        MonitorLimit.model_validate(
            {"name": "pH", "unit": "pH", "trend": {"center": 7.0, "sigma": 0}}
        )
