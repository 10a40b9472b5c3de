"""The operator's debug trace (``HOLON_OPERATOR_TRACE``): silent when off; when on, a
line for each instant and a start and an end (with its duration) for each step."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from mes_operator import trace
from mes_operator.settings import OperatorConfig


@pytest.fixture
def traced_on() -> Iterator[None]:
    trace.enable(True)
    yield
    trace.enable(False)


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "mes_operator.trace"]


def test_off_by_default_and_silent(caplog: pytest.LogCaptureFixture) -> None:
    assert OperatorConfig.from_env({}).trace is False
    assert not trace.enabled()

    async def step() -> None:
        async with trace.traced("apply Service/batch", "plant", "batch"):
            trace.mark("deployment ADDED", "plant", "batch", rv=7)

    with caplog.at_level(logging.DEBUG, logger="mes_operator.trace"):
        asyncio.run(step())
    assert _lines(caplog) == []


def test_on_names_the_object_and_times_each_step(
    traced_on: None, caplog: pytest.LogCaptureFixture
) -> None:
    assert OperatorConfig.from_env({"HOLON_OPERATOR_TRACE": "1"}).trace is True

    async def step() -> None:
        async with trace.traced("status patch", "plant", "batch", keys="conditions"):
            trace.mark("deployment MODIFIED", "plant", "batch", rv=9, available=None)
            await asyncio.sleep(0.02)

    with caplog.at_level(logging.INFO, logger="mes_operator.trace"):
        asyncio.run(step())
    start, instant, end = _lines(caplog)
    assert start == "trace plant/batch status patch start keys=conditions"
    assert instant == "trace plant/batch deployment MODIFIED rv=9"  # None fields left out
    assert end.startswith("trace plant/batch status patch end ms=")
    assert float(end.rsplit("=", 1)[1]) >= 20.0


def test_a_failed_step_says_so_and_raises(
    traced_on: None, caplog: pytest.LogCaptureFixture
) -> None:
    async def step() -> None:
        async with trace.traced("get module", "plant", "batch"):
            raise TimeoutError("API")

    with caplog.at_level(logging.INFO, logger="mes_operator.trace"), pytest.raises(TimeoutError):
        asyncio.run(step())
    assert _lines(caplog)[-1].startswith("trace plant/batch get module end failed=TimeoutError ms=")
