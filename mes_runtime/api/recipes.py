"""``/api/v1/recipes``: import master recipes (JSON/YAML), list versions, approve (QA).

An import is validated twice: its shape by the pydantic model, then the whole recipe by
``mes_runtime.domain.validation.validate_recipe``; every problem comes back in one 422, each
located at its element path. Imports are always drafts; approval is a QA electronic
signature over the recipe's digest whose meaning decides (approved or rejected), and the
author may not approve their own recipe.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mes_runtime.api.auth import refused
from mes_runtime.api.bodies import read_document
from mes_runtime.api.deps import AccountPolicyDep, AlertDep, JournalDep, SessionDep, require
from mes_runtime.api.errors import api_error, conflict, not_found, unprocessable_many
from mes_runtime.api.openapi import RECIPE_SCHEMA
from mes_runtime.api.schemas import RecipeName, SignatureIn, SignatureOut, Version
from mes_runtime.auth.permissions import Permission
from mes_runtime.db.models import User
from mes_runtime.domain.recipe import MasterRecipe
from mes_runtime.services import recipes
from mes_runtime.services.accounts import AuthRefused
from mes_runtime.services.recipes import RecipeExists, RecipeNotDraft, RecipeNotFound, SelfApproval

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/recipes", tags=["recipes"])

Reader = Annotated[User, require(Permission.RECIPE_READ)]
Importer = Annotated[User, require(Permission.RECIPE_IMPORT)]
Approver = Annotated[User, require(Permission.RECIPE_APPROVE)]


class RecipeSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    version: int
    status: str
    digest: str
    created_by: str | None = Field(
        description="the author's user name (null only for a recipe whose author's name "
        "matched no account when the author became a user id)"
    )
    created_at: datetime
    approved_by: str | None
    approved_at: datetime | None


class RecipeOut(RecipeSummary):
    body: dict[str, Any]


_OPENAPI_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": RECIPE_SCHEMA}},
            "application/yaml": {
                "schema": {
                    "type": "string",
                    "description": "the same recipe as YAML (no anchors or aliases)",
                }
            },
        },
    }
}


_DOCUMENT_ERRORS: dict[int | str, dict[str, Any]] = {
    415: {"description": "not application/json or application/yaml"},
}


@router.post(
    "",
    response_model=RecipeOut,
    status_code=status.HTTP_201_CREATED,
    openapi_extra=_OPENAPI_BODY,
    responses={**_DOCUMENT_ERRORS, 409: {"description": "that version exists"}},
)
async def import_recipe(request: Request, user: Importer, journal: JournalDep) -> RecipeOut:
    from mes_runtime.domain.validation import validate_recipe

    recipe = _parse(await read_document(request))
    issues = validate_recipe(recipe)
    if issues:
        raise unprocessable_many(
            [
                {
                    "loc": ["body", *issue.path.split("/")],
                    "msg": issue.message,
                    "type": f"recipe.{issue.code}",
                }
                for issue in issues
            ]
        )
    try:
        row = await recipes.import_recipe(journal, recipe, author=user)
    except RecipeExists as exc:
        raise conflict(("body", "header", "version"), str(exc)) from None
    return RecipeOut.model_validate(row)


class IssueOut(BaseModel):
    path: str
    code: str
    message: str


class ValidationOut(BaseModel):
    valid: bool
    equipment_checked: list[str] = Field(
        description="connected equipment the recipe was also checked against"
    )
    issues: list[IssueOut]


@router.post(
    "/validate",
    response_model=ValidationOut,
    openapi_extra=_OPENAPI_BODY,
    responses=_DOCUMENT_ERRORS,
)
async def validate(request: Request, _: Reader) -> ValidationOut:
    """Dry run: every problem of a recipe, also against the equipment connected now.

    Nothing is stored. A malformed document is still a 422 (it is not a recipe at all); a
    well-formed recipe always gets 200 with ``valid`` and the list of issues.
    """
    from mes_runtime.domain.validation import validate_recipe

    recipe = _parse(await read_document(request))
    available = request.app.state.equipment_registry.connected()
    issues = validate_recipe(recipe, available=available or None)
    return ValidationOut(
        valid=not issues,
        equipment_checked=sorted(available),
        issues=[IssueOut(path=i.path, code=str(i.code), message=i.message) for i in issues],
    )


def _parse(data: dict[str, Any]) -> MasterRecipe:
    """The document as a master recipe, or one 422 naming every malformed field."""
    try:
        return MasterRecipe.model_validate(data)
    except ValidationError as exc:
        raise unprocessable_many(
            [
                {"loc": ["body", *err["loc"]], "msg": err["msg"], "type": err["type"]}
                for err in exc.errors(include_url=False, include_input=False)
            ]
        ) from None


@router.get("", response_model=list[RecipeSummary])
async def list_recipes(
    _: Reader,
    session: SessionDep,
    name: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    status_: Annotated[str | None, Query(alias="status", pattern="^(draft|approved)$")] = None,
) -> list[RecipeSummary]:
    rows = await recipes.list_recipes(session, name=name, status=status_)
    return [RecipeSummary.model_validate(r) for r in rows]


@router.get("/{name}", response_model=list[RecipeSummary])
async def recipe_versions(name: RecipeName, _: Reader, session: SessionDep) -> list[RecipeSummary]:
    try:
        rows = await recipes.recipe_versions(session, name)
    except RecipeNotFound as exc:
        raise not_found(("path", "name"), str(exc)) from None
    return [RecipeSummary.model_validate(r) for r in rows]


@router.get("/{name}/{version}", response_model=RecipeOut)
async def get_recipe(
    name: RecipeName, version: Version, _: Reader, session: SessionDep
) -> RecipeOut:
    try:
        row = await recipes.get_recipe(session, name, version)
    except RecipeNotFound as exc:
        raise not_found(("path", "version"), str(exc)) from None
    return RecipeOut.model_validate(row)


class SignedRecipeOut(RecipeOut):
    signature: SignatureOut


@router.post(
    "/{name}/{version}/approve",
    response_model=SignedRecipeOut,
    responses={
        403: {"description": "the author, an administrator, or a rejected signature"},
        409: {"description": "not a draft"},
        429: {"description": "the signer's account is locked (see Retry-After)"},
    },
)
async def approve_recipe(
    name: RecipeName,
    version: Version,
    signature_in: SignatureIn,
    user: Approver,
    session: SessionDep,
    journal: JournalDep,
    policy: AccountPolicyDep,
    alert: AlertDep,
) -> SignedRecipeOut:
    """QA's electronic signature over a draft: meaning ``approved`` approves it,
    ``rejected`` rejects it (for good: a new version is needed)."""
    try:
        row, signature = await recipes.decide_recipe(
            session,
            journal,
            policy,
            alert,
            user=user,
            name=name,
            version=version,
            password=signature_in.password,
            meaning=signature_in.meaning,
        )
    except RecipeNotFound as exc:
        raise not_found(("path", "version"), str(exc)) from None
    except RecipeNotDraft as exc:
        raise conflict(("path", "version"), str(exc)) from None
    except SelfApproval as exc:
        raise api_error(
            status.HTTP_403_FORBIDDEN, ("path", "version"), str(exc), "forbidden"
        ) from None
    except AuthRefused as exc:
        raise refused(exc, ("body", "password"), "signature") from None
    return SignedRecipeOut(
        **RecipeOut.model_validate(row).model_dump(), signature=SignatureOut(**signature.manifest())
    )
