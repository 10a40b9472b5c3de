"""Importing vendor-structured manifests: the response says everything the module offers
and everything the reader left out; a bad manifest is refused with every located error."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import httpx
import pytest

from holon_testing.simulator import running_simulator
from holon_testing.vendor_mtp import build, to_bytes
from mes_runtime.mtp.manifest import NodeRef, write_manifest
from tests.conftest import ApiUser
from tests.mes_runtime.mtp.test_presence import with_state_node
from tests.mes_runtime.mtp.test_vendor_manifest import (
    STIRRER,
    instance_list,
    named,
    remove_service_set,
    services_hierarchy,
    set_value,
    stir,
)

XML = {"Content-Type": "application/xml"}


@pytest.fixture
async def admin_headers(admin: ApiUser) -> dict[str, str]:
    return {**admin.headers, **XML}


async def test_import_lists_services_procedures_parameters_and_values(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    root = build(replace(STIRRER, version="1.0.0", id_style="numeric"))
    stir(root).remove(next(a for a in stir(root) if a.get("Name") == "IsSelfCompleting"))
    response = await client.post("/api/v1/equipment", content=to_bytes(root), headers=admin_headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["manifest_version"] == "1.0.0"
    assert body["services"] == {"Stirring": ["Pulse", "Stir"], "Tempering": ["Hold"]}
    stirring = next(s for s in body["service_details"] if s["name"] == "Stirring")
    pulse = next(p for p in stirring["procedures"] if p["name"] == "Pulse")
    assert (pulse["procedure_id"], pulse["self_completing"]) == (2, True)
    assert pulse["parameters"] == [
        {"name": "Speed", "unit": "rpm", "minimum": 50.0, "maximum": 800.0, "live": []},
        {"name": "Time", "unit": "s", "minimum": 1.0, "maximum": 60.0, "live": []},
    ]
    hold = body["service_details"][1]["procedures"][0]
    assert (hold["name"], hold["self_completing"]) == ("Hold", False)
    assert body["process_value_details"] == [
        {"name": "TI101", "unit": "degC", "live_unit": False},
        {"name": "LS101", "unit": "", "live_unit": False},
    ]
    [warning] = body["warnings"]
    assert warning["severity"] == "warning"
    assert warning["path"].endswith("Services/Stirring/Stir")
    assert warning["element_id"]
    assert "IsSelfCompleting" in warning["problem"]


async def test_live_ranges_are_reported_as_live(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    data = to_bytes(build(replace(STIRRER, name="HC31", live_ranges=True)))
    response = await client.post("/api/v1/equipment", content=data, headers=admin_headers)
    assert response.status_code == 201, response.text
    stirring = response.json()["service_details"][0]
    speed = stirring["procedures"][0]["parameters"][0]
    assert speed == {
        "name": "Speed",
        "unit": "",
        "minimum": None,
        "maximum": None,
        "live": ["VMin", "VMax", "VUnit"],
    }


async def test_every_error_is_returned_located_and_nothing_is_stored(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    root = build(STIRRER)
    set_value(named(instance_list(root), "Stirring_Stir_Speed"), "VMin", "low")
    tempering = named(services_hierarchy(root), "Tempering")
    set_value(tempering, "RefID", "nowhere")
    response = await client.post("/api/v1/equipment", content=to_bytes(root), headers=admin_headers)
    assert response.status_code == 422
    detail = response.json()["detail"]
    by_msg = {d["msg"]: d for d in detail}
    assert "VMin is not a number: 'low'" in by_msg
    nowhere = by_msg["RefID 'nowhere' points nowhere"]
    assert nowhere["loc"] == ["body", "Services/Tempering"]
    assert nowhere["ctx"]["element_id"] == tempering.get("ID")
    listed = await client.get("/api/v1/equipment", headers=admin_headers)
    assert listed.json() == []


async def test_no_services_is_refused_unless_monitoring_only(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    root = build(STIRRER)
    remove_service_set(root)
    data = to_bytes(root)
    refused = await client.post("/api/v1/equipment", content=data, headers=admin_headers)
    assert refused.status_code == 422
    assert "declares no services" in refused.json()["detail"][0]["msg"]
    assert "monitoring_only" in refused.json()["detail"][0]["msg"]
    accepted = await client.post(
        "/api/v1/equipment?monitoring_only=true", content=data, headers=admin_headers
    )
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["services"] == {}
    problems = [w["problem"] for w in accepted.json()["warnings"]]
    assert problems[0] == "no ServiceSet: the module offers no services"
    # The service data assemblies nobody reaches any more are named, not dropped silently.
    assert any("ServiceControl is not used" in p for p in problems[1:])


async def _listed(client: httpx.AsyncClient, headers: dict[str, str], name: str) -> dict[str, Any]:
    response = await client.get("/api/v1/equipment", headers=headers)
    return next(e for e in response.json() if e["name"] == name)


async def test_a_module_with_a_missing_node_is_listed_not_connected_naming_it(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    async with running_simulator(modules=("TK-201",), time_factor=60.0) as sim:
        good = sim.manifests["TK-201"]
        namespace = good.services["Charge"].control["StateCur"].namespace
        missing = NodeRef(namespace, "s=TK-201.Gone.StateCur")
        broken = with_state_node(good, missing, service="Charge")
        response = await client.post(
            "/api/v1/equipment", content=write_manifest(broken), headers=admin_headers
        )
        assert response.status_code == 201, response.text
        async with asyncio.timeout(15):
            while not (entry := await _listed(client, admin_headers, "TK-201"))[
                "connection_problem"
            ]:
                await asyncio.sleep(0.1)
        assert entry["connected"] is False
        assert "Charge.StateCur (ns=" in entry["connection_problem"]
        assert "s=TK-201.Gone.StateCur): BadNodeIdUnknown" in entry["connection_problem"]
