"""Auto-closure rules: approved, versioned data that closes pre-approved kinds of exception.

A rule says which exceptions it may close (category, severities, parameter) and what the
evidence must show (e.g. "shorter than 60 s, at most 0.5 degC beyond the limit, recovered,
no other exception on the unit"). Like a recipe, each version goes
draft -> approved (QA's e-signature) -> effective -> retired; only the version effective
when a batch ended decides for that batch, so a rule edited later (a new version) never
re-decides it.

:func:`decide` is pure: given a rule and the facts of one exception it returns whether the
rule closes it, why (or why not), and the evidence to journal with the decision.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat

from mes_runtime.domain.errors import DomainError
from mes_runtime.domain.exceptions.model import Category, ReviewException
from mes_runtime.kernel.events import Severity

__all__ = [
    "ClosureCriteria",
    "ClosureRule",
    "Decision",
    "ExceptionFacts",
    "RuleLifecycleError",
    "RuleStatus",
    "RuleVersion",
    "decide",
    "effective_rules",
    "first_decisions",
    "limits_from_message",
    "next_status",
]


class RuleLifecycleError(DomainError):
    """A rule version cannot take this step from its current status."""


class RuleStatus(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    EFFECTIVE = "effective"
    RETIRED = "retired"


_STEPS: dict[str, tuple[RuleStatus, RuleStatus]] = {
    "approve": (RuleStatus.DRAFT, RuleStatus.APPROVED),
    "make_effective": (RuleStatus.APPROVED, RuleStatus.EFFECTIVE),
    "retire": (RuleStatus.EFFECTIVE, RuleStatus.RETIRED),
}


def next_status(current: RuleStatus, step: str) -> RuleStatus:
    """The status after ``step`` (approve, make_effective, retire), or a refusal."""
    if step not in _STEPS:
        raise RuleLifecycleError(f"unknown step {step!r}; one of {', '.join(_STEPS)}")
    before, after = _STEPS[step]
    if current is not before:
        raise RuleLifecycleError(f"cannot {step} a rule version that is {current.value}")
    return after


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ClosureCriteria(_Frozen):
    """Which exceptions a rule may close, and what their evidence must show."""

    category: Category
    severities: frozenset[Severity] = frozenset({Severity.MINOR})
    parameter: str | None = Field(
        default=None, description="process value name, e.g. Temperature; any if empty"
    )
    max_duration_s: PositiveFloat | None = None
    max_distance: NonNegativeFloat | None = Field(
        default=None, description="how far beyond the limit at worst, in the value's unit"
    )
    require_recovery: bool = True
    alone_on_unit: bool = Field(
        default=True, description="no other exception on the same equipment in the batch"
    )


class ClosureRule(_Frozen):
    """One version of an auto-closure rule, as approved data."""

    rule_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,127}$")
    version: int = Field(ge=1, le=2**31 - 1)  # the database's INTEGER
    description: str = Field(min_length=3, max_length=2000)
    criteria: ClosureCriteria

    def digest(self) -> str:
        """SHA-256 of the canonical JSON: what QA signed is what is evaluated."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class RuleVersion:
    """A stored rule version with its lifecycle times."""

    rule: ClosureRule
    status: RuleStatus
    effective_at: datetime | None = None
    retired_at: datetime | None = None

    def effective_when(self, at: datetime) -> bool:
        if self.effective_at is None or self.effective_at > at:
            return False
        return self.retired_at is None or self.retired_at > at


def effective_rules(versions: Iterable[RuleVersion], at: datetime) -> list[ClosureRule]:
    """The rule versions effective at ``at`` (one per rule id, the latest if several)."""
    chosen: dict[str, ClosureRule] = {}
    for v in versions:
        if v.effective_when(at):
            held = chosen.get(v.rule.rule_id)
            if held is None or v.rule.version > held.version:
                chosen[v.rule.rule_id] = v.rule
    return [chosen[k] for k in sorted(chosen)]


