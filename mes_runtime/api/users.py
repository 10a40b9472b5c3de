"""``/api/v1/users`` (admin): enrol users, list them, change roles or deactivate, reset a
password.

The administrator never chooses, sees or learns a password: enrolling a user (or resetting
their password) answers a one-time set-up token, handed to the user, who sets their own
password with it (``POST /api/v1/auth/password/setup``). Segregation of duties holds here:
nobody changes their own roles and nobody grants a role they do not hold (403). Users are
never deleted (the journal refers to them); they are deactivated.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from mes_runtime.api.deps import AccountPolicyDep, JournalDep, SessionDep, require
from mes_runtime.api.errors import api_error, conflict, not_found, unprocessable
from mes_runtime.api.schemas import UserOut
from mes_runtime.auth.permissions import Permission, Role, grant_problem
from mes_runtime.auth.users import (
    InvalidUserData,
    UserExists,
    enroll_user,
    get_user,
    issue_setup_token,
    revoke_tokens,
)
from mes_runtime.db.models import User

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/users", tags=["users"])
Admin = Annotated[User, require(Permission.USER_MANAGE)]
Username = Annotated[str, Path(min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]+$")]


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]+$")
    full_name: str = Field(
        min_length=1, max_length=128, description="printed name, shown with every signature"
    )
    roles: list[Role] = Field(min_length=1, max_length=len(Role))


class SetupTokenOut(BaseModel):
    setup_token: str = Field(
        description="one-time token the user sets their own password with; shown only once"
    )
    setup_expires_at: datetime


class UserCreatedOut(UserOut, SetupTokenOut):
    pass


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    roles: list[Role] | None = Field(default=None, min_length=1, max_length=len(Role))
    active: bool | None = None
    full_name: str | None = Field(default=None, min_length=1, max_length=128)


def _refuse_grant(problem: str) -> Exception:
    return api_error(status.HTTP_403_FORBIDDEN, ("body", "roles"), problem, "forbidden")


@router.get("", response_model=list[UserOut])
async def list_users(_: Admin, session: SessionDep) -> list[UserOut]:
    users = (await session.execute(select(User).order_by(User.username))).scalars()
    return [UserOut.model_validate(u) for u in users]


@router.post(
    "",
    response_model=UserCreatedOut,
    status_code=status.HTTP_201_CREATED,
    responses={403: {"description": "a role you do not hold"}, 409: {"description": "exists"}},
)
async def add_user(
    body: UserIn, admin: Admin, session: SessionDep, journal: JournalDep, policy: AccountPolicyDep
) -> UserCreatedOut:
    roles = sorted({r.value for r in body.roles})
    problem = grant_problem(
        granter=admin.username,
        granter_roles=admin.roles,
        target=None,
        old_roles=[],
        new_roles=roles,
    )
    if problem is not None:
        raise _refuse_grant(problem)
    try:
        async with session.begin():
            user, token, expires_at = await enroll_user(
                session,
                username=body.username,
                full_name=body.full_name,
                roles=roles,
                ttl_seconds=policy.setup_ttl_seconds,
            )
    except InvalidUserData as exc:
        raise unprocessable(("body", exc.field), exc.problem) from None
    except UserExists as exc:
        raise conflict(("body", "username"), str(exc)) from None
    await journal.append(
        actor=admin.username,
        action="user.created",
        subject=f"user:{user.username}",
        new_value={"username": user.username, "full_name": user.full_name, "roles": roles},
        reason="enrolled; the user sets their own password with a one-time set-up token",
    )
    out = UserOut.model_validate(user).model_dump()
    return UserCreatedOut(**out, setup_token=token, setup_expires_at=expires_at)


@router.patch(
    "/{username}",
    response_model=UserOut,
    responses={403: {"description": "own roles, or a role you do not hold"}},
)
async def change_user(
    username: Username, body: UserPatch, admin: Admin, session: SessionDep, journal: JournalDep
) -> UserOut:
    async with session.begin():
        user = await get_user(session, username)
        if user is None:
            raise not_found(("path", "username"), f"no user {username!r}")
        if user.username == admin.username and body.active is False:
            raise unprocessable(("body", "active"), "you cannot deactivate yourself")
        if body.roles is not None:
            problem = grant_problem(
                granter=admin.username,
                granter_roles=admin.roles,
                target=user.username,
                old_roles=user.roles,
                new_roles=[r.value for r in body.roles],
            )
            if problem is not None:
                raise _refuse_grant(problem)
        old = {"roles": list(user.roles), "active": user.active, "full_name": user.full_name}
        if body.roles is not None:
            user.roles = sorted({r.value for r in body.roles})
        if body.full_name is not None:
            user.full_name = body.full_name
        if body.active is not None:
            user.active = body.active
            if not body.active:  # a deactivated user's tokens stop working at once
                await revoke_tokens(session, user)
        new = {"roles": list(user.roles), "active": user.active, "full_name": user.full_name}
    await journal.append(
        actor=admin.username,
        action="user.changed",
        subject=f"user:{username}",
        old_value=old,
        new_value=new,
    )
    return UserOut.model_validate(user)


@router.post(
    "/{username}/password-reset",
    response_model=SetupTokenOut,
    responses={403: {"description": "your own password, or a user holding roles you do not"}},
)
async def reset_password(
    username: Username,
    admin: Admin,
    session: SessionDep,
    journal: JournalDep,
    policy: AccountPolicyDep,
) -> SetupTokenOut:
    """The user's password and tokens stop working; they set a new password with the
    one-time set-up token answered here (the administrator never learns the password).
    Only for users whose every role the administrator holds: the token's holder can set
    the password, so resetting is as good as granting the user's roles."""
    if username == admin.username:
        raise api_error(
            status.HTTP_403_FORBIDDEN,
            ("path", "username"),
            "change your own password with POST /api/v1/auth/password",
            "forbidden",
        )
    async with session.begin():
        user = await get_user(session, username)
        if user is None:
            raise not_found(("path", "username"), f"no user {username!r}")
        # whoever holds the set-up token can act as the user: as good as granting their roles
        problem = grant_problem(
            granter=admin.username,
            granter_roles=admin.roles,
            target=None,
            old_roles=[],
            new_roles=user.roles,
        )
        if problem is not None:
            raise api_error(
                status.HTTP_403_FORBIDDEN,
                ("path", "username"),
                f"resetting this password would hand you the user's roles: {problem}",
                "forbidden",
            )
        token, expires_at = await issue_setup_token(
            session, user, ttl_seconds=policy.setup_ttl_seconds
        )
    await journal.append(
        actor=admin.username,
        action="user.password_reset",
        subject=f"user:{username}",
        reason="password reset; the user sets a new one with a one-time set-up token",
    )
    return SetupTokenOut(setup_token=token, setup_expires_at=expires_at)
