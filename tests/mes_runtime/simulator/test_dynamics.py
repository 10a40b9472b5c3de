"""Process models: exact integration, plausible behaviour, stable at large time factors."""

from __future__ import annotations

import math
import random

import pytest

from mes_runtime.simulator.dynamics import (
    ActiveProcedure,
    BioreactorDynamics,
    BufferTankDynamics,
    ChromatographyDynamics,
    approach,
    logistic,
    ramp,
)


def test_approach_is_exact_first_order() -> None:
    assert approach(20.0, 37.0, 900.0, 900.0) == pytest.approx(37.0 - 17.0 / math.e)


def test_approach_in_one_step_equals_many_steps() -> None:
    value = 20.0
    for _ in range(100):
        value = approach(value, 37.0, 900.0, 36.0)
    assert value == pytest.approx(approach(20.0, 37.0, 900.0, 3600.0))


def test_ramp_does_not_overshoot() -> None:
    assert ramp(7.0, 5.0, 0.5, 100.0) == 5.0
    assert ramp(7.0, 5.0, 0.5, 1.0) == pytest.approx(6.5)


def test_logistic_tends_to_capacity() -> None:
    assert logistic(0.3, 0.1, 30.0, 1e6) == pytest.approx(30.0)
    assert 0.3 < logistic(0.3, 0.1, 30.0, 1.0) < 30.0


def test_bioreactor_temperature_converges_to_setpoint_with_huge_steps() -> None:
    model = BioreactorDynamics()
    model.values["Volume"] = 1000.0
    run = ActiveProcedure(
        "FedBatch",
        {"TemperatureSP": 37.0, "pHSP": 7.0, "DOSP": 40.0, "AgitatorSpeed": 150.0},
        0.0,
    )
    for _ in range(240):  # 10 days in one-hour steps (time factor 3600, 1 s ticks)
        model.step(3600.0, {"Cultivate": run})
        assert all(math.isfinite(v) for v in model.values.values())
    assert model.values["Temperature"] == pytest.approx(37.0, abs=1e-6)
    assert model.values["VCD"] > 5.0
    assert 6.8 < model.values["pH"] <= 7.0
    assert model.values["DO"] <= 40.0 + 1e-9


def _fed_batch(**parameters: float) -> ActiveProcedure:
    applied = {"TemperatureSP": 36.5, "pHSP": 7.0, "DOSP": 40.0, "AgitatorSpeed": 150.0}
    return ActiveProcedure("FedBatch", applied | parameters, 0.0)


def test_bioreactor_do_reaches_its_setpoint_while_filling_before_cultivation() -> None:
    model = BioreactorDynamics()
    fill = ActiveProcedure("Fill", {"Volume": 1000.0, "Temperature": 36.5}, 0.0)
    assert model.values["DO"] == 100.0  # empty vessel: the probe reads air
    for _ in range(60):  # 10 min of filling at 100 L/min, 10 s steps
        model.step(10.0, {"Prepare": fill})
    assert model.values["Volume"] == pytest.approx(1000.0)
    assert model.values["DO"] == pytest.approx(40.0, abs=0.5)


def test_bioreactor_do_holds_the_setpoint_while_cells_grow() -> None:
    model = BioreactorDynamics()
    model.values.update(Volume=1000.0, DO=40.0, AgitatorSpeed=150.0)
    run = _fed_batch(DOSP=45.0)
    seen = []
    for _ in range(24 * 60):  # 24 h in one-minute steps
        model.step(60.0, {"Cultivate": run})
        seen.append(model.values["DO"])
    assert model.values["VCD"] > 0.6  # the culture grew meanwhile
    assert all(39.9 < do < 45.0 + 1e-9 for do in seen)
    assert seen[-1] == pytest.approx(45.0, abs=1e-6)


def test_bioreactor_do_sags_only_past_what_pure_oxygen_can_transfer() -> None:
    model = BioreactorDynamics(capacity=400.0)
    model.values.update(Volume=1000.0, DO=40.0, AgitatorSpeed=50.0, VCD=300.0)
    model.step(3600.0, {"Cultivate": _fed_batch(AgitatorSpeed=50.0)})
    assert model.values["DO"] < 30.0


def test_bioreactor_fill_and_duration() -> None:
    model = BioreactorDynamics()
    duration = model.duration("Prepare", "Fill", {"Volume": 500.0, "Temperature": 30.0})
    assert duration == pytest.approx(300.0)  # 500 L at 100 L/min
    model.step(duration, {"Prepare": ActiveProcedure("Fill", {"Volume": 500.0}, 0.0)})
    assert model.values["Volume"] == pytest.approx(500.0)
    assert model.duration("Cultivate", "FedBatch", {"Duration": 24.0}) == 24 * 3600.0


def test_tank_titration_duration_follows_distance() -> None:
    model = BufferTankDynamics()
    assert model.duration("AdjustPH", "Titrate", {"TargetPH": 5.0}) == pytest.approx(240.0)
    model.step(240.0, {"AdjustPH": ActiveProcedure("Titrate", {"TargetPH": 5.0}, 0.0)})
    assert model.values["pH"] == pytest.approx(5.0)


def test_tank_charge_fills_at_100_l_per_min() -> None:
    model = BufferTankDynamics()
    model.step(60.0, {"Charge": ActiveProcedure("ChargeWater", {"Volume": 1000.0}, 0.0)})
    assert model.values["Level"] == pytest.approx(100.0)


def test_chromatography_uv_peaks_during_elute() -> None:
    model = ChromatographyDynamics()
    params = {"FlowRate": 500.0, "Volume": 3.0}
    duration = model.duration("Chromatography", "Elute", params)
    assert duration == pytest.approx(3 * 5000 / (500 / 60))
    trace = []
    for index in range(30):
        elapsed = duration * index / 30
        model.step(duration / 30, {"Chromatography": ActiveProcedure("Elute", params, elapsed)})
        trace.append(model.values["UV280"])
    peak = max(trace)
    assert peak > 1000.0
    assert trace[0] < peak
    assert trace[-1] < peak
    assert model.values["pH"] < 5.0


def test_chromatography_uv_rises_during_load() -> None:
    model = ChromatographyDynamics()
    before = model.values["UV280"]
    model.step(600.0, {"Chromatography": ActiveProcedure("Load", {"FlowRate": 500.0}, 0.0)})
    assert model.values["UV280"] > before + 500


def test_measurement_noise_is_small_and_seeded() -> None:
    model = BioreactorDynamics()
    first = model.measure(random.Random(1))
    again = model.measure(random.Random(1))
    assert first == again
    assert first["Temperature"] == pytest.approx(model.values["Temperature"], abs=0.2)
    assert first != model.values


def test_transfers_stop_at_their_volume_even_with_coarse_steps() -> None:
    model = BufferTankDynamics()
    charge = {"Volume": 5.0}
    model.step(2.0, {"Charge": ActiveProcedure("ChargeWater", charge, 0.0)})
    model.step(10.0, {"Charge": ActiveProcedure("ChargeWater", charge, 2.0)})
    assert model.values["Level"] == pytest.approx(5.0)
    reactor = BioreactorDynamics(values=dict(BioreactorDynamics().values, Volume=100.0))
    harvest = {"Volume": 30.0, "FlowRate": 10.0}
    reactor.step(3600.0, {"Harvest": ActiveProcedure("Harvest", harvest, 0.0)})
    assert reactor.values["Volume"] == pytest.approx(70.0)
