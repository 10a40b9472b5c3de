"""Process dynamics of the simulated modules: pure functions of state, time and setpoints.

Every model integrates with exact solutions (exponential approach, logistic growth,
linear ramps clamped at their target) so that a time factor of 3600 (one simulated hour
per real second) stays stable however coarse the step. No I/O, no clock, no randomness
except the measurement noise drawn from a caller-supplied generator.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "ActiveProcedure",
    "BioreactorDynamics",
    "BufferTankDynamics",
    "ChromatographyDynamics",
    "ModuleDynamics",
    "approach",
    "dynamics_for",
    "logistic",
    "ramp",
]

MIN_DURATION = 1.0  # simulated seconds: a procedure with nothing to do still passes Execute
COLUMN_VOLUME_ML = 5000.0  # CH-301: column volume 5 L


def approach(value: float, target: float, tau: float, dt: float) -> float:
    """Exact first-order step towards ``target`` with time constant ``tau``."""
    if tau <= 0:
        return target
    return target + (value - target) * math.exp(-dt / tau)


def ramp(value: float, target: float, rate: float, dt: float) -> float:
    """Move towards ``target`` at ``rate`` per second without overshooting."""
    step = abs(rate) * dt
    if abs(target - value) <= step:
        return target
    return value + math.copysign(step, target - value)


def logistic(value: float, rate: float, capacity: float, dt: float) -> float:
    """Exact logistic growth step."""
    if value <= 0:
        return value
    return capacity / (1 + (capacity / value - 1) * math.exp(-rate * dt))


@dataclass(frozen=True, slots=True)
class ActiveProcedure:
    """A procedure in Execute: its applied parameters and simulated time so far."""

    procedure: str
    parameters: Mapping[str, float]
    elapsed: float


class ModuleDynamics(Protocol):
    """One module's process model."""

    values: dict[str, float]

    def duration(self, service: str, procedure: str, parameters: Mapping[str, float]) -> float:
        """Simulated seconds the procedure runs before it self-completes."""
        ...

    def step(self, dt: float, active: Mapping[str, ActiveProcedure]) -> None:
        """Advance ``dt`` simulated seconds; ``active`` maps service -> running procedure."""
        ...

    def measure(self, rng: random.Random) -> dict[str, float]:
        """The process values as instruments would report them (with noise)."""
        ...


def _noisy(
    values: Mapping[str, float], noise: Mapping[str, float], rng: random.Random
) -> dict[str, float]:
    return {k: v + rng.gauss(0.0, noise.get(k, 0.0)) for k, v in values.items()}


def _moved(run: ActiveProcedure, amount_key: str, rate: float, dt: float) -> float:
    """How much a transfer moves in ``dt``: never more than what is left of its amount."""
    left = max(0.0, run.parameters.get(amount_key, 0.0) - rate * run.elapsed)
    return min(rate * dt, left)


def _duration_from_rate(amount: float, rate_per_s: float) -> float:
    if amount <= 0 or rate_per_s <= 0:
        return MIN_DURATION
    return max(MIN_DURATION, amount / rate_per_s)


@dataclass
class BufferTankDynamics:
    """TK-201: charge water at 100 L/min, mix, titrate pH at ~0.5 pH/min."""

    values: dict[str, float] = field(
        default_factory=lambda: {
            "Level": 0.0,
            "pH": 7.0,
            "Conductivity": 0.05,
            "Temperature": 20.0,
        }
    )
    fill_rate: float = 100.0 / 60.0  # L/s
    ph_rate: float = 0.5 / 60.0  # pH/s
    noise: dict[str, float] = field(
        default_factory=lambda: {
            "Level": 0.2,
            "pH": 0.005,
            "Conductivity": 0.01,
            "Temperature": 0.02,
        }
    )

    def duration(self, service: str, procedure: str, parameters: Mapping[str, float]) -> float:
        if service == "Charge":
            return _duration_from_rate(parameters.get("Volume", 0.0), self.fill_rate)
        if service == "Mix":
            return max(MIN_DURATION, parameters.get("Duration", 0.0) * 60.0)
        if service == "AdjustPH":
            distance = abs(parameters.get("TargetPH", self.values["pH"]) - self.values["pH"])
            return _duration_from_rate(distance, self.ph_rate)
        return MIN_DURATION

    def step(self, dt: float, active: Mapping[str, ActiveProcedure]) -> None:
        v = self.values
        charge = active.get("Charge")
        if charge is not None:
            v["Level"] = min(2500.0, v["Level"] + _moved(charge, "Volume", self.fill_rate, dt))
        titrate = active.get("AdjustPH")
        if titrate is not None:
            target = titrate.parameters.get("TargetPH", v["pH"])
            before = v["pH"]
            v["pH"] = ramp(v["pH"], target, self.ph_rate, dt)
            v["Conductivity"] += 0.2 * abs(v["pH"] - before)  # titrant adds ions
        mixing = active.get("Mix")
        ambient = 20.0 + (0.5 if mixing is not None else 0.0)  # agitation heats a little
        v["Temperature"] = approach(v["Temperature"], ambient, 1800.0, dt)

    def measure(self, rng: random.Random) -> dict[str, float]:
        return _noisy(self.values, self.noise, rng)


