"""Connected means connected: a module whose declared nodes do not exist is not connected,
and the reason names each missing node (real simulator, real OPC UA TCP)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from holon_testing.simulator import RunningSimulator
from mes_runtime.engine.ports import ConnectionLost
from mes_runtime.mtp.equipment import MtpEquipment
from mes_runtime.mtp.manifest import ModuleManifest, NodeRef
from tests.mes_runtime.mtp.conftest import next_event

pytestmark = pytest.mark.asyncio(loop_scope="module")


def with_state_node(
    manifest: ModuleManifest, ref: NodeRef, *, name: str | None = None, service: str = "Cultivate"
) -> ModuleManifest:
    """The manifest with ``service``'s StateCur pointing at ``ref`` (optionally renamed)."""
    offered = manifest.services[service]
    control = {**offered.control, "StateCur": ref}
    services = {**manifest.services, service: dataclasses.replace(offered, control=control)}
    return dataclasses.replace(manifest, name=name or manifest.name, services=services)


async def not_connected(manifest: ModuleManifest) -> tuple[MtpEquipment, ConnectionLost]:
    port = MtpEquipment(reconnect_delay=0.2, check_interval=0.1, request_timeout=3.0)
    port.add_module(manifest)
    await port.start()
    event = await next_event(port, lambda e: isinstance(e, ConnectionLost))
    assert isinstance(event, ConnectionLost)
    return port, event


async def test_a_missing_node_keeps_the_module_not_connected(sim: RunningSimulator) -> None:
    good = sim.manifests["BR-101"]
    namespace = good.services["Cultivate"].control["StateCur"].namespace
    broken = with_state_node(good, NodeRef(namespace, "s=No.Such.StateCur"), name="BR-101-x")
    port, lost = await not_connected(broken)
    try:
        assert "Cultivate.StateCur" in lost.reason
        assert "s=No.Such.StateCur" in lost.reason
        assert "BadNodeIdUnknown" in lost.reason
        await asyncio.sleep(0.5)  # a retry does not make it connected either
        assert not port.is_connected("BR-101-x")
        [problem] = port.node_problems("BR-101-x")
        assert (problem.variable, problem.status) == ("Cultivate.StateCur", "BadNodeIdUnknown")
        assert "Cultivate.StateCur" in port.connection_problem("BR-101-x")
    finally:
        await port.stop()


async def test_a_namespace_the_server_does_not_serve_is_named(sim: RunningSimulator) -> None:
    good = sim.manifests["BR-101"]
    broken = with_state_node(good, NodeRef("urn:nobody:serves:this", "i=6001"), name="BR-101-y")
    port, lost = await not_connected(broken)
    try:
        assert "urn:nobody:serves:this" in lost.reason
        assert "namespace not served" in lost.reason
        assert not port.is_connected("BR-101-y")
    finally:
        await port.stop()


async def test_a_complete_module_is_connected_without_problems(sim: RunningSimulator) -> None:
    port = MtpEquipment(reconnect_delay=0.2, check_interval=0.1, request_timeout=3.0)
    port.add_module(sim.manifests["CH-301"])
    async with port:
        async with asyncio.timeout(15):
            await port.wait_connected("CH-301")
        assert port.node_problems("CH-301") == ()
        assert port.connection_problem("CH-301") == ""
