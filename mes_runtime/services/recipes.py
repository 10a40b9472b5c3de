"""Master recipes: import (always a draft), the versions stored, QA's signed decision.

Each write and its journal entry are one unit of work: an imported recipe is never stored
without its ``recipe.imported`` entry, nor a decision without ``recipe.approved`` /
``recipe.rejected`` and the signature's manifestation. Refusals are exceptions the router
turns into its answers (:class:`RecipeExists` 409, :class:`RecipeNotFound` 404,
:class:`RecipeNotDraft` 409, :class:`SelfApproval` 403, ``AuthRefused`` from the signing).
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from mes_runtime.auth.signatures import Signature, SignatureMeaning
from mes_runtime.db.models import MasterRecipe as RecipeRow
from mes_runtime.db.models import User
from mes_runtime.domain.recipe import MasterRecipe
from mes_runtime.ebr.journal import Journal
from mes_runtime.ebr.unit_of_work import Entry, journalled
from mes_runtime.kernel.clock import utcnow
from mes_runtime.services.accounts import AccountPolicy, AlertHook, sign_record

__all__ = [
    "RecipeExists",
    "RecipeNotDraft",
    "RecipeNotFound",
    "SelfApproval",
    "decide_recipe",
    "get_recipe",
    "import_recipe",
    "list_recipes",
    "recipe_versions",
]

_RECIPES = cast(Table, RecipeRow.__table__)


class RecipeExists(Exception):
    """That name and version are already stored (a new version number is needed)."""

    def __init__(self, name: str, version: int) -> None:
        super().__init__(
            f"recipe {name!r} version {version} already exists; import a new version number"
        )


class RecipeNotFound(LookupError):
    """No recipe of that name (``version`` None) or no such version of it."""

    def __init__(self, name: str, version: int | None = None) -> None:
        super().__init__(
            f"no recipe named {name!r}"
            if version is None
            else f"recipe {name!r} has no version {version}"
        )
        self.version = version


class RecipeNotDraft(Exception):
    """Only a draft is decided; this one is decided already (or was meanwhile)."""


class SelfApproval(Exception):
    """The author of a recipe may not approve it (segregation of duties)."""


async def import_recipe(journal: Journal, recipe: MasterRecipe, *, author: User) -> RecipeRow:
    """Store a validated recipe as a draft, with its ``recipe.imported`` entry; its author
    is ``author``'s account (``created_by_id``)."""
    actor = author.username
    name, version = recipe.header.name, recipe.header.version

    async def insert(session: AsyncSession) -> tuple[RecipeRow, Entry]:
        exists = await session.execute(
            select(RecipeRow.id).where(RecipeRow.name == name, RecipeRow.version == version)
        )
        if exists.first() is not None:
            raise RecipeExists(name, version)
        row = RecipeRow(
            name=name,
            version=version,
            status="draft",
            body=recipe.to_canonical_data(include_status=False),
            digest=recipe.digest(),
            created_by_id=author.id,
            created_at=utcnow(),
            approved_by=None,
            approved_at=None,
        )
        session.add(row)
        await session.flush()
        await session.refresh(row, ["created_by"])  # the name, read from the account
        return row, Entry(
            actor=actor,
            action="recipe.imported",
            subject=f"recipe:{name}/{version}",
            new_value={"digest": row.digest, "status": "draft"},
        )

    try:
        return await journalled(journal, insert)
    except IntegrityError:  # the same version imported at the same moment elsewhere
        raise RecipeExists(name, version) from None


async def list_recipes(
    session: AsyncSession, *, name: str | None = None, status: str | None = None
) -> list[RecipeRow]:
    query = select(RecipeRow).order_by(RecipeRow.name, RecipeRow.version)
    if name is not None:
        query = query.where(RecipeRow.name == name)
    if status is not None:
        query = query.where(RecipeRow.status == status)
    return list((await session.execute(query)).scalars())


async def recipe_versions(session: AsyncSession, name: str) -> list[RecipeRow]:
    """Every version of ``name``, oldest first; :class:`RecipeNotFound` if there is none."""
    rows = list(
        (
            await session.execute(
                select(RecipeRow).where(RecipeRow.name == name).order_by(RecipeRow.version)
            )
        ).scalars()
    )
    if not rows:
        raise RecipeNotFound(name)
    return rows


async def get_recipe(session: AsyncSession, name: str, version: int) -> RecipeRow:
    row = (
        await session.execute(
            select(RecipeRow).where(RecipeRow.name == name, RecipeRow.version == version)
        )
    ).scalar_one_or_none()
    if row is None:
        raise RecipeNotFound(name, version)
    return row


async def decide_recipe(
    session: AsyncSession,
    journal: Journal,
    policy: AccountPolicy,
    alert: AlertHook,
    *,
    user: User,
    name: str,
    version: int,
    password: str,
    meaning: SignatureMeaning,
) -> tuple[RecipeRow, Signature]:
    """QA's electronic signature over a draft: ``approved`` approves it, ``rejected``
    rejects it for good. The status change and its entry (with the signature's
    manifestation) commit together; a draft decided meanwhile is :class:`RecipeNotDraft`."""
    async with session.begin():
        row = await get_recipe(session, name, version)
        if row.status != "draft":
            raise RecipeNotDraft(f"recipe {name}/{version} is already {row.status}")
        if row.created_by_id == user.id:
            raise SelfApproval("the author of a recipe may not approve it (segregation of duties)")
        recipe_id, digest = row.id, row.digest
    subject = f"recipe:{name}/{version}"
    signature = await sign_record(
        session,
        journal,
        policy,
        alert,
        user=user,
        password=password,
        meaning=meaning,
        record=subject,
        record_digest=digest,
    )
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
            raise RecipeNotDraft(f"recipe {name}/{version} was decided meanwhile")

    await journal.append(
        actor=user.username,
        action=f"recipe.{new_status}",
        subject=subject,
        old_value={"status": "draft"},
        new_value={"status": new_status, "digest": digest, "signature": signature.manifest()},
        alongside=_decide,
    )
    async with session.begin():
        await session.refresh(row)
    return row, signature
