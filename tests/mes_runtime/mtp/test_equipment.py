"""MtpEquipment against the simulator over real OPC UA TCP, driven by manifests only."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from holon_testing.net import free_port
from holon_testing.simulator import RunningSimulator
from mes_runtime.engine.ports import (
    ConnectionLost,
    ConnectionRestored,
    EquipmentEvent,
    EquipmentPort,
    ProcessSample,
    ServiceStateChanged,
)
from mes_runtime.mtp.codes import ServiceCommand as C
from mes_runtime.mtp.codes import ServiceState as S
from mes_runtime.mtp.equipment import MtpEquipment
from mes_runtime.mtp.errors import (
    CommandNotEnabled,
    EquipmentUnavailable,
    ParameterRejected,
    UnknownElement,
)
from mes_runtime.mtp.manifest import REQUIRED_SERVICE_VARIABLES
from tests.mes_runtime.mtp.conftest import drain, next_event

pytestmark = pytest.mark.asyncio(loop_scope="module")

FED_BATCH = {
    "TemperatureSP": 37.0,
    "pHSP": 7.0,
    "DOSP": 40.0,
    "AgitatorSpeed": 150.0,
    "Duration": 0.5,  # h: half a second at time factor 3600
    "FeedRate": 2.0,
}


def state_of(equipment: str, service: str, state: S) -> object:
    def match(event: EquipmentEvent) -> bool:
        return (
            isinstance(event, ServiceStateChanged)
            and event.equipment == equipment
            and event.service == service
            and event.state is state
        )

    return match


async def reset_to_idle(equipment: MtpEquipment, module: str, service: str) -> None:
    await equipment.command(module, service, C.RESET)
    async with asyncio.timeout(10):
        while True:
            if await equipment.service_state(module, service) is S.IDLE:
                return
            await asyncio.sleep(0.02)


async def test_is_an_equipment_port(equipment: MtpEquipment) -> None:
    port: EquipmentPort = equipment
    assert port.is_connected("BR-101")
    assert port.is_connected("CH-301")
    assert not port.is_connected("XX-999")


async def test_capabilities_come_from_the_manifests(equipment: MtpEquipment) -> None:
    capabilities = equipment.capabilities()
    assert set(capabilities) == {"BR-101", "CH-301"}
    assert set(capabilities["BR-101"]) == {"Prepare", "Cultivate", "Harvest"}
    assert set(capabilities["CH-301"]["Chromatography"]) == {"Equilibrate", "Load", "Wash", "Elute"}
    flow = capabilities["CH-301"]["Chromatography"]["Load"]["FlowRate"]
    assert (flow.unit, flow.minimum, flow.maximum) == ("mL/min", 0.0, 1000.0)


async def test_procedure_runs_to_completed(equipment: MtpEquipment, sim: RunningSimulator) -> None:
    drain(equipment)
    assert await equipment.service_state("BR-101", "Cultivate") is S.IDLE
    await equipment.start_procedure("BR-101", "Cultivate", "FedBatch", FED_BATCH)
    running = await next_event(equipment, state_of("BR-101", "Cultivate", S.EXECUTE))
    assert isinstance(running, ServiceStateChanged)
    assert running.procedure == 1
    await next_event(equipment, state_of("BR-101", "Cultivate", S.COMPLETED))
    assert await equipment.service_state("BR-101", "Cultivate") is S.COMPLETED
    model = sim.server.model("BR-101")
    assert model.applied("Cultivate", "FedBatch") == pytest.approx(FED_BATCH)
    await reset_to_idle(equipment, "BR-101", "Cultivate")


async def test_numeric_layout_module_runs_elute(equipment: MtpEquipment) -> None:
    drain(equipment)
    await equipment.start_procedure(
        "CH-301", "Chromatography", "Elute", {"FlowRate": 1000.0, "Volume": 2.0}
    )
    done = await next_event(equipment, state_of("CH-301", "Chromatography", S.COMPLETED))
    assert isinstance(done, ServiceStateChanged)
    assert done.procedure == 4
    await reset_to_idle(equipment, "CH-301", "Chromatography")


async def test_process_values_arrive_with_units(equipment: MtpEquipment) -> None:
    drain(equipment)
    seen: dict[tuple[str, str], ProcessSample] = {}
    async with asyncio.timeout(10):
        while len(seen) < 10:
            event = await equipment.events.get()
            if isinstance(event, ProcessSample):
                seen[(event.equipment, event.name)] = event
    assert seen[("CH-301", "UV280")].unit == "mAU"
    assert seen[("BR-101", "VCD")].unit == "1e6 cells/mL"
    assert seen[("BR-101", "Temperature")].timestamp.tzinfo is not None


async def test_command_en_is_respected_and_hold_unhold(equipment: MtpEquipment) -> None:
    drain(equipment)
    long_run = dict(FED_BATCH, Duration=400.0)
    await equipment.start_procedure("BR-101", "Cultivate", "FedBatch", long_run)
    await next_event(equipment, state_of("BR-101", "Cultivate", S.EXECUTE))
    with pytest.raises(CommandNotEnabled, match="START is not enabled in state EXECUTE") as err:
        await equipment.command("BR-101", "Cultivate", C.START)
    assert err.value.service == "Cultivate"
    with pytest.raises(CommandNotEnabled, match="UNHOLD"):
        await equipment.command("BR-101", "Cultivate", C.UNHOLD)
    await equipment.command("BR-101", "Cultivate", C.HOLD)
    await next_event(equipment, state_of("BR-101", "Cultivate", S.HELD))
    await equipment.command("BR-101", "Cultivate", C.UNHOLD)
    await next_event(equipment, state_of("BR-101", "Cultivate", S.EXECUTE))
    await equipment.command("BR-101", "Cultivate", C.PAUSE)
    await next_event(equipment, state_of("BR-101", "Cultivate", S.PAUSED))
    await equipment.command("BR-101", "Cultivate", C.RESUME)
    await next_event(equipment, state_of("BR-101", "Cultivate", S.EXECUTE))
    await equipment.command("BR-101", "Cultivate", C.STOP)
    await next_event(equipment, state_of("BR-101", "Cultivate", S.STOPPED))
    await reset_to_idle(equipment, "BR-101", "Cultivate")


async def test_out_of_range_parameter_is_rejected_by_the_module(equipment: MtpEquipment) -> None:
    with pytest.raises(ParameterRejected, match="Duration"):
        await equipment.start_procedure(
            "BR-101", "Cultivate", "FedBatch", dict(FED_BATCH, Duration=999.0)
        )
    assert await equipment.service_state("BR-101", "Cultivate") is S.IDLE


async def test_unknown_names(equipment: MtpEquipment) -> None:
    with pytest.raises(UnknownElement, match="Sterilize"):
        await equipment.start_procedure("BR-101", "Sterilize", "X", {})
    with pytest.raises(UnknownElement, match="Perfusion"):
        await equipment.start_procedure("BR-101", "Cultivate", "Perfusion", {})
    with pytest.raises(UnknownElement, match="Colour"):
        await equipment.start_procedure("BR-101", "Cultivate", "FedBatch", {"Colour": 1.0})
    with pytest.raises(EquipmentUnavailable):
        await equipment.service_state("XX-999", "Cultivate")


async def test_disconnect_mid_procedure_and_recover(
    equipment: MtpEquipment, sim: RunningSimulator
) -> None:
    drain(equipment)
    # 500 L at 1 L/min: 30,000 simulated seconds, about 8 real seconds.
    await equipment.start_procedure(
        "BR-101", "Harvest", "Harvest", {"Volume": 500.0, "FlowRate": 1.0}
    )
    await next_event(equipment, state_of("BR-101", "Harvest", S.EXECUTE))
    await sim.server.disconnect("BR-101")
    lost = await next_event(equipment, lambda e: isinstance(e, ConnectionLost))
    assert isinstance(lost, ConnectionLost)
    assert lost.equipment == "BR-101"
    assert not equipment.is_connected("BR-101")
    assert equipment.is_connected("CH-301")
    with pytest.raises(EquipmentUnavailable):
        await equipment.service_state("BR-101", "Harvest")
    elapsed_before = sim.server.model("BR-101").machines["Harvest"].elapsed
    await asyncio.sleep(0.3)
    assert sim.server.model("BR-101").machines["Harvest"].elapsed > elapsed_before  # runs on
    await sim.server.reconnect("BR-101")
    restored = await next_event(equipment, lambda e: isinstance(e, ConnectionRestored))
    assert restored.equipment == "BR-101"
    assert equipment.is_connected("BR-101")
    assert await equipment.service_state("BR-101", "Harvest") is S.EXECUTE
    await next_event(equipment, state_of("BR-101", "Harvest", S.EXECUTE))  # re-subscribed
    await equipment.command("BR-101", "Harvest", C.ABORT)
    await next_event(equipment, state_of("BR-101", "Harvest", S.ABORTED))
    await reset_to_idle(equipment, "BR-101", "Harvest")


async def test_unreachable_module_reports_connection_lost(sim: RunningSimulator) -> None:
    manifest = sim.manifests["CH-301"]
    nowhere = type(manifest)(
        "XX-999",
        f"opc.tcp://127.0.0.1:{free_port()}",
        manifest.services,
        manifest.process_values,
    )
    async with MtpEquipment(reconnect_delay=0.1, check_interval=0.1) as port:
        port.add_module(nowhere)
        lost = await next_event(port, lambda e: isinstance(e, ConnectionLost), within=10)
        assert isinstance(lost, ConnectionLost)
        assert "cannot connect" in lost.reason
        assert not port.is_connected("XX-999")
        with pytest.raises(EquipmentUnavailable):
            await port.command("XX-999", "Chromatography", C.START)


async def test_minimal_manifest_without_procedure_req(sim: RunningSimulator) -> None:
    """Only the required ServiceControl variables: Start waits for CommandEn instead."""
    full = sim.manifests["BR-101"]
    services = {
        name: dataclasses.replace(
            service,
            control={k: v for k, v in service.control.items() if k in REQUIRED_SERVICE_VARIABLES},
        )
        for name, service in full.services.items()
    }
    minimal = dataclasses.replace(full, services=services)
    async with MtpEquipment(reconnect_delay=0.1, check_interval=0.1) as port:
        port.add_module(minimal)
        async with asyncio.timeout(15):
            await port.wait_connected()
        await port.start_procedure("BR-101", "Prepare", "Fill", {"Volume": 50.0})
        await next_event(port, state_of("BR-101", "Prepare", S.COMPLETED))
        await reset_to_idle(port, "BR-101", "Prepare")
