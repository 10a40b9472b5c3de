"""``/api/v1/auth/oidc``: the UI's sign-in through the plant's identity provider.

The authorization code flow with PKCE, the runtime being the provider's client:
``GET /login`` sends the browser to the provider with a fresh ``state``, ``nonce`` and code
challenge, and keeps them (with the code verifier) in a short-lived cookie of this path
only (HttpOnly, SameSite=Lax, so that it comes back with the provider's redirect);
``GET /callback`` checks that the ``state`` is the one this browser was given, redeems the
code with the verifier (and the client secret, when the runtime has one), checks the ID
token (``auth.oidc``: signature, issuer, audience, expiry, nonce), maps the groups to
roles and answers the runtime's own bearer token to the UI, in the fragment of the
redirect to ``/ui/`` (a fragment is never sent to a server; the UI removes it at once).
A refusal goes back to the UI too, saying why, so a person sees it on the sign-in page.

API clients do not come here: they send the provider's token itself (``api.deps``).
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Query, Request, status
from fastapi.responses import RedirectResponse

from mes_runtime.api.deps import JournalDep, SettingsDep
from mes_runtime.api.errors import not_found
from mes_runtime.auth.oidc import OidcRefused, OidcVerifier, SignInRequest
from mes_runtime.services.identity import AccountInactive, IdentityConflict, sign_in

__all__ = ["COOKIE", "router"]

router = APIRouter(prefix="/api/v1/auth/oidc", tags=["auth"])

COOKIE = "holon_oidc"
#: How long a sign-in at the provider may take.
SIGN_IN_SECONDS = 600
UI = "/ui/"


def _verifier(request: Request) -> OidcVerifier:
    verifier: OidcVerifier | None = getattr(request.app.state, "oidc", None)
    if verifier is None:
        raise not_found(("path",), "no identity provider is configured (HOLON_OIDC_ISSUER)")
    return verifier


def _redirect_uri(request: Request, settings: SettingsDep) -> str:
    return settings.oidc_redirect_url or str(request.url_for("oidc_callback"))


def _back_to_ui(fragment: str) -> RedirectResponse:
    response = RedirectResponse(f"{UI}#{fragment}", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(COOKIE, path=router.prefix)
    return response


def _refused(reason: str) -> RedirectResponse:
    return _back_to_ui(f"sign-in-error={quote(reason, safe='')}")


_REDIRECT: dict[int | str, dict[str, Any]] = {
    303: {"description": "to the provider's sign-in, or back to the UI"}
}


@router.get(
    "/login",
    status_code=status.HTTP_303_SEE_OTHER,
    response_class=RedirectResponse,
    responses={
        **_REDIRECT,
        404: {"description": "no identity provider is configured"},
    },
)
async def oidc_login(request: Request, settings: SettingsDep) -> RedirectResponse:
    """Start a sign-in: to the provider's authorization endpoint (code, PKCE S256)."""
    verifier = _verifier(request)
    sign = SignInRequest.new()
    try:
        url = await verifier.authorization_url(
            sign, redirect_uri=_redirect_uri(request, settings), scope=settings.oidc_scopes
        )
    except (httpx.HTTPError, OidcRefused, KeyError, ValueError) as exc:
        return _refused(f"the identity provider cannot be reached ({type(exc).__name__})")
    response = RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        COOKIE,
        sign.dumps(),
        max_age=SIGN_IN_SECONDS,
        path=router.prefix,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@router.get(
    "/callback",
    status_code=status.HTTP_303_SEE_OTHER,
    response_class=RedirectResponse,
    responses={**_REDIRECT, 404: {"description": "no identity provider is configured"}},
)
async def oidc_callback(
    request: Request,
    settings: SettingsDep,
    journal: JournalDep,
    code: Annotated[str | None, Query(max_length=4096)] = None,
    state: Annotated[str | None, Query(max_length=256)] = None,
    error: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z_]+$")] = None,
) -> RedirectResponse:
    """The provider's redirect back: the runtime's bearer token to the UI (or why not)."""
    verifier = _verifier(request)
    if error is not None:
        return _refused(f"the identity provider refused the sign-in ({error})")
    sign = SignInRequest.loads(request.cookies.get(COOKIE, ""))
    if sign is None or state is None or not secrets.compare_digest(state, sign.state):
        return _refused("this sign-in was not started in this browser (state): start again")
    if code is None:
        return _refused("the identity provider sent no authorization code")
    secret = settings.oidc_client_secret
    try:
        identity = await verifier.redeem(
            sign,
            code=code,
            redirect_uri=_redirect_uri(request, settings),
            client_secret=None if secret is None else secret.get_secret_value(),
        )
        user, token, _ = await sign_in(
            request.app.state.session_factory,
            journal,
            identity,
            ttl_seconds=settings.token_ttl_seconds,
        )
    except OidcRefused as exc:
        return _refused(str(exc))
    except AccountInactive:
        return _refused("the account is deactivated in this runtime")
    except IdentityConflict as exc:
        return _refused(str(exc))
    return _back_to_ui(f"signed-in={quote(token, safe='')}&user={quote(user.username, safe='')}")