@dataclass
class BioreactorDynamics:
    """BR-101: first-order temperature (tau 15 min), pH drift with growth corrected
    towards pHSP, a DO controller holding its setpoint while cells grow, logistic VCD
    during FedBatch."""

    values: dict[str, float] = field(
        default_factory=lambda: {
            "Temperature": 22.0,
            "pH": 7.0,
            "DO": 100.0,
            "AgitatorSpeed": 0.0,
            "Volume": 0.0,
            "VCD": 0.3,
        }
    )
    temperature_sp: float = 22.0
    ph_sp: float = 7.0
    agitator_sp: float = 0.0
    do_sp: float = 40.0  # the DO loop's configured setpoint until a procedure applies DOSP
    temperature_tau: float = 15 * 60.0
    fill_rate: float = 100.0 / 60.0  # L/s
    growth_rate: float = 0.035 / 3600.0  # 1/s
    capacity: float = 30.0  # 1e6 cells/mL
    max_o2_enrichment: float = 4.8  # pure O2 vs air in the sparge
    probe_submerged: float = 50.0  # L: below this the DO probe reads the headspace (air)
    noise: dict[str, float] = field(
        default_factory=lambda: {
            "Temperature": 0.02,
            "pH": 0.003,
            "DO": 0.2,
            "AgitatorSpeed": 0.5,
            "Volume": 0.1,
            "VCD": 0.01,
        }
    )

    def duration(self, service: str, procedure: str, parameters: Mapping[str, float]) -> float:
        if service == "Prepare":
            return _duration_from_rate(parameters.get("Volume", 0.0), self.fill_rate)
        if service == "Cultivate":
            return max(MIN_DURATION, parameters.get("Duration", 0.0) * 3600.0)
        if service == "Harvest":
            rate = parameters.get("FlowRate", 0.0) / 60.0
            return _duration_from_rate(parameters.get("Volume", 0.0), rate)
        return MIN_DURATION

    def step(self, dt: float, active: Mapping[str, ActiveProcedure]) -> None:
        v = self.values
        prepare = active.get("Prepare")
        cultivate = active.get("Cultivate")
        harvest = active.get("Harvest")
        demand = 0.0
        if prepare is not None:
            v["Volume"] = min(2500.0, v["Volume"] + _moved(prepare, "Volume", self.fill_rate, dt))
            self.temperature_sp = prepare.parameters.get("Temperature", self.temperature_sp)
        if cultivate is not None:
            p = cultivate.parameters
            self.temperature_sp = p.get("TemperatureSP", self.temperature_sp)
            self.ph_sp = p.get("pHSP", self.ph_sp)
            self.agitator_sp = p.get("AgitatorSpeed", self.agitator_sp)
            self.do_sp = p.get("DOSP", self.do_sp)
            v["Volume"] = min(2500.0, v["Volume"] + p.get("FeedRate", 0.0) / 3600.0 * dt)
            v["VCD"] = logistic(v["VCD"], self.growth_rate, self.capacity, dt)
            demand = v["VCD"]
        if harvest is not None:
            rate = harvest.parameters.get("FlowRate", 0.0) / 60.0
            v["Volume"] = max(0.0, v["Volume"] - _moved(harvest, "Volume", rate, dt))
            self.agitator_sp = min(self.agitator_sp, 50.0)
        v["Temperature"] = approach(v["Temperature"], self.temperature_sp, self.temperature_tau, dt)
        v["AgitatorSpeed"] = approach(v["AgitatorSpeed"], self.agitator_sp, 30.0, dt)
        if cultivate is not None:
            # pH: cells acidify (drift ~ VCD), base addition pulls back towards pHSP with
            # tau 10 min; dpH/dt = -drift - (pH - sp)/tau settles at sp - drift * tau.
            correction_tau = 600.0
            drift = 2e-6 * demand  # pH/s per 1e6 cells/mL
            settled = self.ph_sp - drift * correction_tau
            v["pH"] = approach(v["pH"], settled, correction_tau, dt)
        v["DO"] = approach(v["DO"], self._do_target(demand), 120.0, dt)

    def _do_target(self, demand: float) -> float:
        """Where the DO loop settles (% of air saturation), given the cells' O2 demand.

        The loop runs whenever the probe is submerged, as on a real bioreactor: its
        split-range cascade sparges nitrogen, air or oxygen (up to pure O2, ~4.8x air), so
        it strips the fresh medium from 100 % down to the setpoint before inoculation and
        enriches the gas as the culture's uptake grows. The setpoint is out of reach only
        when the uptake exceeds what pure oxygen can transfer at the current agitation
        (kLa grows with agitation); then DO sags below it.
        """
        if self.values["Volume"] < self.probe_submerged:
            return 100.0
        transfer = 0.2 + 0.8 * min(1.0, self.values["AgitatorSpeed"] / 300.0)
        ceiling = max(0.0, 100.0 * self.max_o2_enrichment - 1.5 * demand / transfer)
        return min(self.do_sp, ceiling)

    def measure(self, rng: random.Random) -> dict[str, float]:
        return _noisy(self.values, self.noise, rng)


