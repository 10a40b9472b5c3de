"""Simulator fixtures: TK-201 in the string layout and CH-301 in the numeric layout, with
two extra load tags each, shared by the tests of a module (servers take seconds)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from holon_testing.simulator import RunningSimulator, running_simulator


@pytest.fixture(scope="module")
def manifest_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("manifests")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sim(manifest_dir: Path) -> AsyncIterator[RunningSimulator]:
    async with running_simulator(
        modules=("TK-201", "CH-301"),
        time_factor=60.0,
        layout={"TK-201": "string", "CH-301": "numeric"},
        manifest_dir=manifest_dir,
        extra_tags=2,
        extra_tag_rate=20.0,
    ) as running:
        yield running
