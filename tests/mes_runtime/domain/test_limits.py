"""Limit classification and sample checks against a phase's monitor limits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mes_runtime.domain.limits import check_sample, classify
from mes_runtime.domain.recipe import Criticality, MonitorLimit
from mes_runtime.engine.ports import ProcessSample, Severity


@pytest.mark.parametrize(
    ("value", "low", "high", "expected"),
    [
        (36.5, 35.5, 37.5, None),
        (35.5, 35.5, 37.5, None),
        (37.5, 35.5, 37.5, None),
        (35.49, 35.5, 37.5, Severity.CRITICAL),
        (37.51, 35.5, 37.5, Severity.CRITICAL),
        (-100.0, None, 37.5, None),
        (1e9, 35.5, None, None),
        (1.0, 35.5, None, Severity.CRITICAL),
    ],
)
def test_classify(
    value: float, low: float | None, high: float | None, expected: Severity | None
) -> None:
    assert classify(value, low=low, high=high, criticality=Criticality.CRITICAL) is expected


@settings(deadline=None)  # shared CI cores: no timing in tests
@given(
    st.floats(-1e6, 1e6),
    st.floats(-1e6, 1e6),
    st.floats(-1e6, 1e6),
    st.sampled_from(list(Criticality)),
)
def test_classify_property(value: float, a: float, b: float, criticality: Criticality) -> None:
    low, high = min(a, b), max(a, b)
    result = classify(value, low=low, high=high, criticality=criticality)
    if low <= value <= high:
        assert result is None
    else:
        assert result is not None
        assert result.value == criticality.value


LIMITS = (
    MonitorLimit(name="Temperature", unit="degC", low=36.0, high=37.0, criticality="minor"),
    MonitorLimit(name="Temperature", unit="degC", low=35.5, high=37.5, criticality="critical"),
    MonitorLimit(name="pH", unit="pH", low=6.8, high=7.2, criticality="critical"),
)


def _sample(name: str, value: float, unit: str) -> ProcessSample:
    return ProcessSample(equipment="BR-101", name=name, value=value, unit=unit)


def test_inside_every_limit_is_no_deviation() -> None:
    assert check_sample(_sample("Temperature", 36.5, "degC"), LIMITS) is None
    assert check_sample(_sample("VCD", 99.0, "1e6 cells/mL"), LIMITS) is None


def test_most_severe_violated_limit_wins() -> None:
    minor = check_sample(_sample("Temperature", 37.2, "degC"), LIMITS)
    assert minor is not None
    assert minor.severity is Severity.MINOR
    assert "above the minor limit 37.0 degC" in minor.message
    critical = check_sample(_sample("Temperature", 35.0, "degC"), LIMITS)
    assert critical is not None
    assert critical.severity is Severity.CRITICAL
    assert (critical.low, critical.high) == (35.5, 37.5)
    assert critical.message == "BR-101 Temperature = 35 degC is below the critical limit 35.5 degC"


def test_sample_in_another_unit_is_a_major_deviation() -> None:
    found = check_sample(_sample("pH", 7.0, "mV"), LIMITS)
    assert found is not None
    assert found.severity is Severity.MAJOR
    assert "'mV'" in found.message
    assert "'pH'" in found.message
