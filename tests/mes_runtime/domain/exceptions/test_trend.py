"""Out-of-trend rules: each detects its pattern wherever it completes, and stays quiet on
series built so that the pattern cannot occur, and (at its textbook rate) on noise."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mes_runtime.domain.exceptions import (
    SLOPE_RULE,
    RunRule,
    SlopeLimit,
    TrendDetector,
    TrendPoint,
    TrendSpec,
    scan,
)

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
EVERY = timedelta(minutes=1)
CENTER, SIGMA = 7.0, 0.05  # e.g. a bioreactor pH and its validated sigma
# Quiet series keep 0.01 sigma from each boundary: z-scores pass through float values.


def _points(
    z: Sequence[float], *, center: float = CENTER, sigma: float = SIGMA
) -> list[TrendPoint]:
    return [TrendPoint(T0 + i * EVERY, center + x * sigma) for i, x in enumerate(z)]


def _spec(*rules: RunRule, slope: SlopeLimit | None = None) -> TrendSpec:
    return TrendSpec(
        parameter="BR.pH",
        unit="pH",
        center=CENTER,
        sigma=SIGMA,
        rules=frozenset(rules),
        slope=slope,
    )


def _fired(rule: RunRule | str, z: Sequence[float]) -> bool:
    return any(f.rule == rule for f in scan(_spec(*RunRule), _points(z)))


# --------------------------------------------------------------------------- patterns

side = st.sampled_from([1.0, -1.0])
prefix = st.lists(st.floats(-4, 4, allow_nan=False), max_size=30)


def _beyond(limit: float) -> st.SearchStrategy[float]:
    return st.floats(limit + 0.01, limit + 3)


@st.composite
def beyond_3_sigma(draw: st.DrawFn) -> list[float]:
    return [draw(side) * draw(_beyond(3))]


@st.composite
def same_side_9(draw: st.DrawFn) -> list[float]:
    s = draw(side)
    return [s * x for x in draw(st.lists(st.floats(0.01, 2.9), min_size=9, max_size=9))]


@st.composite
def trend_6(draw: st.DrawFn) -> list[float]:
    s, start = draw(side), draw(st.floats(-3, 3))
    steps = draw(st.lists(st.floats(0.01, 1), min_size=5, max_size=5))
    z = [start]
    for step in steps:
        z.append(z[-1] + s * step)
    return z


@st.composite
def alternating_14(draw: st.DrawFn) -> list[float]:
    s = draw(side)
    sizes = draw(st.lists(st.floats(0.05, 2.5), min_size=14, max_size=14))
    return [s * (-1) ** i * size for i, size in enumerate(sizes)]


@st.composite
def k_of_n_beyond(draw: st.DrawFn, k: int, n: int, limit: float) -> list[float]:
    s = draw(side)
    others = draw(st.lists(st.floats(-4, 4), min_size=n - k, max_size=n - k))
    beyond = [s * x for x in draw(st.lists(_beyond(limit), min_size=k - 1, max_size=k - 1))]
    head = draw(st.permutations(beyond + others))
    return [*head, s * draw(_beyond(limit))]


@st.composite
def within_1_sigma_15(draw: st.DrawFn) -> list[float]:
    return draw(st.lists(st.floats(-0.99, 0.99), min_size=15, max_size=15))


@st.composite
def mixture_8(draw: st.DrawFn) -> list[float]:
    z = [draw(side) * draw(_beyond(1)) for _ in range(8)]
    if min(z) > 0 or max(z) < 0:
        z[draw(st.integers(0, 7))] *= -1
    return z


PATTERNS: dict[RunRule, st.SearchStrategy[list[float]]] = {
    RunRule.BEYOND_3_SIGMA: beyond_3_sigma(),
    RunRule.SAME_SIDE_9: same_side_9(),
    RunRule.TREND_6: trend_6(),
    RunRule.ALTERNATING_14: alternating_14(),
    RunRule.TWO_OF_3_BEYOND_2_SIGMA: k_of_n_beyond(2, 3, 2.0),
    RunRule.FOUR_OF_5_BEYOND_1_SIGMA: k_of_n_beyond(4, 5, 1.0),
    RunRule.WITHIN_1_SIGMA_15: within_1_sigma_15(),
    RunRule.MIXTURE_8: mixture_8(),
}


@pytest.mark.parametrize("rule", list(RunRule))
@settings(deadline=None, max_examples=60)  # shared CI cores: no timing in tests
@given(data=st.data(), before=prefix)
def test_each_run_rule_detects_its_pattern_after_any_history(
    rule: RunRule, data: st.DataObject, before: list[float]
) -> None:
    pattern = data.draw(PATTERNS[rule])
    detector = TrendDetector(_spec(rule))
    findings = [f for p in _points(before + pattern) for f in detector.add(p)]

    assert rule.value in detector.active  # the pattern holds at its last point ...
    assert any(f.rule == rule.value for f in findings)  # ... so it was reported


def test_a_finding_carries_its_window_and_values_as_evidence() -> None:
    spec = _spec(RunRule.SAME_SIDE_9)
    z = [-0.5, 0.2, 0.3, 0.1, 0.4, 0.2, 0.6, 0.3, 0.2, 0.5]
    (finding,) = scan(spec, _points(z))

    evidence = finding.evidence(spec)
    assert evidence["rule"] == "nelson-2"
    assert evidence["window_start"] == (T0 + EVERY).isoformat()
    assert evidence["window_end"] == (T0 + 9 * EVERY).isoformat()
    assert evidence["values"] == pytest.approx([CENTER + x * SIGMA for x in z[1:]])
    assert (evidence["center"], evidence["sigma"]) == (CENTER, SIGMA)
    assert "BR.pH out of trend (nelson-2" in finding.message


def test_a_pattern_that_persists_is_one_finding_and_a_new_one_is_another() -> None:
    z = [3.5, 3.6, 3.7, 0.0, 0.1, -3.2]

    findings = scan(_spec(RunRule.BEYOND_3_SIGMA), _points(z))

    assert [f.points[-1].value for f in findings] == pytest.approx(
        [CENTER + 3.5 * SIGMA, CENTER - 3.2 * SIGMA]
    )


# --------------------------------------------------------------------------- quiet


def _alternating_runs(runs: Sequence[int], sizes: Sequence[float]) -> list[float]:
    z: list[float] = []
    for i, length in enumerate(runs):
        z.extend((-1) ** i * sizes[(len(z) + j) % len(sizes)] for j in range(length))
    return z


magnitudes = st.lists(st.floats(0.01, 2.99), min_size=1, max_size=20)


@settings(deadline=None)
@given(z=st.lists(st.floats(-2.99, 2.99), max_size=60))
def test_beyond_3_sigma_is_quiet_within_3_sigma(z: list[float]) -> None:
    assert not _fired(RunRule.BEYOND_3_SIGMA, z)


@settings(deadline=None)
@given(runs=st.lists(st.integers(1, 8), max_size=12), sizes=magnitudes)
def test_same_side_is_quiet_when_the_side_changes_within_8(
    runs: list[int], sizes: list[float]
) -> None:
    assert not _fired(RunRule.SAME_SIDE_9, _alternating_runs(runs, sizes))


@settings(deadline=None)
@given(runs=st.lists(st.integers(1, 4), max_size=15), steps=magnitudes)
def test_trend_is_quiet_when_no_run_has_6_points(runs: list[int], steps: list[float]) -> None:
    z = [0.0]
    for i, step in enumerate(_alternating_runs(runs, steps)):
        z.append(z[-1] + step)  # runs of at most 4 steps: at most 5 monotone points
        assert i < 100

    assert not _fired(RunRule.TREND_6, z)


@settings(deadline=None)
@given(blocks=st.lists(st.integers(1, 12), max_size=8), steps=magnitudes)
def test_alternation_is_quiet_when_broken_within_13_steps(
    blocks: list[int], steps: list[float]
) -> None:
    signs: list[float] = []
    for length in blocks:  # each block alternates; a block starts as the last one ended
        first = signs[-1] if signs else 1.0
        signs.extend(first * (-1) ** j for j in range(length))
    z = [0.0]
    for i, sign in enumerate(signs):
        z.append(z[-1] + sign * steps[i % len(steps)])

    assert not _fired(RunRule.ALTERNATING_14, z)


@settings(deadline=None)
@given(z=st.lists(st.floats(-0.99, 0.99), max_size=60))
def test_k_of_n_rules_are_quiet_within_1_sigma(z: list[float]) -> None:
    assert not _fired(RunRule.TWO_OF_3_BEYOND_2_SIGMA, z)
    assert not _fired(RunRule.FOUR_OF_5_BEYOND_1_SIGMA, z)


@settings(deadline=None)
@given(
    inside=st.lists(st.lists(st.floats(-0.99, 0.99), max_size=14), max_size=6),
    outside=st.lists(_beyond(1), min_size=6, max_size=6),
)
def test_stratification_is_quiet_when_a_point_leaves_1_sigma_within_15(
    inside: list[list[float]], outside: list[float]
) -> None:
    z = [x for run, out in zip(inside, outside, strict=False) for x in [*run, out]]
    assert not _fired(RunRule.WITHIN_1_SIGMA_15, z)


@settings(deadline=None)
@given(
    beyond=st.lists(st.lists(st.floats(1.01, 4) | st.floats(-4, -1.01), max_size=7), max_size=6),
    inside=st.lists(st.floats(-0.99, 0.99), min_size=6, max_size=6),
)
def test_mixture_is_quiet_when_a_point_falls_within_1_sigma_every_8(
    beyond: list[list[float]], inside: list[float]
) -> None:
    z = [x for run, near in zip(beyond, inside, strict=False) for x in [*run, near]]
    assert not _fired(RunRule.MIXTURE_8, z)


# Probability that a point of in-control Gaussian noise completes each pattern (textbook
# values, rounded up); a finding is raised only when a pattern starts to hold, so the rate
# of findings stays below these.
NOISE_RATE = {
    RunRule.BEYOND_3_SIGMA: 0.0027,
    RunRule.SAME_SIDE_9: 0.0040,
    RunRule.TREND_6: 0.0028,
    RunRule.ALTERNATING_14: 0.0045,
    RunRule.TWO_OF_3_BEYOND_2_SIGMA: 0.0031,
    RunRule.FOUR_OF_5_BEYOND_1_SIGMA: 0.0055,
    RunRule.WITHIN_1_SIGMA_15: 0.0033,
    RunRule.MIXTURE_8: 0.0001,
}


def test_on_gaussian_noise_each_rule_alarms_no_more_than_its_textbook_rate() -> None:
    rng = random.Random(14)  # seeded: the same series every run
    points = 50_000
    z = [rng.gauss(0.0, 1.0) for _ in range(points)]

    findings = scan(_spec(*RunRule), _points(z))

    for rule in RunRule:
        count = sum(1 for f in findings if f.rule == rule.value)
        assert count <= 1.3 * NOISE_RATE[rule] * points + 5, (rule, count)


# --------------------------------------------------------------------------- slope


def _slope_bound(n: int, noise: float) -> float:
    """Largest least-squares slope (per hour) that bounded noise alone can produce."""
    hours = [i / 60 for i in range(n)]
    mean = sum(hours) / n
    return noise * sum(abs(t - mean) for t in hours) / sum((t - mean) ** 2 for t in hours)


@settings(deadline=None)
@given(
    drift=st.floats(-2, 2),
    noise=st.floats(0, 0.01),
    seed=st.integers(0, 2**16),
    max_rate=st.floats(0.05, 1),
)
def test_slope_fires_above_its_rate_and_is_quiet_below(
    drift: float, noise: float, seed: int, max_rate: float
) -> None:
    window = timedelta(minutes=30)
    rng = random.Random(seed)
    values = [drift * i / 60 + rng.uniform(-noise, noise) for i in range(31)]
    limit = SlopeLimit(window=window, max_rate=max_rate)
    spec = _spec(slope=limit)
    # The slope is judged from min_points on: the fewest points let noise tilt it most.
    widest = max(_slope_bound(n, noise) for n in range(limit.min_points, 32))

    fired = any(f.rule == SLOPE_RULE for f in scan(spec, _points(values, center=0, sigma=1)))

    if abs(drift) > max_rate + _slope_bound(31, noise) + 1e-9:
        assert fired
    if abs(drift) < max_rate - widest - 1e-9:
        assert not fired


def test_slope_only_looks_at_its_window() -> None:
    # A steep rise two hours ago, flat since: only the first hour's points are findings.
    z = [i * 0.5 for i in range(30)] + [15.0] * 120
    spec = _spec(slope=SlopeLimit(window=timedelta(minutes=20), max_rate=1.0))
    detector = TrendDetector(spec)

    findings = [f for p in _points(z, center=0, sigma=1) for f in detector.add(p)]

    assert [f.rule for f in findings] == [SLOPE_RULE]
    assert findings[0].slope == pytest.approx(30.0)  # 0.5 per minute
    assert SLOPE_RULE not in detector.active


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"sigma": 0}, "sigma"),
        ({"rules": ["nelson-9"]}, "rules"),
        ({"rules": [], "slope": None}, "no run rule and no slope"),
        ({"slope": {"window": "PT0S", "max_rate": 1}}, "window"),
        ({"slope": {"window": "PT30M", "max_rate": -1}}, "max_rate"),
        ({"limit": 3}, "limit"),
    ],
)
def test_a_bad_spec_is_refused_naming_the_problem(change: dict[str, object], problem: str) -> None:
    data: dict[str, object] = {"parameter": "BR.pH", "center": 7.0, "sigma": 0.05} | change

    with pytest.raises(ValidationError, match=problem):
        TrendSpec.model_validate(data)


def test_a_spec_round_trips_as_data() -> None:
    spec = _spec(RunRule.TREND_6, slope=SlopeLimit(window=timedelta(minutes=30), max_rate=0.2))

    assert TrendSpec.model_validate_json(spec.model_dump_json()) == spec
