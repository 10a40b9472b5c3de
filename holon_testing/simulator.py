"""Test helper for every package: a running simulator with its endpoints and manifests.

    async with running_simulator(modules=("BR-101",), time_factor=3600) as sim:
        manifest = sim.manifests["BR-101"]          # parsed from the published .aml
        sim.endpoints["BR-101"]                      # opc.tcp://127.0.0.1:<free port>
        await sim.server.disconnect("BR-101")        # fault injection

Ports are free ports from the OS, so tests of several helpers can run in parallel.
Starting a module takes a few seconds (asyncua builds the standard address space), so
start only the modules a test needs, and share one simulator per test module where you can.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from mes_runtime.mtp.manifest import ModuleManifest, load_manifest
from mes_runtime.simulator.contract import CONTRACT_MODULES
from mes_runtime.simulator.server import SimulatorServer

__all__ = ["RunningSimulator", "running_simulator"]


@dataclass(frozen=True, slots=True)
class RunningSimulator:
    server: SimulatorServer
    endpoints: Mapping[str, str]
    manifests: Mapping[str, ModuleManifest]
    manifest_paths: Mapping[str, Path]


@asynccontextmanager
async def running_simulator(
    *,
    modules: Sequence[str] = tuple(CONTRACT_MODULES),
    time_factor: float = 1.0,
    layout: str | Mapping[str, str] = "string",
    manifest_dir: Path | None = None,
    extra_tags: int = 0,
    extra_tag_rate: float = 10.0,
    transient_seconds: float = 0.05,
    update_interval: float = 0.05,
) -> AsyncIterator[RunningSimulator]:
    """Start the simulator on free ports; manifests are parsed back from what it publishes."""
    server = SimulatorServer(
        modules=modules,
        time_factor=time_factor,
        layout=layout,
        manifest_dir=manifest_dir,
        extra_tags=extra_tags,
        extra_tag_rate=extra_tag_rate,
        transient_seconds=transient_seconds,
        update_interval=update_interval,
    )
    async with server:
        manifests = {name: load_manifest(server.manifest_bytes(name)) for name in server.modules}
        yield RunningSimulator(server, server.endpoints, manifests, dict(server.manifest_paths))
