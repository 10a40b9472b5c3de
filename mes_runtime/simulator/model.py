"""One simulated module's complete state, pure: services, parameters and process.

The OPC UA server is only a view of this model; it can be stopped and restarted (fault
injection) while the model keeps running, so a procedure goes on while the module is
unreachable, exactly as a real PEA would.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from mes_runtime.mtp.codes import ServiceState
from mes_runtime.simulator.contract import ModuleSpec, ParameterSpec, ServiceSpec
from mes_runtime.simulator.dynamics import ActiveProcedure, ModuleDynamics, dynamics_for
from mes_runtime.simulator.service_machine import CommandOrigin, OperationMode, ServiceMachine

__all__ = ["Excursion", "ModuleModel", "ParameterState"]


@dataclass(slots=True)
class ParameterState:
    """An ``AnaServParam``: requested and applied value."""

    spec: ParameterSpec
    v_req: float = 0.0
    v_out: float = 0.0

    def apply(self, value: float) -> bool:
        """``Apply*``: take ``value`` if inside VMin..VMax, otherwise keep the old one."""
        if not self.spec.minimum <= value <= self.spec.maximum:
            return False
        self.v_req = value
        self.v_out = value
        return True


@dataclass(slots=True)
class Excursion:
    """An injected disturbance: ``offset`` added to a measured value for a while."""

    name: str
    offset: float
    remaining: float  # simulated seconds


@dataclass
class ModuleModel:
    """Service machines, parameters and process dynamics of one module."""

    spec: ModuleSpec
    dwell: float = 0.05
    seed: int = 0
    dynamics: ModuleDynamics = field(init=False)
    machines: dict[str, ServiceMachine] = field(init=False)
    parameters: dict[tuple[str, str, str], ParameterState] = field(init=False)
    rng: random.Random = field(init=False)
    _durations: dict[str, float] = field(init=False, default_factory=dict)
    _excursions: list[Excursion] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.dynamics = dynamics_for(self.spec.name)
        self.machines = {
            s.name: ServiceMachine(
                procedure_ids=frozenset(p.procedure_id for p in s.procedures), dwell=self.dwell
            )
            for s in self.spec.services
        }
        self.parameters = {
            (s.name, p.name, q.name): ParameterState(q, q.default, q.default)
            for s in self.spec.services
            for p in s.procedures
            for q in p.parameters
        }
        self.rng = random.Random(self.seed)  # noqa: S311 - measurement noise, not security

    def service_spec(self, service: str) -> ServiceSpec:
        return next(s for s in self.spec.services if s.name == service)

    def procedure_name(self, service: str, procedure_id: int) -> str | None:
        return next(
            (
                p.name
                for p in self.service_spec(service).procedures
                if p.procedure_id == procedure_id
            ),
            None,
        )

    def applied(self, service: str, procedure: str) -> dict[str, float]:
        return {
            name: state.v_out
            for (svc, proc, name), state in self.parameters.items()
            if svc == service and proc == procedure
        }

    def apply_parameter(
        self, service: str, procedure: str, name: str, value: float, origin: CommandOrigin
    ) -> bool:
        """Apply a parameter value, accepted from the service's owner only."""
        machine = self.machines[service]
        if machine.owner() is not origin or machine.mode is OperationMode.OFFLINE:
            return False
        return self.parameters[(service, procedure, name)].apply(value)

    def advance(self, real_dt: float, sim_dt: float) -> None:
        """Let ``real_dt`` seconds pass (``sim_dt`` simulated)."""
        active: dict[str, ActiveProcedure] = {}
        durations: dict[str, float] = {}
        for service, machine in self.machines.items():
            name = self.procedure_name(service, machine.procedure_cur)
            if name is None:
                durations[service] = float("inf")
                continue
            parameters = self.applied(service, name)
            # The duration is fixed when the procedure starts (Starting), not re-derived
            # from a process that the procedure itself is changing.
            if machine.state is ServiceState.STARTING or service not in self._durations:
                self._durations[service] = self.dynamics.duration(service, name, parameters)
            durations[service] = self._durations[service]
            if machine.state is ServiceState.EXECUTE:
                active[service] = ActiveProcedure(name, parameters, machine.elapsed)
        self.dynamics.step(sim_dt, active)
        for service, machine in self.machines.items():
            machine.advance(real_dt, sim_dt, durations[service])
        for excursion in self._excursions:
            excursion.remaining -= sim_dt
        self._excursions = [e for e in self._excursions if e.remaining > 0]

    def inject(self, name: str, offset: float, duration: float) -> None:
        """Shift the measured ``name`` by ``offset`` for ``duration`` simulated seconds.

        Fault injection for review-by-exception tests: the instrument reads off (a sensor
        excursion), the process itself is untouched and the reading recovers on its own.
        """
        if name not in self.dynamics.values:
            known = ", ".join(sorted(self.dynamics.values))
            raise ValueError(f"{self.spec.name} has no process value {name!r} ({known})")
        if duration <= 0:
            raise ValueError(f"an excursion lasts a positive time, not {duration:g} s")
        self._excursions.append(Excursion(name, offset, duration))

    def measure(self) -> dict[str, float]:
        values = self.dynamics.measure(self.rng)
        for excursion in self._excursions:
            values[excursion.name] += excursion.offset
        return values
