"""``/api/v1/auth``: log in (bearer token), log out, who am I; set and change one's password.

Local sign-in can be switched off (``HOLON_LOCAL_LOGIN=false``) where the plant's identity
provider signs users in (``api.deps``: its tokens are bearer tokens too); passwords then
serve signatures only.

A failed login is journalled by ``anonymous`` against the user it names (``user:?`` when it
names nobody, without the typed text); the response does not say whether the username or
the password was wrong. Repeated failures lock the account (429 with ``Retry-After``). A
password is always its user's own: set with the one-time set-up token an administrator
hands over (``POST /password/setup``), changed by proving the current one
(``POST /password``, also once it has expired and logging in answers 403).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from mes_runtime.api.deps import (
    AccountPolicyDep,
    AlertDep,
    CurrentUser,
    JournalDep,
    SessionDep,
    SettingsDep,
)
from mes_runtime.api.errors import api_error, unauthorized, unprocessable
from mes_runtime.auth.password_policy import MAX_LENGTH, MIN_LENGTH
from mes_runtime.auth.permissions import permissions_of
from mes_runtime.auth.users import InvalidUserData, Outcome, SetupTokenInvalid
from mes_runtime.services.accounts import AuthRefused, change_password, log_in, log_out
from mes_runtime.services.accounts import set_up_password as set_up_own_password

__all__ = ["refused", "router"]

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

_NEW_PASSWORD = Field(
    min_length=1,
    max_length=MAX_LENGTH,
    description=(
        f"at least {MIN_LENGTH} characters, any characters; not a common or breached "
        "password, a repetition or run, or containing the user name (NIST SP 800-63B)"
    ),
)


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_at: datetime


class MethodsOut(BaseModel):
    local: bool = Field(description="POST /api/v1/auth/token (HOLON_LOCAL_LOGIN)")
    identity_provider: bool = Field(
        description="GET /api/v1/auth/oidc/login, and the provider's bearer tokens"
    )


class MeOut(BaseModel):
    username: str
    full_name: str | None
    roles: list[str]
    permissions: list[str]


class PasswordChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = _NEW_PASSWORD


class PasswordSetupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    setup_token: str = Field(min_length=1, max_length=128)
    new_password: str = _NEW_PASSWORD


def refused(exc: AuthRefused, loc: tuple[str, ...], what: str) -> HTTPException:
    """The HTTP answer to a refused authentication (login, password change, signature)."""
    if exc.outcome is Outcome.LOCKED:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return api_error(
            status.HTTP_429_TOO_MANY_REQUESTS,
            loc,
            "too many failed attempts: the account is locked for a while",
            "locked",
            headers=headers,
        )
    if exc.outcome is Outcome.EXPIRED:
        return api_error(
            status.HTTP_403_FORBIDDEN,
            loc,
            "the password has expired: change it (POST /api/v1/auth/password)",
            "password_expired",
        )
    if exc.outcome is Outcome.FORBIDDEN:
        return api_error(
            status.HTTP_403_FORBIDDEN,
            ("header", "Authorization"),
            "administrators may not sign (administration and approval are separate duties)",
            "forbidden",
        )
    if what == "signature":
        return api_error(
            status.HTTP_403_FORBIDDEN,
            loc,
            "signature rejected: the password is not correct",
            "signature_rejected",
        )
    return unauthorized("invalid username or password", loc=loc)


_LOGIN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "wrong credentials"},
    403: {"description": "the password has expired, or local sign-in is switched off"},
    429: {"description": "the account is locked (see Retry-After)"},
}


@router.post("/token", response_model=TokenOut, responses=_LOGIN_ERRORS)
async def login(
    body: LoginIn,
    session: SessionDep,
    journal: JournalDep,
    policy: AccountPolicyDep,
    alert: AlertDep,
    settings: SettingsDep,
) -> TokenOut:
    if not settings.local_login:
        raise api_error(
            status.HTTP_403_FORBIDDEN,
            ("body", "username"),
            "local sign-in is switched off: sign in with the plant's identity provider",
            "local_login_disabled",
        )
    try:
        _, token, expires_at = await log_in(
            session, journal, policy, alert, username=body.username, password=body.password
        )
    except AuthRefused as exc:
        raise refused(exc, ("body", "password"), "login") from None
    return TokenOut(access_token=token, expires_at=expires_at)


@router.post(
    "/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**_LOGIN_ERRORS, 422: {"description": "the new password is not acceptable"}},
)
async def change_own_password(
    body: PasswordChangeIn,
    session: SessionDep,
    journal: JournalDep,
    policy: AccountPolicyDep,
    alert: AlertDep,
) -> None:
    """Change one's own password (also an expired one); every token of the user ends."""
    try:
        await change_password(
            session,
            journal,
            policy,
            alert,
            username=body.username,
            current_password=body.current_password,
            new_password=body.new_password,
        )
    except InvalidUserData as exc:
        raise unprocessable(("body", "new_password"), exc.problem) from None
    except AuthRefused as exc:
        raise refused(exc, ("body", "current_password"), "password") from None


@router.post(
    "/password/setup",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        401: {"description": "the set-up token is unknown, used or expired"},
        422: {"description": "the new password is not acceptable"},
    },
)
async def set_up_password(body: PasswordSetupIn, session: SessionDep, journal: JournalDep) -> None:
    """A new user (or one whose password was reset) sets their own password with the
    one-time set-up token; the token then stops working."""
    try:
        await set_up_own_password(
            session,
            journal,
            username=body.username,
            token=body.setup_token,
            new_password=body.new_password,
        )
    except InvalidUserData as exc:
        raise unprocessable(("body", "new_password"), exc.problem) from None
    except SetupTokenInvalid as exc:
        raise unauthorized(str(exc), loc=("body", "setup_token")) from None


_bearer = HTTPBearer(auto_error=False)


@router.delete("/token", status_code=status.HTTP_204_NO_CONTENT)
async def logout(
    user: CurrentUser,
    journal: JournalDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    await log_out(
        journal, user=user, token=None if credentials is None else credentials.credentials
    )


@router.get("/methods", response_model=MethodsOut)
async def methods(settings: SettingsDep) -> MethodsOut:
    """How users sign in here (the UI's sign-in page asks before showing its choices)."""
    return MethodsOut(local=settings.local_login, identity_provider=bool(settings.oidc_issuer))


@router.get("/me", response_model=MeOut)
async def me(user: CurrentUser) -> MeOut:
    return MeOut(
        username=user.username,
        full_name=user.full_name,
        roles=list(user.roles),
        permissions=sorted(p.value for p in permissions_of(user.roles)),
    )
