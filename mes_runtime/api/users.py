"""``/api/v1/users`` (admin): create users, list them, change roles or deactivate.

Users are never deleted (the journal refers to them); they are deactivated.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, status
from pydantic import BaseModel, Field
from sqlalchemy import select

from mes_runtime.api.deps import JournalDep, SessionDep, require
from mes_runtime.api.errors import conflict, not_found, unprocessable
from mes_runtime.api.schemas import UserOut
from mes_runtime.auth.passwords import generate_password
from mes_runtime.auth.permissions import Permission, Role
from mes_runtime.auth.users import InvalidUserData, UserExists, create_user, get_user
from mes_runtime.db.models import ApiToken, User

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/users", tags=["users"])
Admin = Annotated[User, require(Permission.USER_MANAGE)]


class UserIn(BaseModel):
    username: str = Field(min_length=2, max_length=64)
    roles: list[Role] = Field(min_length=1)
    password: str | None = Field(
        default=None, max_length=1024, description="omit to get a random one (shown once)"
    )


class UserCreatedOut(UserOut):
    password: str | None = Field(description="the generated password, shown only this once")


class UserPatch(BaseModel):
    roles: list[Role] | None = Field(default=None, min_length=1)
    active: bool | None = None


@router.get("", response_model=list[UserOut])
async def list_users(_: Admin, session: SessionDep) -> list[UserOut]:
    users = (await session.execute(select(User).order_by(User.username))).scalars()
    return [UserOut.model_validate(u) for u in users]


@router.post("", response_model=UserCreatedOut, status_code=status.HTTP_201_CREATED)
async def add_user(
    body: UserIn, admin: Admin, session: SessionDep, journal: JournalDep
) -> UserCreatedOut:
    generated = body.password is None
    password = generate_password() if body.password is None else body.password
    try:
        async with session.begin():
            user = await create_user(
                session, username=body.username, password=password, roles=body.roles
            )
    except InvalidUserData as exc:
        raise unprocessable(("body", exc.field), exc.problem) from None
    except UserExists as exc:
        raise conflict(("body", "username"), str(exc)) from None
    await journal.append(
        actor=admin.username,
        action="user.created",
        subject=f"user:{user.username}",
        new_value={"username": user.username, "roles": list(user.roles)},
    )
    out = UserOut.model_validate(user).model_dump()
    return UserCreatedOut(**out, password=password if generated else None)


@router.patch("/{username}", response_model=UserOut)
async def change_user(
    username: str, body: UserPatch, admin: Admin, session: SessionDep, journal: JournalDep
) -> UserOut:
    async with session.begin():
        user = await get_user(session, username)
        if user is None:
            raise not_found(("path", "username"), f"no user {username!r}")
        if user.username == admin.username and body.active is False:
            raise unprocessable(("body", "active"), "you cannot deactivate yourself")
        old = {"roles": list(user.roles), "active": user.active}
        if body.roles is not None:
            user.roles = sorted({r.value for r in body.roles})
        if body.active is not None:
            user.active = body.active
            if not body.active:  # a deactivated user's tokens stop working at once
                for token in (
                    await session.execute(select(ApiToken).where(ApiToken.user_id == user.id))
                ).scalars():
                    await session.delete(token)
        new = {"roles": list(user.roles), "active": user.active}
    await journal.append(
        actor=admin.username,
        action="user.changed",
        subject=f"user:{username}",
        old_value=old,
        new_value=new,
    )
    return UserOut.model_validate(user)
