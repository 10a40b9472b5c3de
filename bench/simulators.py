"""Simulator modules in their own processes (``python -m mes_runtime simulate``).

One asyncua server process tops out at a few thousand notifications per second, so the
ingest benchmark spreads the load over one process per module; the runtime under test
stays alone in the benchmark's process. Each process prints one line per module
(``name<TAB>endpoint<TAB>manifest path``) once it serves; that line is our readiness
signal. Processes are always terminated (then killed) on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from mes_runtime.mtp.manifest import ModuleManifest, load_manifest
from mes_runtime.simulator.server import free_port

__all__ = ["SimulatorProcess", "cpu_seconds", "simulator_processes"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (Linux ``/proc``; 0.0 elsewhere), so a
    benchmark can tell whether the simulators or the runtime used the machine."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14, 15)


@dataclass(frozen=True, slots=True)
class SimulatorProcess:
    module: str
    endpoint: str
    manifest: ModuleManifest
    process: asyncio.subprocess.Process


async def _start(
    module: str, workdir: Path, extra_tags: int, extra_tag_rate: float, time_factor: float
) -> asyncio.subprocess.Process:
    manifest_dir = workdir / module
    command = [sys.executable, "-m", "mes_runtime", "simulate", "--module", module]
    command += ["--extra-tags", str(extra_tags), "--extra-tag-rate", str(extra_tag_rate)]
    command += ["--time-factor", str(time_factor), "--base-port", str(free_port())]
    command += ["--manifest-dir", str(manifest_dir)]
    return await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )


async def _ready(module: str, process: asyncio.subprocess.Process) -> SimulatorProcess:
    assert process.stdout is not None
    line = (await process.stdout.readline()).decode().strip()
    if not line:
        raise RuntimeError(f"simulator {module} exited before serving (code {process.returncode})")
    name, endpoint, manifest_path = line.split("\t")
    return SimulatorProcess(name, endpoint, load_manifest(Path(manifest_path)), process)


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), timeout=10)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


@contextlib.asynccontextmanager
async def simulator_processes(
    modules: Sequence[str],
    workdir: Path,
    *,
    extra_tags: int = 0,
    extra_tag_rate: float = 10.0,
    time_factor: float = 1.0,
    startup_timeout: float = 90.0,
) -> AsyncIterator[list[SimulatorProcess]]:
    """Start one simulator process per module (in parallel) and wait until all serve."""
    processes: list[asyncio.subprocess.Process] = []
    try:
        for module in modules:
            processes.append(await _start(module, workdir, extra_tags, extra_tag_rate, time_factor))
        async with asyncio.timeout(startup_timeout):
            running = await asyncio.gather(
                *(_ready(m, p) for m, p in zip(modules, processes, strict=True))
            )
        yield list(running)
    finally:
        await asyncio.gather(*(_stop(p) for p in processes))
