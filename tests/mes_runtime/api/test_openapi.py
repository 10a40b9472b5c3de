"""The OpenAPI document is honest: a walk over the app's routes checks that each operation
documents the errors its dependencies can answer, each with the API's error body; request
bodies are described (not "any"); a 405 names every method of the path; an unknown recipe
is a 404. (``test_generated_requests`` checks the server against the document.)"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from mes_runtime.api.app import ROUTERS
from mes_runtime.api.openapi import derived_errors
from tests.conftest import MakeUser

ERROR_BODY = {"$ref": "#/components/schemas/ErrorOut"}


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


def _routes() -> dict[tuple[str, str], APIRoute]:
    return {
        (method, route.path): route
        for router, _ in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }


async def test_every_operation_documents_the_errors_its_route_can_answer(app: FastAPI) -> None:
    document = app.openapi()
    routes = _routes()
    operations = _operations(document)
    assert len(operations) >= 35
    for method, path, operation in operations:
        route = routes[(method, path)]
        documented = {int(code) for code in operation["responses"] if code[0] in "45"}
        assert derived_errors(route) <= documented, (method, path)
        if any(operation.get("security", [])):  # a bearer token
            assert 401 in documented, (method, path)
        if "{" in path:
            assert 404 in documented, (method, path)
        if path not in ("/healthz", "/readyz"):
            assert 503 in documented, (method, path)
        for code in documented - ({503} if path == "/readyz" else set()):
            schema = operation["responses"][str(code)]["content"]["application/json"]["schema"]
            assert schema == ERROR_BODY, (method, path, code)
    assert "HTTPValidationError" not in document["components"]["schemas"]


async def test_request_bodies_are_described_as_strictly_as_the_routes_take_them(
    app: FastAPI,
) -> None:
    document = app.openapi()
    schemas = document["components"]["schemas"]
    for method, path, operation in _operations(document):
        for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
            schema = content["schema"]
            assert schema not in ({}, {"type": "object"}), (method, path, media_type)
    recipe = document["paths"]["/api/v1/recipes"]["post"]["requestBody"]["content"]
    assert recipe["application/json"]["schema"] == {"$ref": "#/components/schemas/MasterRecipe"}
    assert schemas["MasterRecipe"]["additionalProperties"] is False
    header = schemas["MasterRecipe.Header"]["properties"]
    assert header["version"]["maximum"] == 2**31 - 1
    equipment = document["paths"]["/api/v1/equipment"]["post"]["requestBody"]["content"]
    assert equipment["application/xml"]["schema"]["format"] == "binary"
    for name in ("UserIn", "UserPatch", "SignatureIn", "CommandIn", "BatchIn", "PasswordChangeIn"):
        assert schemas[name]["additionalProperties"] is False, name
    user = schemas["UserIn"]["properties"]["username"]
    assert (user["minLength"], user["maxLength"], user["pattern"]) == (
        2,
        64,
        "^[a-z0-9][a-z0-9._-]+$",
    )


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/api/v1/auth/token", "DELETE, POST"),
        ("DELETE", "/api/v1/recipes", "GET, POST"),
        ("PUT", "/api/v1/users/someone", "PATCH"),
        ("DELETE", "/healthz", "GET"),
    ],
)
async def test_a_405_allows_every_method_of_the_path(
    client: httpx.AsyncClient, method: str, path: str, allowed: str
) -> None:
    """The finding: a 405 named one method when the path has two."""
    response = await client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert response.json()["detail"][0]["type"] == "http_405"


async def test_a_batch_of_an_unknown_recipe_is_a_404(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    """The finding: an unknown recipe answered 422, as if the request were malformed."""
    operator = await make_user("operator")
    response = await client.post(
        "/api/v1/batches", json={"recipe": "no-such-recipe"}, headers=operator.headers
    )
    assert response.status_code == 404, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "recipe"]
