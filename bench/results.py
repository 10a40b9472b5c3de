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

__all__ = [
    "DEFAULT_TOLERANCE",
    "Goal",
    "Row",
    "Tolerance",
    "Verdict",
    "format_number",
    "format_table",
    "median",
    "percentile",
]

#: How much worse than its recorded figure a row may measure before ``make bench`` fails:
#: a quarter, because the machines are shared 2-core ones and a median still moves that
#: much between two honest runs; a module that knows a row is noisier says so per row.
DEFAULT_TOLERANCE = 0.25


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
        return f"{'>=' if self.higher_is_better else '<='} {format_number(self.threshold)} {unit}"


@dataclass(frozen=True, slots=True)
class Tolerance:
    """How a row is compared with its recorded figure (``bench/recorded.json``).

    ``worse_by``: the fraction by which the row may be worse (value down for a rate, up for
    a latency) before it counts as a regression. ``by_ratio``: compare the ratio to the
    in-run baseline when both figures have one, because the ratio is what carries across
    machines and loads; a row whose baseline does not scale with its value (a rate capped
    by the offered load, say) sets it to False and is compared by its value.
    """

    worse_by: float = DEFAULT_TOLERANCE
    by_ratio: bool = True

    def __post_init__(self) -> None:
        if not (self.worse_by >= 0 and math.isfinite(self.worse_by)):
            raise ValueError("worse_by must be a finite fraction >= 0")


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
    ``baseline`` is measured in the same run; ``ratio`` = value / baseline. ``tolerance``
    says how the row is compared with its recorded figure (see :class:`Tolerance`).
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
    tolerance: Tolerance = Tolerance()

    @property
    def higher_is_better(self) -> bool:
        """The row's direction: its goal's, else a rate (``.../s``) is better higher and
        anything else (a duration, a size, a count of failures) better lower."""
        if self.goal is not None:
            return self.goal.higher_is_better
        return self.unit.endswith("/s")

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


def format_number(value: float) -> str:
    """A figure as the tables print it: thousands separated, about three significant digits."""
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.1f}"
    return f"{value:.3g}"


def format_table(rows: Sequence[Row], extra: Mapping[str, Sequence[str]] | None = None) -> str:
    """A plain-text table: one line per row, goal and verdict, then any ``extra`` columns
    (header -> one cell per row: the comparison with the recorded figures)."""
    columns = dict(extra or {})
    for title, cells in columns.items():
        if len(cells) != len(rows):
            raise ValueError(f"column {title!r} has {len(cells)} cells for {len(rows)} rows")
    header = ("benchmark", "metric", "value", "baseline", "ratio", "goal", "verdict", *columns)
    lines: list[tuple[str, ...]] = [header]
    for i, row in enumerate(rows):
        value = "-" if row.value is None else f"{format_number(row.value)} {row.unit}"
        baseline = "-" if row.baseline is None else f"{format_number(row.baseline)} {row.unit}"
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}x"
        goal = "-" if row.goal is None else row.goal.describe(row.unit)
        verdict = row.note if row.value is None else str(row.verdict)
        cells = (row.benchmark, row.metric, value, baseline, ratio, goal, verdict)
        lines.append((*cells, *(column[i] for column in columns.values())))
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
    row_notes = [
        f"  [{row.benchmark}] {row.metric}: {row.note}"
        for row in rows
        if row.note and row.value is not None
    ]
    out = "\n".join(line.rstrip() for line in rendered)
    if notes or row_notes:
        out += "\n\nnotes:\n" + "\n".join(dict.fromkeys(notes + row_notes))
    return out
