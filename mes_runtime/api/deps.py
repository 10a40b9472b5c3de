"""Shared route dependencies as ``Annotated`` aliases (STYLE #11).

``SessionDep`` (a database session per request), ``JournalDep`` (the one journal writer),
``ReviewDep``, ``ClosureRulesDep``, ``ReleasesDep`` (review by exception and release),
``CurrentUser`` (the bearer token's user: the runtime's own opaque token, or a JWT of the
plant's identity provider when one is configured; 401 otherwise) and ``require(Permission.X)``
(403 when the user's roles do not grant X). Routes declare what they need; nothing else
decides access.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mes_runtime.api.errors import api_error, forbidden, unauthorized
from mes_runtime.auth.oidc import OidcRefused, OidcVerifier, looks_like_jwt
from mes_runtime.auth.permissions import Permission, has_permission
from mes_runtime.auth.users import user_for_token
from mes_runtime.db.models import User
from mes_runtime.ebr.journal import Journal
from mes_runtime.ebr.outbox import QmsOutbox
from mes_runtime.services.accounts import AccountPolicy, AlertHook
from mes_runtime.services.closure import ClosureRules
from mes_runtime.services.identity import AccountInactive, IdentityConflict, user_for_identity
from mes_runtime.services.release import BatchReleases
from mes_runtime.services.review import ExceptionReview
from mes_runtime.settings import Settings

__all__ = [
    "AccountPolicyDep",
    "AlertDep",
    "ClosureRulesDep",
    "CurrentUser",
    "EngineDep",
    "JournalDep",
    "ReleasesDep",
    "ReviewDep",
    "SessionDep",
    "SettingsDep",
    "current_user",
    "is_permission_check",
    "require",
]

_bearer = HTTPBearer(
    auto_error=False,
    description=(
        "token from POST /api/v1/auth/token, or an ID/access token of the plant's OpenID "
        "Connect provider (HOLON_OIDC_ISSUER)"
    ),
)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.engine
    return engine


def _journal(request: Request) -> Journal:
    journal: Journal = request.app.state.journal
    return journal


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    factory: async_sessionmaker[AsyncSession] = request.app.state.session_factory
    async with factory() as session:
        yield session


def _account_policy(request: Request) -> AccountPolicy:
    return AccountPolicy.from_settings(request.app.state.settings)


def _alert(request: Request) -> AlertHook:
    """The security alert hook: the runtime's metrics count failed authentications and
    locks (the log warning comes from the accounts service)."""
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is None:
        return lambda via, locked: None
    hook: AlertHook = lambda via, locked: metrics.auth_failed(via, locked=locked)  # noqa: E731
    return hook


SettingsDep = Annotated[Settings, Depends(_settings)]
AccountPolicyDep = Annotated[AccountPolicy, Depends(_account_policy)]
AlertDep = Annotated[AlertHook, Depends(_alert)]
EngineDep = Annotated[AsyncEngine, Depends(_engine)]
JournalDep = Annotated[Journal, Depends(_journal)]
SessionDep = Annotated[AsyncSession, Depends(_session)]


def _outbox(request: Request) -> QmsOutbox | None:
    """The QMS outbox when the QMS hand-off is configured (``HOLON_QMS_URL``)."""
    outbox: QmsOutbox | None = getattr(request.app.state, "qms_outbox", None)
    return outbox


OutboxDep = Annotated[QmsOutbox | None, Depends(_outbox)]


def _review(engine: EngineDep, journal: JournalDep, outbox: OutboxDep) -> ExceptionReview:
    return ExceptionReview(engine=engine, journal=journal, outbox=outbox)


def _closure_rules(engine: EngineDep, journal: JournalDep, outbox: OutboxDep) -> ClosureRules:
    return ClosureRules(engine=engine, journal=journal, outbox=outbox)


def _releases(engine: EngineDep, journal: JournalDep, outbox: OutboxDep) -> BatchReleases:
    return BatchReleases(engine=engine, journal=journal, outbox=outbox)


ReviewDep = Annotated[ExceptionReview, Depends(_review)]
ClosureRulesDep = Annotated[ClosureRules, Depends(_closure_rules)]
ReleasesDep = Annotated[BatchReleases, Depends(_releases)]


async def current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized("a bearer token is required (POST /api/v1/auth/token)")
    factory: async_sessionmaker[AsyncSession] = request.app.state.session_factory
    verifier: OidcVerifier | None = getattr(request.app.state, "oidc", None)
    if verifier is not None and looks_like_jwt(credentials.credentials):
        return await _provider_user(request, verifier, credentials.credentials)
    async with factory() as session:
        user = await user_for_token(session, credentials.credentials)
    if user is None:
        raise unauthorized("the bearer token is unknown, expired or revoked")
    return user


async def _provider_user(request: Request, verifier: OidcVerifier, token: str) -> User:
    """The user a token of the plant's identity provider names (401 saying why not; 403
    when their groups map to no role)."""
    try:
        identity = await verifier.verify(token)
    except OidcRefused as exc:
        if exc.forbidden:
            raise api_error(
                status.HTTP_403_FORBIDDEN, ("header", "Authorization"), str(exc), "forbidden"
            ) from None
        raise unauthorized(str(exc)) from None
    try:
        return await user_for_identity(
            request.app.state.session_factory, request.app.state.journal, identity
        )
    except AccountInactive:
        raise unauthorized("the account is deactivated in this runtime") from None
    except IdentityConflict as exc:
        raise api_error(
            status.HTTP_403_FORBIDDEN, ("header", "Authorization"), str(exc), "forbidden"
        ) from None


CurrentUser = Annotated[User, Depends(current_user)]
#: The dependencies :func:`require` made (``api.openapi`` documents 403 where they are).
_PERMISSION_CHECKS: set[Callable[..., Any]] = set()


def require(permission: Permission) -> Any:
    """``Depends`` that yields the current user if their roles grant ``permission``."""

    async def _check(user: CurrentUser) -> User:
        if not has_permission(user.roles, permission):
            raise forbidden(permission.value)
        return user

    checker: Callable[..., Coroutine[Any, Any, User]] = _check
    _PERMISSION_CHECKS.add(checker)
    return Depends(checker)


def is_permission_check(call: Callable[..., Any]) -> bool:
    """Whether ``call`` is a dependency made by :func:`require`."""
    return call in _PERMISSION_CHECKS
