"""Electronic signatures: what they may mean and what they manifest (21 CFR 11.50, 11.70).

A signature's meaning is a choice from :class:`SignatureMeaning`, never free text, and it
decides the outcome: "rejected" rejects. The manifestation (:class:`Signature`) names the
signer by user name and printed name, gives the UTC time and the meaning, and links the
signature to the signed record by that record's digest; it is journalled with the signed
action (the journal's hash chain then protects it). Pure data, no I/O.

An action that is signed with one meaning only (closing an exception: "approved"; releasing
a batch: "approved", rejecting it: "rejected") checks it with :func:`require_meaning`, so a
"rejected" signature never closes or releases anything. A record without a stored digest
is signed over :func:`record_digest` of what the signer was shown.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

__all__ = ["Signature", "SignatureMeaning", "WrongMeaning", "record_digest", "require_meaning"]


class SignatureMeaning(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True, kw_only=True)
class Signature:
    """An electronic signature's manifestation."""

    username: str
    printed_name: str
    meaning: SignatureMeaning
    signed_at: datetime
    record: str
    record_digest: str

    def manifest(self) -> dict[str, Any]:
        """The signature as journalled and shown: every §11.50 element, UTC time."""
        return {
            "signer": self.username,
            "printed_name": self.printed_name,
            "meaning": self.meaning.value,
            "signed_at": self.signed_at.astimezone(UTC).isoformat(),
            "record": self.record,
            "record_digest": self.record_digest,
        }


class WrongMeaning(ValueError):
    """A signature whose meaning is not the one its action is signed with."""


def require_meaning(meaning: SignatureMeaning, needed: SignatureMeaning, action: str) -> None:
    """Refuse (:class:`WrongMeaning`) a signature for ``action`` unless it means ``needed``."""
    if meaning is not needed:
        raise WrongMeaning(
            f"{action} is signed with the meaning {needed.value!r}, not {meaning.value!r}"
        )


def record_digest(record: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of the record's canonical JSON (sorted keys, no whitespace, UTF-8):
    the digest a signature over a record without a stored digest links to."""
    text = json.dumps(
        record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
