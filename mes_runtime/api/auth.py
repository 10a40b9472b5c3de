"""``/api/v1/auth``: log in (bearer token), log out, who am I.

Every failed login is journalled with the claimed username and never the password; the
response does not say whether the username or the password was wrong.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from mes_runtime.api.deps import CurrentUser, JournalDep, SessionDep, SettingsDep
from mes_runtime.api.errors import unauthorized
from mes_runtime.auth.permissions import permissions_of
from mes_runtime.auth.users import authenticate, issue_token, revoke_token

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_at: datetime


class MeOut(BaseModel):
    username: str
    roles: list[str]
    permissions: list[str]


@router.post("/token", response_model=TokenOut)
async def login(
    body: LoginIn, session: SessionDep, journal: JournalDep, settings: SettingsDep
) -> TokenOut:
    async with session.begin():
        user = await authenticate(session, body.username, body.password)
        if user is not None:
            token, expires_at = await issue_token(
                session, user, ttl_seconds=settings.token_ttl_seconds
            )
    if user is None:
        await journal.append(
            actor=body.username,
            action="auth.login_failed",
            subject=f"user:{body.username}",
            reason="invalid username or password",
        )
        raise unauthorized("invalid username or password", loc=("body", "password"))
    await journal.append(actor=user.username, action="auth.login", subject=f"user:{user.username}")
    return TokenOut(access_token=token, expires_at=expires_at)


_bearer = HTTPBearer(auto_error=False)


@router.delete("/token", status_code=status.HTTP_204_NO_CONTENT)
async def logout(
    user: CurrentUser,
    session: SessionDep,
    journal: JournalDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    if credentials is not None:
        async with session.begin():
            await revoke_token(session, credentials.credentials)
    await journal.append(actor=user.username, action="auth.logout", subject=f"user:{user.username}")


@router.get("/me", response_model=MeOut)
async def me(user: CurrentUser) -> MeOut:
    return MeOut(
        username=user.username,
        roles=list(user.roles),
        permissions=sorted(p.value for p in permissions_of(user.roles)),
    )
