"""Recipe import (YAML/JSON), validation errors located per element, QA approval by
e-signature."""

from __future__ import annotations

import copy
from importlib import resources
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI
from sqlalchemy import select

from mes_runtime.db.models import JournalEntry
from tests.conftest import ApiUser, MakeUser

YAML_TEXT = (resources.files("mes_runtime.library") / "buffer-prep-only.yaml").read_text()
RECIPE: dict[str, Any] = yaml.safe_load(YAML_TEXT)
YAML = {"Content-Type": "application/yaml"}


@pytest.fixture
async def supervisor(make_user: MakeUser) -> ApiUser:
    return await make_user("supervisor")


@pytest.fixture
async def qa(make_user: MakeUser) -> ApiUser:
    return await make_user("qa")


async def _import(client: httpx.AsyncClient, user: ApiUser) -> httpx.Response:
    return await client.post("/api/v1/recipes", content=YAML_TEXT, headers={**YAML, **user.headers})


async def test_import_yaml_then_approve_with_signature(
    client: httpx.AsyncClient, app: FastAPI, supervisor: ApiUser, qa: ApiUser
) -> None:
    created = await _import(client, supervisor)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["name"], body["version"], body["status"]) == ("buffer-prep-only", 1, "draft")
    assert body["digest"].startswith("sha256:")
    assert body["created_by"] == supervisor.username

    approved = await client.post(
        "/api/v1/recipes/buffer-prep-only/1/approve",
        json={"password": qa.password, "meaning": "approved"},
        headers=qa.headers,
    )
    assert approved.status_code == 200, approved.text
    assert (approved.json()["status"], approved.json()["approved_by"]) == ("approved", qa.username)
    assert approved.json()["digest"] == body["digest"]
    assert approved.json()["signature"]["record_digest"] == body["digest"]

    again = await client.post(
        "/api/v1/recipes/buffer-prep-only/1/approve",
        json={"password": qa.password, "meaning": "approved"},
        headers=qa.headers,
    )
    assert again.status_code == 409
    async with app.state.session_factory() as session:
        actions = (await session.execute(select(JournalEntry.action))).scalars().all()
    assert "recipe.imported" in actions
    assert "recipe.approved" in actions


async def test_json_import_and_duplicate_version(
    client: httpx.AsyncClient, supervisor: ApiUser
) -> None:
    first = await client.post("/api/v1/recipes", json=RECIPE, headers=supervisor.headers)
    assert first.status_code == 201, first.text
    duplicate = await client.post("/api/v1/recipes", json=RECIPE, headers=supervisor.headers)
    assert duplicate.status_code == 409
    assert duplicate.json()["detail"][0]["loc"] == ["body", "header", "version"]
    v2 = copy.deepcopy(RECIPE)
    v2["header"]["version"] = 2
    assert (
        await client.post("/api/v1/recipes", json=v2, headers=supervisor.headers)
    ).status_code == 201
    versions = await client.get("/api/v1/recipes/buffer-prep-only", headers=supervisor.headers)
    assert [v["version"] for v in versions.json()] == [1, 2]
    one = await client.get("/api/v1/recipes/buffer-prep-only/2", headers=supervisor.headers)
    assert one.json()["body"]["header"]["version"] == 2
    listed = await client.get("/api/v1/recipes?status=draft", headers=supervisor.headers)
    assert len(listed.json()) == 2


async def test_invalid_recipe_lists_every_issue_with_its_path(
    client: httpx.AsyncClient, supervisor: ApiUser
) -> None:
    broken = copy.deepcopy(RECIPE)
    operation = broken["procedure"]["steps"][0]["steps"][0]
    operation["transitions"][1]["from"] = ["mixx"]
    response = await client.post("/api/v1/recipes", json=broken, headers=supervisor.headers)
    assert response.status_code == 422
    details = response.json()["detail"]
    assert details, "every issue is listed"
    assert all(d["loc"][0] == "body" and d["msg"] for d in details)
    assert any("mixx" in d["msg"] for d in details)
    assert any(d["loc"][1:4] == ["procedure", "TK-UP", "buffer-prep"] for d in details)


