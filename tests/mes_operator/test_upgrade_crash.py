"""Crash at every phase: the operator dies after acting and before writing the status (or
before acting at all), re-decides from the persisted status, and ends where a run without
the crash ends."""

from __future__ import annotations

import pytest
from mes_operator.models.mesmodule import UpgradePhase
from mes_operator.upgrade import CheckState, JobKind

from tests.mes_operator.upgrade_world import Run, World, plan

P = UpgradePhase
HAPPY = [p for p in P if p not in {P.ROLLING_BACK, P.ROLLED_BACK, P.FAILED}]
MODES = ["after-actions", "before-actions"]


def _world(kind: str) -> World:
    if kind == "rollback":
        return World(checks=CheckState.FAILED)
    if kind == "contract-fails":
        return World(failing_jobs={JobKind.CONTRACT})
    return World()


SCENARIOS = [
    *(("happy", phase) for phase in HAPPY),
    *(("rollback", phase) for phase in [*HAPPY[:5], P.ROLLING_BACK, P.ROLLED_BACK]),
    *(("contract-fails", phase) for phase in [P.CONTRACT_MIGRATION, P.FAILED]),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("scenario", "phase"), SCENARIOS, ids=lambda v: str(v))
def test_crash_in_a_phase_reaches_the_same_end(
    scenario: str, phase: UpgradePhase, mode: str
) -> None:
    clean = Run(_world(scenario), plan()).until_done()
    assert phase in clean.phases, f"{scenario} never visits {phase}"
    crashed = Run(_world(scenario), plan()).until_done(crash_in=phase, mode=mode)
    assert crashed.end_state() == clean.end_state()


def test_every_phase_is_covered() -> None:
    covered = {phase for _, phase in SCENARIOS}
    assert covered == set(P)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("scenario", ["happy", "rollback", "contract-fails"])
def test_a_crash_at_any_step_reaches_the_same_end(scenario: str, mode: str) -> None:
    clean = Run(_world(scenario), plan()).until_done()
    steps = 0
    probe = Run(_world(scenario), plan())
    while probe.status is None or probe.status.phase not in {P.QUALIFIED, P.ROLLED_BACK, P.FAILED}:
        probe.step()
        steps += 1
    for index in range(steps + 1):
        crashed = Run(_world(scenario), plan()).until_done(crash_at=index, mode=mode)
        assert crashed.end_state() == clean.end_state(), f"crash at step {index}"
