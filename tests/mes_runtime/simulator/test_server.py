"""The simulator over real OPC UA TCP, seen by a plain asyncua client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from asyncua import ua
from asyncua.client.client import Client

from holon_testing.simulator import RunningSimulator, running_simulator
from mes_runtime.mtp.codes import ServiceCommand as C
from mes_runtime.mtp.codes import ServiceState as S
from mes_runtime.mtp.manifest import ModuleManifest, NodeRef, load_manifest

pytestmark = pytest.mark.asyncio(loop_scope="module")


@asynccontextmanager
async def connected(sim: RunningSimulator, module: str) -> AsyncIterator[tuple[Client, list[str]]]:
    async with Client(sim.endpoints[module], timeout=3) as client:
        yield client, await client.get_namespace_array()


def all_refs(manifest: ModuleManifest) -> list[NodeRef]:
    refs = [ref for s in manifest.services.values() for ref in s.control.values()]
    refs += [
        ref
        for s in manifest.services.values()
        for p in s.procedures.values()
        for q in p.parameters.values()
        for ref in q.nodes.values()
    ]
    refs += [v.node for v in manifest.process_values.values()]
    return refs


async def wait_value(client: Client, node_id: str, expected: object) -> None:
    node = client.get_node(node_id)
    async with asyncio.timeout(5):
        while True:
            if await node.read_value() == expected:
                return
            await asyncio.sleep(0.02)


async def write(client: Client, node_id: str, value: object, variant: ua.VariantType) -> None:
    await client.get_node(node_id).write_value(ua.DataValue(ua.Variant(value, variant)))


async def test_manifest_files_are_published(sim: RunningSimulator, manifest_dir: Path) -> None:
    assert set(sim.manifest_paths) == {"TK-201", "CH-301"}
    for module, path in sim.manifest_paths.items():
        assert path == manifest_dir / f"{module}.aml"
        assert load_manifest(path) == sim.manifests[module]
        assert sim.manifests[module].endpoint == sim.endpoints[module]


@pytest.mark.parametrize(("module", "prefix"), [("TK-201", "s="), ("CH-301", "i=")])
async def test_every_manifest_node_exists(sim: RunningSimulator, module: str, prefix: str) -> None:
    manifest = sim.manifests[module]
    refs = all_refs(manifest)
    assert all(ref.identifier.startswith(prefix) for ref in refs)
    async with connected(sim, module) as (client, namespaces):
        nodes = [client.get_node(ref.node_id(namespaces)) for ref in refs]
        values = await client.read_values(nodes)
    assert len(values) == len(refs)
    if module == "CH-301":  # vendor namespace first: the module's index is not 2
        assert refs[0].node_id(namespaces).startswith("ns=3;")


async def test_offline_service_refuses_commands(sim: RunningSimulator) -> None:
    control = sim.manifests["TK-201"].services["Mix"].control
    async with connected(sim, "TK-201") as (client, ns):
        assert await client.get_node(control["StateOffAct"].node_id(ns)).read_value() is True
        assert await client.get_node(control["CommandEn"].node_id(ns)).read_value() == 0
        await write(client, control["CommandExt"].node_id(ns), int(C.START), ua.VariantType.UInt32)
        await wait_value(client, control["CommandExt"].node_id(ns), 0)  # consumed...
        assert await client.get_node(control["StateCur"].node_id(ns)).read_value() == S.IDLE


async def test_handshake_and_run_over_raw_opc_ua(sim: RunningSimulator) -> None:
    service = sim.manifests["TK-201"].services["Charge"]
    c = service.control
    volume = service.procedures["ChargeWater"].parameters["Volume"].nodes
    async with connected(sim, "TK-201") as (client, ns):
        await write(client, c["StateOpOp"].node_id(ns), True, ua.VariantType.Boolean)
        await wait_value(client, c["StateOpAct"].node_id(ns), True)
        await write(client, c["StateAutOp"].node_id(ns), True, ua.VariantType.Boolean)
        await wait_value(client, c["StateAutAct"].node_id(ns), True)
        await write(client, c["SrcExtOp"].node_id(ns), True, ua.VariantType.Boolean)
        await wait_value(client, c["SrcExtAct"].node_id(ns), True)
        await write(client, volume["VExt"].node_id(ns), 5.0, ua.VariantType.Float)
        await write(client, volume["ApplyExt"].node_id(ns), True, ua.VariantType.Boolean)
        await wait_value(client, volume["VOut"].node_id(ns), 5.0)
        en = await client.get_node(c["CommandEn"].node_id(ns)).read_value()
        assert not en & C.START  # no procedure requested yet
        await write(client, c["ProcedureExt"].node_id(ns), 1, ua.VariantType.UInt32)
        await wait_value(client, c["ProcedureReq"].node_id(ns), 1)
        assert await client.get_node(c["CommandEn"].node_id(ns)).read_value() & C.START
        await write(client, c["CommandExt"].node_id(ns), int(C.START), ua.VariantType.UInt32)
        await wait_value(client, c["ProcedureExt"].node_id(ns), 0)  # acknowledged at Starting
        await wait_value(client, c["StateCur"].node_id(ns), int(S.COMPLETED))  # 3 s sim
        assert await client.get_node(c["ProcedureCur"].node_id(ns)).read_value() == 1
    assert sim.server.model("TK-201").dynamics.values["Level"] == pytest.approx(5.0)


async def test_extra_load_tags_change(sim: RunningSimulator) -> None:
    manifest = sim.manifests["CH-301"]
    assert {"AI00000", "AI00001"} <= set(manifest.process_values)
    node_id = manifest.process_values["AI00001"].node
    async with connected(sim, "CH-301") as (client, ns):
        node = client.get_node(node_id.node_id(ns))
        first = await node.read_value()
        async with asyncio.timeout(5):
            while True:
                if await node.read_value() != first:
                    return
                await asyncio.sleep(0.02)


async def test_disconnect_keeps_the_process_and_reconnects_on_the_same_port(
    sim: RunningSimulator,
) -> None:
    endpoint = sim.endpoints["CH-301"]
    await sim.server.disconnect("CH-301")
    assert not sim.server.is_serving("CH-301")
    with pytest.raises((OSError, TimeoutError)):
        async with Client(endpoint, timeout=1):
            pass
    await sim.server.reconnect("CH-301")
    assert sim.server.endpoints["CH-301"] == endpoint
    state = sim.manifests["CH-301"].services["Chromatography"].control["StateCur"]
    async with connected(sim, "CH-301") as (client, ns):
        assert await client.get_node(state.node_id(ns)).read_value() == S.IDLE


async def test_a_client_write_is_taken_at_once_not_at_the_next_tick() -> None:
    """With a model tick of an hour, only the wake on a client's write can make the module
    take the requests: each is consumed within seconds, Start included (StateCur Starting;
    going on to Execute takes model time, so a tick)."""
    async with running_simulator(modules=("TK-201",), update_interval=3600.0) as slow:
        service = slow.manifests["TK-201"].services["Charge"]
        c = service.control
        async with connected(slow, "TK-201") as (client, ns):
            for request, answer in (("StateOpOp", "StateOpAct"), ("StateAutOp", "StateAutAct")):
                await write(client, c[request].node_id(ns), True, ua.VariantType.Boolean)
                await wait_value(client, c[answer].node_id(ns), True)
            await write(client, c["SrcExtOp"].node_id(ns), True, ua.VariantType.Boolean)
            await wait_value(client, c["SrcExtAct"].node_id(ns), True)
            await write(client, c["ProcedureExt"].node_id(ns), 1, ua.VariantType.UInt32)
            await wait_value(client, c["ProcedureReq"].node_id(ns), 1)
            await write(client, c["CommandExt"].node_id(ns), int(C.START), ua.VariantType.UInt32)
            await wait_value(client, c["CommandExt"].node_id(ns), 0)
            await wait_value(client, c["StateCur"].node_id(ns), int(S.STARTING))
