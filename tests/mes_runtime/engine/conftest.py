"""Fixtures of the engine tests: the demo recipe, a started demo batch, and a guard that
fails a test whose engine logged an error (the pump logs and survives handler failures)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from mes_runtime.domain.recipe import MasterRecipe
from mes_runtime.library import load_template

from .harness import DEMO, DEMO_BINDINGS, Harness, running_batch


@pytest.fixture(scope="session")
def demo() -> MasterRecipe:
    """The demo template (immutable, so one load serves every test)."""
    return load_template(DEMO)


@pytest.fixture(params=["instant", "yielding"])
async def batch(demo: MasterRecipe, request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    """The mAb fed-batch demo, started; recorded instantly, or yielding on every call as
    real storage does (equipment events then interleave with the engine's own work)."""
    yielding = request.param == "yielding"
    async with running_batch(demo, DEMO_BINDINGS, yielding_recorder=yielding) as harness:
        yield harness


@pytest.fixture(autouse=True)
def _engine_logs_no_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The engine's pump logs (and survives) handler failures; in tests that is a bug."""
    with caplog.at_level(logging.WARNING, logger="mes_runtime.engine"):
        yield
    errors = [r for r in caplog.records if r.name.startswith("mes_runtime.engine")]
    errors = [r for r in errors if r.levelno >= logging.ERROR]
    text = "\n".join(logging.Formatter().format(r) for r in errors)
    assert not errors, f"the batch engine logged errors:\n{text}"
