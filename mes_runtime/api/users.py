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

from mes_runtime.api.deps import AccountPolicyDep, JournalDep, SessionDep, require
from mes_runtime.api.errors import api_error, conflict, not_found, unprocessable
from mes_runtime.api.schemas import UserOut
from mes_runtime.auth.permissions import Permission, Role
from mes_runtime.auth.users import InvalidUserData, UserExists
from mes_runtime.db.models import User
from mes_runtime.services import accounts
from mes_runtime.services.accounts import (
    GrantRefused,
    OwnPasswordReset,
    SelfDeactivation,
    UserNotFound,
)

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
    return [UserOut.model_validate(u) for u in await accounts.list_users(session)]


@router.post(
    "",
    response_model=UserCreatedOut,
    status_code=status.HTTP_201_CREATED,
    responses={403: {"description": "a role you do not hold"}, 409: {"description": "exists"}},
)
async def add_user(
    body: UserIn, admin: Admin, journal: JournalDep, policy: AccountPolicyDep
) -> UserCreatedOut:
    try:
        user, token, expires_at = await accounts.enrol_user(
            journal,
            admin=admin,
            username=body.username,
            full_name=body.full_name,
            roles=sorted({r.value for r in body.roles}),
            setup_ttl_seconds=policy.setup_ttl_seconds,
        )
    except GrantRefused as exc:
        raise _refuse_grant(str(exc)) from None
    except InvalidUserData as exc:
        raise unprocessable(("body", exc.field), exc.problem) from None
    except UserExists as exc:
        raise conflict(("body", "username"), str(exc)) from None
    out = UserOut.model_validate(user).model_dump()
    return UserCreatedOut(**out, setup_token=token, setup_expires_at=expires_at)


@router.patch(
    "/{username}",
    response_model=UserOut,
    responses={403: {"description": "own roles, or a role you do not hold"}},
)
async def change_user(
    username: Username, body: UserPatch, admin: Admin, journal: JournalDep
) -> UserOut:
    try:
        user = await accounts.change_user(
            journal,
            admin=admin,
            username=username,
            roles=None if body.roles is None else [r.value for r in body.roles],
            full_name=body.full_name,
            active=body.active,
        )
    except UserNotFound as exc:
        raise not_found(("path", "username"), str(exc)) from None
    except SelfDeactivation as exc:
        raise unprocessable(("body", "active"), str(exc)) from None
    except GrantRefused as exc:
        raise _refuse_grant(str(exc)) from None
    return UserOut.model_validate(user)


@router.post(
    "/{username}/password-reset",
    response_model=SetupTokenOut,
    responses={403: {"description": "your own password, or a user holding roles you do not"}},
)
async def reset_password(
    username: Username, admin: Admin, journal: JournalDep, policy: AccountPolicyDep
) -> SetupTokenOut:
    """The user's password and tokens stop working; they set a new password with the
    one-time set-up token answered here (the administrator never learns the password).
    Only for users whose every role the administrator holds: the token's holder can set
    the password, so resetting is as good as granting the user's roles."""
    try:
        token, expires_at = await accounts.reset_password(
            journal, admin=admin, username=username, setup_ttl_seconds=policy.setup_ttl_seconds
        )
    except (OwnPasswordReset, GrantRefused) as exc:
        raise api_error(
            status.HTTP_403_FORBIDDEN, ("path", "username"), str(exc), "forbidden"
        ) from None
    except UserNotFound as exc:
        raise not_found(("path", "username"), str(exc)) from None
    return SetupTokenOut(setup_token=token, setup_expires_at=expires_at)
