"""Request and response bodies shared by several routers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from mes_runtime.auth.signatures import SignatureMeaning

__all__ = [
    "INT32_MAX",
    "INT64_MAX",
    "BatchId",
    "Name",
    "Page",
    "RecipeName",
    "RowId",
    "SignatureIn",
    "SignatureOut",
    "UserOut",
    "Version",
]

#: The largest values the database's INTEGER and BIGINT columns hold: a larger number in a
#: request is a 422 naming the field, never an overflow inside the database driver (a 500).
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

#: A recipe version in a path.
Version = Annotated[int, Path(ge=1, le=INT32_MAX)]
#: A name in a path (recipe, equipment, closure rule): as long as the database holds.
RecipeName = Annotated[str, Path(min_length=1, max_length=128)]
Name = RecipeName
#: A batch id in a path.
BatchId = Annotated[str, Path(min_length=1, max_length=64)]
#: A row id (exceptions) in a path.
RowId = Annotated[int, Path(ge=1, le=INT32_MAX)]


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    username: str
    full_name: str | None
    roles: list[str]
    active: bool
    created_at: datetime
    password_changed_at: datetime | None
    locked_until: datetime | None


class SignatureIn(BaseModel):
    """An electronic signature: the signer re-enters their password (Part 11 §11.200) and
    chooses what the signature means (§11.50): the meaning decides the outcome."""

    model_config = ConfigDict(extra="forbid")

    password: str = Field(min_length=1, max_length=1024, description="signer's password")
    meaning: SignatureMeaning = Field(description="what the signature means")


class SignatureOut(BaseModel):
    """A signature's manifestation: printed name, UTC time, meaning, the signed record's
    digest."""

    signer: str
    printed_name: str
    meaning: SignatureMeaning
    signed_at: datetime
    record: str
    record_digest: str


class Page(BaseModel):
    """Keyset paging: pass ``next_after`` back as ``after`` for the next page."""

    next_after: int | None
