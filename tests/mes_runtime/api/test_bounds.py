"""No cheap denial of service: every input an attacker controls is bounded before it costs
more than its own size, and is answered with a 4xx naming the problem (issue #13)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import AsyncIterator
from importlib import resources

import httpx
import pytest
from fastapi import FastAPI

from mes_runtime.api.app import DEFAULT_BODY_LIMIT, DOCUMENT_ROUTES
from mes_runtime.api.bodies import MAX_DOCUMENT_BYTES, MAX_DOCUMENT_DEPTH
from mes_runtime.mtp.manifest import MAX_AML_BYTES, MAX_XML_DEPTH
from tests.conftest import ApiUser, MakeUser

YAML = {"Content-Type": "application/yaml"}
RECIPE_YAML = (resources.files("mes_runtime.library") / "buffer-prep-only.yaml").read_text()


@pytest.fixture
async def supervisor(make_user: MakeUser) -> ApiUser:
    return await make_user("supervisor")


def _problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert len(detail) == 1, detail
    problem: dict[str, object] = detail[0]
    return problem


# --------------------------------------------------------------------------- body sizes


async def test_an_oversized_login_body_is_refused_from_its_announced_length(
    client: httpx.AsyncClient,
) -> None:
    body = json.dumps({"username": "x", "password": "p" * (DEFAULT_BODY_LIMIT + 1)})
    response = await client.post(
        "/api/v1/auth/token", content=body, headers={"Content-Type": "application/json"}
    )
    problem = _problem(response, 413)
    assert problem["loc"] == ["body"]
    assert problem["type"] == "too_large"
    assert str(DEFAULT_BODY_LIMIT) in str(problem["msg"])
    assert response.headers["connection"] == "close"


async def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(
    client: httpx.AsyncClient,
) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"username": "x", "password": "'
        for _ in range(1024):  # 64 MiB if it were all read
            sent += 1
            yield b"p" * 65536
        yield b'"}'

    response = await client.post(
        "/api/v1/auth/token", content=chunks(), headers={"Content-Type": "application/json"}
    )
    problem = _problem(response, 413)
    assert problem["type"] == "too_large"
    assert sent < 4, f"{sent} chunks of 64 KiB were read before the refusal"


async def test_document_routes_take_documents_up_to_their_own_limit(
    client: httpx.AsyncClient, supervisor: ApiUser
) -> None:
    # a real recipe padded past the default limit is still a recipe
    padded = RECIPE_YAML + "\n# padding\n" + ("#" + "x" * 79 + "\n") * (DEFAULT_BODY_LIMIT // 80)
    assert len(padded) > DEFAULT_BODY_LIMIT
    imported = await client.post(
        "/api/v1/recipes", content=padded, headers={**YAML, **supervisor.headers}
    )
    assert imported.status_code == 201, imported.text
    too_big = "#" * (MAX_DOCUMENT_BYTES + 1)
    refused = await client.post(
        "/api/v1/recipes/validate", content=too_big, headers={**YAML, **supervisor.headers}
    )
    assert str(MAX_DOCUMENT_BYTES) in str(_problem(refused, 413)["msg"])


def test_every_document_route_in_the_limit_table_exists(app: FastAPI) -> None:
    described = app.openapi()["paths"]
    for method, path in DOCUMENT_ROUTES:
        assert method.lower() in described.get(path, {}), (method, path)


# --------------------------------------------------------------------------- documents


async def test_a_yaml_alias_bomb_is_refused_before_it_expands(
    client: httpx.AsyncClient, supervisor: ApiUser
) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for n in range(1, 10):
        previous = f"*a{n - 1}"
        lines.append(f"a{n}: &a{n} [{', '.join([previous] * 9)}]")
    bomb = "\n".join(lines) + "\n"
    assert len(bomb) < 4096  # 9^10 ~ 3.5 billion strings if expanded
    response = await client.post(
        "/api/v1/recipes/validate", content=bomb, headers={**YAML, **supervisor.headers}
    )
    problem = _problem(response, 422)
    assert problem["type"] == "parse_error"
    assert "aliases" in str(problem["msg"])


@pytest.mark.parametrize("kind", ["json", "yaml"])
async def test_documents_nested_too_deep_are_refused(
    client: httpx.AsyncClient, supervisor: ApiUser, kind: str
) -> None:
    depth = 5000
    if kind == "json":
        body, content_type = "[" * depth + "]" * depth, "application/json"
    else:
        body, content_type = "[" * depth + "]" * depth, "application/yaml"
    response = await client.post(
        "/api/v1/recipes/validate",
        content=body,
        headers={"Content-Type": content_type, **supervisor.headers},
    )
    problem = _problem(response, 422)
    assert problem["type"] == "too_deep"
    assert str(MAX_DOCUMENT_DEPTH) in str(problem["msg"])


async def test_a_document_at_the_depth_limit_is_parsed(
    client: httpx.AsyncClient, supervisor: ApiUser
) -> None:
    inner = MAX_DOCUMENT_DEPTH - 1  # the outer mapping is one level
    body = json.dumps({"header": "[" * inner + "]" * inner})
    nested = body.replace('"[', "[").replace(']"', "]")
    response = await client.post(
        "/api/v1/recipes/validate", content=nested, headers=supervisor.headers
    )
    # parsed: the refusal is about the recipe's shape, not about its depth
    assert response.status_code == 422, response.text
    assert all(p["type"] != "too_deep" for p in response.json()["detail"])


async def test_an_xml_manifest_nested_too_deep_is_refused(
    client: httpx.AsyncClient, admin: ApiUser
) -> None:
    depth = 5000
    xml = (
        b'<CAEXFile FileName="x.aml"><InstanceHierarchy Name="H">'
        + b'<InternalElement Name="e">' * depth
        + b"</InternalElement>" * depth
        + b"</InstanceHierarchy></CAEXFile>"
    )
    response = await client.post(
        "/api/v1/equipment",
        content=xml,
        headers={"Content-Type": "application/xml", **admin.headers},
    )
    problem = _problem(response, 422)
    assert str(MAX_XML_DEPTH) in str(problem["msg"])


async def test_an_mtp_package_whose_member_unpacks_too_large_is_refused(
    client: httpx.AsyncClient, admin: ApiUser
) -> None:
    buffer = io.BytesIO()
    chunk = b" " * (1024 * 1024)
    with (
        zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("bomb.aml", "w", force_zip64=True) as member,
    ):
        for _ in range(MAX_AML_BYTES // len(chunk) + 1):
            member.write(chunk)
    package = buffer.getvalue()
    assert len(package) < MAX_DOCUMENT_BYTES  # small on the wire
    response = await client.post(
        "/api/v1/equipment",
        content=package,
        headers={"Content-Type": "application/octet-stream", **admin.headers},
    )
    problem = _problem(response, 422)
    assert str(MAX_AML_BYTES) in str(problem["msg"])


# --------------------------------------------------------------------------- integers


@pytest.mark.parametrize(
    ("method", "url", "body", "loc"),
    [
        ("GET", "/api/v1/recipes/buffer-prep-only/9223372036854775808", None, "version"),
        ("GET", "/api/v1/recipes/buffer-prep-only/2147483648", None, "version"),
        ("GET", "/api/v1/journal?after=9223372036854775808", None, "after"),
        ("POST", "/api/v1/exceptions/9223372036854775808/close", {"reason": "x"}, "exception_id"),
        (
            "POST",
            "/api/v1/batches",
            {"recipe": "buffer-prep-only", "version": 2**63},
            "version",
        ),
    ],
)
async def test_integers_beyond_the_database_range_are_a_422_naming_the_field(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    method: str,
    url: str,
    body: dict[str, object] | None,
    loc: str,
) -> None:
    anyone = await make_user("operator", "supervisor", "qa")  # past every permission check
    response = await client.request(method, url, json=body, headers=anyone.headers)
    assert response.status_code == 422, response.text
    assert any(p["loc"][-1] == loc for p in response.json()["detail"]), response.text


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
async def test_non_finite_numbers_are_refused_in_overrides(
    client: httpx.AsyncClient, make_user: MakeUser, number: str
) -> None:
    operator = await make_user("operator")
    body = '{"recipe": "buffer-prep-only", "overrides": {"BufferVolume": NUMBER}}'.replace(
        "NUMBER", number
    )
    response = await client.post(
        "/api/v1/batches",
        content=body,
        headers={"Content-Type": "application/json", **operator.headers},
    )
    assert response.status_code == 422, response.text
    assert any("BufferVolume" in p["loc"] for p in response.json()["detail"]), response.text


async def test_a_validation_error_does_not_echo_what_was_sent(client: httpx.AsyncClient) -> None:
    secret = "s3cret-" + "x" * 1100  # too long for a password: refused, and never echoed
    response = await client.post("/api/v1/auth/token", json={"username": "u", "password": secret})
    assert response.status_code == 422, response.text
    assert "s3cret" not in response.text
    assert any(p["loc"] == ["body", "password"] for p in response.json()["detail"])


# --------------------------------------------------------------------------- headers


@pytest.mark.parametrize("path", ["/api/v1/auth/me", "/ui/", "/ui/app.js", "/no-such-path"])
async def test_every_response_carries_the_security_headers(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    if path.startswith("/api/"):
        assert response.headers["cache-control"] == "no-store"


async def test_no_documentation_page_loads_from_a_cdn(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs")).status_code == 404
    assert (await client.get("/redoc")).status_code == 404
    described = await client.get("/openapi.json")
    assert described.status_code == 200
    assert "/api/v1/batches" in described.json()["paths"]


# --------------------------------------------------------------------------- failures


async def test_an_unexpected_error_is_a_500_in_the_api_shape_that_closes_the_connection(
    app: FastAPI,
) -> None:
    async def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/api/v1/test-broken", broken)  # scaffolding: a route that fails
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://holon.test") as http:
        response = await http.get("/api/v1/test-broken")
    problem = _problem(response, 500)
    assert problem["type"] == "internal"
    assert "a bug" not in str(problem["msg"])
    assert response.headers["connection"] == "close"
