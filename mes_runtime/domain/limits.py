"""Limit checks: is a value out of its range, and how much does that matter?

Review by exception (RbE) needs every excursion classified by severity the moment it
happens. The severity is the criticality of the parameter or monitored value that was
violated; a value inside its range is not an exception at all (``None``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mes_runtime.domain.recipe import Criticality, MonitorLimit
from mes_runtime.kernel.events import ProcessSample, Severity

__all__ = ["Deviation", "check_sample", "classify"]

_RANK = {Severity.MINOR: 1, Severity.MAJOR: 2, Severity.CRITICAL: 3}


def classify(
    value: float, *, low: float | None, high: float | None, criticality: Criticality | str
) -> Severity | None:
    """``None`` if ``low <= value <= high`` (missing bounds are open), else the severity."""
    if (low is None or value >= low) and (high is None or value <= high):
        return None
    return Severity(str(criticality))


@dataclass(frozen=True, slots=True)
class Deviation:
    """A described excursion of a process value beyond a phase's monitor limit."""

    equipment: str
    name: str
    value: float
    unit: str
    low: float | None
    high: float | None
    severity: Severity
    message: str


def check_sample(sample: ProcessSample, limits: Sequence[MonitorLimit]) -> Deviation | None:
    """Check ``sample`` against the limits watching its process value.

    Several limits may watch one value (e.g. a minor alert band inside a critical band);
    the most severe violated one is reported. A sample in another unit than its limit is
    itself a major deviation: comparing numbers across units would hide real excursions.
    """
    worst: Deviation | None = None
    for limit in limits:
        if limit.name != sample.name:
            continue
        if limit.unit != sample.unit:
            found = Deviation(
                equipment=sample.equipment,
                name=sample.name,
                value=sample.value,
                unit=sample.unit,
                low=limit.low,
                high=limit.high,
                severity=Severity.MAJOR,
                message=(
                    f"{sample.equipment} {sample.name} reported in {sample.unit!r}, "
                    f"but its limit is in {limit.unit!r}"
                ),
            )
        else:
            severity = classify(
                sample.value, low=limit.low, high=limit.high, criticality=limit.criticality
            )
            if severity is None:
                continue
            below = limit.low is not None and sample.value < limit.low
            side, bound = ("below", limit.low) if below else ("above", limit.high)
            found = Deviation(
                equipment=sample.equipment,
                name=sample.name,
                value=sample.value,
                unit=sample.unit,
                low=limit.low,
                high=limit.high,
                severity=severity,
                message=(
                    f"{sample.equipment} {sample.name} = {sample.value:g} {sample.unit} is "
                    f"{side} the {severity.value} limit {bound} {sample.unit}"
                ),
            )
        if worst is None or _RANK[found.severity] > _RANK[worst.severity]:
            worst = found
    return worst
