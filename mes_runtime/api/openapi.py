"""The OpenAPI document says what the API answers: every error status a route can give,
with the API's one error body (``api.errors``), and request bodies as strict as the routes.

Why a pass over the routes instead of ``responses=`` on each: most error statuses follow
from what a route depends on, the same way for every route, and a route added later gets
them without anyone remembering to write them down:

- 401 where the route needs a bearer token (``deps.CurrentUser``), 403 where it needs a
  permission (``deps.require``);
- 404 where the path names something (a path parameter);
- 422 where the request has parameters or a body (validation), 413 where it has a body
  (``api.limits``), 400 where FastAPI parses it (a body that is not JSON), 503 wherever
  the database is used (``app._database_unavailable``: every route but the probes).

A route documents its own further answers (409, 429, 415...) with ``responses=``; each
error response, derived or written, gets the error body's schema (:class:`ErrorOut`).
``tests/mes_runtime/api/test_openapi.py`` walks the routes to check this, and the
generated-request test checks that the server answers nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from mes_runtime.api.deps import current_user, is_permission_check

__all__ = ["RECIPE_SCHEMA", "ErrorItem", "ErrorOut", "derived_errors", "document", "install"]

#: Where the master recipe's schema is in the document (a JSON recipe body refers to it).
RECIPE_SCHEMA = "#/components/schemas/MasterRecipe"


class ErrorItem(BaseModel):
    loc: list[str | int] = Field(description="where: header, path, query or body, then the field")
    msg: str = Field(description="what is wrong, for a person")
    type: str = Field(description="what is wrong, for a program (e.g. not_found, conflict)")
    ctx: dict[str, Any] | None = Field(default=None, description="more about it, if anything")


class ErrorOut(BaseModel):
    """Every error the API answers (4xx, 503)."""

    detail: list[ErrorItem]


#: What each derived status means, as the document says it.
_DERIVED = {
    400: "the body cannot be parsed (not JSON)",
    401: "no bearer token, or one that is unknown, expired or revoked",
    403: "your roles do not grant the permission",
    404: "nothing by that name or id (or the feature is not served by this module)",
    413: "the request body is larger than this route's limit",
    422: "a parameter or the body is invalid (each problem located)",
    503: "the database is unreachable just now (see Retry-After)",
}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    stack = [dependant]
    while stack:
        node = stack.pop()
        if node.call is not None:
            yield node.call
        stack.extend(node.dependencies)


def _has_body(route: APIRoute) -> bool:
    return route.body_field is not None or "requestBody" in (route.openapi_extra or {})


def derived_errors(route: APIRoute) -> set[int]:
    """The error statuses ``route`` can answer because of what it depends on."""
    calls = list(_calls(route.dependant))
    statuses = {503} if route.path not in ("/healthz", "/readyz") else set()
    if current_user in calls:
        statuses.add(401)
    if any(is_permission_check(call) for call in calls):
        statuses.add(403)
    if route.dependant.path_params:
        statuses.add(404)
    dependant = route.dependant
    params = dependant.path_params + dependant.query_params + dependant.header_params
    if params or _has_body(route):
        statuses.add(422)
    if _has_body(route):
        statuses.add(413)
    if route.body_field is not None:  # parsed by FastAPI: not JSON at all is a 400
        statuses.add(400)
    return statuses


_FASTAPI_422 = {"$ref": "#/components/schemas/HTTPValidationError"}


def _error_body() -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}


def document(schema: dict[str, Any], routes: Iterable[APIRoute]) -> None:
    """Add to ``schema`` (the generated document) the derived error statuses of ``routes``
    and the error body to every error response."""
    by_operation = {
        (route.path, method.lower()): route for route in routes for method in route.methods or ()
    }
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    error = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(error.pop("$defs", {}))
    components["ErrorOut"] = error
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            route = by_operation.get((path, method))
            responses = operation.setdefault("responses", {})
            for code in derived_errors(route) if route is not None else ():
                responses.setdefault(str(code), {"description": _DERIVED[code]})
            for code, answer in responses.items():
                schema_of = answer.get("content", {}).get("application/json", {}).get("schema")
                if code[0] in "45" and schema_of in (None, {}, _FASTAPI_422):
                    answer["content"] = _error_body()


def _add_recipe_schema(components: dict[str, Any]) -> None:
    """The master recipe's JSON schema (what the recipe routes parse a JSON body with) and
    its parts (as ``MasterRecipe.<part>``) in ``components``."""
    from mes_runtime.domain.recipe import MasterRecipe

    template = RECIPE_SCHEMA + ".{model}"
    schema = MasterRecipe.model_json_schema(ref_template=template)
    for name, part in schema.pop("$defs", {}).items():
        components[f"MasterRecipe.{name}"] = part
    components["MasterRecipe"] = schema


def install(app: FastAPI, routes: Iterable[APIRoute]) -> None:
    """Serve ``app``'s document with the errors of ``routes`` (:func:`document`) and the
    schemas that the routes' hand-written request bodies refer to."""
    generate = app.openapi
    described: list[dict[str, Any]] = []
    routes = list(routes)

    def openapi() -> dict[str, Any]:
        if not described:
            schema = generate()
            document(schema, routes)
            _add_recipe_schema(schema.setdefault("components", {}).setdefault("schemas", {}))
            described.append(schema)
        return described[0]

    app.openapi = openapi  # type: ignore[method-assign]
