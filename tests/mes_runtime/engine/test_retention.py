"""Finished batches leave the engine's memory once enough newer ones have finished."""

from __future__ import annotations

import asyncio

import pytest

from mes_runtime.domain.control_recipe import ControlRecipe
from mes_runtime.domain.states import Command, ElementState
from mes_runtime.engine.batch import BatchEngine
from mes_runtime.engine.errors import UnknownBatch
from mes_runtime.engine.plan import build_tree

from .fake_equipment import FakeEquipment
from .fake_recorder import RecordingRecorder
from .harness import load_yaml_recipe
from .recipes import BR_BINDINGS, FORMULA_GATED


async def test_only_the_most_recent_finished_batches_stay_live() -> None:
    master = load_yaml_recipe(FORMULA_GATED)
    equipment = FakeEquipment.for_recipe(master, BR_BINDINGS)
    recorder = RecordingRecorder()
    async with BatchEngine(
        equipment=equipment, recorder=recorder, flush_interval=0.01, retain_finished=1
    ) as engine:
        for batch_id in ("B-1", "B-2"):
            control = ControlRecipe.from_master(master, batch_id=batch_id, bindings=BR_BINDINGS)
            await engine.start_batch(build_tree(control), actor="alice")
            await engine.command(batch_id, "procedure", Command.STOP, actor="sam")
            async with asyncio.timeout(10):
                assert await engine.wait_finished(batch_id) is ElementState.STOPPED

        assert engine.batch_ids() == ["B-2"]
        with pytest.raises(UnknownBatch):
            engine.tree("B-1")
        assert engine.snapshot("B-2")["state"] == "stopped"
