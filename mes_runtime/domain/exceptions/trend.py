"""Out-of-trend detection: a process value drifting while it is still inside its limits.

Out-of-spec (:mod:`mes_runtime.domain.limits`) answers "is this value outside its range?".
Out-of-trend answers "is this value behaving unlike an in-control process?", early enough
to act before it leaves the range. Two families of rules, configured per parameter in a
:class:`TrendSpec`:

* **Run rules** (Nelson 1984, a superset of the Western Electric rules) on the z-score
  ``(value - center) / sigma`` against a reference center and sigma (from validation or a
  golden batch, never from the window itself, which would hide a slow drift):

  ====  ======================================================================
  1     one point beyond 3 sigma
  2     nine points in a row on the same side of the center
  3     six points in a row steadily increasing or decreasing
  4     fourteen points in a row alternating up and down
  5     two of three points in a row beyond 2 sigma, on the same side
  6     four of five points in a row beyond 1 sigma, on the same side
  7     fifteen points in a row within 1 sigma (stratification: sigma is stale)
  8     eight points in a row beyond 1 sigma, on both sides (mixture)
  ====  ======================================================================

* **Slope over a window**: the least-squares slope of the values in the last ``window``
  of time exceeds ``max_rate`` (units per hour) in either direction.

A rule reports the moment its pattern completes, with the evidence (rule, window, values)
for the exception it raises, and then stays quiet until the pattern has cleared: a value
that stays beyond 3 sigma is one finding, not one per sample (as the limit monitor does
for excursions). Pure: no clock, no I/O; points carry their own timestamps.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, model_validator

from mes_runtime.kernel.events import Severity

__all__ = [
    "RULE_WINDOWS",
    "SLOPE_RULE",
    "RunRule",
    "SlopeLimit",
    "TrendDetector",
    "TrendFinding",
    "TrendPoint",
    "TrendSpec",
    "least_squares_slope",
    "scan",
]


class RunRule(StrEnum):
    """The Nelson run rules, by their usual numbers."""

    BEYOND_3_SIGMA = "nelson-1"
    SAME_SIDE_9 = "nelson-2"
    TREND_6 = "nelson-3"
    ALTERNATING_14 = "nelson-4"
    TWO_OF_3_BEYOND_2_SIGMA = "nelson-5"
    FOUR_OF_5_BEYOND_1_SIGMA = "nelson-6"
    WITHIN_1_SIGMA_15 = "nelson-7"
    MIXTURE_8 = "nelson-8"


#: Points each run rule looks at (its window).
RULE_WINDOWS: dict[RunRule, int] = {
    RunRule.BEYOND_3_SIGMA: 1,
    RunRule.SAME_SIDE_9: 9,
    RunRule.TREND_6: 6,
    RunRule.ALTERNATING_14: 14,
    RunRule.TWO_OF_3_BEYOND_2_SIGMA: 3,
    RunRule.FOUR_OF_5_BEYOND_1_SIGMA: 5,
    RunRule.WITHIN_1_SIGMA_15: 15,
    RunRule.MIXTURE_8: 8,
}

_DESCRIPTIONS: dict[RunRule, str] = {
    RunRule.BEYOND_3_SIGMA: "one point beyond 3 sigma",
    RunRule.SAME_SIDE_9: "nine points in a row on the same side of the center",
    RunRule.TREND_6: "six points in a row steadily increasing or decreasing",
    RunRule.ALTERNATING_14: "fourteen points in a row alternating up and down",
    RunRule.TWO_OF_3_BEYOND_2_SIGMA: "two of three points beyond 2 sigma on the same side",
    RunRule.FOUR_OF_5_BEYOND_1_SIGMA: "four of five points beyond 1 sigma on the same side",
    RunRule.WITHIN_1_SIGMA_15: "fifteen points in a row within 1 sigma",
    RunRule.MIXTURE_8: "eight points in a row beyond 1 sigma on both sides",
}

SLOPE_RULE = "slope"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SlopeLimit(_Frozen):
    """Largest tolerated drift: ``max_rate`` units per hour over the last ``window``."""

    window: timedelta = Field(gt=timedelta(0))
    max_rate: PositiveFloat
    min_points: int = Field(default=5, ge=3)


class TrendSpec(_Frozen):
    """The out-of-trend rules of one process value (e.g. ``BR.pH``), as configured data."""

    parameter: str = Field(min_length=1, max_length=128)
    unit: str = ""
    center: float
    sigma: PositiveFloat
    rules: frozenset[RunRule] = frozenset(RunRule)
    slope: SlopeLimit | None = None
    severity: Severity = Severity.MINOR

    @model_validator(mode="after")
    def _something_to_check(self) -> TrendSpec:
        if not self.rules and self.slope is None:
            raise ValueError(f"{self.parameter}: no run rule and no slope limit to check")
        return self


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """One value of the watched parameter, at the time it was measured."""

    ts: datetime
    value: float


@dataclass(frozen=True, slots=True)
class TrendFinding:
    """A rule's pattern completed at ``points[-1]``: the evidence for an exception."""

    rule: str
    parameter: str
    severity: Severity
    description: str
    points: tuple[TrendPoint, ...]
    slope: float | None = None  # units per hour, for the slope rule

    @property
    def message(self) -> str:
        last = self.points[-1]
        return f"{self.parameter} out of trend ({self.rule}: {self.description}) at {last.value:g}"

    def evidence(self, spec: TrendSpec) -> dict[str, Any]:
        """JSON-ready evidence: rule, reference, window and the values that matched."""
        return {
            "rule": self.rule,
            "parameter": self.parameter,
            "unit": spec.unit,
            "center": spec.center,
            "sigma": spec.sigma,
            "window_start": self.points[0].ts.isoformat(),
            "window_end": self.points[-1].ts.isoformat(),
            "values": [p.value for p in self.points],
            "slope_per_hour": self.slope,
            "max_rate_per_hour": None if spec.slope is None else spec.slope.max_rate,
        }


