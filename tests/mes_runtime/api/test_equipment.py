"""MTP manifest import (admin), listing and download."""

from __future__ import annotations

import httpx
import pytest

from mes_runtime.mtp.manifest import (
    REQUIRED_PARAMETER_VARIABLES,
    REQUIRED_SERVICE_VARIABLES,
    ModuleManifest,
    NodeRef,
    ParameterManifest,
    ProcedureManifest,
    ProcessValueManifest,
    ServiceManifest,
    write_manifest,
    write_mtp_zip,
)
from tests.conftest import ApiUser, MakeUser


def _manifest(name: str = "TK-9", endpoint: str = "opc.tcp://127.0.0.1:4840") -> ModuleManifest:
    def ref(*parts: str) -> NodeRef:
        return NodeRef("urn:holon:test", "s=" + ".".join(parts))

    parameter = ParameterManifest(
        name="Volume",
        unit="L",
        minimum=0,
        maximum=2000,
        nodes={v: ref(name, "Charge", "Volume", v) for v in REQUIRED_PARAMETER_VARIABLES},
    )
    service = ServiceManifest(
        name="Charge",
        control={v: ref(name, "Charge", v) for v in REQUIRED_SERVICE_VARIABLES},
        procedures={"ChargeWater": ProcedureManifest("ChargeWater", 1, {"Volume": parameter})},
    )
    return ModuleManifest(
        name=name,
        endpoint=endpoint,
        services={"Charge": service},
        process_values={"Level": ProcessValueManifest("Level", "L", ref(name, "Level", "V"))},
    )


XML = {"Content-Type": "application/xml"}


@pytest.fixture
async def admin_headers(admin: ApiUser) -> dict[str, str]:
    return {**admin.headers, **XML}


async def test_import_list_get_and_download(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_user: MakeUser
) -> None:
    data = write_manifest(_manifest())
    created = await client.post("/api/v1/equipment", content=data, headers=admin_headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["name"], body["endpoint"]) == ("TK-9", "opc.tcp://127.0.0.1:4840")
    assert body["services"] == {"Charge": ["ChargeWater"]}
    assert body["process_values"] == {"Level": "L"}

    operator = await make_user("operator")
    listed = await client.get("/api/v1/equipment", headers=operator.headers)
    assert [e["name"] for e in listed.json()] == ["TK-9"]
    download = await client.get("/api/v1/equipment/TK-9/manifest", headers=operator.headers)
    assert download.content == data
    assert download.headers["x-manifest-digest"] == body["manifest_digest"]
    assert (await client.get("/api/v1/equipment/nope", headers=operator.headers)).status_code == 404


async def test_duplicate_needs_replace_and_zip_is_accepted(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    first = write_manifest(_manifest())
    assert (
        await client.post("/api/v1/equipment", content=first, headers=admin_headers)
    ).status_code == 201
    moved = write_mtp_zip(_manifest(endpoint="opc.tcp://127.0.0.1:4999"))
    conflict = await client.post("/api/v1/equipment", content=moved, headers=admin_headers)
    assert conflict.status_code == 409
    assert conflict.json()["detail"][0]["loc"] == ["body", "name"]
    replaced = await client.post(
        "/api/v1/equipment?replace=true", content=moved, headers=admin_headers
    )
    assert replaced.status_code == 201
    assert replaced.json()["endpoint"] == "opc.tcp://127.0.0.1:4999"


async def test_bad_manifest_is_422_naming_the_problem(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.post("/api/v1/equipment", content=b"<not-xml", headers=admin_headers)
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert detail["loc"][0] == "body"
    assert detail["msg"]
    empty = await client.post("/api/v1/equipment", content=b"", headers=admin_headers)
    assert empty.status_code == 422


async def test_only_admin_imports(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    supervisor = await make_user("supervisor")
    response = await client.post(
        "/api/v1/equipment",
        content=write_manifest(_manifest()),
        headers={**supervisor.headers, **XML},
    )
    assert response.status_code == 403