async def test_shape_errors_and_bad_documents_name_the_field(
    client: httpx.AsyncClient, supervisor: ApiUser
) -> None:
    no_header = {k: v for k, v in RECIPE.items() if k != "header"}
    response = await client.post("/api/v1/recipes", json=no_header, headers=supervisor.headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "header"]
    bad_yaml = await client.post(
        "/api/v1/recipes", content="a: [1,", headers={**YAML, **supervisor.headers}
    )
    assert (bad_yaml.status_code, bad_yaml.json()["detail"][0]["loc"]) == (422, ["body"])
    not_a_mapping = await client.post("/api/v1/recipes", json=[1], headers=supervisor.headers)
    assert not_a_mapping.status_code == 422
    wrong_type = await client.post(
        "/api/v1/recipes", content="x", headers={"Content-Type": "text/csv", **supervisor.headers}
    )
    assert wrong_type.status_code == 415
    assert wrong_type.json()["detail"][0]["loc"] == ["header", "Content-Type"]


async def test_roles_and_segregation_of_duties(
    client: httpx.AsyncClient, make_user: MakeUser, supervisor: ApiUser, qa: ApiUser
) -> None:
    operator = await make_user("operator")
    assert (await _import(client, operator)).status_code == 403
    author_and_qa = await make_user("supervisor", "qa")
    assert (await _import(client, author_and_qa)).status_code == 201
    own = await client.post(
        "/api/v1/recipes/buffer-prep-only/1/approve",
        json={"password": author_and_qa.password, "meaning": "approved"},
        headers=author_and_qa.headers,
    )
    assert own.status_code == 403
    assert "author" in own.json()["detail"][0]["msg"]
    by_supervisor = await client.post(
        "/api/v1/recipes/buffer-prep-only/1/approve",
        json={"password": supervisor.password, "meaning": "approved"},
        headers=supervisor.headers,
    )
    assert by_supervisor.status_code == 403
    wrong_password = await client.post(
        "/api/v1/recipes/buffer-prep-only/1/approve",
        json={"password": "not-my-password", "meaning": "approved"},
        headers=qa.headers,
    )
    assert wrong_password.status_code == 403
    assert wrong_password.json()["detail"][0]["loc"] == ["body", "password"]
    missing = await client.post(
        "/api/v1/recipes/nothing/1/approve",
        json={"password": qa.password, "meaning": "approved"},
        headers=qa.headers,
    )
    assert missing.status_code == 404


async def test_validate_is_a_dry_run_listing_every_issue(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    operator = await make_user("operator")
    ok = await client.post(
        "/api/v1/recipes/validate", content=YAML_TEXT, headers={**YAML, **operator.headers}
    )
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"valid": True, "equipment_checked": [], "issues": []}

    broken = copy.deepcopy(RECIPE)
    broken["procedure"]["steps"][0]["steps"][0]["transitions"][1]["from"] = ["mixx"]
    bad = await client.post("/api/v1/recipes/validate", json=broken, headers=operator.headers)
    assert bad.status_code == 200, bad.text
    body = bad.json()
    assert body["valid"] is False
    assert any("mixx" in issue["message"] for issue in body["issues"])
    assert all(issue["path"].startswith("procedure") for issue in body["issues"])
    # Nothing was stored.
    listed = await client.get("/api/v1/recipes", headers=operator.headers)
    assert listed.json() == []


async def test_validate_rejects_a_document_that_is_not_a_recipe(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    operator = await make_user("operator")
    response = await client.post(
        "/api/v1/recipes/validate", json={"header": {"name": "x"}}, headers=operator.headers
    )
    assert response.status_code == 422
    assert any(d["loc"][:2] == ["body", "procedure"] for d in response.json()["detail"])
