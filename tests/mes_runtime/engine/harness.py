"""A batch engine wired to the FAKE equipment and recorder, and helpers to drive it.

Tests wait on conditions (never on fixed delays): :meth:`Harness.until` polls a predicate
under an ``asyncio.timeout``; :meth:`Harness.settle` returns once every equipment event
has been handled and the fake has no transient state left to end, which is what a test
needs before asserting that something did *not* happen.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import yaml

from mes_runtime.domain.control_recipe import ControlRecipe
from mes_runtime.domain.recipe import MasterRecipe
from mes_runtime.domain.states import (
    ElementState,
    allowed_commands,
    apply_command,
    complete_transient,
    is_transient,
)
from mes_runtime.engine.batch import BatchEngine
from mes_runtime.engine.plan import build_tree
from mes_runtime.engine.tree import BatchTree, Node
from mes_runtime.mtp.codes import ServiceState

from .fake_equipment import FakeEquipment
from .fake_recorder import RecordingRecorder

DEMO = "mab-fedbatch-demo"
DEMO_BINDINGS = {"TK": "TK-201", "BR": "BR-101", "CH": "CH-301"}
WAIT = 5.0  # seconds a condition may take before the test fails (generous for loaded CI)


@dataclass
class Harness:
    """One engine, its fake equipment and recorder, and (once started) one batch."""

    engine: BatchEngine
    equipment: FakeEquipment
    recorder: RecordingRecorder
    tree: BatchTree

    @property
    def batch_id(self) -> str:
        return self.tree.batch_id

    def node(self, path: str) -> Node:
        return self.tree.by_path[path]

    def state(self, path: str) -> ElementState:
        return self.node(path).state

    def service_of(self, path: str) -> tuple[str, str]:
        phase = self.node(path).phase
        assert phase is not None, f"{path} is not a phase"
        return phase.equipment, phase.service

    async def until(self, predicate: Callable[[], bool], what: str) -> None:
        """Wait until ``predicate()`` holds; fail with ``what`` after :data:`WAIT`."""
        try:
            async with asyncio.timeout(WAIT):
                while not predicate():
                    await asyncio.sleep(0.001)
        except TimeoutError:
            states = {n.path: n.state.value for n in self.tree.root.walk()}
            raise AssertionError(f"timed out waiting for {what}; states: {states}") from None

    async def until_state(self, path: str, state: ElementState) -> None:
        await self.until(lambda: self.state(path) is state, f"{path} to be {state.value}")

    async def settle(self) -> None:
        """Return once every queued event is handled and the fake is at rest."""
        queue = self.equipment.events
        async with asyncio.timeout(WAIT):
            while True:
                while not queue.empty() or self.equipment.busy:
                    await asyncio.sleep(0)
                async with self.engine._lock:  # the pump handles a batch under this lock
                    pass
                await asyncio.sleep(0)
                if queue.empty() and not self.engine._events.inbox and not self.equipment.busy:
                    return

    async def executing(self, path: str) -> None:
        """Wait until a phase runs and its service is in Execute."""
        equipment, service = self.service_of(path)
        await self.until(
            lambda: (
                self.state(path) is ElementState.RUNNING
                and self.equipment.state(equipment, service) is ServiceState.EXECUTE
            ),
            f"{path} to run with its service in EXECUTE",
        )

    async def complete_phase(self, path: str) -> None:
        """Let a running phase's procedure end on the equipment; wait for Complete."""
        await self.executing(path)
        done = self.recorder.states_of(path).count(ElementState.COMPLETE.value)
        self.equipment.finish(*self.service_of(path))
        await self.until(  # not the live state: a loop may already have re-started it
            lambda: self.recorder.states_of(path).count(ElementState.COMPLETE.value) > done,
            f"{path} to complete",
        )


def load_yaml_recipe(text: str) -> MasterRecipe:
    data: Any = yaml.safe_load(text)
    return MasterRecipe.model_validate(data)


