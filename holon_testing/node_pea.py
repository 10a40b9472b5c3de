"""A test PEA served by node-opcua - an OPC UA stack independent of asyncua.

Holon's simulator and client share one OPC UA implementation, so a test between them
cannot tell a protocol mistake from a shared one. This PEA runs on node-opcua (Node.js,
installed by ``make setup`` into ``holon_testing/pea_node``) and serves exactly the
variables a vendor-structured manifest (:mod:`holon_testing.vendor_mtp`) declares, with
2658-4 service behaviour (see ``pea_node/pea.js``). Tests drive it only through that
manifest.
"""

from __future__ import annotations

import dataclasses
import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from holon_testing.net import free_port
from holon_testing.simulator_process import stop_process
from holon_testing.vendor_mtp import VendorModule, variables

__all__ = ["PEA_DIR", "node_available", "running_node_pea"]

PEA_DIR = Path(__file__).parent / "pea_node"


def node_available() -> str:
    """Why the node-opcua PEA cannot run here ("" when it can)."""
    if shutil.which("node") is None:
        return "Node.js is not installed"
    if not (PEA_DIR / "node_modules" / "node-opcua-server").is_dir():
        return f"node-opcua is not installed: run `make setup` (npm ci in {PEA_DIR})"
    return ""


def _description(
    module: VendorModule, port: int, outputs_at_start: bool, automatic_channel: bool
) -> dict[str, object]:
    return {
        "port": port,
        "outputs_at_start": outputs_at_start,
        "automatic_channel": automatic_channel,
        "module": module.name,
        "namespace_uri": module.namespace_uri,
        "variables": [dataclasses.asdict(v) for v in variables(module)],
        "services": [
            {
                "name": service.name,
                "procedures": [
                    {
                        "id": p.procedure_id,
                        "self_completing": p.self_completing,
                        "duration": p.duration,
                    }
                    for p in service.procedures
                ],
            }
            for service in module.services
        ],
        "parameters": [
            {
                "tag": f"{service.name}_{procedure.name}_{parameter.name}",
                "service": service.name,
                "procedure": procedure.procedure_id,
                "minimum": parameter.minimum,
                "maximum": parameter.maximum,
            }
            for service in module.services
            for procedure in service.procedures
            for parameter in procedure.parameters
        ],
    }


@contextmanager
def running_node_pea(
    module: VendorModule,
    workdir: Path,
    *,
    outputs_at_start: bool = False,
    automatic_channel: bool = False,
) -> Iterator[VendorModule]:
    """Serve ``module`` on a free loopback port; yields it with its real endpoint (build
    the manifest from what is yielded). ``outputs_at_start``: parameters' ``VOut``/``VFbk``
    follow only when their procedure starts (``VReq`` at once), as many PEAs do.
    ``automatic_channel``: ``StateChannel``/``SrcChannel`` are true, so the PEA takes
    mode and source requests on the ``*Aut`` variables only."""
    missing = node_available()
    if missing:
        pytest.fail(missing)
    port = free_port()
    served = dataclasses.replace(module, endpoint=f"opc.tcp://127.0.0.1:{port}")
    description = workdir / f"{module.name}-pea.json"
    description.write_text(
        json.dumps(_description(served, port, outputs_at_start, automatic_channel))
    )
    log = workdir / f"{module.name}-pea.log"
    with log.open("w") as errors:
        proc = subprocess.Popen(
            ["node", str(PEA_DIR / "pea.js"), str(description)],
            cwd=PEA_DIR,
            env={**os.environ, "HOME": str(workdir)},  # node-opcua keeps its PKI in HOME
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
    try:
        _wait_ready(proc, log)
        yield served
    finally:
        stop_process(proc)


def _wait_ready(proc: subprocess.Popen[str], log: Path, timeout: float = 120) -> None:
    """Until the PEA prints READY (its first start creates a certificate: allow time)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline()
            if line.startswith("READY"):
                return
            if not line:
                break
        if proc.poll() is not None:
            break
    pytest.fail(f"node-opcua PEA did not start:\n{log.read_text(errors='replace')}")
