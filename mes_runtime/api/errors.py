"""Error responses in one shape: FastAPI's own validation shape, for every 4xx.

``{"detail": [{"loc": ["body", "username"], "msg": "...", "type": "..."}]}`` — a client (or a
person reading the response) always learns which field is wrong and why, whether the error
came from request validation (422) or from a rule checked by a route (401, 403, 404, 409).
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import HTTPException, status

__all__ = [
    "api_error",
    "conflict",
    "forbidden",
    "not_found",
    "unauthorized",
    "unprocessable",
    "unprocessable_many",
]


def api_error(
    status_code: int,
    loc: Sequence[str | int],
    msg: str,
    type_: str,
    *,
    headers: dict[str, str] | None = None,
) -> HTTPException:
    return HTTPException(
        status_code=status_code,
        detail=[{"loc": list(loc), "msg": msg, "type": type_}],
        headers=headers,
    )


def unauthorized(msg: str, loc: Sequence[str | int] = ("header", "Authorization")) -> HTTPException:
    return api_error(
        status.HTTP_401_UNAUTHORIZED,
        loc,
        msg,
        "unauthorized",
        headers={"WWW-Authenticate": "Bearer"},
    )


def forbidden(permission: str) -> HTTPException:
    return api_error(
        status.HTTP_403_FORBIDDEN,
        ("header", "Authorization"),
        f"your roles do not grant the permission {permission!r}",
        "forbidden",
    )


def not_found(loc: Sequence[str | int], msg: str) -> HTTPException:
    return api_error(status.HTTP_404_NOT_FOUND, loc, msg, "not_found")


def conflict(loc: Sequence[str | int], msg: str) -> HTTPException:
    return api_error(status.HTTP_409_CONFLICT, loc, msg, "conflict")


def unprocessable_many(details: Sequence[dict[str, object]]) -> HTTPException:
    """One 422 listing several problems (e.g. every issue of a recipe)."""
    return HTTPException(status_code=422, detail=list(details))


def unprocessable(loc: Sequence[str | int], msg: str, type_: str = "value_error") -> HTTPException:
    return api_error(422, loc, msg, type_)
