"""FAKE EquipmentPort: in-process MTP modules for testing the batch engine's logic.

This is a fake, not the real equipment edge: there is no OPC UA here. The real OPC UA
path (``MtpEquipment`` over a running simulator) is tested in
``tests/mes_runtime/test_batch_on_simulator.py``; this fake exists so that every engine
rule (sequencing, holds, reconnection, races) can be driven deterministically, step by
step, from a test.

What it models faithfully, per module and per service:

* the MTP service state machine (VDI/VDE/NAMUR 2658-4). The command enable table is the
  simulator's own :data:`~mes_runtime.simulator.service_machine.COMMAND_ENABLE`, so
  ``CommandEn`` semantics are those of the simulated modules: a command the current state
  does not enable raises :class:`~mes_runtime.mtp.errors.CommandNotEnabled`, exactly like
  ``MtpModuleClient.command``;
* transient states (Starting, Completing, Holding, Unholding, Pausing, Resuming, Stopping,
  Aborting, Resetting) end by themselves shortly after (on the next loop iterations), unless
  a test pins the service (:meth:`FakeEquipment.pin`) to look at the transient state;
* Execute ends only when the test says so (:meth:`FakeEquipment.finish`): Execute ->
  Completing -> Completed;
* events go to one queue in order, as the real supervisor and subscription emit them:
  a :class:`ServiceStateChanged` for every state entered, :class:`ProcessSample` for each
  value the test publishes, :class:`ConnectionLost` when the session drops and
  :class:`ConnectionRestored` followed by the current state of every service and the last
  process values (the initial notifications of the re-created subscription);
* while disconnected the module keeps running (it can complete, be held locally, power
  cycle) but emits nothing, and every port call raises
  :class:`~mes_runtime.mtp.errors.EquipmentUnavailable`, like ``MtpEquipment``;
* notifications can be held back (:meth:`FakeEquipment.delay` / :meth:`~FakeEquipment.deliver`)
  to model subscription latency: the module is then ahead of what the engine was told.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mes_runtime.domain.recipe import MasterRecipe
from mes_runtime.engine.ports import (
    ConnectionLost,
    ConnectionRestored,
    EquipmentEvent,
    ProcessSample,
    ServiceStateChanged,
)
from mes_runtime.mtp.codes import ServiceCommand, ServiceState
from mes_runtime.mtp.errors import CommandNotEnabled, EquipmentUnavailable, UnknownElement
from mes_runtime.simulator.service_machine import COMMAND_ENABLE, TRANSIENT_NEXT

__all__ = ["FakeEquipment", "FakeService", "PortCall"]

S = ServiceState
C = ServiceCommand

#: Every MTP command leads to one state, whatever state it is accepted in.
_COMMAND_TARGET: Mapping[ServiceCommand, ServiceState] = {
    C.RESET: S.RESETTING,
    C.START: S.STARTING,
    C.STOP: S.STOPPING,
    C.HOLD: S.HOLDING,
    C.UNHOLD: S.UNHOLDING,
    C.PAUSE: S.PAUSING,
    C.RESUME: S.RESUMING,
    C.ABORT: S.ABORTING,
    C.RESTART: S.STARTING,
    C.COMPLETE: S.COMPLETING,
}


@dataclass(frozen=True, slots=True)
class PortCall:
    """One call the engine made on the port (for assertions on what reached equipment)."""

    method: str
    equipment: str
    service: str
    detail: Any = None


@dataclass(slots=True)
class FakeService:
    """One service of a fake module: its procedures, state and last run."""

    procedures: frozenset[str]
    state: ServiceState = S.IDLE
    procedure: str | None = None
    parameters: dict[str, float] = field(default_factory=dict)
    pinned: bool = False
    runs: int = 0


@dataclass(slots=True)
class _Module:
    services: dict[str, FakeService]
    connected: bool = True
    values: dict[str, ProcessSample] = field(default_factory=dict)
    in_flight: list[EquipmentEvent] | None = None  # notifications held back (latency)


class FakeEquipment:
    """A FAKE :class:`~mes_runtime.engine.ports.EquipmentPort` (see the module docstring)."""

    def __init__(self, modules: Mapping[str, Mapping[str, Iterable[str]]]) -> None:
        """``modules``: equipment -> service -> procedure names it offers."""
        self._events: asyncio.Queue[EquipmentEvent] = asyncio.Queue()
        self._modules = {
            name: _Module({svc: FakeService(frozenset(procs)) for svc, procs in services.items()})
            for name, services in modules.items()
        }
        self._pending = 0
        self.calls: list[PortCall] = []
        # (module, service, procedure) that run until told to Complete (not self-completing)
        self.continuous: set[tuple[str, str, str]] = set()
        for name, module in self._modules.items():  # the first subscription's notifications
            for service_name, service in module.services.items():
                self._emit(name, ServiceStateChanged(name, service_name, service.state))

    @classmethod
    def for_recipe(cls, recipe: MasterRecipe, bindings: Mapping[str, str]) -> FakeEquipment:
        """Modules offering exactly the capabilities the recipe requires of its units."""
        modules: dict[str, dict[str, set[str]]] = {}
        for requirement in recipe.equipment:
            services = modules.setdefault(bindings[requirement.unit], {})
            for capability in requirement.capabilities:
                services.setdefault(capability.service, set()).add(capability.procedure)
        return cls(modules)

    # -- EquipmentPort -----------------------------------------------------------------

    @property
    def events(self) -> asyncio.Queue[EquipmentEvent]:
        return self._events

    def is_connected(self, equipment: str) -> bool:
        module = self._modules.get(equipment)
        return module is not None and module.connected

    def is_continuous(self, equipment: str, service: str, procedure: str) -> bool:
        return (equipment, service, procedure) in self.continuous

    async def start_procedure(
        self, equipment: str, service: str, procedure: str, parameters: Mapping[str, float]
    ) -> None:
        self.calls.append(PortCall("start_procedure", equipment, service, procedure))
        svc = self._reachable(equipment, service)
        if procedure not in svc.procedures:
            raise UnknownElement(f"{equipment}/{service} has no procedure {procedure!r}")
        self._require_enabled(equipment, service, C.START)
        svc.procedure = procedure
        svc.parameters = dict(parameters)
        svc.runs += 1
        self._enter(equipment, service, S.STARTING)

    async def command(self, equipment: str, service: str, command: ServiceCommand) -> None:
        self.calls.append(PortCall("command", equipment, service, command))
        self._reachable(equipment, service)
        self._require_enabled(equipment, service, command)
        self._enter(equipment, service, _COMMAND_TARGET[command])

    async def service_state(self, equipment: str, service: str) -> ServiceState:
        return self._reachable(equipment, service).state

    # -- test controls -----------------------------------------------------------------

    def service(self, equipment: str, service: str) -> FakeService:
        """The service, whether or not it is reachable (for assertions)."""
        return self._modules[equipment].services[service]

    def state(self, equipment: str, service: str) -> ServiceState:
        return self.service(equipment, service).state

    def finish(self, equipment: str, service: str) -> None:
        """The running procedure reached its end: Execute -> Completing (-> Completed)."""
        svc = self.service(equipment, service)
        if svc.state is not S.EXECUTE:
            raise AssertionError(f"{equipment}/{service} is {svc.state.name}, not EXECUTE")
        self._enter(equipment, service, S.COMPLETING)

    def local_command(self, equipment: str, service: str, command: ServiceCommand) -> None:
        """A command given at the module itself (works while disconnected)."""
        self._require_enabled(equipment, service, command)
        self._enter(equipment, service, _COMMAND_TARGET[command])

    def pin(self, equipment: str, service: str) -> None:
        """Keep the service in the transient state it is (or will next be) in."""
        self.service(equipment, service).pinned = True

    def release(self, equipment: str, service: str) -> None:
        """Let a pinned transient state end again."""
        svc = self.service(equipment, service)
        svc.pinned = False
        if svc.state in TRANSIENT_NEXT:
            self._schedule(equipment, service, svc.state)

    def power_cycle(self, equipment: str) -> None:
        """The module restarted: every service is Idle, the runs are lost."""
        for name, svc in self._modules[equipment].services.items():
            svc.procedure = None
            self._enter(equipment, name, S.IDLE)

    def publish(self, equipment: str, name: str, value: float, unit: str) -> None:
        """The module measured a process value."""
        sample = ProcessSample(equipment, name, value, unit)
        self._modules[equipment].values[name] = sample
        self._emit(equipment, sample)

    def disconnect(self, equipment: str, reason: str = "socket closed") -> None:
        module = self._modules[equipment]
        if module.connected:
            module.connected = False
            self._events.put_nowait(ConnectionLost(equipment, reason))

    def reconnect(self, equipment: str) -> None:
        """Session back: ConnectionRestored, then the subscription's initial values."""
        module = self._modules[equipment]
        if module.connected:
            return
        module.connected = True
        self._events.put_nowait(ConnectionRestored(equipment))
        for name, svc in module.services.items():
            self._emit(equipment, ServiceStateChanged(equipment, name, svc.state))
        for sample in module.values.values():
            self._emit(equipment, ProcessSample(equipment, sample.name, sample.value, sample.unit))

    def delay(self, equipment: str) -> None:
        """Hold back the module's notifications, as subscription latency does: the module
        (and a direct read) is ahead of what the engine has been told."""
        self._modules[equipment].in_flight = []

    def deliver(self, equipment: str) -> None:
        """Deliver the held-back notifications, in order, and stop delaying."""
        module = self._modules[equipment]
        held, module.in_flight = module.in_flight or [], None
        for event in held:
            self._events.put_nowait(event)

    @property
    def busy(self) -> bool:
        """Whether a transient state is still due to end (the fake is not at rest)."""
        return self._pending > 0

    # -- internals ---------------------------------------------------------------------

    def _reachable(self, equipment: str, service: str) -> FakeService:
        module = self._modules.get(equipment)
        if module is None:
            raise EquipmentUnavailable(f"no module named {equipment!r}")
        if not module.connected:
            raise EquipmentUnavailable(f"{equipment}: no OPC UA session (reconnecting)")
        svc = module.services.get(service)
        if svc is None:
            raise UnknownElement(f"{equipment} has no service {service!r}")
        return svc

    def _require_enabled(self, equipment: str, service: str, command: ServiceCommand) -> None:
        svc = self.service(equipment, service)
        if not COMMAND_ENABLE[svc.state] & int(command):
            raise CommandNotEnabled(equipment, service, command, svc.state)

    def _enter(self, equipment: str, service: str, state: ServiceState) -> None:
        svc = self.service(equipment, service)
        svc.state = state
        self._emit(equipment, ServiceStateChanged(equipment, service, state))
        if state in TRANSIENT_NEXT and not svc.pinned:
            self._schedule(equipment, service, state)

    def _schedule(self, equipment: str, service: str, state: ServiceState) -> None:
        self._pending += 1
        asyncio.get_running_loop().call_soon(self._end_transient, equipment, service, state)

    def _end_transient(self, equipment: str, service: str, state: ServiceState) -> None:
        self._pending -= 1
        svc = self.service(equipment, service)
        if svc.state is not state or svc.pinned:  # a command moved it on, or a test pinned it
            return
        following = TRANSIENT_NEXT[state]
        if following is S.IDLE:
            svc.procedure = None
        self._enter(equipment, service, following)

    def _emit(self, equipment: str, event: EquipmentEvent) -> None:
        module = self._modules[equipment]
        if not module.connected:
            return
        if module.in_flight is not None:
            module.in_flight.append(event)
        else:
            self._events.put_nowait(event)
