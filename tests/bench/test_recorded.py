"""The recorded figures: the file format, merging a run into it, and the repository's file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.__main__ import BENCHMARKS, describe_machine
from bench.recorded import RECORDED_PATH, Recorded, dumps, from_rows, load, loads, merge, save
from bench.results import Goal, Row


def figure(benchmark: str, metric: str, value: float = 1.0, date: str = "2026-11-21") -> Recorded:
    return Recorded(benchmark, metric, value, "x/s", date, "2 cores, load average 1.0")


def test_the_repository_file_is_in_the_canonical_form() -> None:
    """Written by ``dumps`` (key order, ratio = value / baseline, rows in benchmark order):
    a hand edit that breaks any of this fails here, not in a later ``--record`` diff."""
    text = RECORDED_PATH.read_text(encoding="utf-8")
    recorded = loads(text)

    assert dumps(recorded) == text
    assert recorded  # seeded from the README's former table
    assert merge([], recorded, list(BENCHMARKS)) == recorded
    assert {figure.benchmark for figure in recorded} <= set(BENCHMARKS)


def test_every_key_is_written_in_a_fixed_order_and_the_ratio_is_derived() -> None:
    figure = Recorded(
        "ingest", "rate", 12_097.0, "values/s", "2026-11-21", "2 cores", Goal(10_000), 109_532.0
    )

    (entry,) = json.loads(dumps([figure]))["rows"]

    assert list(entry) == [
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
    ]
    assert entry["ratio"] == 0.1104
    assert entry["goal"] == {"higher_is_better": True, "threshold": 10_000.0}


numbers = st.floats(min_value=1e-6, max_value=1e9, allow_nan=False, allow_infinity=False)


@given(
    value=numbers,
    baseline=st.none() | numbers,
    goal=st.none() | st.builds(Goal, numbers, st.booleans()),
    note=st.text(),
)
def test_what_is_written_is_read_back(
    value: float, baseline: float | None, goal: Goal | None, note: str
) -> None:
    figure = Recorded("b", "m", value, "ms", "2026-12-01", "2 cores", goal, baseline, "l", note)

    assert loads(dumps([figure])) == [figure]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"valeu": 1.0}, "exactly the keys"),
        ({"value": "fast"}, "value must be a finite number"),
        ({"value": float("nan")}, "value must be a finite number"),
        ({"goal": {"threshold": 1.0}}, "goal must be null"),
        ({"goal": {"higher_is_better": "yes", "threshold": 1.0}}, "higher_is_better"),
        ({"date": 20261121}, "date must be a string"),
    ],
)
def test_a_broken_hand_edit_is_refused(change: dict[str, object], message: str) -> None:
    document = json.loads(dumps([figure("b", "m")]))
    entry = document["rows"][0]
    if "valeu" in change:
        entry["valeu"] = entry.pop("value")
    else:
        entry.update(change)

    with pytest.raises(ValueError, match=message):
        loads(json.dumps(document))


def test_a_row_recorded_twice_is_refused() -> None:
    text = dumps([figure("b", "m")])
    document = json.loads(text)
    document["rows"] *= 2

    with pytest.raises(ValueError, match="twice"):
        loads(json.dumps(document))
    with pytest.raises(ValueError, match="twice"):
        dumps([figure("b", "m"), figure("b", "m")])


def test_merging_replaces_measured_rows_keeps_the_others_and_orders_by_benchmark() -> None:
    recorded = [figure("b1", "kept", 1.0), figure("b2", "old", 2.0), figure("b2", "kept", 3.0)]
    measured = [
        figure("b2", "old", 20.0, "2026-12-02"),
        figure("b2", "added", 5.0, "2026-12-02"),
        figure("b0", "first", 6.0, "2026-12-02"),
    ]

    merged = merge(recorded, measured, ["b0", "b1", "b2"])

    assert [(f.benchmark, f.metric, f.value) for f in merged] == [
        ("b0", "first", 6.0),
        ("b1", "kept", 1.0),
        ("b2", "old", 20.0),
        ("b2", "kept", 3.0),
        ("b2", "added", 5.0),
    ]
    assert merged[2].date == "2026-12-02"


def test_only_measured_rows_are_recorded_with_their_benchmarks_machine() -> None:
    rows = [
        Row("b", "rate", 1234.56789, "x/s", Goal(1_000), 100.0, "plain", note="n"),
        Row("b", "lat", float("inf"), "ms"),
        Row.skipped("b", "pg", "x/s", "no PostgreSQL"),
    ]

    (recorded,) = from_rows(rows, date="2026-12-02", machine={"b": describe_machine(2, 3.14)})

    assert recorded == Recorded(
        "b", "rate", 1234.57, "x/s", "2026-12-02", "2 cores, load average 3.1", Goal(1_000), 100.0,
        "plain", "n",
    )  # fmt: skip


def test_load_and_save_round_trip_and_a_missing_file_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "recorded.json"

    assert load(path) == []
    save([figure("b", "m", 3.0)], path)
    assert load(path) == [figure("b", "m", 3.0)]
    path.write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match=str(path)):
        load(path)
