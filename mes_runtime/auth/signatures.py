"""Electronic signatures: what they may mean and what they manifest (21 CFR 11.50, 11.70).

A signature's meaning is a choice from :class:`SignatureMeaning`, never free text, and it
decides the outcome: "rejected" rejects. The manifestation (:class:`Signature`) names the
signer by user name and printed name, gives the UTC time and the meaning, and links the
signature to the signed record by that record's digest; it is journalled with the signed
action (the journal's hash chain then protects it). Pure data, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

__all__ = ["Signature", "SignatureMeaning"]


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
