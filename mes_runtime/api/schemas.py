"""Request and response bodies shared by several routers."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Page", "SignatureIn", "UserOut"]


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    username: str
    roles: list[str]
    active: bool
    created_at: datetime


class SignatureIn(BaseModel):
    """An electronic signature: the signer re-enters their password (Part 11 §11.200)."""

    password: str = Field(min_length=1, max_length=1024, description="signer's password")
    meaning: str = Field(
        default="approved", min_length=1, max_length=64, description="what the signature means"
    )


class Page(BaseModel):
    """Keyset paging: pass ``next_after`` back as ``after`` for the next page."""

    next_after: int | None
