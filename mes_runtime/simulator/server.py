"""The equipment simulator: each contract module on its own asyncua server.

Each module is a pure :class:`~mes_runtime.simulator.model.ModuleModel` advanced by a
tick loop; its OPC UA server is a view that the loop reads requests from (operation mode,
source, procedure, commands, parameter applies) and writes outputs to (``StateCur``,
``CommandEn``, parameter feedback, process values). A client's write wakes the loop at
once: the module takes a command as a PLC with a short cycle does, instead of up to one
model tick (50 ms) later - a wait that would otherwise dominate every command round trip
measured against the simulator. Because the model lives outside the
server, :meth:`SimulatorServer.disconnect` can stop a module's server while its
procedure keeps running, and :meth:`SimulatorServer.reconnect` brings it back on the same
port - the fault the supervisor must survive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from types import TracebackType
from typing import Any

from asyncua import ua
from asyncua.common.callback import CallbackType, ServerItemCallback
from asyncua.server.server import Server

from mes_runtime.mtp.codes import ServiceState
from mes_runtime.mtp.manifest import ModuleManifest, write_manifest
from mes_runtime.simulator.address_space import (
    Layout,
    ModuleAddressSpace,
    build_address_space,
    extra_tag_names,
)
from mes_runtime.simulator.contract import CONTRACT_MODULES, ModuleSpec
from mes_runtime.simulator.model import ModuleModel
from mes_runtime.simulator.service_machine import (
    CommandOrigin,
    OperationMode,
    ServiceMachine,
    Source,
)

__all__ = ["SimulatorServer", "free_port"]

_log = logging.getLogger(__name__)

#: How long a module's OPC UA server may take to stop. asyncua's ``Server.stop`` waits for
#: every session's clean-up, which a client that vanished mid-session can hold up for good;
#: a simulator must still stop (tests, ``Ctrl-C``), so past this it stops listening and
#: drops its connections instead.
STOP_TIMEOUT_S = 10.0


async def _stop_bounded(server: Server, name: str) -> None:
    try:
        async with asyncio.timeout(STOP_TIMEOUT_S):
            await server.stop()
    except TimeoutError:
        _log.warning("%s: OPC UA server did not stop in %.0f s; closing it", name, STOP_TIMEOUT_S)
        listener = getattr(getattr(server, "bserver", None), "_server", None)
        if listener is not None:
            listener.close()


_VARIANT = {
    "u32": ua.VariantType.UInt32,
    "bool": ua.VariantType.Boolean,
    "float": ua.VariantType.Float,
    "str": ua.VariantType.String,
}
_INITIAL: dict[str, Any] = {"u32": 0, "bool": False, "float": 0.0, "str": ""}

_COMMAND_SOURCES = (
    ("CommandOp", CommandOrigin.OPERATOR),
    ("CommandExt", CommandOrigin.EXTERNAL),
    ("CommandInt", CommandOrigin.INTERNAL),
)
_PROCEDURE_SOURCE = {
    CommandOrigin.OPERATOR: "ProcedureOp",
    CommandOrigin.EXTERNAL: "ProcedureExt",
    CommandOrigin.INTERNAL: "ProcedureInt",
}
_APPLY_SOURCES = (
    ("ApplyOp", "VOp", CommandOrigin.OPERATOR),
    ("ApplyExt", "VExt", CommandOrigin.EXTERNAL),
    ("ApplyInt", "VInt", CommandOrigin.INTERNAL),
)
_MODE_REQUESTS = (
    ("StateOffOp", OperationMode.OFFLINE),
    ("StateOpOp", OperationMode.OPERATOR),
    ("StateAutOp", OperationMode.AUTOMATIC),
)
_SOURCE_REQUESTS = (("SrcIntOp", Source.INTERNAL), ("SrcExtOp", Source.EXTERNAL))


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS just handed out (closed again, so a server can bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _service_outputs(machine: ServiceMachine) -> dict[str, Any]:
    """ServiceControl outputs, in write order (ProcedureCur before StateCur)."""
    return {
        "ProcedureReq": machine.procedure_req,
        "ProcedureCur": machine.procedure_cur,
        "CommandEn": machine.command_enable,
        "StateOffAct": machine.mode is OperationMode.OFFLINE,
        "StateOpAct": machine.mode is OperationMode.OPERATOR,
        "StateAutAct": machine.mode is OperationMode.AUTOMATIC,
        "SrcIntAct": machine.mode is OperationMode.AUTOMATIC and machine.source is Source.INTERNAL,
        "SrcExtAct": machine.mode is OperationMode.AUTOMATIC and machine.source is Source.EXTERNAL,
        "StateCur": int(machine.state),
    }


@dataclass
class _Module:
    """One module: its model, address space and (while connected) its OPC UA server."""

    spec: ModuleSpec
    model: ModuleModel
    space: ModuleAddressSpace
    port: int
    host: str
    extra_tags: int
    server: Server | None = None
    serving: bool = False
    node_ids: dict[tuple[str, ...], ua.NodeId] = field(default_factory=dict)
    written: dict[tuple[str, ...], Any] = field(default_factory=dict)
    # set by a client's write (a request to read): the tick loop runs at once
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://{self.host}:{self.port}"

    def manifest(self) -> ModuleManifest:
        return self.space.manifest(self.spec, self.endpoint, self.extra_tags)

    async def start_server(self) -> None:
        server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name(f"Holon simulator {self.spec.name}")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        indexes = {uri: await server.register_namespace(uri) for uri in self.space.namespaces}
        root = await server.nodes.objects.add_object(
            ua.NodeId.from_string(f"ns={indexes[self.space.namespaces[-1]]};s={self.spec.name}"),
            ua.QualifiedName(self.spec.name, indexes[self.space.namespaces[-1]]),
        )
        folders: dict[tuple[str, ...], Any] = {(): root}
        self.node_ids = {}
        for path, var in self.space.variables.items():
            parent = folders.get(path[:-1])
            if parent is None:
                parent = await self._folder(folders, path[:-1], indexes[var.ref.namespace])
            node_id = ua.NodeId.from_string(f"ns={indexes[var.ref.namespace]};{var.ref.identifier}")
            initial = self._initial(path, var.kind)
            node = await parent.add_variable(
                node_id,
                ua.QualifiedName(path[-1], indexes[var.ref.namespace]),
                ua.Variant(initial, _VARIANT[var.kind]),
            )
            if var.writable:
                await node.set_writable()
            self.node_ids[path] = node_id
        self.written = {}
        server.subscribe_server_callback(CallbackType.PostWrite, self._client_wrote)
        await server.start()
        self.server = server
        self.serving = True

    def _client_wrote(self, event: ServerItemCallback, _dispatcher: object) -> None:
        """A client wrote (the server's own writes are not external): tick now."""
        if event.is_external:
            self.wake.set()

    async def next_tick(self, interval: float) -> None:
        """Wait one tick, or less if a client writes meanwhile."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval):
                await self.wake.wait()
        self.wake.clear()

    async def _folder(
        self, folders: dict[tuple[str, ...], Any], path: tuple[str, ...], ns: int
    ) -> Any:
        parent = folders.get(path[:-1])
        if parent is None:
            parent = await self._folder(folders, path[:-1], ns)
        node = await parent.add_object(
            ua.NodeId.from_string(f"ns={ns};s={self.spec.name}/{'/'.join(path)}"),
            ua.QualifiedName(path[-1], ns),
        )
        folders[path] = node
        return node

    def _initial(self, path: tuple[str, ...], kind: str) -> Any:
        if path[-1] == "TagName":
            return f"{self.spec.name}.{path[1]}"
        if path[0] == "Services" and len(path) == 5 and path[-1] in {"VOp", "VInt", "VExt"}:
            return self.model.parameters[(path[1], path[2], path[3])].v_out
        return _INITIAL[kind]

    async def stop_server(self) -> None:
        server, self.server, self.serving = self.server, None, False
        if server is not None:
            await _stop_bounded(server, self.spec.name)

    async def pause_server(self) -> None:
        """Stop listening (clients lose their sessions) but keep the address space."""
        if self.server is not None and self.serving:
            self.serving = False
            await _stop_bounded(self.server, self.spec.name)

    async def resume_server(self) -> None:
        """Listen again on the same port with the same address space."""
        if self.server is not None and not self.serving:
            await self.server.start()
            self.written.clear()
            self.serving = True

    # ----------------------------------------------------------------- tick I/O

    def _read(self, path: tuple[str, ...]) -> Any:
        assert self.server is not None  # read_requests checks serving first
        variant = self.server.read_attribute_value(self.node_ids[path]).Value
        return None if variant is None else variant.Value

    async def _write(self, path: tuple[str, ...], value: Any, *, force: bool = False) -> None:
        if self.server is None or not self.serving:
            return
        if not force and self.written.get(path) == value:
            return
        kind = self.space.variables[path].kind
        # stamped as a PLC stamps its values: the runtime measures its subscription lag
        # from the source timestamp (and stores samples at it)
        now = ua.DateTime.now(UTC)
        await self.server.write_attribute_value(
            self.node_ids[path],
            ua.DataValue(
                ua.Variant(value, _VARIANT[kind]), SourceTimestamp=now, ServerTimestamp=now
            ),
        )
        self.written[path] = value

    async def read_requests(self) -> None:
        """Take what clients wrote, feed it to the model, reset the one-shot requests."""
        if self.server is None or not self.serving:
            return
        for service in self.spec.services:
            base = ("Services", service.name)
            machine = self.model.machines[service.name]
            for name, mode in _MODE_REQUESTS:
                if self._read((*base, name)):
                    machine.request_mode(mode)
                    await self._write((*base, name), False, force=True)
            for name, source in _SOURCE_REQUESTS:
                if self._read((*base, name)):
                    machine.request_source(source)
                    await self._write((*base, name), False, force=True)
            owner = machine.owner()
            if owner is not None:
                requested = int(self._read((*base, _PROCEDURE_SOURCE[owner])) or 0)
                if requested:
                    machine.request_procedure(requested, owner)
            for procedure in service.procedures:
                for parameter in procedure.parameters:
                    prefix = (*base, procedure.name, parameter.name)
                    for apply_name, value_name, origin in _APPLY_SOURCES:
                        if self._read((*prefix, apply_name)):
                            value = float(self._read((*prefix, value_name)))
                            self.model.apply_parameter(
                                service.name, procedure.name, parameter.name, value, origin
                            )
                            await self._write((*prefix, apply_name), False, force=True)
            for name, origin in _COMMAND_SOURCES:
                command = self._read((*base, name))
                if command:
                    if not machine.command(int(command), origin):
                        _log.info(
                            "%s/%s: command %s refused", self.spec.name, service.name, command
                        )
                    await self._write((*base, name), 0, force=True)
                    if machine.state is ServiceState.STARTING:  # procedure request acknowledged
                        for procedure_var in _PROCEDURE_SOURCE.values():
                            await self._write((*base, procedure_var), 0, force=True)

    async def publish_state(self) -> None:
        for service in self.spec.services:
            base = ("Services", service.name)
            machine = self.model.machines[service.name]
            for procedure in service.procedures:
                for parameter in procedure.parameters:
                    prefix = (*base, procedure.name, parameter.name)
                    state = self.model.parameters[(service.name, procedure.name, parameter.name)]
                    await self._write((*prefix, "VReq"), state.v_req)
                    await self._write((*prefix, "VOut"), state.v_out)
                    await self._write((*prefix, "VFbk"), state.v_out)
                    await self._write(
                        (*prefix, "ApplyEn"), machine.mode is not OperationMode.OFFLINE
                    )
            for name, value in _service_outputs(machine).items():
                await self._write((*base, name), value)

    async def publish_values(self) -> None:
        for name, value in self.model.measure().items():
            await self._write(("ProcessValues", name, "V"), value)

    async def publish_extra(self, t: float) -> None:
        for index, name in enumerate(extra_tag_names(self.extra_tags)):
            value = 50.0 + 40.0 * math.sin(t + index * 0.1)
            await self._write(("Indicators", name, "V"), value)


class SimulatorServer:
    """Serve the contract modules (TK-201, BR-101, CH-301) over OPC UA on 127.0.0.1.

    ``ports`` maps module -> port; otherwise ``base_port`` + index, otherwise free ports.
    ``layout`` is ``"string"`` or ``"numeric"`` (or a per-module mapping).
    ``time_factor`` is simulated seconds per real second. ``extra_tags`` adds N analog
    indicators per module changing ``extra_tag_rate`` times per second (load tests).
    """

    def __init__(
        self,
        *,
        modules: Sequence[str] = tuple(CONTRACT_MODULES),
        host: str = "127.0.0.1",
        ports: Mapping[str, int] | None = None,
        base_port: int | None = None,
        layout: str | Mapping[str, str] = "string",
        time_factor: float = 1.0,
        update_interval: float = 0.05,
        transient_seconds: float = 0.05,
        extra_tags: int = 0,
        extra_tag_rate: float = 10.0,
        manifest_dir: Path | None = None,
        seed: int = 0,
    ) -> None:
        unknown = set(modules) - set(CONTRACT_MODULES)
        if unknown:
            raise ValueError(f"unknown modules: {sorted(unknown)}")
        self.time_factor = time_factor
        self.update_interval = update_interval
        self.extra_tag_rate = extra_tag_rate
        self.manifest_dir = manifest_dir
        self._modules: dict[str, _Module] = {}
        for index, name in enumerate(modules):
            spec = CONTRACT_MODULES[name]
            if ports is not None and name in ports:
                port = ports[name]
            elif base_port is not None:
                port = base_port + index
            else:
                port = free_port(host)
            module_layout = layout if isinstance(layout, str) else layout.get(name, "string")
            self._modules[name] = _Module(
                spec=spec,
                model=ModuleModel(spec, dwell=transient_seconds, seed=seed + index),
                space=build_address_space(spec, Layout(module_layout), extra_tags=extra_tags),
                port=port,
                host=host,
                extra_tags=extra_tags,
            )
        self._tasks: list[asyncio.Task[None]] = []
        self.manifest_paths: dict[str, Path] = {}

    # ----------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> SimulatorServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        for module in self._modules.values():
            await module.start_server()
            await module.publish_state()
            await module.publish_values()
            self._tasks.append(asyncio.create_task(self._run(module), name=module.spec.name))
            if module.extra_tags:
                self._tasks.append(asyncio.create_task(self._run_extra(module)))
        if self.manifest_dir is not None:
            self.manifest_dir.mkdir(parents=True, exist_ok=True)
            for name in self._modules:
                path = self.manifest_dir / f"{name}.aml"
                path.write_bytes(self.manifest_bytes(name))
                self.manifest_paths[name] = path

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=STOP_TIMEOUT_S)
            for task in pending:
                _log.warning("simulator task %s did not stop in time", task.get_name())
        self._tasks.clear()
        for module in self._modules.values():
            await module.stop_server()

    async def _run(self, module: _Module) -> None:
        last = time.monotonic()
        while True:
            await module.next_tick(self.update_interval)
            now = time.monotonic()
            real_dt, last = now - last, now
            try:
                await module.read_requests()
                module.model.advance(real_dt, real_dt * self.time_factor)
                await module.publish_state()
                await module.publish_values()
            except Exception:  # a client racing a restart must not kill the process model
                _log.exception("%s: simulator tick failed", module.spec.name)

    async def _run_extra(self, module: _Module) -> None:
        period = 1.0 / self.extra_tag_rate
        started = next_due = time.monotonic()
        while True:
            next_due += period
            await asyncio.sleep(max(0.0, next_due - time.monotonic()))
            if module.serving:
                await module.publish_extra(time.monotonic() - started)
            next_due = max(next_due, time.monotonic() - period)  # do not pile up when late

    # ----------------------------------------------------------------- fault injection

    async def disconnect(self, module: str) -> None:
        """Stop the module's OPC UA server; its process and procedures keep running."""
        await self._modules[module].pause_server()

    async def reconnect(self, module: str) -> None:
        """Start the module's OPC UA server again, on the same port."""
        target = self._modules[module]
        await target.resume_server()
        await target.publish_state()
        await target.publish_values()

    def inject(self, module: str, name: str, offset: float, duration: float) -> None:
        """Offset a process value's reading for ``duration`` simulated seconds."""
        self._modules[module].model.inject(name, offset, duration)

    # ----------------------------------------------------------------- information

    @property
    def modules(self) -> tuple[str, ...]:
        return tuple(self._modules)

    @property
    def endpoints(self) -> dict[str, str]:
        return {name: module.endpoint for name, module in self._modules.items()}

    def manifest(self, module: str) -> ModuleManifest:
        return self._modules[module].manifest()

    def manifest_bytes(self, module: str) -> bytes:
        """The module's MTP manifest (``.aml``) as published: in the structure vendors'
        engineering tools export (manifest 1.1.0), so that everything driving the
        simulator - demo, tests, benches - goes through the reader a real PEA needs."""
        return write_manifest(self.manifest(module), structure="vendor")

    def model(self, module: str) -> ModuleModel:
        """The module's live process model (tests peek at it; clients must not)."""
        return self._modules[module].model

    def is_serving(self, module: str) -> bool:
        return self._modules[module].serving
