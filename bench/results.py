"""What a benchmark reports: rows of one measured number each, with goal and baseline.

Pure data and arithmetic (no I/O), so the smoke tests can check the structure and the
counts of every benchmark, and the table can be printed from any list of rows.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["Goal", "Row", "Verdict", "format_table", "median", "percentile"]


def median(values: Sequence[float]) -> float:
    """Median of a non-empty sample (repetitions are few, so no interpolation games)."""
    if not values:
        raise ValueError("median of no values")
    return float(statistics.median(values))


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (p95 of 20 values is the 19th smallest): honest for small
    samples, never interpolates a value that was not measured."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 < pct <= 100:
        raise ValueError("pct must be in (0, 100]")
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return float(ordered[rank - 1])


@dataclass(frozen=True, slots=True)
class Goal:
    """A project goal for one row: ``value >= threshold`` (or ``<=`` for latencies)."""

    threshold: float
    higher_is_better: bool = True

    def met(self, value: float) -> bool:
        return value >= self.threshold if self.higher_is_better else value <= self.threshold

    def describe(self, unit: str) -> str:
        return f"{'>=' if self.higher_is_better else '<='} {_number(self.threshold)} {unit}"


class Verdict(StrEnum):
    MET = "met"
    NOT_MET = "NOT MET"
    REPORT = "report"  # no goal: the number is reported for information
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class Row:
    """One measured number (``value`` is None when the row was skipped, see ``note``).

    ``counts`` are the raw counts behind the number (values stored, entries appended,
    round trips...), so that a reader, and the smoke tests, can check it is consistent.
    ``baseline`` is measured in the same run; ``ratio`` = value / baseline.
    """

    benchmark: str
    metric: str
    value: float | None
    unit: str
    goal: Goal | None = None
    baseline: float | None = None
    baseline_label: str = ""
    counts: Mapping[str, int] = field(default_factory=dict)
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.value is None or self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    @property
    def verdict(self) -> Verdict:
        if self.value is None:
            return Verdict.SKIPPED
        if self.goal is None:
            return Verdict.REPORT
        return Verdict.MET if self.goal.met(self.value) else Verdict.NOT_MET

    @classmethod
    def skipped(cls, benchmark: str, metric: str, unit: str, reason: str) -> Row:
        return cls(benchmark, metric, None, unit, note=f"skipped: {reason}")


def _number(value: float) -> str:
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.1f}"
    return f"{value:.3g}"


def format_table(rows: Sequence[Row]) -> str:
    """A plain-text table: one line per row, goal and verdict last."""
    header = ("benchmark", "metric", "value", "baseline", "ratio", "goal", "verdict")
    lines: list[tuple[str, ...]] = [header]
    for row in rows:
        value = "-" if row.value is None else f"{_number(row.value)} {row.unit}"
        baseline = "-" if row.baseline is None else f"{_number(row.baseline)} {row.unit}"
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}x"
        goal = "-" if row.goal is None else row.goal.describe(row.unit)
        verdict = row.note if row.value is None else str(row.verdict)
        lines.append((row.benchmark, row.metric, value, baseline, ratio, goal, verdict))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    rendered = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) for line in lines
    ]
    rendered.insert(1, "  ".join("-" * w for w in widths))
    notes = [
        f"  [{row.benchmark}] baseline: {row.baseline_label}"
        for row in rows
        if row.baseline_label and row.baseline is not None
    ]
    extra = [
        f"  [{row.benchmark}] {row.metric}: {row.note}"
        for row in rows
        if row.note and row.value is not None
    ]
    out = "\n".join(line.rstrip() for line in rendered)
    if notes or extra:
        out += "\n\nnotes:\n" + "\n".join(dict.fromkeys(notes + extra))
    return out
