"""``/api/v1/recipes``: import master recipes (JSON/YAML), list versions, approve (QA).

An import is validated twice: its shape by the pydantic model, then the whole recipe by
``mes_runtime.domain.validation.validate_recipe``; every problem comes back in one 422, each
located at its element path. Imports are always drafts; approval is a QA electronic
signature over the recipe's digest whose meaning decides (approved or rejected), and the
author may not approve their own recipe.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, cast

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Table, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from mes_runtime.api.auth import refused
from mes_runtime.api.bodies import read_document
from mes_runtime.api.deps import AccountPolicyDep, AlertDep, JournalDep, SessionDep, require
from mes_runtime.api.errors import api_error, conflict, not_found, unprocessable_many
from mes_runtime.api.openapi import RECIPE_SCHEMA
from mes_runtime.api.schemas import RecipeName, SignatureIn, SignatureOut, Version
from mes_runtime.auth.permissions import Permission
from mes_runtime.auth.signatures import SignatureMeaning
from mes_runtime.db.models import MasterRecipe as RecipeRow
from mes_runtime.db.models import User
from mes_runtime.domain.recipe import MasterRecipe
from mes_runtime.kernel.clock import utcnow
from mes_runtime.services.accounts import AuthRefused, sign_record

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/recipes", tags=["recipes"])
_RECIPES = cast(Table, RecipeRow.__table__)

Reader = Annotated[User, require(Permission.RECIPE_READ)]
Importer = Annotated[User, require(Permission.RECIPE_IMPORT)]
Approver = Annotated[User, require(Permission.RECIPE_APPROVE)]


class RecipeSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    version: int
    status: str
    digest: str
    created_by: str
    created_at: datetime
    approved_by: str | None
    approved_at: datetime | None


class RecipeOut(RecipeSummary):
    body: dict[str, Any]


class _NotDraft(Exception):
    pass


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
async def import_recipe(
    request: Request, user: Importer, session: SessionDep, journal: JournalDep
) -> RecipeOut:
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
    row = RecipeRow(
        name=recipe.header.name,
        version=recipe.header.version,
        status="draft",
        body=recipe.to_canonical_data(include_status=False),
        digest=recipe.digest(),
        created_by=user.username,
        created_at=utcnow(),
    )
    try:
        async with session.begin():
            session.add(row)
    except IntegrityError:
        raise conflict(
            ("body", "header", "version"),
            f"recipe {row.name!r} version {row.version} already exists; "
            "import a new version number",
        ) from None
    await journal.append(
        actor=user.username,
        action="recipe.imported",
        subject=f"recipe:{row.name}/{row.version}",
        new_value={"digest": row.digest, "status": "draft"},
    )
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
    query = select(RecipeRow).order_by(RecipeRow.name, RecipeRow.version)
    if name is not None:
        query = query.where(RecipeRow.name == name)
    if status_ is not None:
        query = query.where(RecipeRow.status == status_)
    return [RecipeSummary.model_validate(r) for r in (await session.execute(query)).scalars()]


@router.get("/{name}", response_model=list[RecipeSummary])
async def recipe_versions(name: RecipeName, _: Reader, session: SessionDep) -> list[RecipeSummary]:
    rows = (
        await session.execute(
            select(RecipeRow).where(RecipeRow.name == name).order_by(RecipeRow.version)
        )
    ).scalars()
    result = [RecipeSummary.model_validate(r) for r in rows]
    if not result:
        raise not_found(("path", "name"), f"no recipe named {name!r}")
    return result


async def _get(session: SessionDep, name: str, version: int) -> RecipeRow:
    row = (
        await session.execute(
            select(RecipeRow).where(RecipeRow.name == name, RecipeRow.version == version)
        )
    ).scalar_one_or_none()
    if row is None:
        raise not_found(("path", "version"), f"recipe {name!r} has no version {version}")
    return row


@router.get("/{name}/{version}", response_model=RecipeOut)
async def get_recipe(
    name: RecipeName, version: Version, _: Reader, session: SessionDep
) -> RecipeOut:
    return RecipeOut.model_validate(await _get(session, name, version))


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
    async with session.begin():
        row = await _get(session, name, version)
        if row.status != "draft":
            raise conflict(("path", "version"), f"recipe {name}/{version} is already {row.status}")
        if row.created_by == user.username:
            raise api_error(
                status.HTTP_403_FORBIDDEN,
                ("path", "version"),
                "the author of a recipe may not approve it (segregation of duties)",
                "forbidden",
            )
        recipe_id, digest = row.id, row.digest
    subject = f"recipe:{name}/{version}"
    try:
        signature = await sign_record(
            session,
            journal,
            policy,
            alert,
            user=user,
            password=signature_in.password,
            meaning=signature_in.meaning,
            record=subject,
            record_digest=digest,
        )
    except AuthRefused as exc:
        raise refused(exc, ("body", "password"), "signature") from None
    approved = signature.meaning is SignatureMeaning.APPROVED
    new_status = "approved" if approved else "rejected"

    async def _decide(conn: AsyncConnection) -> None:
        result = await conn.execute(
            update(_RECIPES)
            .where(_RECIPES.c.id == recipe_id, _RECIPES.c.status == "draft")
            .values(
                status=new_status,
                approved_by=signature.username if approved else None,
                approved_at=signature.signed_at if approved else None,
            )
        )
        if result.rowcount != 1:
            raise _NotDraft

    manifest = signature.manifest()
    try:
        await journal.append(
            actor=user.username,
            action=f"recipe.{new_status}",
            subject=subject,
            old_value={"status": "draft"},
            new_value={"status": new_status, "digest": digest, "signature": manifest},
            alongside=_decide,
        )
    except _NotDraft:
        raise conflict(
            ("path", "version"), f"recipe {name}/{version} was decided meanwhile"
        ) from None
    async with session.begin():
        await session.refresh(row)
    return SignedRecipeOut(
        **RecipeOut.model_validate(row).model_dump(), signature=SignatureOut(**manifest)
    )
