"""The equipment contract: which modules the simulator serves and what they offer.

This is data, shared by the simulator's dynamics, its OPC UA address space and the
manifests it publishes (see ``helper-briefs/equipment-contract.md``). Names are exact.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CONTRACT_MODULES",
    "ModuleSpec",
    "ParameterSpec",
    "ProcedureSpec",
    "ProcessValueSpec",
    "ServiceSpec",
]


@dataclass(frozen=True, slots=True)
class ParameterSpec:
    name: str
    unit: str
    minimum: float
    maximum: float
    default: float


@dataclass(frozen=True, slots=True)
class ProcedureSpec:
    name: str
    procedure_id: int
    parameters: tuple[ParameterSpec, ...]


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    name: str
    procedures: tuple[ProcedureSpec, ...]


@dataclass(frozen=True, slots=True)
class ProcessValueSpec:
    name: str
    unit: str
    initial: float
    scale_min: float
    scale_max: float


@dataclass(frozen=True, slots=True)
class ModuleSpec:
    name: str
    services: tuple[ServiceSpec, ...]
    process_values: tuple[ProcessValueSpec, ...]


def _p(name: str, unit: str, low: float, high: float, default: float) -> ParameterSpec:
    return ParameterSpec(name, unit, low, high, default)


def _chromatography_step(name: str, procedure_id: int) -> ProcedureSpec:
    return ProcedureSpec(
        name,
        procedure_id,
        (_p("FlowRate", "mL/min", 0, 1000, 500), _p("Volume", "CV", 0, 50, 5)),
    )


TK_201 = ModuleSpec(
    "TK-201",
    (
        ServiceSpec("Charge", (ProcedureSpec("ChargeWater", 1, (_p("Volume", "L", 0, 2000, 0),)),)),
        ServiceSpec(
            "Mix",
            (
                ProcedureSpec(
                    "Mix",
                    1,
                    (_p("AgitatorSpeed", "rpm", 0, 300, 0), _p("Duration", "min", 0, 240, 0)),
                ),
            ),
        ),
        ServiceSpec("AdjustPH", (ProcedureSpec("Titrate", 1, (_p("TargetPH", "pH", 2, 12, 7),)),)),
    ),
    (
        ProcessValueSpec("Level", "L", 0.0, 0, 2500),
        ProcessValueSpec("pH", "pH", 7.0, 0, 14),
        ProcessValueSpec("Conductivity", "mS/cm", 0.05, 0, 200),
        ProcessValueSpec("Temperature", "degC", 20.0, 0, 100),
    ),
)

BR_101 = ModuleSpec(
    "BR-101",
    (
        ServiceSpec(
            "Prepare",
            (
                ProcedureSpec(
                    "Fill",
                    1,
                    (_p("Volume", "L", 0, 2000, 0), _p("Temperature", "degC", 20, 40, 37)),
                ),
            ),
        ),
        ServiceSpec(
            "Cultivate",
            (
                ProcedureSpec(
                    "FedBatch",
                    1,
                    (
                        _p("TemperatureSP", "degC", 30, 40, 37),
                        _p("pHSP", "pH", 6.5, 7.5, 7.0),
                        _p("DOSP", "%", 10, 80, 40),
                        _p("AgitatorSpeed", "rpm", 50, 300, 150),
                        _p("Duration", "h", 0, 400, 0),
                        _p("FeedRate", "L/h", 0, 20, 0),
                    ),
                ),
            ),
        ),
        ServiceSpec(
            "Harvest",
            (
                ProcedureSpec(
                    "Harvest",
                    1,
                    (_p("Volume", "L", 0, 2000, 0), _p("FlowRate", "L/min", 0, 50, 10)),
                ),
            ),
        ),
    ),
    (
        ProcessValueSpec("Temperature", "degC", 22.0, 0, 60),
        ProcessValueSpec("pH", "pH", 7.0, 0, 14),
        ProcessValueSpec("DO", "%", 100.0, 0, 100),
        ProcessValueSpec("AgitatorSpeed", "rpm", 0.0, 0, 400),
        ProcessValueSpec("Volume", "L", 0.0, 0, 2500),
        ProcessValueSpec("VCD", "1e6 cells/mL", 0.3, 0, 50),
    ),
)

CH_301 = ModuleSpec(
    "CH-301",
    (
        ServiceSpec(
            "Chromatography",
            (
                _chromatography_step("Equilibrate", 1),
                _chromatography_step("Load", 2),
                _chromatography_step("Wash", 3),
                _chromatography_step("Elute", 4),
            ),
        ),
    ),
    (
        ProcessValueSpec("UV280", "mAU", 5.0, 0, 3000),
        ProcessValueSpec("Pressure", "bar", 0.0, 0, 10),
        ProcessValueSpec("Conductivity", "mS/cm", 15.0, 0, 200),
        ProcessValueSpec("pH", "pH", 7.4, 0, 14),
    ),
)

#: The modules of the equipment contract, by name.
CONTRACT_MODULES: dict[str, ModuleSpec] = {m.name: m for m in (TK_201, BR_101, CH_301)}
