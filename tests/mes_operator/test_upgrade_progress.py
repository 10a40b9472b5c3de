"""What each persisted upgrade step means for the metrics: phases left once each, with the
time between the persisted stamps, outcomes and rollback causes, and nothing counted twice
when a crash makes the next reconcile redo a step."""

from __future__ import annotations

from dataclasses import replace

import pytest
from mes_operator.models.mesmodule import UpgradePhase, UpgradeStatus
from mes_operator.upgrade import TERMINAL, CheckState, JobKind, Request, RequestVerb
from mes_operator.upgrade.progress import Progress, phase_started, progress

from tests.mes_operator.upgrade_world import Run, World, plan

P = UpgradePhase
HAPPY = [p for p in P if p not in {*TERMINAL, P.ROLLING_BACK}]
"""The phases a qualified upgrade leaves, in order."""


def _steps(run: Run, *, limit: int = 60, **crash: object) -> list[Progress]:
    """Step ``run`` to a terminal phase, as ``Run.until_done`` does (one crash if asked),
    and what each step meant: a crashed step persists nothing, so it means nothing."""
    seen: list[Progress] = []
    crashed = False
    for index in range(limit):
        before = run.status
        here = before.phase if before else None
        due = here is crash.get("crash_in") or index == crash.get("crash_at")
        if due and not crashed:
            crashed = True
            run.step(crash=str(crash.get("mode", "after-actions")))
        else:
            run.step()
        seen.append(progress(before, run.status))
        if run.status is not None and run.status.phase in TERMINAL and index:
            break
    return [p for p in seen if p.anything]


def _left(steps: list[Progress]) -> list[UpgradePhase]:
    return [p.left for p in steps if p.left is not None]


def _outcomes(steps: list[Progress]) -> list[str]:
    return [p.outcome for p in steps if p.outcome is not None]


def test_a_qualified_upgrade_leaves_each_phase_once_and_ends_once() -> None:
    run = Run(World(), plan())
    steps = _steps(run)
    assert run.status is not None
    assert _left(steps) == HAPPY
    assert [p.started for p in steps].count(True) == 1
    assert _outcomes(steps) == ["qualified"]
    assert all(p.rollback_cause is None for p in steps)
    # the phases' durations add up to the upgrade's: stamp to stamp, nothing lost
    total = (phase_started(run.status) - phase_started(replace_started(run.status))).seconds
    assert sum(p.seconds for p in steps) == total > 0
    assert len({p.key for p in steps}) == len(steps)  # every step starts from its own status


def replace_started(status: UpgradeStatus) -> UpgradeStatus:
    """The status as it was when the upgrade began (its phase started with it)."""
    return status.model_copy(update={"phase_started_at": status.started_at})


def test_a_phase_lasts_from_its_persisted_stamp_to_the_next() -> None:
    before = UpgradeStatus(
        phase=P.OBSERVE,
        from_version="1.0.0",
        to_version="1.1.0",
        started_at="2026-11-30T12:00:00Z",
        phase_started_at="2026-11-30T12:10:00Z",
    )
    after = before.model_copy(
        update={"phase": P.RETIRE_BLUE, "phase_started_at": "2026-11-30T12:15:30Z"}
    )
    seen = progress(before, after)
    assert (seen.left, seen.seconds, seen.started, seen.outcome) == (P.OBSERVE, 330.0, False, None)
    assert seen.key == (1, "Observe", "2026-11-30T12:10:00Z", False)
    assert not progress(before, before).anything  # a step that waits counts nothing
    assert not progress(None, None).anything


@pytest.mark.parametrize("mode", ["after-actions", "before-actions"])
@pytest.mark.parametrize("crash_in", HAPPY)
def test_a_step_redone_after_a_crash_is_counted_once(crash_in: UpgradePhase, mode: str) -> None:
    """The operator dies after acting and before persisting (or before acting): the step
    persisted nothing and counts nothing; the reconcile that redoes it (the standby after a
    fail-over) counts it, once."""
    clean = _steps(Run(World(), plan()))
    run = Run(World(), plan())
    crashed = _steps(run, crash_in=crash_in, mode=mode)
    assert _left(crashed) == _left(clean) == HAPPY
    assert _outcomes(crashed) == ["qualified"]
    assert [p.started for p in crashed].count(True) == 1
    # a lost step may make its phase longer; the stamps still add up to the upgrade's time
    assert run.status is not None
    total = (phase_started(run.status) - phase_started(replace_started(run.status))).seconds
    assert sum(p.seconds for p in crashed) == total >= sum(p.seconds for p in clean)


