"""Each row against its recorded figure, and whether the run fails (pure, no I/O).

A run fails (``make bench`` exits non-zero) when a row with a goal misses it, or when a
row is worse than the figure recorded from the last accepted run by more than its
tolerance. The machines are shared 2-core ones, so the comparison is made where it is
most stable: on the ratio to the in-run baseline when both the row and its recorded
figure have one (a busy machine slows both sides), else on the value; the tolerance is
:data:`bench.results.DEFAULT_TOLERANCE` unless the benchmark set the row's own. A
``--quick`` run never fails: its sizes are smoke sizes, its numbers mean nothing. Skipped
rows (no cluster, no PostgreSQL) and rows with no recorded figure are not regressions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from bench.recorded import Recorded
from bench.results import Row, Verdict, format_number

__all__ = [
    "Basis",
    "Comparison",
    "Outcome",
    "Status",
    "compare",
    "compare_row",
    "comparison_columns",
    "format_summary",
    "judge",
]


class Basis(StrEnum):
    RATIO = "ratio"  # value / in-run baseline, both now and recorded
    VALUE = "value"


class Status(StrEnum):
    BETTER = "better"
    SAME = "same"
    WORSE = "worse"  # but within the row's tolerance
    REGRESSED = "REGRESSED"  # worse by more than the tolerance: the run fails
    NEW = "new"  # no recorded figure (or one in another unit)
    SKIPPED = "skipped"  # not measured this time


@dataclass(frozen=True, slots=True)
class Comparison:
    """One row against its recorded figure. ``was`` and ``now`` are on ``basis``;
    ``change`` is ``now / was - 1`` (None when ``was`` is 0 and ``now`` is not)."""

    row: Row
    recorded: Recorded | None
    status: Status
    basis: Basis | None = None
    was: float | None = None
    now: float | None = None
    change: float | None = None

    @property
    def tolerance(self) -> float:
        return self.row.tolerance.worse_by


def _basis(row: Row, value: float, recorded: Recorded) -> tuple[Basis, float, float]:
    """What is compared: (basis, recorded figure, figure now)."""
    now_ratio, was_ratio = row.ratio, recorded.ratio
    if row.tolerance.by_ratio and now_ratio is not None and was_ratio is not None:
        return Basis.RATIO, was_ratio, now_ratio
    return Basis.VALUE, recorded.value, value


def compare_row(row: Row, recorded: Recorded | None) -> Comparison:
    """How ``row`` stands against ``recorded``, in the row's direction (see
    :attr:`Row.higher_is_better`): a rate that fell or a latency that grew is worse."""
    if row.value is None:
        return Comparison(row, recorded, Status.SKIPPED)
    if recorded is None or recorded.unit != row.unit:
        return Comparison(row, recorded, Status.NEW)
    kind, was, now = _basis(row, row.value, recorded)
    sign = 1.0 if row.higher_is_better else -1.0
    if was == 0:
        change = None if now != 0 else 0.0
        gain = sign * now  # from zero, any move in the worse direction is beyond tolerance
        status = Status.SAME if now == 0 else Status.BETTER if gain > 0 else Status.REGRESSED
        return Comparison(row, recorded, status, kind, was, now, change)
    change = now / was - 1
    worse_by = -sign * change
    if worse_by > row.tolerance.worse_by:
        status = Status.REGRESSED
    elif worse_by > 0:
        status = Status.WORSE
    elif worse_by == 0:
        status = Status.SAME
    else:
        status = Status.BETTER
    return Comparison(row, recorded, status, kind, was, now, change)


def compare(rows: Iterable[Row], recorded: Iterable[Recorded]) -> list[Comparison]:
    """Every row against the recorded figure of the same benchmark and metric."""
    by_key = {figure.key: figure for figure in recorded}
    return [compare_row(row, by_key.get((row.benchmark, row.metric))) for row in rows]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the run's exit code says. ``quick``: nothing gates. ``recording``: the run's
    figures become the recorded ones, so being worse than the old ones is accepted; a
    missed goal still fails the run."""

    missed_goals: tuple[Row, ...]
    regressions: tuple[Comparison, ...]
    quick: bool = False
    recording: bool = False

    @property
    def failed(self) -> bool:
        if self.quick:
            return False
        return bool(self.missed_goals) or (bool(self.regressions) and not self.recording)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def judge(
    rows: Sequence[Row],
    comparisons: Sequence[Comparison],
    *,
    quick: bool = False,
    recording: bool = False,
) -> Outcome:
    return Outcome(
        missed_goals=tuple(row for row in rows if row.verdict is Verdict.NOT_MET),
        regressions=tuple(c for c in comparisons if c.status is Status.REGRESSED),
        quick=quick,
        recording=recording,
    )


