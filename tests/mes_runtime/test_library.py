"""The shipped recipe templates: they load, validate, fit the simulated plant, and run."""

from __future__ import annotations

import pytest

from mes_runtime.domain import (
    Capabilities,
    Capability,
    ControlPhase,
    ControlRecipe,
    ElementState,
    GraphRun,
    ParameterSpec,
    ProcessValueSpec,
    validate_recipe,
)
from mes_runtime.library import TemplateNotFound, load_template, load_templates, template_names


def _cap(service: str, procedure: str, *params: tuple[str, str, float, float]) -> Capability:
    return Capability(
        service=service,
        procedure=procedure,
        parameters=tuple(ParameterSpec(name=n, unit=u, low=lo, high=hi) for n, u, lo, hi in params),
    )


def _pvs(*pairs: tuple[str, str]) -> tuple[ProcessValueSpec, ...]:
    return tuple(ProcessValueSpec(name=n, unit=u) for n, u in pairs)


_COLUMN = (("FlowRate", "mL/min", 0, 1000), ("Volume", "CV", 0, 50))

#: The simulated plant, transcribed from the equipment contract (helper-briefs), not from
#: the templates: what the MTP manifests of TK-201, BR-101 and CH-301 will offer.
CONTRACT: dict[str, Capabilities] = {
    "TK-201": Capabilities(
        procedures=(
            _cap("Charge", "ChargeWater", ("Volume", "L", 0, 2000)),
            _cap("Mix", "Mix", ("AgitatorSpeed", "rpm", 0, 300), ("Duration", "min", 0, 240)),
            _cap("AdjustPH", "Titrate", ("TargetPH", "pH", 2, 12)),
        ),
        process_values=_pvs(
            ("Level", "L"), ("pH", "pH"), ("Conductivity", "mS/cm"), ("Temperature", "degC")
        ),
    ),
    "BR-101": Capabilities(
        procedures=(
            _cap("Prepare", "Fill", ("Volume", "L", 0, 2000), ("Temperature", "degC", 20, 40)),
            _cap(
                "Cultivate",
                "FedBatch",
                ("TemperatureSP", "degC", 30, 40),
                ("pHSP", "pH", 6.5, 7.5),
                ("DOSP", "%", 10, 80),
                ("AgitatorSpeed", "rpm", 50, 300),
                ("Duration", "h", 0, 400),
                ("FeedRate", "L/h", 0, 20),
            ),
            _cap("Harvest", "Harvest", ("Volume", "L", 0, 2000), ("FlowRate", "L/min", 0, 50)),
        ),
        process_values=_pvs(
            ("Temperature", "degC"),
            ("pH", "pH"),
            ("DO", "%"),
            ("AgitatorSpeed", "rpm"),
            ("Volume", "L"),
            ("VCD", "1e6 cells/mL"),
        ),
    ),
    "CH-301": Capabilities(
        procedures=tuple(
            _cap("Chromatography", p, *_COLUMN) for p in ("Equilibrate", "Load", "Wash", "Elute")
        ),
        process_values=_pvs(
            ("UV280", "mAU"), ("Pressure", "bar"), ("Conductivity", "mS/cm"), ("pH", "pH")
        ),
    ),
}

BINDINGS = {"TK": "TK-201", "BR": "BR-101", "CH": "CH-301"}


def test_ships_the_main_and_smaller_templates() -> None:
    assert template_names() == [
        "bioreactor-fedbatch",
        "buffer-prep-only",
        "mab-fedbatch-demo",
        "protein-a-capture",
    ]
    assert [t.header.name for t in load_templates()] == template_names()


@pytest.mark.parametrize("name", template_names())
def test_template_is_valid_on_the_simulated_plant(name: str) -> None:
    template = load_template(name)
    assert template.header.name == name
    assert validate_recipe(template) == []
    assert validate_recipe(template, available=CONTRACT) == []


@pytest.mark.parametrize("name", template_names())
def test_every_phase_fits_the_contract_limits(name: str) -> None:
    control = ControlRecipe.from_master(load_template(name), batch_id="B-1", bindings=BINDINGS)
    for phase in control.phases():
        offer = CONTRACT[phase.equipment].find(phase.service, phase.procedure)
        assert offer is not None, phase.path
        for param in phase.parameters:
            spec = offer.parameter(param.name)
            assert spec is not None, f"{phase.path}/{param.name}"
            assert spec.unit == param.unit, f"{phase.path}/{param.name}"
            assert spec.within(param.value), f"{phase.path}/{param.name}"


def test_template_missing_equipment_is_reported() -> None:
    plant = {k: v for k, v in CONTRACT.items() if k != "CH-301"}
    issues = validate_recipe(load_template("mab-fedbatch-demo"), available=plant)
    assert [(i.path, i.code.value) for i in issues] == [("equipment/CH", "no-equipment")]


def test_unknown_template() -> None:
    with pytest.raises(TemplateNotFound, match="mab-fedbatch-demo"):
        load_template("nope")


def test_main_template_has_parallel_prep_and_a_condition() -> None:
    template = load_template("mab-fedbatch-demo")
    control = ControlRecipe.from_master(template, batch_id="B-7", bindings=BINDINGS)
    run = GraphRun(control.procedure)
    assert run.start() == ["TK-UP", "BR-PREP"]
    run.step_finished("BR-PREP", ElementState.COMPLETE)
    assert run.advance({"BR.Temperature": 36.5}).start == []  # and-join waits for TK-UP
    run.step_finished("TK-UP", ElementState.COMPLETE)
    assert run.advance({"BR.Temperature": 30.0}).start == []  # too cold to inoculate
    assert run.advance({"BR.Temperature": 36.5}).start == ["BR-UP"]
    fedbatch = control.element("procedure/BR-UP/cultivation/run-fedbatch")
    assert isinstance(fedbatch, ControlPhase)
    assert fedbatch.equipment == "BR-101"
    assert fedbatch.parameter_values()["Duration"] == 24
    assert fedbatch.parameter_values()["TemperatureSP"] == 36.5
