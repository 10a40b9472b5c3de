"""Holon's MTP edge against a PEA on another OPC UA stack (node-opcua), driven only by
vendor-structured manifests: string and numeric ids, a foreign namespace URI, constant
and live ranges, a self-completing and a continuous procedure."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import pytest
import pytest_asyncio

from holon_testing.node_pea import running_node_pea
from holon_testing.vendor_mtp import build, to_bytes
from mes_runtime.engine.ports import ConnectionLost, ProcessSample, ServiceStateChanged
from mes_runtime.mtp.codes import ServiceCommand as C
from mes_runtime.mtp.codes import ServiceState as S
from mes_runtime.mtp.equipment import MtpEquipment
from mes_runtime.mtp.errors import ParameterRejected
from mes_runtime.mtp.manifest import ModuleManifest, NodeRef, load_manifest
from tests.mes_runtime.mtp.conftest import drain, next_event
from tests.mes_runtime.mtp.test_vendor_manifest import STIRRER

pytestmark = pytest.mark.asyncio(loop_scope="module")

#: One PEA with string ids and constant ranges (manifest 1.1.0), one with numeric ids
#: and live ranges (manifest 1.0.0); both in a namespace Holon never registers itself.
PEAS = {
    "HC-S": replace(STIRRER, name="HC-S", id_style="string", version="1.1.0"),
    "HC-N": replace(STIRRER, name="HC-N", id_style="numeric", version="1.0.0", live_ranges=True),
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ModuleManifest]]:
    workdir = tmp_path_factory.mktemp("node-pea")
    with (
        running_node_pea(PEAS["HC-S"], workdir) as first,
        running_node_pea(PEAS["HC-N"], workdir) as second,
    ):
        yield {m.name: load_manifest(to_bytes(build(m))) for m in (first, second)}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def port(served: dict[str, ModuleManifest]) -> AsyncIterator[MtpEquipment]:
    equipment = MtpEquipment(reconnect_delay=0.2, check_interval=0.2, request_timeout=5.0)
    for manifest in served.values():
        equipment.add_module(manifest)
    async with equipment:
        async with asyncio.timeout(60):
            await equipment.wait_connected()
        yield equipment


def state_of(module: str, state: S) -> object:
    return lambda e: (
        isinstance(e, ServiceStateChanged)
        and e.equipment == module
        and e.service == "Stirring"
        and e.state is state
    )


async def reset_to_idle(port: MtpEquipment, module: str) -> None:
    if await port.service_state(module, "Stirring") is not S.IDLE:
        await port.command(module, "Stirring", C.RESET)
        await next_event(port, state_of(module, S.IDLE))
    drain(port)


@pytest.mark.parametrize("module", sorted(PEAS))
async def test_connected_with_every_declared_node(port: MtpEquipment, module: str) -> None:
    assert port.is_connected(module)
    assert port.node_problems(module) == ()


@pytest.mark.parametrize("module", sorted(PEAS))
async def test_self_completing_procedure_runs_to_completed(port: MtpEquipment, module: str) -> None:
    await reset_to_idle(port, module)
    await port.start_procedure(module, "Stirring", "Pulse", {"Speed": 300.0, "Time": 5.0})
    executing = await next_event(port, state_of(module, S.EXECUTE))
    assert isinstance(executing, ServiceStateChanged)
    assert executing.procedure == 2
    await next_event(port, state_of(module, S.COMPLETED))


@pytest.mark.parametrize("module", sorted(PEAS))
async def test_continuous_procedure_ends_only_with_complete(
    port: MtpEquipment, module: str, served: dict[str, ModuleManifest]
) -> None:
    assert served[module].services["Stirring"].procedures["Stir"].self_completing is False
    await reset_to_idle(port, module)
    await port.start_procedure(module, "Stirring", "Stir", {"Speed": 500.0})
    await next_event(port, state_of(module, S.EXECUTE))
    # Longer than the self-completing one needs: a continuous procedure stays in Execute.
    with pytest.raises(TimeoutError):
        await next_event(port, state_of(module, S.COMPLETED), within=1.5)
    assert await port.service_state(module, "Stirring") is S.EXECUTE
    await port.command(module, "Stirring", C.COMPLETE)
    await next_event(port, state_of(module, S.COMPLETED))


@pytest.mark.parametrize("module", sorted(PEAS))
async def test_out_of_range_parameter_is_rejected_by_the_pea(
    port: MtpEquipment, module: str
) -> None:
    await reset_to_idle(port, module)
    with pytest.raises(ParameterRejected, match="Speed"):
        await port.start_procedure(module, "Stirring", "Stir", {"Speed": 9000.0})
    assert await port.service_state(module, "Stirring") is S.IDLE


async def test_process_values_arrive_with_their_units(served: dict[str, ModuleManifest]) -> None:
    equipment = MtpEquipment(reconnect_delay=0.2, check_interval=0.2, request_timeout=5.0)
    equipment.add_module(served["HC-S"])
    async with equipment:
        sample = await next_event(
            equipment, lambda e: isinstance(e, ProcessSample) and e.name == "TI101", within=30
        )
    assert isinstance(sample, ProcessSample)
    assert (sample.equipment, sample.value, sample.unit) == ("HC-S", 21.5, "degC")


async def test_a_node_the_pea_does_not_serve_is_named(
    served: dict[str, ModuleManifest],
) -> None:
    good = served["HC-N"]
    service = good.services["Stirring"]
    namespace = service.control["StateCur"].namespace
    control = {**service.control, "CommandEn": NodeRef(namespace, "i=999999")}
    broken = replace(
        good,
        name="HC-N-broken",
        services={**good.services, "Stirring": replace(service, control=control)},
    )
    equipment = MtpEquipment(reconnect_delay=0.2, check_interval=0.2, request_timeout=5.0)
    equipment.add_module(broken)
    async with equipment:
        lost = await next_event(equipment, lambda e: isinstance(e, ConnectionLost), within=30)
        assert isinstance(lost, ConnectionLost)
        assert "Stirring.CommandEn" in lost.reason
        assert "i=999999" in lost.reason
        assert not equipment.is_connected("HC-N-broken")
