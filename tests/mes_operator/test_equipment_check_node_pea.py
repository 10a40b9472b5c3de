"""The Equipment verification and the runtime agree on the same manifest, on a PEA that
neither of them wrote: node-opcua serves it, a vendor-structured manifest describes it.

Without a manifest the operator recognises services by shape; with one (``spec.manifest``)
it reads it with the shared reader and checks every declared node, as the runtime does.
On the same PEA and manifest both must come to the same verdict: all services there, or
the same service missing - and, with the manifest, the same nodes named.
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
from mtp_manifest import NodeProblem, NodeRef
from tests.mes_runtime.mtp.conftest import next_event
from tests.mes_runtime.mtp.test_vendor_manifest import STIRRER

DOSING = VendorService("Dosing", (VendorProcedure("Dose", 1, True, ()),))


async def runtime_verdict(manifest: ModuleManifest) -> tuple[bool, str]:
    """(connected, why not) as the runtime sees the module."""
    connected, problem, _ = await runtime_view(manifest)
    return connected, problem


async def runtime_view(manifest: ModuleManifest) -> tuple[bool, str, tuple[NodeProblem, ...]]:
    """(connected, why not, the nodes it names) as the runtime sees the module."""
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
        return (
            equipment.is_connected(manifest.name),
            equipment.connection_problem(manifest.name),
            equipment.node_problems(manifest.name),
        )


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


def with_node(
    manifest: ModuleManifest, service: str, variable: str, ref: NodeRef
) -> ModuleManifest:
    """The manifest with ``service``'s ``variable`` declared at ``ref`` instead."""
    offered = manifest.services[service]
    control = {**offered.control, variable: ref}
    services = {**manifest.services, service: replace(offered, control=control)}
    return replace(manifest, services=services)


async def test_with_the_manifest_every_service_and_node_is_found(tmp_path: Path) -> None:
    with running_node_pea(STIRRER, tmp_path) as served:
        manifest = load_manifest(to_bytes(build(served)))
        result = await check_equipment(served.endpoint, [], manifest=manifest)
        required = await check_equipment(served.endpoint, ["Tempering"], manifest=manifest)
    assert (result.connected, result.verified, result.reason) == (True, True, "AllServicesPresent")
    assert result.found == ("Stirring", "Tempering") == tuple(manifest.services)
    assert (result.missing, result.missing_nodes) == ((), ())
    assert f"all {len(manifest.nodes())} node(s) of manifest 'HC30'" in result.message
    assert (required.verified, required.found) == (True, ("Tempering",))


async def test_with_the_manifest_a_node_the_pea_lacks_is_named_as_the_runtime_names_it(
    tmp_path: Path,
) -> None:
    with running_node_pea(STIRRER, tmp_path) as served:
        good = load_manifest(to_bytes(build(served)))
        namespace = good.services["Stirring"].control["StateCur"].namespace
        manifest = with_node(good, "Stirring", "StateCur", NodeRef(namespace, "i=987654"))
        result = await check_equipment(served.endpoint, [], manifest=manifest)
        connected, problem, runtime_nodes = await runtime_view(manifest)
    [bad] = result.missing_nodes
    assert (bad.variable, bad.status) == ("Stirring.StateCur", "BadNodeIdUnknown")
    assert bad.node_id.endswith(";i=987654")
    assert (result.connected, result.verified, result.reason) == (True, False, "NodesMissing")
    assert (result.found, result.missing) == (("Tempering",), ("Stirring",))
    assert "Stirring.StateCur" in result.message
    assert bad.node_id in result.message
    # the runtime reads the same manifest to the same verdict, naming the same node
    assert connected is False
    assert runtime_nodes == result.missing_nodes
    assert str(bad) in problem


async def test_with_the_manifest_an_undeclared_service_and_its_nodes_are_missing(
    tmp_path: Path,
) -> None:
    with running_node_pea(STIRRER, tmp_path) as served:
        declared = replace(served, services=(*served.services, DOSING))
        manifest = load_manifest(to_bytes(build(declared)))
        result = await check_equipment(served.endpoint, ["Stirring", "Dosing"], manifest=manifest)
        undeclared = await check_equipment(
            served.endpoint, ["Mixing"], manifest=load_manifest(to_bytes(build(served)))
        )
        _, _, runtime_nodes = await runtime_view(manifest)
    assert (result.verified, result.found, result.missing) == (False, ("Stirring",), ("Dosing",))
    assert {p.variable.split(".")[0].split("/")[0] for p in result.missing_nodes} == {"Dosing"}
    assert "Dosing.StateCur" in {p.variable for p in result.missing_nodes}
    assert runtime_nodes == result.missing_nodes
    assert (undeclared.verified, undeclared.reason) == (False, "ServiceMissing")
    assert "declares no service Mixing; it declares Stirring, Tempering" in undeclared.message
