"""Benchmark: review-by-exception rule evaluation, pure (no database).

Two rates, medians over repeats:

* auto-closure decisions/s: every exception of a synthetic batch (varied duration,
  distance, recovery, unit) decided by a set of effective rules (:func:`decide`);
* out-of-trend points/s: a long process-value series through a detector with all eight
  Nelson rules and a 30-minute slope window (:class:`TrendDetector`).

No goal yet (the issue asks for the rate to be reported); the counts show how many
exceptions closed and how many trend findings were raised, so a run can be checked.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bench.progress import Progress
from bench.results import Row, median
from mes_runtime.domain.exceptions import (
    Category,
    ClosureCriteria,
    ClosureRule,
    ExceptionFacts,
    ReviewException,
    RunRule,
    SlopeLimit,
    TrendDetector,
    TrendPoint,
    TrendSpec,
    decide,
)
from mes_runtime.kernel.events import Severity

__all__ = ["NAME", "ReviewSize", "build_facts", "run"]

NAME = "review-rules"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ReviewSize:
    exceptions: int
    points: int
    repeats: int


FULL = ReviewSize(exceptions=100_000, points=200_000, repeats=5)
QUICK = ReviewSize(exceptions=500, points=2_000, repeats=2)

RULES = [
    ClosureRule(
        rule_id=f"minor-{name.lower()}",
        version=1,
        description=f"minor {name} excursion, short, small, recovered, alone",
        criteria=ClosureCriteria(
            category=Category.LIMIT_EXCURSION,
            parameter=name,
            max_duration_s=60,
            max_distance=0.5,
        ),
    )
    for name in ("Temperature", "pH", "DO")
]


def build_facts(count: int, *, seed: int = 14) -> list[ExceptionFacts]:
    """``count`` excursions with varied evidence (pure, seeded)."""
    rng = random.Random(seed)
    facts = []
    for i in range(count):
        raised = T0 + timedelta(seconds=i)
        peak = 37.5 + rng.uniform(0.0, 1.0)
        exception = ReviewException(
            id=i + 1,
            batch_id="B-1",
            category=Category.LIMIT_EXCURSION,
            severity=rng.choice([Severity.MINOR, Severity.MINOR, Severity.MAJOR]),
            subject=f"p:BR-{i % 50}.Temperature",
            message="excursion",
            raised_at=raised,
        )
        facts.append(
            ExceptionFacts(
                exception=exception,
                equipment=f"BR-{i % 50}",
                parameter=rng.choice(["Temperature", "pH", "DO"]),
                low=35.5,
                high=37.5,
                recovered_at=None
                if rng.random() < 0.1
                else raised + timedelta(seconds=rng.uniform(1, 120)),
                values=(37.6, peak, 37.55),
                others_on_unit=() if rng.random() < 0.8 else (i,),
            )
        )
    return facts


def _series(count: int, *, seed: int = 15) -> list[TrendPoint]:
    rng = random.Random(seed)
    return [
        TrendPoint(T0 + timedelta(seconds=10 * i), 7.0 + rng.gauss(0.0, 0.02)) for i in range(count)
    ]


async def run(*, quick: bool = False, progress: Progress | None = None) -> list[Row]:
    size = QUICK if quick else FULL
    say = progress or Progress(NAME, enabled=False)
    facts = build_facts(size.exceptions)
    decision_rates: list[float] = []
    closed = 0
    for repeat in range(size.repeats):
        started = time.perf_counter()
        decisions = [d for f in facts for r in RULES if (d := decide(r, f)) is not None]
        decision_rates.append(len(facts) / (time.perf_counter() - started))
        closed = sum(1 for d in decisions if d.closes)
        say(f"decide {repeat + 1}/{size.repeats}: {decision_rates[-1]:,.0f} exceptions/s")
    spec = TrendSpec(
        parameter="BR.pH",
        center=7.0,
        sigma=0.02,
        rules=frozenset(RunRule),
        slope=SlopeLimit(window=timedelta(minutes=30), max_rate=0.05),
    )
    points = _series(size.points)
    trend_rates: list[float] = []
    findings = 0
    for repeat in range(size.repeats):
        detector = TrendDetector(spec)
        started = time.perf_counter()
        findings = sum(len(detector.add(p)) for p in points)
        trend_rates.append(len(points) / (time.perf_counter() - started))
        say(f"trend {repeat + 1}/{size.repeats}: {trend_rates[-1]:,.0f} points/s")
    return [
        Row(
            NAME,
            f"auto-closure decisions, {len(RULES)} rules x {size.exceptions:,} exceptions",
            median(decision_rates),
            "exceptions/s",
            counts={"exceptions": size.exceptions, "closed": closed, "runs": size.repeats},
        ),
        Row(
            NAME,
            f"out-of-trend, 8 Nelson rules + slope, {size.points:,} points",
            median(trend_rates),
            "points/s",
            counts={"points": size.points, "findings": findings, "runs": size.repeats},
        ),
    ]
