"""``MtpEquipment``: the engine's EquipmentPort over MTP modules (one supervisor each).

Modules are added by manifest (plug and play: nothing else is needed to drive them).
All modules share one event queue, so the engine sees process values, service states and
connection changes of the whole plant in arrival order.

As the port requires, a request fails only with
:class:`~mes_runtime.kernel.errors.EquipmentError`: the MTP edge's own errors are
``EquipmentError`` already, and anything else a request meets on the way (an OPC UA Bad
status, a dropped socket, a timeout) is reported as ``EquipmentUnavailable``, so the engine
never needs to catch more than its port's errors.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Mapping
from types import TracebackType

from mes_runtime.kernel.errors import EquipmentError, EquipmentUnavailable
from mes_runtime.kernel.events import EquipmentEvent
from mes_runtime.mtp.client import LagHook
from mes_runtime.mtp.codes import ServiceCommand, ServiceState
from mes_runtime.mtp.presence import NodeProblem
from mes_runtime.mtp.supervisor import EquipmentSupervisor
from mtp_manifest import ModuleManifest, ParameterManifest

__all__ = ["Capabilities", "MtpEquipment"]

#: equipment -> service -> procedure -> parameter -> (unit, min, max, nodes).
Capabilities = dict[str, dict[str, dict[str, dict[str, ParameterManifest]]]]


@contextlib.contextmanager
def _port_errors() -> Iterator[None]:
    """Report a failed request as the port's error, keeping the cause's message."""
    try:
        yield
    except EquipmentError:
        raise
    except Exception as exc:  # the edge translates whatever the OPC UA stack raised
        raise EquipmentUnavailable(str(exc)) from exc


class MtpEquipment:
    """EquipmentPort implementation over OPC UA / MTP."""

    def __init__(
        self,
        *,
        reconnect_delay: float = 1.0,
        check_interval: float = 0.5,
        request_timeout: float = 4.0,
        publishing_interval_ms: float = 50.0,
        queue_maxsize: int = 0,
        lag: LagHook | None = None,
    ) -> None:
        self._events: asyncio.Queue[EquipmentEvent] = asyncio.Queue(maxsize=queue_maxsize)
        self._supervisors: dict[str, EquipmentSupervisor] = {}
        self._options = {
            "reconnect_delay": reconnect_delay,
            "check_interval": check_interval,
            "request_timeout": request_timeout,
            "publishing_interval_ms": publishing_interval_ms,
        }
        self._lag = lag  # each data change's delay from its source timestamp (metrics)
        self._started = False

    @property
    def events(self) -> asyncio.Queue[EquipmentEvent]:
        return self._events

    def add_module(self, manifest: ModuleManifest) -> None:
        """Register a module; supervised from :meth:`start` (or at once if started)."""
        if manifest.name in self._supervisors:
            raise ValueError(f"module {manifest.name!r} is already added")
        supervisor = EquipmentSupervisor(manifest, self._events, lag=self._lag, **self._options)
        self._supervisors[manifest.name] = supervisor
        if self._started:
            supervisor.start()

    async def start(self) -> None:
        self._started = True
        for supervisor in self._supervisors.values():
            supervisor.start()

    async def stop(self) -> None:
        self._started = False
        await asyncio.gather(*(s.stop() for s in self._supervisors.values()))

    async def __aenter__(self) -> MtpEquipment:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def wait_connected(self, equipment: str | None = None) -> None:
        """Wait until the module (or every module) has a live session; bound it with
        ``asyncio.timeout``."""
        names = [equipment] if equipment is not None else list(self._supervisors)
        await asyncio.gather(*(self._supervisor(n).wait_connected() for n in names))

    def _supervisor(self, equipment: str) -> EquipmentSupervisor:
        try:
            return self._supervisors[equipment]
        except KeyError:
            raise EquipmentUnavailable(f"no module named {equipment!r}") from None

    # ----------------------------------------------------------------- EquipmentPort

    def is_connected(self, equipment: str) -> bool:
        supervisor = self._supervisors.get(equipment)
        return supervisor is not None and supervisor.is_connected

    def is_continuous(self, equipment: str, service: str, procedure: str) -> bool:
        supervisor = self._supervisors.get(equipment)
        spec = None if supervisor is None else supervisor.manifest.services.get(service)
        found = None if spec is None else spec.procedures.get(procedure)
        return found is not None and not found.self_completing

    def connection_problem(self, equipment: str) -> str:
        """Why the module is not connected ("" when it is, or before the first attempt)."""
        supervisor = self._supervisors.get(equipment)
        return "" if supervisor is None or supervisor.is_connected else supervisor.problem

    def node_problems(self, equipment: str) -> tuple[NodeProblem, ...]:
        """The declared nodes the module did not serve at the last connection attempt."""
        supervisor = self._supervisors.get(equipment)
        return () if supervisor is None else supervisor.node_problems

    async def start_procedure(
        self,
        equipment: str,
        service: str,
        procedure: str,
        parameters: Mapping[str, float],
    ) -> None:
        with _port_errors():
            module = self._supervisor(equipment).module
            await module.start_procedure(service, procedure, parameters)

    async def command(self, equipment: str, service: str, command: ServiceCommand) -> None:
        with _port_errors():
            await self._supervisor(equipment).module.command(service, command)

    async def service_state(self, equipment: str, service: str) -> ServiceState:
        with _port_errors():
            return await self._supervisor(equipment).module.state(service)

    # ----------------------------------------------------------------- capabilities

    def capabilities(self) -> Capabilities:
        """What each module offers, from its manifest (for recipe validation)."""
        return {
            name: {
                service.name: {
                    procedure.name: dict(procedure.parameters)
                    for procedure in service.procedures.values()
                }
                for service in supervisor.manifest.services.values()
            }
            for name, supervisor in self._supervisors.items()
        }
