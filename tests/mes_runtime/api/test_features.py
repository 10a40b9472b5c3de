"""Each ``spec.features`` flag switches its capability on and off in the real application,
and the module kind decides what is served (``mes_runtime.api.features``).

The shared ``settings`` fixture switches every implemented feature on; a test here names
the flags it changes (``flags``) and the kind (``kind``). Metrics on and off are tested in
``tests/mes_runtime/observability/test_metrics.py``.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from mes_runtime.api.app import create_app
from mes_runtime.api.features import KINDS, Capability, FeatureError, served
from mes_runtime.settings import Settings
from tests.conftest import MakeUser
from tests.mes_runtime.api.test_signatures import APPROVE, draft  # noqa: F401 - a fixture


@pytest.fixture
def flags() -> dict[str, Any]:
    return {}


@pytest.fixture
def kind() -> str | None:
    return None


@pytest.fixture
def settings(settings: Settings, flags: dict[str, Any], kind: str | None) -> Settings:
    return settings.model_copy(update={**flags, "module": kind})


def _not_served(response: httpx.Response, capability: Capability) -> None:
    assert response.status_code == 404, response.text
    (detail,) = response.json()["detail"]
    assert detail["msg"] == (
        f"{capability.value} is not served by this module (its kind or spec.features)"
    )


# -- ui ----------------------------------------------------------------------------------


async def test_the_ui_is_served_when_on(client: httpx.AsyncClient) -> None:
    root = await client.get("/")
    assert (root.status_code, root.headers["location"]) == (307, "/ui/")
    page = await client.get("/ui/")
    assert page.status_code == 200
    assert "<html" in page.text.lower()


@pytest.mark.parametrize("flags", [{"feature_ui": False}])
async def test_the_ui_is_not_found_when_off(client: httpx.AsyncClient) -> None:
    for path in ("/", "/ui/", "/ui/app.js"):
        assert (await client.get(path)).status_code == 404, path
    assert (await client.get("/healthz")).status_code == 200  # the API is still there


# -- review by exception -------------------------------------------------------------------


async def test_exception_review_is_served_when_on(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    qa = await make_user("qa")
    listed = await client.get("/api/v1/exceptions", headers=qa.headers)
    assert (listed.status_code, listed.json()) == (200, [])


@pytest.mark.parametrize("flags", [{"feature_review_by_exception": False}])
async def test_exception_review_is_not_served_when_off(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser
) -> None:
    qa = await make_user("qa")
    _not_served(
        await client.get("/api/v1/exceptions", headers=qa.headers),
        Capability.REVIEW_BY_EXCEPTION,
    )
    closed = await client.post(
        "/api/v1/exceptions/1/close", json={"reason": "checked"}, headers=qa.headers
    )
    _not_served(closed, Capability.REVIEW_BY_EXCEPTION)
    assert not any(path.startswith("/api/v1/exceptions") for path in app.openapi()["paths"])


# -- electronic signatures -----------------------------------------------------------------


@pytest.mark.parametrize(
    "flags",
    [{"feature_electronic_signatures": True}, {"feature_electronic_signatures": False}],
    ids=["on", "off"],
)
async def test_a_recipe_is_approved_by_signature_only_when_on(
    client: httpx.AsyncClient,
    app: FastAPI,
    make_user: MakeUser,
    flags: dict[str, bool],
    draft: str,  # noqa: F811
) -> None:
    """Off means the module cannot approve, never that it approves unsigned."""
    qa = await make_user("qa")
    signed = await client.post(
        APPROVE, json={"password": qa.password, "meaning": "approved"}, headers=qa.headers
    )
    recipe = await client.get("/api/v1/recipes/buffer-prep-only/1", headers=qa.headers)
    route = "/api/v1/recipes/{name}/{version}/approve"
    if flags["feature_electronic_signatures"]:
        assert signed.status_code == 200, signed.text
        assert recipe.json()["status"] == "approved"
        assert route in app.openapi()["paths"]
    else:
        _not_served(signed, Capability.ELECTRONIC_SIGNATURES)
        assert recipe.json()["status"] == "draft"
        assert route not in app.openapi()["paths"]


# -- equipment simulator ---------------------------------------------------------------------


def test_the_equipment_simulator_is_refused_as_not_supported_yet(settings: Settings) -> None:
    with pytest.raises(FeatureError, match="HOLON_FEATURE_EQUIPMENT_SIMULATOR: not supported yet"):
        create_app(settings.model_copy(update={"feature_equipment_simulator": True}))


# -- module kinds ----------------------------------------------------------------------------

OFF = {
    "feature_ui": False,
    "feature_electronic_signatures": False,
    "feature_review_by_exception": False,
}


@pytest.mark.parametrize(("kind", "flags"), [("ebr", OFF)])
async def test_an_ebr_module_serves_the_record_and_runs_no_batches(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser
) -> None:
    qa = await make_user("qa")
    assert (await client.get("/api/v1/journal", headers=qa.headers)).status_code == 200
    for path, capability in (
        ("/api/v1/recipes", Capability.RECIPES),
        ("/api/v1/batches", Capability.BATCHES),
        ("/api/v1/equipment", Capability.EQUIPMENT),
        ("/api/v1/exceptions", Capability.REVIEW_BY_EXCEPTION),
    ):
        _not_served(await client.get(path, headers=qa.headers), capability)
    assert not hasattr(app.state, "batch_engine")  # no engine claims the shared batches


@pytest.mark.parametrize(("kind", "flags"), [("review-by-exception", OFF)])
async def test_a_review_by_exception_module_reviews_without_the_flag(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    qa = await make_user("qa")
    assert (await client.get("/api/v1/exceptions", headers=qa.headers)).status_code == 200
    _not_served(await client.get("/api/v1/recipes", headers=qa.headers), Capability.RECIPES)


@pytest.mark.parametrize(
    ("kind", "flags", "refused"),
    [
        ("ebr", {**OFF, "feature_ui": True}, "^HOLON_FEATURE_UI: a module of kind ebr does not"),
        (
            "review-by-exception",
            {**OFF, "feature_electronic_signatures": True},
            "^HOLON_FEATURE_ELECTRONIC_SIGNATURES: a module of kind review-by-exception",
        ),
        ("equipment-logbook", OFF, "^HOLON_MODULE=equipment-logbook: not supported yet"),
    ],
)
def test_what_a_kind_cannot_serve_is_refused_at_start(settings: Settings, refused: str) -> None:
    with pytest.raises(FeatureError, match=refused):
        create_app(settings)


def test_without_a_kind_the_runtime_serves_a_batch_execution_module(settings: Settings) -> None:
    standalone = served(settings.model_copy(update=OFF))
    assert standalone == KINDS["batch-execution"].core
    assert Capability.UI not in standalone
