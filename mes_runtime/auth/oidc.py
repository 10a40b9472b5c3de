"""Bearer tokens of the plant's OpenID Connect provider: verified, and mapped to roles.

The runtime is a resource server here: a client (the UI, a script, another system) signs
its user in at the provider and sends the provider's signed token (an ID token, or a JWT
access token) as ``Authorization: Bearer``. Nothing is trusted that the provider's key did
not sign: the keys come from the issuer's own discovery document (``jwks_uri``), the
signature is checked with the algorithm the key declares (never ``none`` or an HMAC one,
whose "key" would be public), then the issuer, the audience (the runtime's client id) and
the expiry. The user's roles are those the plant maps the token's groups to
(``HOLON_OIDC_ROLE_MAP``); a token whose groups map to no role is refused.

Keys are cached; a key id not seen before makes one refetch (a rotation at the provider),
at most every :data:`REFETCH_SECONDS`, so forged key ids cannot make the runtime hammer
the provider.

For the UI, the runtime is also the provider's client (:class:`SignInRequest`,
:meth:`OidcVerifier.redeem`): the authorization code flow with PKCE (S256), a ``state``
bound to the browser and a ``nonce`` bound to the ID token.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from mes_runtime.auth.users import USERNAME_PATTERN
from mes_runtime.settings import Settings

__all__ = [
    "ALGORITHMS",
    "OidcIdentity",
    "OidcRefused",
    "OidcVerifier",
    "SignInRequest",
    "looks_like_jwt",
    "oidc_verifier",
]

#: Asymmetric algorithms only: an HMAC "key" from a JWKS would be public.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
REFETCH_SECONDS = 60.0
HTTP_TIMEOUT_SECONDS = 10.0


class OidcRefused(Exception):
    """The token is not one the runtime accepts; ``str()`` says why (for the 401/403)."""

    def __init__(self, reason: str, *, forbidden: bool = False) -> None:
        super().__init__(reason)
        #: authenticated, but no role: 403 rather than 401
        self.forbidden = forbidden


@dataclass(frozen=True)
class OidcIdentity:
    """Who a verified token names, and the roles their groups map to."""

    issuer: str
    subject: str
    username: str
    full_name: str | None
    groups: tuple[str, ...]
    roles: tuple[str, ...]


@dataclass(frozen=True)
class SignInRequest:
    """One browser's sign-in in progress: what it must bring back, and the PKCE verifier."""

    state: str
    nonce: str
    code_verifier: str

    @classmethod
    def new(cls) -> SignInRequest:
        return cls(*(secrets.token_urlsafe(32) for _ in range(3)))

    @property
    def code_challenge(self) -> str:
        digest = hashlib.sha256(self.code_verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def dumps(self) -> str:
        return ".".join((self.state, self.nonce, self.code_verifier))

    @classmethod
    def loads(cls, text: str) -> SignInRequest | None:
        parts = text.split(".")
        return cls(*parts) if len(parts) == 3 and all(parts) else None


def looks_like_jwt(token: str) -> bool:
    """A JWS compact serialisation has three dot-separated parts; the runtime's own opaque
    tokens have none."""
    return token.count(".") == 2


def _claim_strings(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence):
        return tuple(v for v in value if isinstance(v, str))
    return ()


class OidcVerifier:
    """Verifies the provider's tokens for one audience and maps their groups to roles."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        role_map: Mapping[str, Sequence[str]],
        username_claim: str = "preferred_username",
        name_claim: str = "name",
        groups_claim: str = "groups",
        leeway_seconds: int = 30,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self._role_map = {group: tuple(roles) for group, roles in role_map.items()}
        self._username_claim = username_claim
        self._name_claim = name_claim
        self._groups_claim = groups_claim
        self._leeway = leeway_seconds
        self._metadata: dict[str, Any] | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def _get_json(self, url: str) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_SECONDS) as http:
            response = await http.get(url)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def metadata(self) -> dict[str, Any]:
        """The issuer's discovery document (fetched once), checked to name the issuer."""
        if self._metadata is None:
            url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
            document = await self._get_json(url)
            if document.get("issuer") != self.issuer:
                raise OidcRefused(
                    f"the provider's discovery document names issuer "
                    f"{document.get('issuer')!r}, not {self.issuer!r}"
                )
            self._metadata = document
        return self._metadata

    async def _key(self, kid: str | None) -> jwt.PyJWK:
        async with self._lock:
            if kid not in self._keys and time.monotonic() - self._fetched_at > REFETCH_SECONDS:
                try:
                    jwks = await self._get_json((await self.metadata())["jwks_uri"])
                except (httpx.HTTPError, KeyError, json.JSONDecodeError) as exc:
                    raise OidcRefused(f"the provider's keys cannot be fetched ({exc})") from None
                self._fetched_at = time.monotonic()
                keys = jwt.PyJWKSet.from_dict(jwks).keys
                self._keys = {key.key_id or "": key for key in keys}
            key = self._keys.get(kid or "")
        if key is None:
            raise OidcRefused("the token is signed with a key the issuer does not publish")
        return key

    async def authorization_url(
        self, request: SignInRequest, *, redirect_uri: str, scope: str
    ) -> str:
        """Where to send the browser to sign in (authorization code, PKCE S256)."""
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.audience,
                "redirect_uri": redirect_uri,
                "scope": scope,
                "state": request.state,
                "nonce": request.nonce,
                "code_challenge": request.code_challenge,
                "code_challenge_method": "S256",
            }
        )
        return f"{(await self.metadata())['authorization_endpoint']}?{query}"

    async def redeem(
        self,
        request: SignInRequest,
        *,
        code: str,
        redirect_uri: str,
        client_secret: str | None,
    ) -> OidcIdentity:
        """The identity of the ID token the provider gives for ``code`` (checked like any
        bearer token, and its nonce against the sign-in's)."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": request.code_verifier,
            "client_id": self.audience,
        }
        try:
            endpoint = (await self.metadata())["token_endpoint"]
            async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_SECONDS) as http:
                if client_secret is None:  # a public client: PKCE alone
                    response = await http.post(endpoint, data=form)
                else:
                    auth = httpx.BasicAuth(self.audience, client_secret)
                    response = await http.post(endpoint, data=form, auth=auth)
        except (httpx.HTTPError, KeyError) as exc:
            raise OidcRefused(f"the provider cannot be reached ({exc})") from None
        if response.status_code != 200:
            raise OidcRefused(f"the provider refused the code (HTTP {response.status_code})")
        token = response.json().get("id_token")
        if not isinstance(token, str):
            raise OidcRefused("the provider answered no ID token")
        return await self.verify(token, nonce=request.nonce)

    async def verify(self, token: str, *, nonce: str | None = None) -> OidcIdentity:
        """The identity a valid token names; :class:`OidcRefused` saying why otherwise.
        ``nonce``: the token must carry it (an ID token of this sign-in)."""
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise OidcRefused("the bearer token is not a signed JWT") from None
        if unverified.get("iss") != self.issuer:
            raise OidcRefused(
                f"the token was issued by {unverified.get('iss')!r}, not by the plant's "
                f"identity provider {self.issuer!r}"
            )
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise OidcRefused(f"the token's algorithm {algorithm!r} is not accepted")
        key = await self._key(header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self._leeway,
                options={"require": ["iss", "aud", "exp", "iat", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise OidcRefused("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise OidcRefused(
                f"the token is for another audience, not this runtime ({self.audience!r})"
            ) from None
        except jwt.InvalidSignatureError:
            raise OidcRefused("the token's signature does not verify") from None
        except jwt.PyJWTError as exc:
            raise OidcRefused(f"the token is not valid ({exc})") from None
        if nonce is not None and not secrets.compare_digest(str(claims.get("nonce")), nonce):
            raise OidcRefused("the ID token is not of this sign-in (nonce)")
        return self._identity(claims)

    def _identity(self, claims: Mapping[str, Any]) -> OidcIdentity:
        username = claims.get(self._username_claim)
        if not isinstance(username, str) or not USERNAME_PATTERN.match(username):
            raise OidcRefused(
                f"the token's {self._username_claim!r} claim is not a user name of this "
                "runtime (2-64 lower-case letters, digits, '.', '_' or '-')"
            )
        groups = _claim_strings(claims.get(self._groups_claim))
        roles = sorted({role for group in groups for role in self._role_map.get(group, ())})
        if not roles:
            raise OidcRefused(
                f"none of the user's groups ({', '.join(groups) or 'none'}) maps to a role "
                "of this runtime (HOLON_OIDC_ROLE_MAP)",
                forbidden=True,
            )
        name = claims.get(self._name_claim)
        return OidcIdentity(
            issuer=self.issuer,
            subject=str(claims["sub"]),
            username=username,
            full_name=name.strip() if isinstance(name, str) and name.strip() else None,
            groups=groups,
            roles=tuple(roles),
        )


def oidc_verifier(settings: Settings) -> OidcVerifier | None:
    """The verifier the settings configure (``HOLON_OIDC_*``), or None without a provider."""
    if not settings.oidc_issuer:
        return None
    return OidcVerifier(
        issuer=settings.oidc_issuer,
        audience=settings.oidc_client_id,
        role_map=settings.oidc_role_map,
        username_claim=settings.oidc_username_claim,
        name_claim=settings.oidc_name_claim,
        groups_claim=settings.oidc_groups_claim,
        leeway_seconds=settings.oidc_clock_skew_seconds,
    )