def test_a_rollback_is_counted_with_its_cause_and_ends_rolled_back() -> None:
    steps = _steps(Run(World(checks=CheckState.FAILED), plan()))
    causes = [p.rollback_cause for p in steps if p.rollback_cause]
    assert causes == ["NewVersionChecksFailed"]
    assert _left(steps)[-2:] == [P.OPERATIONAL_QUALIFICATION, P.ROLLING_BACK]
    assert _outcomes(steps) == ["rolled_back"]


def test_a_requested_rollback_is_counted_under_its_own_cause() -> None:
    run = Run(World(safe=False), plan())
    for _ in range(12):
        run.step()
    assert run.status is not None
    assert run.status.phase is P.SAFE_POINT
    run.world.request = Request(verb=RequestVerb.ROLLBACK, token="rollback/1")
    steps = _steps(run)
    assert [p.rollback_cause for p in steps if p.rollback_cause] == ["RollbackRequested"]
    assert _left(steps) == [P.SAFE_POINT, P.ROLLING_BACK]
    assert _outcomes(steps) == ["rolled_back"]


def test_a_failed_contract_and_its_retry_are_two_attempts() -> None:
    run = Run(World(failing_jobs={JobKind.CONTRACT}), plan())
    first = _steps(run)
    assert _outcomes(first) == ["failed"]
    assert _left(first)[-1] is P.CONTRACT_MIGRATION
    assert all(p.rollback_cause is None for p in first)  # no automatic way back after it
    run.world.failing_jobs = set()
    run.world.request = Request(verb=RequestVerb.RETRY, token="retry/1")
    retry = _steps(run)
    assert [p.started for p in retry] == [True, False]  # Failed -> ContractMigration -> done
    assert _left(retry) == [P.CONTRACT_MIGRATION]
    assert _outcomes(retry) == ["qualified"]


def test_a_rolled_back_upgrade_and_its_retry_are_two_attempts() -> None:
    run = Run(World(new_never_ready=True), plan())
    assert _outcomes(_steps(run)) == ["rolled_back"]
    for _ in range(3):  # waiting for a retry counts nothing
        before = run.status
        run.step()
        assert not progress(before, run.status).anything
    run.world.new_never_ready = False
    run.world.request = Request(verb=RequestVerb.RETRY, token="retry/1")
    retry = _steps(run)
    assert [p.started for p in retry].count(True) == 1
    assert _left(retry) == HAPPY
    assert _outcomes(retry) == ["qualified"]


def test_a_hold_and_its_resume_leave_no_phase() -> None:
    """Held at the safe point, and resumed: still SafePoint, so nothing is counted; the
    resume restarts the phase's stamp (the safe-point timeout counts from it)."""
    p = plan()
    run = Run(World(safe=False), replace(p, timeouts=replace(p.timeouts, safe_point=300)))
    for _ in range(30):
        before = run.status
        run.step()
        assert progress(before, run.status).left in {None, *HAPPY[:5]}
    assert run.status is not None
    assert (run.status.phase, run.status.held) == (P.SAFE_POINT, True)
    run.world.request, run.world.safe = Request(verb=RequestVerb.RESUME, token="resume/1"), True
    held = run.status
    run.step()
    assert run.status.phase is P.SAFE_POINT  # resumed: the grant is pending again first
    assert not progress(held, run.status).anything
    resumed = run.status
    assert resumed.phase_started_at != held.phase_started_at
    steps = _steps(run)
    assert _left(steps) == HAPPY[5:]
    assert steps[0].key == (1, "SafePoint", resumed.phase_started_at, False)
    assert steps[0].seconds == 60  # one tick since the resume, not since the phase began