def _ratio(value: float) -> str:
    return f"{value:.3g}x"


def _figure(value: float, basis: Basis, unit: str) -> str:
    return _ratio(value) if basis is Basis.RATIO else f"{format_number(value)} {unit}"


def _percent(change: float) -> str:
    return f"{change:+.1%}" if abs(change) < 0.1 else f"{change:+.0%}"


def _recorded_cell(comparison: Comparison) -> str:
    figure = comparison.recorded
    if figure is None or comparison.status is Status.NEW:
        return "-"
    text = f"{format_number(figure.value)} {figure.unit}"
    if comparison.basis is Basis.RATIO and figure.ratio is not None:
        text += f" ({_ratio(figure.ratio)})"
    return text


def _change_cell(comparison: Comparison) -> str:
    status = comparison.status
    if status in {Status.NEW, Status.SKIPPED}:
        return str(status)
    change = "was 0" if comparison.change is None else _percent(comparison.change)
    text = f"{change} {status}"
    if comparison.basis is Basis.RATIO:
        text += " (ratio)"
    if status is Status.REGRESSED:
        text += f" > {comparison.tolerance:.0%}"
    return text


def comparison_columns(comparisons: Sequence[Comparison]) -> dict[str, list[str]]:
    """The two columns the run's table gains: the recorded figure and the change."""
    return {
        "recorded": [_recorded_cell(c) for c in comparisons],
        "change": [_change_cell(c) for c in comparisons],
    }


def _regression_line(comparison: Comparison) -> str:
    row, figure, basis = comparison.row, comparison.recorded, comparison.basis
    figures = ""
    if basis is not None and comparison.was is not None and comparison.now is not None:
        was, now = (_figure(f, basis, row.unit) for f in (comparison.was, comparison.now))
        figures = f" {basis} {was} -> {now}"
    change = "from 0" if comparison.change is None else _percent(comparison.change)
    when = "" if figure is None else f"; recorded {figure.date}, {figure.machine or '?'}"
    return (
        f"  regressed    {row.benchmark}: {row.metric}:{figures} ({change}, tolerance "
        f"{comparison.tolerance:.0%}){when}"
    )


def _goal_line(row: Row) -> str:
    value = "-" if row.value is None else f"{format_number(row.value)} {row.unit}"
    goal = "" if row.goal is None else f", goal {row.goal.describe(row.unit)}"
    return f"  goal missed  {row.benchmark}: {row.metric}: {value}{goal}"


def format_summary(outcome: Outcome, comparisons: Sequence[Comparison], recorded: str) -> str:
    """The lines after the table: the comparison's counts and, when the run fails, which
    rows missed their goal and which regressed (so a red CI log says why at its end)."""
    if outcome.quick:
        return (
            "--quick: smoke size, the numbers are not meaningful: not compared with "
            f"{recorded}, and neither a goal nor a regression fails the run"
        )
    counts = dict.fromkeys(Status, 0)
    for comparison in comparisons:
        counts[comparison.status] += 1
    lines = [
        f"against {recorded} (ratio to the in-run baseline where both have one): "
        + ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    ]
    if outcome.recording and outcome.regressions:
        lines.append(
            f"recording: {len(outcome.regressions)} row(s) worse than recorded beyond their "
            "tolerance are accepted as the new figures"
        )
    if not outcome.failed:
        lines.append("OK: every goal met, no row worse than recorded beyond its tolerance")
        return "\n".join(lines)
    failures = [f"{len(outcome.missed_goals)} goal(s) missed"] if outcome.missed_goals else []
    if outcome.regressions and not outcome.recording:
        failures.append(f"{len(outcome.regressions)} regression(s)")
    lines.append(f"FAILED: {', '.join(failures)}")
    lines.extend(_goal_line(row) for row in outcome.missed_goals)
    if not outcome.recording:
        lines.extend(_regression_line(c) for c in outcome.regressions)
    return "\n".join(lines)