@dataclass(frozen=True, slots=True)
class ExceptionFacts:
    """What the batch record shows about one exception (the inputs of a decision)."""

    exception: ReviewException
    equipment: str | None
    parameter: str | None
    low: float | None
    high: float | None
    recovered_at: datetime | None
    values: tuple[float, ...]  # the parameter's values while it was outside
    others_on_unit: tuple[int, ...]  # ids of the batch's other exceptions on the equipment

    @property
    def duration_s(self) -> float | None:
        if self.recovered_at is None:
            return None
        return max(0.0, (self.recovered_at - self.exception.raised_at).total_seconds())

    @property
    def max_distance(self) -> float | None:
        """How far beyond its nearest limit the value went (None without values/limits)."""
        distances = [d for v in self.values if (d := self._beyond(v)) is not None]
        return max(distances) if distances else None

    def _beyond(self, value: float) -> float | None:
        if self.low is not None and value < self.low:
            return self.low - value
        if self.high is not None and value > self.high:
            return value - self.high
        if self.low is None and self.high is None:
            return None
        return 0.0

    def evidence(self) -> dict[str, Any]:
        return {
            "exception": self.exception.id,
            "category": self.exception.category.value,
            "severity": self.exception.severity.value,
            "equipment": self.equipment,
            "parameter": self.parameter,
            "low": self.low,
            "high": self.high,
            "raised_at": self.exception.raised_at.isoformat(),
            "recovered_at": None if self.recovered_at is None else self.recovered_at.isoformat(),
            "duration_s": self.duration_s,
            "max_distance": self.max_distance,
            "values": list(self.values),
            "others_on_unit": list(self.others_on_unit),
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """A rule's verdict on one exception, with the reasons and the evidence it used."""

    rule_id: str
    rule_version: int
    rule_digest: str
    exception_id: int
    closes: bool
    reasons: tuple[str, ...]
    evidence: dict[str, Any]

    def record(self) -> dict[str, Any]:
        """JSON-ready, for the journal."""
        return {
            "rule": {"id": self.rule_id, "version": self.rule_version, "digest": self.rule_digest},
            "exception": self.exception_id,
            "closes": self.closes,
            "reasons": list(self.reasons),
            "evidence": self.evidence,
        }


def decide(rule: ClosureRule, facts: ExceptionFacts) -> Decision | None:
    """``None`` if the rule does not apply to this exception; else its decision."""
    c = rule.criteria
    x = facts.exception
    if x.category is not c.category or x.severity not in c.severities:
        return None
    if c.parameter is not None and facts.parameter != c.parameter:
        return None
    reasons: list[str] = []
    duration, distance = facts.duration_s, facts.max_distance
    if c.require_recovery and facts.recovered_at is None:
        reasons.append("the value did not recover")
    if c.max_duration_s is not None and (duration is None or duration > c.max_duration_s):
        shown = "unknown" if duration is None else f"{duration:g} s"
        reasons.append(f"lasted {shown}, more than {c.max_duration_s:g} s")
    if c.max_distance is not None and (distance is None or distance > c.max_distance):
        shown = "unknown" if distance is None else f"{distance:g}"
        reasons.append(f"went {shown} beyond the limit, more than {c.max_distance:g}")
    if c.alone_on_unit and facts.others_on_unit:
        others = ", ".join(str(i) for i in facts.others_on_unit)
        reasons.append(f"other exceptions on {facts.equipment}: {others}")
    closes = not reasons
    return Decision(
        rule_id=rule.rule_id,
        rule_version=rule.version,
        rule_digest=rule.digest(),
        exception_id=x.id,
        closes=closes,
        reasons=tuple(reasons) if reasons else ("all criteria met",),
        evidence=facts.evidence(),
    )


_LIMITS = re.compile(r" is outside \[(?P<low>[^,\]]+), (?P<high>[^\]]+)\]")


def limits_from_message(message: str) -> tuple[float | None, float | None]:
    """Low and high of an engine limit exception's message (``-inf``/``+inf`` open)."""
    found = _LIMITS.search(message)
    if found is None:
        return None, None
    return _bound(found["low"]), _bound(found["high"])


def _bound(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return None if value in (float("inf"), float("-inf")) else value


def first_decisions(decisions: Sequence[Decision]) -> dict[int, Decision]:
    """Per exception, the first closing decision (rules in id order), else the first one."""
    out: dict[int, Decision] = {}
    for d in decisions:
        held = out.get(d.exception_id)
        if held is None or (d.closes and not held.closes):
            out[d.exception_id] = d
    return out