_STEP_TARGETS: dict[str, dict[str, float]] = {
    "Equilibrate": {"Conductivity": 15.0, "pH": 7.4, "UV280": 5.0},
    "Load": {"Conductivity": 18.0, "pH": 7.2, "UV280": 1500.0},
    "Wash": {"Conductivity": 15.0, "pH": 7.4, "UV280": 5.0},
    "Elute": {"Conductivity": 5.0, "pH": 3.5, "UV280": 5.0},
}


@dataclass
class ChromatographyDynamics:
    """CH-301: Protein A steps; UV280 rises during Load and peaks during Elute."""

    values: dict[str, float] = field(
        default_factory=lambda: {"UV280": 5.0, "Pressure": 0.0, "Conductivity": 15.0, "pH": 7.4}
    )
    noise: dict[str, float] = field(
        default_factory=lambda: {"UV280": 0.5, "Pressure": 0.005, "Conductivity": 0.02, "pH": 0.005}
    )

    def duration(self, service: str, procedure: str, parameters: Mapping[str, float]) -> float:
        volume_ml = parameters.get("Volume", 0.0) * COLUMN_VOLUME_ML
        return _duration_from_rate(volume_ml, parameters.get("FlowRate", 0.0) / 60.0)

    def step(self, dt: float, active: Mapping[str, ActiveProcedure]) -> None:
        v = self.values
        run = active.get("Chromatography")
        flow = 0.0 if run is None else run.parameters.get("FlowRate", 0.0)
        v["Pressure"] = approach(v["Pressure"], 0.003 * flow, 10.0, dt)
        if run is None:
            return
        targets = _STEP_TARGETS.get(run.procedure, {})
        cv_seconds = COLUMN_VOLUME_ML / max(flow / 60.0, 1e-9)  # seconds per column volume
        for name in ("Conductivity", "pH"):
            v[name] = approach(v[name], targets.get(name, v[name]), 0.5 * cv_seconds, dt)
        if run.procedure == "Elute":
            eluted_cv = run.elapsed / cv_seconds
            v["UV280"] = 5.0 + 2500.0 * math.exp(-(((eluted_cv - 1.5) / 0.6) ** 2))
        else:
            v["UV280"] = approach(v["UV280"], targets.get("UV280", v["UV280"]), cv_seconds, dt)

    def measure(self, rng: random.Random) -> dict[str, float]:
        return _noisy(self.values, self.noise, rng)


def dynamics_for(module: str) -> ModuleDynamics:
    """A fresh process model for a contract module."""
    models: dict[str, type[BufferTankDynamics | BioreactorDynamics | ChromatographyDynamics]] = {
        "TK-201": BufferTankDynamics,
        "BR-101": BioreactorDynamics,
        "CH-301": ChromatographyDynamics,
    }
    return models[module]()
