"""The Equipment verification and the runtime agree on the same manifest, on a PEA that
neither of them wrote: node-opcua serves it, a vendor-structured manifest describes it.

The operator recognises services by shape (it has no manifest); the runtime reads the
manifest and checks every declared node. On the same PEA and manifest both must come to
the same verdict: all services there, or the same service missing.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from mes_operator.equipment.check import check_equipment

from holon_testing.node_pea import running_node_pea
from holon_testing.vendor_mtp import VendorProcedure, VendorService, build, to_bytes
from mes_runtime.engine.ports import ConnectionLost
from mes_runtime.mtp.equipment import MtpEquipment
from mes_runtime.mtp.manifest import ModuleManifest, load_manifest
from tests.mes_runtime.mtp.conftest import next_event
from tests.mes_runtime.mtp.test_vendor_manifest import STIRRER

DOSING = VendorService("Dosing", (VendorProcedure("Dose", 1, True, ()),))


async def runtime_verdict(manifest: ModuleManifest) -> tuple[bool, str]:
    """(connected, why not) as the runtime sees the module."""
    equipment = MtpEquipment(reconnect_delay=0.2, check_interval=0.2, request_timeout=5.0)
    equipment.add_module(manifest)
    async with equipment:
        async with asyncio.timeout(60):
            waiting = asyncio.ensure_future(equipment.wait_connected())
            lost = asyncio.ensure_future(
                next_event(equipment, lambda e: isinstance(e, ConnectionLost), within=60)
            )
            _, pending = await asyncio.wait({waiting, lost}, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
        return equipment.is_connected(manifest.name), equipment.connection_problem(manifest.name)


async def test_verification_and_runtime_agree_on_a_complete_pea(tmp_path: Path) -> None:
    with running_node_pea(STIRRER, tmp_path) as served:
        manifest = load_manifest(to_bytes(build(served)))
        result = await check_equipment(served.endpoint, manifest.services)
        connected, problem = await runtime_verdict(manifest)
    assert (result.connected, result.verified, result.missing) == (True, True, ())
    assert result.offered == tuple(sorted(manifest.services))
    assert (connected, problem) == (True, "")


async def test_verification_and_runtime_agree_on_a_missing_service(tmp_path: Path) -> None:
    with running_node_pea(STIRRER, tmp_path) as served:
        declared = replace(served, services=(*served.services, DOSING))
        manifest = load_manifest(to_bytes(build(declared)))
        result = await check_equipment(served.endpoint, manifest.services)
        connected, problem = await runtime_verdict(manifest)
    assert (result.connected, result.verified, result.missing) == (True, False, ("Dosing",))
    assert connected is False
    assert "Dosing.StateCur" in problem