def _side(z: float) -> int:
    return (z > 0) - (z < 0)


def _run_rule_matches(rule: RunRule, z: Sequence[float]) -> bool:
    """Whether the last points (z-scores) complete ``rule``'s pattern."""
    n = RULE_WINDOWS[rule]
    if len(z) < n:
        return False
    tail = z[-n:]
    last = tail[-1]
    match rule:
        case RunRule.BEYOND_3_SIGMA:
            return abs(last) > 3
        case RunRule.SAME_SIDE_9:
            return _side(last) != 0 and all(_side(x) == _side(last) for x in tail)
        case RunRule.TREND_6:
            steps = [b - a for a, b in itertools.pairwise(tail)]
            return all(s > 0 for s in steps) or all(s < 0 for s in steps)
        case RunRule.ALTERNATING_14:
            steps = [b - a for a, b in itertools.pairwise(tail)]
            return all(a * b < 0 for a, b in itertools.pairwise(steps))
        case RunRule.TWO_OF_3_BEYOND_2_SIGMA:
            return _k_beyond(tail, 2, 2.0)
        case RunRule.FOUR_OF_5_BEYOND_1_SIGMA:
            return _k_beyond(tail, 4, 1.0)
        case RunRule.WITHIN_1_SIGMA_15:
            return all(abs(x) < 1 for x in tail)
        case RunRule.MIXTURE_8:
            return all(abs(x) > 1 for x in tail) and min(tail) < 0 < max(tail)


def _k_beyond(tail: Sequence[float], k: int, limit: float) -> bool:
    """``k`` of the window beyond ``limit`` on one side, the last point among them."""
    side = _side(tail[-1])
    if side == 0 or abs(tail[-1]) <= limit:
        return False
    return sum(1 for x in tail if _side(x) == side and abs(x) > limit) >= k


def least_squares_slope(points: Sequence[TrendPoint]) -> float:
    """Least-squares slope of ``points`` in units per hour (0 for fewer than 2 times)."""
    if len(points) < 2:
        return 0.0
    t0 = points[0].ts
    hours = [(p.ts - t0).total_seconds() / 3600.0 for p in points]
    mean_t = sum(hours) / len(hours)
    mean_v = sum(p.value for p in points) / len(points)
    spread = sum((t - mean_t) ** 2 for t in hours)
    if spread == 0:
        return 0.0
    return sum((t - mean_t) * (p.value - mean_v) for t, p in zip(hours, points, strict=True)) / (
        spread
    )


class TrendDetector:
    """Feeds one parameter's points through its rules, one finding per pattern."""

    def __init__(self, spec: TrendSpec) -> None:
        self.spec = spec
        keep = max((RULE_WINDOWS[r] for r in spec.rules), default=1)
        self._points: deque[TrendPoint] = deque(maxlen=None if spec.slope else keep)
        self._keep = keep
        self._z: deque[float] = deque(maxlen=keep)
        self._active: set[str] = set()

    @property
    def active(self) -> frozenset[str]:
        """Rules whose pattern holds at the latest point (each has raised its finding)."""
        return frozenset(self._active)

    def add(self, point: TrendPoint) -> list[TrendFinding]:
        """Take the next point (in time order); the findings whose pattern completes now."""
        spec = self.spec
        self._points.append(point)
        self._z.append((point.value - spec.center) / spec.sigma)
        self._trim(point.ts)
        points = list(self._points)
        z = list(self._z)
        matched: dict[str, tuple[str, tuple[TrendPoint, ...], float | None]] = {}
        for rule in sorted(spec.rules):
            if _run_rule_matches(rule, z):
                window = tuple(points[-RULE_WINDOWS[rule] :])
                matched[rule.value] = (_DESCRIPTIONS[rule], window, None)
        if spec.slope is not None:
            recent = [p for p in points if p.ts >= point.ts - spec.slope.window]
            if len(recent) >= spec.slope.min_points:
                rate = least_squares_slope(recent)
                if abs(rate) > spec.slope.max_rate:
                    description = (
                        f"slope {rate:+.4g} {spec.unit}/h over {spec.slope.window} exceeds "
                        f"{spec.slope.max_rate:g} {spec.unit}/h"
                    )
                    matched[SLOPE_RULE] = (description, tuple(recent), rate)
        findings = [
            TrendFinding(rule, spec.parameter, spec.severity, text, window, rate)
            for rule, (text, window, rate) in matched.items()
            if rule not in self._active
        ]
        self._active = set(matched)
        return findings

    def _trim(self, now: datetime) -> None:
        if self.spec.slope is None:
            return
        horizon = now - self.spec.slope.window
        while len(self._points) > self._keep and self._points[0].ts < horizon:
            self._points.popleft()


def scan(spec: TrendSpec, points: Iterable[TrendPoint]) -> list[TrendFinding]:
    """Every finding over a whole series, as a live detector would have raised them."""
    detector = TrendDetector(spec)
    return [finding for point in points for finding in detector.add(point)]
