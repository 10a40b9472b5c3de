"""The equipment check against real OPC UA servers over TCP.

Two kinds of server: the project's MTP simulator (``mes_runtime simulate``, a subprocess,
in both node-id layouts, so the check is shown not to depend on node ids), and a small
in-process asyncua server laid out like a PLC vendor would (services nested deep, one of
them a structured variable, decoys shaped almost like services).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from asyncua import ua
from asyncua.server.server import Server
from mes_operator.equipment.check import (
    MESSAGE_NAMES,
    MESSAGE_NODES,
    SERVICE_SIGNATURE,
    ServiceSurvey,
    check_equipment,
    is_service,
    missing_message,
)
from mes_operator.equipment.manifest import manifest_from_config_map, manifest_not_found

from holon_testing.net import free_port
from holon_testing.simulator_process import SimulatedModule, simulated_module
from mtp_manifest import ModuleManifest

LAYOUTS = ("string", "numeric")
TANK = "TK-201"
TANK_SERVICES = ("AdjustPH", "Charge", "Mix")

# One loop per module for the in-process server: starting asyncua takes seconds.
module_loop = pytest.mark.asyncio(loop_scope="module")


# ------------------------------------------------------------------ the real simulator


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, SimulatedModule]]:
    """TK-201 served by ``mes_runtime simulate`` in each layout (started side by side)."""
    with simulated_module(TANK, LAYOUTS, tmp_path_factory.mktemp("simulator")) as modules:
        yield modules


@pytest.mark.parametrize("layout", LAYOUTS)
async def test_simulator_module_is_verified(
    simulated: dict[str, SimulatedModule], layout: str
) -> None:
    tank = simulated[layout]
    result = await check_equipment(tank.endpoint, ["Charge", "Mix", "AdjustPH"])
    assert (result.connected, result.verified) == (True, True)
    assert result.reason == "AllServicesPresent"
    assert result.found == ("Charge", "Mix", "AdjustPH")
    assert result.missing == ()


@pytest.mark.parametrize("layout", LAYOUTS)
async def test_offered_services_are_the_manifests(
    simulated: dict[str, SimulatedModule], layout: str
) -> None:
    tank = simulated[layout]
    result = await check_equipment(tank.endpoint, [])
    assert result.offered == tuple(sorted(tank.manifest.services)) == TANK_SERVICES


@pytest.mark.parametrize("layout", LAYOUTS)
async def test_service_of_another_module_is_missing_and_named(
    simulated: dict[str, SimulatedModule], layout: str
) -> None:
    tank = simulated[layout]
    result = await check_equipment(tank.endpoint, ["Charge", "Cultivate"])
    assert result.connected
    assert not result.verified
    assert result.reason == "ServiceMissing"
    assert result.found == ("Charge",)
    assert result.missing == ("Cultivate",)
    assert "lacks required MTP service(s): Cultivate;" in result.message
    assert result.message.endswith("it offers AdjustPH, Charge, Mix")


@pytest.mark.parametrize("layout", LAYOUTS)
async def test_nodes_that_are_not_services_do_not_verify(
    simulated: dict[str, SimulatedModule], layout: str
) -> None:
    """Folders, the module, procedures, parameters and process values of the manifest."""
    tank = simulated[layout]
    manifest = tank.manifest
    names = {manifest.name, "Services", "ProcessValues", *manifest.process_values}
    for service in manifest.services.values():
        for procedure in service.procedures.values():
            names |= {procedure.name, *procedure.parameters}
    decoys = sorted(names - set(manifest.services))
    assert {"Temperature", "Titrate", "Volume", TANK} <= set(decoys)
    result = await check_equipment(tank.endpoint, decoys)
    assert not result.verified
    assert result.found == ()
    assert result.missing == tuple(decoys)


@pytest.mark.parametrize("layout", LAYOUTS)
async def test_the_simulators_published_manifest_verifies_node_by_node(
    simulated: dict[str, SimulatedModule], layout: str
) -> None:
    """The manifest file the simulator publishes, read as the operator reads a ConfigMap."""
    tank = simulated[layout]
    manifest = manifest_from_config_map(
        {"tank.aml": tank.manifest_path.read_text()}, None, name="tank", key="tank.aml"
    )
    assert isinstance(manifest, ModuleManifest)
    result = await check_equipment(tank.endpoint, ["Charge"], manifest=manifest)
    assert (result.verified, result.reason, result.found) == (
        True,
        "AllServicesPresent",
        ("Charge",),
    )
    assert result.missing_nodes == ()
    # the same manifest against another module's server: every node named, none served
    other = simulated[LAYOUTS[1] if layout == LAYOUTS[0] else LAYOUTS[0]]
    crossed = await check_equipment(other.endpoint, [], manifest=manifest)
    assert (crossed.verified, crossed.reason) == (False, "NodesMissing")
    assert len(crossed.missing_nodes) == len(manifest.nodes())
    assert set(crossed.missing) == set(TANK_SERVICES)
    assert crossed.found == ()
    declared = len(manifest.nodes())
    assert f"{declared} declared node(s) missing or bad" in crossed.message
    assert f"; and {declared - MESSAGE_NODES} more" in crossed.message  # the first few named


async def test_an_unavailable_manifest_is_connected_but_not_verified(
    simulated: dict[str, SimulatedModule],
) -> None:
    tank = simulated[LAYOUTS[0]]
    missing = manifest_not_found("tank-mtp", "plant")
    result = await check_equipment(tank.endpoint, ["Charge"], manifest=missing)
    assert (result.connected, result.verified) == (True, False)
    assert (result.reason, result.message) == ("ManifestNotFound", missing.message)
    assert "ConfigMap plant/tank-mtp" in result.message


# ------------------------------------------------- a vendor-like in-process server

VENDOR_SERVICES = ("Dosing", "Temperature")
# MTP nesting on a PLC: device set, controller, application, global variables, ...
VENDOR_PATH = ("DeviceSet", "PLC1", "Resources", "Application", "GlobalVars", "MTP", "Services")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def vendor() -> AsyncIterator[str]:
    """Services nine levels below Objects: ``Dosing`` an object, ``Temperature`` a
    structured variable; decoys: a process value object and a half-shaped service."""
    url = f"opc.tcp://127.0.0.1:{free_port()}/holon-test/"
    server = Server()
    await server.init()
    server.set_endpoint(url)
    await server.register_namespace("http://vendor.example.com/Types/")
    ns = await server.register_namespace("http://vendor.example.com/PEA/Bioreactor/")
    parent = server.nodes.objects
    for name in VENDOR_PATH:
        parent = await parent.add_folder(ns, name)
    dosing = await parent.add_object(ns, "Dosing")
    structured = await parent.add_variable(ns, "Temperature", 0, ua.VariantType.UInt32)
    for service in (dosing, structured):
        for name in sorted(SERVICE_SIGNATURE):
            await service.add_variable(ns, name, 0, ua.VariantType.UInt32)
    await (await parent.add_object(ns, "Harvest")).add_variable(ns, "StateCur", 0)
    values = await (await server.nodes.objects.add_object(ns, "Bioreactor")).add_folder(
        ns, "ProcessValues"
    )
    await (await values.add_object(ns, "Agitation")).add_variable(ns, "V", 0.0)
    async with server:
        yield url


@module_loop
async def test_nested_object_and_structured_variable_services_are_found(vendor: str) -> None:
    result = await check_equipment(vendor, ["Dosing", "Temperature"], connect_timeout=5)
    assert (result.connected, result.verified) == (True, True)
    assert result.found == ("Dosing", "Temperature")
    assert result.offered == VENDOR_SERVICES


@module_loop
async def test_nodes_not_shaped_like_services_are_missing(vendor: str) -> None:
    decoys = ["Harvest", "Agitation", "Services", "StateCur", "Bioreactor"]
    result = await check_equipment(vendor, ["Dosing", *decoys], connect_timeout=5)
    assert not result.verified
    assert result.reason == "ServiceMissing"
    assert result.missing == tuple(decoys)
    assert result.message.endswith("it offers Dosing, Temperature")


@module_loop
async def test_a_cut_short_browse_says_so(vendor: str) -> None:
    result = await check_equipment(vendor, ["Dosing"], connect_timeout=5, max_nodes=3)
    assert result.connected
    assert not result.verified
    assert result.missing == ("Dosing",)
    assert "it offers no MTP service" in result.message
    assert result.message.endswith("(browse stopped after 3 nodes)")


@module_loop
async def test_dead_endpoint_is_not_connected_with_a_reason() -> None:
    dead = f"opc.tcp://127.0.0.1:{free_port()}/"
    result = await check_equipment(dead, ["Dosing"], connect_timeout=2)
    assert not result.connected
    assert not result.verified
    assert result.reason == "Unreachable"
    assert dead in result.message


# ------------------------------------------------------------------------ pure parts


def test_service_shape_needs_the_whole_signature() -> None:
    assert is_service(["TagName", "StateCur", "CommandEn", "CommandOp"])
    assert not is_service(["StateCur", "CommandOp"])
    assert not is_service(["V", "VUnit"])


def test_long_offer_lists_are_shortened() -> None:
    offered = [f"S{index:03d}" for index in range(MESSAGE_NAMES + 5)]
    survey = ServiceSurvey(services=frozenset(offered), nodes_browsed=99, complete=True)
    message = missing_message("opc.tcp://plc:4840", ["Cultivate"], offered, survey)
    assert message.startswith("opc.tcp://plc:4840 lacks required MTP service(s): Cultivate;")
    assert f"S{MESSAGE_NAMES - 1:03d} and 5 more" in message
    assert f"S{MESSAGE_NAMES:03d}" not in message
