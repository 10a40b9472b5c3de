"""A module model: service machines, parameters and dynamics together."""

from __future__ import annotations

import pytest

from mes_runtime.mtp.codes import ServiceCommand as C
from mes_runtime.mtp.codes import ServiceState as S
from mes_runtime.simulator.contract import CONTRACT_MODULES
from mes_runtime.simulator.model import ModuleModel
from mes_runtime.simulator.service_machine import CommandOrigin, OperationMode, Source

EXT = CommandOrigin.EXTERNAL


def take(model: ModuleModel, service: str) -> None:
    machine = model.machines[service]
    machine.request_mode(OperationMode.OPERATOR)
    machine.request_mode(OperationMode.AUTOMATIC)
    machine.request_source(Source.EXTERNAL)


def test_parameters_only_from_the_owner_and_in_range() -> None:
    model = ModuleModel(CONTRACT_MODULES["TK-201"])
    assert not model.apply_parameter("Charge", "ChargeWater", "Volume", 100.0, EXT)
    take(model, "Charge")
    assert not model.apply_parameter("Charge", "ChargeWater", "Volume", 5000.0, EXT)
    assert model.applied("Charge", "ChargeWater") == {"Volume": 0.0}
    assert model.apply_parameter("Charge", "ChargeWater", "Volume", 100.0, EXT)
    assert model.applied("Charge", "ChargeWater") == {"Volume": 100.0}


def test_charge_runs_for_the_time_its_volume_needs() -> None:
    model = ModuleModel(CONTRACT_MODULES["TK-201"], dwell=0.0)
    take(model, "Charge")
    model.apply_parameter("Charge", "ChargeWater", "Volume", 200.0, EXT)
    machine = model.machines["Charge"]
    machine.request_procedure(1, EXT)
    assert machine.command(C.START, EXT)
    model.advance(0.01, 0.0)  # Starting -> Execute
    for _ in range(11):  # 110 s of 120 s needed
        model.advance(0.01, 10.0)
    assert machine.state is S.EXECUTE
    model.advance(0.01, 10.0)
    assert machine.state is S.COMPLETING
    assert (
        model.dynamics.values["Level"] == 200.0
        or abs(model.dynamics.values["Level"] - 200.0) < 1e-6
    )


def test_titration_duration_is_fixed_at_start() -> None:
    model = ModuleModel(CONTRACT_MODULES["TK-201"], dwell=0.0)
    take(model, "AdjustPH")
    model.apply_parameter("AdjustPH", "Titrate", "TargetPH", 6.0, EXT)  # 2 min from pH 7
    machine = model.machines["AdjustPH"]
    machine.request_procedure(1, EXT)
    machine.command(C.START, EXT)
    model.advance(0.01, 0.0)
    for _ in range(11):
        model.advance(0.01, 10.0)
    assert machine.state is S.EXECUTE
    model.advance(0.01, 10.0)
    assert machine.state is S.COMPLETING
    assert abs(model.dynamics.values["pH"] - 6.0) < 1e-9


def test_every_contract_module_builds() -> None:
    for spec in CONTRACT_MODULES.values():
        model = ModuleModel(spec)
        assert set(model.machines) == {s.name for s in spec.services}
        assert set(model.measure()) == {v.name for v in spec.process_values}


def test_an_injected_excursion_offsets_the_reading_then_recovers() -> None:
    model = ModuleModel(CONTRACT_MODULES["BR-101"])
    before = model.dynamics.values["DO"]

    model.inject("DO", 50.0, duration=120.0)
    model.advance(0.01, 60.0)
    during = model.measure()["DO"]
    model.advance(0.01, 61.0)

    assert during > before + 45.0  # the reading, not the process ...
    assert model.dynamics.values["DO"] < before + 5.0
    assert model.measure()["DO"] < before + 5.0  # ... and it recovers on its own


def test_an_injection_names_what_is_wrong() -> None:
    model = ModuleModel(CONTRACT_MODULES["BR-101"])
    with pytest.raises(ValueError, match="BR-101 has no process value 'Oxygen'"):
        model.inject("Oxygen", 1.0, duration=10.0)
    with pytest.raises(ValueError, match="positive time"):
        model.inject("DO", 1.0, duration=0.0)
