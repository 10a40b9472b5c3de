"""Electronic signatures at the API edge: re-authenticate the signer, or refuse with 403.

A rejected signature is journalled (who tried to sign what) before the refusal, so failed
attempts are part of the record, as Part 11 expects.
"""

from __future__ import annotations

from fastapi import status
from sqlalchemy.ext.asyncio import AsyncSession

from mes_runtime.api.errors import api_error
from mes_runtime.api.schemas import SignatureIn
from mes_runtime.auth.users import Signature, SignatureRejected, verify_signature
from mes_runtime.db.models import User
from mes_runtime.ebr.journal import Journal

__all__ = ["signed"]


async def signed(
    session: AsyncSession,
    journal: Journal,
    user: User,
    signature: SignatureIn,
    *,
    subject: str,
    batch_id: str | None = None,
    loc: tuple[str, ...] = ("body", "signature", "password"),
) -> Signature:
    """The verified signature of ``user``; 403 (journalled) if the password is wrong."""
    try:
        async with session.begin():
            return await verify_signature(session, user, signature.password, signature.meaning)
    except SignatureRejected:
        await journal.append(
            batch_id=batch_id,
            actor=user.username,
            action="signature.rejected",
            subject=subject,
            reason="re-authentication failed",
        )
        raise api_error(
            status.HTTP_403_FORBIDDEN,
            loc,
            "signature rejected: the password is not correct",
            "signature_rejected",
        ) from None
