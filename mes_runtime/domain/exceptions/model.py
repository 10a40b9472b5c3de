"""What an exception is for review by exception, and the two ways it gets closed.

An exception is raised with a category, a severity, the data that triggered it and the
journal entry that recorded it. It is *open* until it is closed once, for good, either:

* **auto-closed** by an approved closure rule — which rule, which version, and the
  evidence that satisfied it (so the decision can be re-checked from the record), or
* **closed by a person** — an electronic signature (who, what it means, when) and a
  comment saying why the product is unaffected.

Pure: the transitions below return new values and refuse what is not allowed; storing
and journalling them is the service's job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from mes_runtime.domain.errors import DomainError
from mes_runtime.kernel.events import Severity

__all__ = [
    "AutoClosure",
    "Category",
    "ExceptionNotOpen",
    "ExceptionStatus",
    "PersonClosure",
    "ReviewException",
]


class ExceptionNotOpen(DomainError):
    """The exception was already closed (automatically or by a person)."""


class Category(StrEnum):
    """What kind of event an exception reports (closure rules select by category)."""

    LIMIT_EXCURSION = "limit_excursion"
    OUT_OF_TREND = "out_of_trend"
    EQUIPMENT_LOSS = "equipment_loss"
    MANUAL_INTERVENTION = "manual_intervention"
    LATE_STEP = "late_step"
    PARAMETER_DEVIATION = "parameter_deviation"
    OTHER = "other"


class ExceptionStatus(StrEnum):
    OPEN = "open"
    AUTO_CLOSED = "auto_closed"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class AutoClosure:
    """Closed by an approved rule: which one, which version, and the evidence it saw."""

    rule_id: str
    rule_version: int
    evidence: Mapping[str, Any]
    at: datetime


@dataclass(frozen=True, slots=True)
class PersonClosure:
    """Closed by a person's electronic signature, with a comment."""

    username: str
    meaning: str
    signed_at: datetime
    comment: str


@dataclass(frozen=True, slots=True)
class ReviewException:
    """One exception of a batch, as review by exception sees it."""

    id: int
    batch_id: str
    category: Category
    severity: Severity
    subject: str
    message: str
    raised_at: datetime
    trigger: Mapping[str, Any] | None = None
    journal: tuple[int, ...] = ()  # seqs of the journal entries about it, raise first
    closure: AutoClosure | PersonClosure | None = field(default=None)

    @property
    def status(self) -> ExceptionStatus:
        if self.closure is None:
            return ExceptionStatus.OPEN
        if isinstance(self.closure, AutoClosure):
            return ExceptionStatus.AUTO_CLOSED
        return ExceptionStatus.CLOSED

    def auto_close(
        self, *, rule_id: str, rule_version: int, evidence: Mapping[str, Any], at: datetime
    ) -> ReviewException:
        """Closed by an approved rule; refused unless open (a decision is never re-made)."""
        self._require_open()
        return replace(self, closure=AutoClosure(rule_id, rule_version, dict(evidence), at))

    def close(
        self, *, username: str, meaning: str, signed_at: datetime, comment: str
    ) -> ReviewException:
        """Closed by a person who signed; refused unless open, or without a comment."""
        self._require_open()
        if not comment.strip():
            raise ValueError("closing an exception needs a comment")
        if not meaning.strip():
            raise ValueError("a signature needs a meaning")
        return replace(self, closure=PersonClosure(username, meaning, signed_at, comment))

    def _require_open(self) -> None:
        if self.closure is not None:
            raise ExceptionNotOpen(f"exception {self.id} is already {self.status.value}")