@asynccontextmanager
async def running_batch(
    master: MasterRecipe,
    bindings: Mapping[str, str],
    *,
    batch_id: str = "B-001",
    overrides: Mapping[str, float] | None = None,
    equipment: FakeEquipment | None = None,
    yielding_recorder: bool = False,
) -> AsyncIterator[Harness]:
    """An engine running one started batch of ``master`` on fake equipment."""
    control = ControlRecipe.from_master(
        master, batch_id=batch_id, bindings=bindings, overrides=overrides
    )
    fake = equipment or FakeEquipment.for_recipe(master, bindings)
    recorder = RecordingRecorder(yielding=yielding_recorder)
    tree = build_tree(control)
    async with BatchEngine(
        equipment=fake, recorder=recorder, flush_interval=0.01, idle_timeout=1.0
    ) as engine:
        harness = Harness(engine, fake, recorder, tree)
        await engine.start_batch(tree, actor="alice", reason="campaign 7")
        yield harness


# Element paths of the mab-fedbatch-demo template.
ROOT = "procedure"
TK_UP = "procedure/TK-UP"
CHARGE = "procedure/TK-UP/buffer-prep/charge-water"
MIX = "procedure/TK-UP/buffer-prep/mix"
ADJUST = "procedure/TK-UP/buffer-prep/adjust-ph"
BR_PREP = "procedure/BR-PREP"
FILL = "procedure/BR-PREP/preparation/fill-medium"
BR_UP = "procedure/BR-UP"
FEDBATCH = "procedure/BR-UP/cultivation/run-fedbatch"
HARVEST = "procedure/BR-UP/harvest/harvest-broth"
CH_UP = "procedure/CH-UP"
CAPTURE = ("equilibrate", "load", "wash", "elute")
CAPTURE_PHASES = tuple(f"procedure/CH-UP/capture/{step}" for step in CAPTURE)


async def reach_cultivation(h: Harness) -> None:
    """Run the demo up to a running fed-batch phase (buffer prep and fill done, warm)."""
    for path in (CHARGE, MIX, ADJUST, FILL):
        await h.complete_phase(path)
    h.equipment.publish("BR-101", "Temperature", 36.5, "degC")
    await h.executing(FEDBATCH)


OPERATION = "procedure/TK-UP/buffer-prep"


def _legal(old: ElementState, new: ElementState) -> bool:
    if new is ElementState.IDLE:  # a loop resets a finished step before running it again
        return old in {ElementState.COMPLETE, ElementState.STOPPED, ElementState.ABORTED}
    with_command = {apply_command(old, c) for c in allowed_commands(old)}
    completion = {complete_transient(old)} if is_transient(old) else set()
    return new in with_command | completion


def assert_recorded_in_order(recorder: RecordingRecorder, batch_id: str) -> None:
    """Each persisted element state of the batch is followed at once by its journal entry
    (and, for the procedure, the batch state), and every old -> new step is legal."""
    # The flusher stores process values concurrently, by design: they may come in between.
    calls = [c for c in recorder.calls if c.method != "process_values"]
    current: dict[str, str] = {}
    persisted = 0
    for index, call in enumerate(calls):
        if call.method != "element_state" or call["batch_id"] != batch_id:
            continue
        persisted += 1
        path, state = call["path"], call["state"]
        entry = calls[index + 1]
        assert (entry.method, entry["action"]) == ("journal", "element.state")
        assert (entry["batch_id"], entry["subject"], entry["new_value"]) == (batch_id, path, state)
        old = current.get(path, "idle")
        assert entry["old_value"] == old, f"{path}: journal says {entry['old_value']} -> {state}"
        legal = _legal(ElementState(old), ElementState(state))
        assert legal, f"{path}: {old} -> {state} is not a legal transition"
        current[path] = state
        if path == "procedure":
            assert (calls[index + 2].method, calls[index + 2]["state"]) == ("batch_state", state)
    journalled = [e for e in recorder.journal_entries("element.state") if e["batch_id"] == batch_id]
    assert persisted == len(journalled) > 0
