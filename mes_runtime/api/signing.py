"""Electronic signatures at the API edge for actions signed with one meaning.

:func:`signed` checks the meaning first (422 naming ``meaning``: nothing is attempted, so a
wrong choice costs no failed attempt), then signs through the accounts service
(:func:`~mes_runtime.services.accounts.sign_record`): re-authentication under the lockout
policy, administrators never sign, a refused attempt journalled as ``signature.rejected``,
and 403/429 as for every signature (:func:`~mes_runtime.api.auth.refused`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mes_runtime.api.auth import refused
from mes_runtime.api.errors import unprocessable
from mes_runtime.api.schemas import SignatureIn
from mes_runtime.auth.signatures import (
    Signature,
    SignatureMeaning,
    WrongMeaning,
    require_meaning,
)
from mes_runtime.db.models import User
from mes_runtime.ebr.journal import Journal
from mes_runtime.services.accounts import AccountPolicy, AlertHook, AuthRefused, sign_record

__all__ = ["signed", "signing_responses"]


async def signed(
    session: AsyncSession,
    journal: Journal,
    policy: AccountPolicy,
    alert: AlertHook,
    user: User,
    signature: SignatureIn,
    *,
    action: str,
    meaning: SignatureMeaning,
    record: str,
    digest: str,
    batch_id: str | None = None,
    loc: tuple[str, ...] = ("body", "signature"),
) -> Signature:
    """``user``'s signature meaning ``meaning`` over ``record`` (digest ``digest``) for
    ``action``; 422 for another meaning, 403/429 when the signature is refused (journalled
    in batch ``batch_id``'s record, if given)."""
    try:
        require_meaning(signature.meaning, meaning, action)
    except WrongMeaning as exc:
        raise unprocessable((*loc, "meaning"), str(exc), "wrong_meaning") from None
    try:
        return await sign_record(
            session,
            journal,
            policy,
            alert,
            user=user,
            password=signature.password,
            meaning=signature.meaning,
            record=record,
            record_digest=digest,
            batch_id=batch_id,
        )
    except AuthRefused as exc:
        raise refused(exc, (*loc, "password"), "signature") from None


def signing_responses(*, forbidden: str, conflict: str, meaning: str) -> dict[int | str, Any]:
    """The OpenAPI answers of a route that signs with :func:`signed`."""
    return {
        403: {"description": forbidden},
        409: {"description": conflict},
        422: {"description": meaning},
        429: {"description": "the signer's account is locked (see Retry-After)"},
    }
