"""A provider account is bound to its user record by issuer and subject, never by the name
alone: a name held by a local account or by another provider account is refused, so the
journal never puts two people under one name."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from mes_runtime.auth.oidc import OidcIdentity
from mes_runtime.db.models import JournalEntry, User
from mes_runtime.services.identity import IdentityConflict, user_for_identity
from tests.conftest import MakeUser

ISSUER = "http://127.0.0.1:5556/dex"


def _identity(username: str, subject: str, roles: tuple[str, ...] = ("operator",)) -> OidcIdentity:
    return OidcIdentity(
        issuer=ISSUER, subject=subject, username=username, full_name="Ada Lovelace",
        groups=("plant-operators",), roles=roles,
    )  # fmt: skip


async def test_the_first_sign_in_binds_the_record_and_the_same_account_finds_it(
    app: FastAPI,
) -> None:
    sessions, journal = app.state.session_factory, app.state.journal
    made = await user_for_identity(sessions, journal, _identity("ada", "sub-1"))
    assert made.provider_subject == f"{ISSUER} sub-1"
    again = await user_for_identity(sessions, journal, _identity("ada", "sub-1", ("qa",)))
    assert (again.id, again.roles) == (made.id, ["qa"])  # the provider decides the roles
    async with sessions() as session:
        actions = (
            (
                await session.execute(
                    select(JournalEntry.action).where(JournalEntry.subject == "user:ada")
                )
            )
            .scalars()
            .all()
        )
    assert list(actions) == ["user.created", "user.changed"]


async def test_a_name_held_by_a_local_account_is_refused(app: FastAPI, make_user: MakeUser) -> None:
    local = await make_user("supervisor")
    sessions, journal = app.state.session_factory, app.state.journal
    with pytest.raises(IdentityConflict, match="belongs to a local account"):
        await user_for_identity(sessions, journal, _identity(local.username, "sub-9"))
    async with sessions() as session:
        user = (
            await session.execute(select(User).where(User.username == local.username))
        ).scalar_one()
    assert (user.roles, user.provider_subject) == (["supervisor"], None)  # untouched


async def test_a_name_held_by_another_provider_account_is_refused(app: FastAPI) -> None:
    sessions, journal = app.state.session_factory, app.state.journal
    await user_for_identity(sessions, journal, _identity("grace", "sub-a"))
    with pytest.raises(IdentityConflict, match="another provider account"):
        await user_for_identity(sessions, journal, _identity("grace", "sub-b"))
