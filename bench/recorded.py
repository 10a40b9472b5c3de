"""The figures of the last accepted run, kept in the repository (``bench/recorded.json``).

``make bench`` compares each row with its recorded figure (``bench.compare``) and the
README's benchmark table is generated from this file (``bench.readme``), so a number is
written once, by ``python -m bench --record``, and never copied by hand. The file is JSON
with one object per row in a fixed key order, the rows in ``BENCHMARKS`` order, so that
a re-recorded figure shows as a one-line diff. Parsing and rendering are pure; ``load``
and ``save`` are the only I/O.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.results import Goal, Row

__all__ = [
    "ABOUT",
    "RECORDED_PATH",
    "Recorded",
    "dumps",
    "from_rows",
    "load",
    "loads",
    "merge",
    "save",
]

RECORDED_PATH = Path(__file__).with_name("recorded.json")

ABOUT = (
    "The benchmark figures of the last accepted run, one object per row: written by "
    "`python -m bench --record` (merging: rows not run keep their figure), read by "
    "`make bench` to fail on a regression and by `python -m bench.readme` to generate the "
    "README's table. `ratio` is value / baseline, written for the reader. Edit only to "
    "delete a row whose metric no longer exists."
)

_FIELDS = (
    "benchmark",
    "metric",
    "value",
    "unit",
    "baseline",
    "baseline_label",
    "ratio",
    "goal",
    "date",
    "machine",
    "note",
)

Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Recorded:
    """One accepted figure: what its row measured, against what, when and on what machine
    (``machine``: cores and load average, the context that makes a number readable)."""

    benchmark: str
    metric: str
    value: float
    unit: str
    date: str
    machine: str
    goal: Goal | None = None
    baseline: float | None = None
    baseline_label: str = ""
    note: str = ""

    @property
    def key(self) -> Key:
        return (self.benchmark, self.metric)

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline


def _significant(value: float, digits: int) -> float:
    """Rounded for a readable diff: no run resolves more than a few digits."""
    return float(f"{value:.{digits}g}")


def from_rows(rows: Iterable[Row], *, date: str, machine: Mapping[str, str]) -> list[Recorded]:
    """The measured rows as figures to record (``machine``: benchmark -> its description).

    Skipped rows (no value) and non-finite values are left out: nothing was measured, and
    the figure recorded before, if any, stays.
    """
    out: list[Recorded] = []
    for row in rows:
        if row.value is None or not math.isfinite(row.value):
            continue
        baseline = row.baseline
        if baseline is not None and not math.isfinite(baseline):
            baseline = None
        out.append(
            Recorded(
                benchmark=row.benchmark,
                metric=row.metric,
                value=_significant(row.value, 6),
                unit=row.unit,
                date=date,
                machine=machine.get(row.benchmark, ""),
                goal=row.goal,
                baseline=None if baseline is None else _significant(baseline, 6),
                baseline_label=row.baseline_label if baseline is not None else "",
                note=row.note,
            )
        )
    return out


def merge(
    recorded: Sequence[Recorded], measured: Sequence[Recorded], order: Sequence[str]
) -> list[Recorded]:
    """``recorded`` with ``measured`` figures replacing (or adding) theirs, by key.

    Rows not measured keep their figure. The result is ordered by benchmark as in
    ``order`` (unknown ones last), and within a benchmark rows keep their recorded place,
    new ones following in the order the benchmark reported them.
    """
    new = {figure.key: figure for figure in measured}
    merged = [new.pop(figure.key, figure) for figure in recorded]
    merged.extend(new.values())
    rank = {name: i for i, name in enumerate(order)}
    return sorted(merged, key=lambda figure: rank.get(figure.benchmark, len(rank)))


def _goal_json(goal: Goal | None) -> dict[str, Any] | None:
    if goal is None:
        return None
    return {"higher_is_better": goal.higher_is_better, "threshold": float(goal.threshold)}


def _entry(figure: Recorded) -> dict[str, Any]:
    ratio = figure.ratio
    entry: dict[str, Any] = {
        "benchmark": figure.benchmark,
        "metric": figure.metric,
        "value": figure.value,
        "unit": figure.unit,
        "baseline": figure.baseline,
        "baseline_label": figure.baseline_label,
        "ratio": None if ratio is None else _significant(ratio, 4),
        "goal": _goal_json(figure.goal),
        "date": figure.date,
        "machine": figure.machine,
        "note": figure.note,
    }
    return entry


def dumps(recorded: Sequence[Recorded]) -> str:
    """The file's text: stable key order, one key per line, a newline at the end."""
    keys = [figure.key for figure in recorded]
    if len(set(keys)) != len(keys):
        raise ValueError("a row is recorded twice")
    document = {"about": ABOUT, "rows": [_entry(figure) for figure in recorded]}
    return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _number(entry: Mapping[str, Any], name: str, where: str) -> float:
    value = entry[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{where}: {name} must be a finite number, not {value!r}")
    return float(value)


def _text(entry: Mapping[str, Any], name: str, where: str) -> str:
    value = entry[name]
    if not isinstance(value, str):
        raise ValueError(f"{where}: {name} must be a string, not {value!r}")
    return value


def _goal(value: Any, where: str) -> Goal | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"higher_is_better", "threshold"}:
        raise ValueError(f"{where}: goal must be null or {{higher_is_better, threshold}}")
    if not isinstance(value["higher_is_better"], bool):
        raise ValueError(f"{where}: goal.higher_is_better must be true or false")
    return Goal(_number(value, "threshold", where), value["higher_is_better"])


def _figure(entry: Any, index: int) -> Recorded:
    where = f"rows[{index}]"
    if not isinstance(entry, dict) or set(entry) != set(_FIELDS):
        raise ValueError(f"{where}: expected exactly the keys {', '.join(_FIELDS)}")
    baseline = None if entry["baseline"] is None else _number(entry, "baseline", where)
    return Recorded(
        benchmark=_text(entry, "benchmark", where),
        metric=_text(entry, "metric", where),
        value=_number(entry, "value", where),
        unit=_text(entry, "unit", where),
        date=_text(entry, "date", where),
        machine=_text(entry, "machine", where),
        goal=_goal(entry["goal"], where),
        baseline=baseline,
        baseline_label=_text(entry, "baseline_label", where),
        note=_text(entry, "note", where),
    )


def loads(text: str) -> list[Recorded]:
    """Parse the file's text, refusing anything it would not have written (a typo in a
    hand edit must not silently turn a row into "new"). ``ratio`` is derived, not read."""
    document = json.loads(text)
    if not isinstance(document, dict) or not isinstance(document.get("rows"), list):
        raise ValueError('expected an object with a "rows" list')
    recorded = [_figure(entry, i) for i, entry in enumerate(document["rows"])]
    keys = [figure.key for figure in recorded]
    if len(set(keys)) != len(keys):
        raise ValueError("a row is recorded twice")
    return recorded


def load(path: Path = RECORDED_PATH) -> list[Recorded]:
    """The recorded figures, or none when the file does not exist yet."""
    if not path.exists():
        return []
    try:
        return loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error


def save(recorded: Sequence[Recorded], path: Path = RECORDED_PATH) -> None:
    path.write_text(dumps(recorded), encoding="utf-8")
