"""The upgrade state machine (pure): phases in order, rollback, pause, safe point, requests."""

from __future__ import annotations

from dataclasses import replace

import pytest
from mes_operator.models.mesmodule import Colour, UpgradePhase, UpgradeStrategyType
from mes_operator.upgrade import (
    CheckState,
    EventType,
    JobKind,
    JobState,
    Request,
    RequestVerb,
    decide,
)
from mes_operator.upgrade.conditions import upgrade_conditions

from tests.mes_operator.upgrade_world import Run, World, plan

P = UpgradePhase
HAPPY = [
    P.PREFLIGHT,
    P.VERIFIED_BACKUP,
    P.EXPAND_MIGRATION,
    P.DEPLOY_GREEN,
    P.OPERATIONAL_QUALIFICATION,
    P.SAFE_POINT,
    P.SWITCH,
    P.OBSERVE,
    P.RETIRE_BLUE,
    P.CONTRACT_MIGRATION,
    P.QUALIFIED,
]


def _conditions(run: Run) -> dict[str, tuple[str, str, str]]:
    obs = run.world.observe(run.status, run.plan.active_colour)
    decision = decide(run.status, run.plan, obs)
    return {c.type: (c.status, c.reason, c.message) for c in decision.conditions}


def test_a_version_change_goes_through_every_phase_to_green() -> None:
    run = Run(World(), plan()).until_done()
    assert run.phases == HAPPY
    w = run.world
    assert w.deployments == {Colour.GREEN: "1.1.0"}
    assert (w.selector, w.grant, w.pending) == (Colour.GREEN, Colour.GREEN, False)
    assert run.plan.current_version == "1.1.0"
    assert run.plan.active_colour is Colour.GREEN
    assert run.status is not None
    assert run.status.backup_location == "s3://backups/batch/1.1.0.dump"
    assert [e.reason for e in w.events if e.type is EventType.WARNING] == []
    conditions = _conditions(run)
    assert conditions["Progressing"][:2] == ("False", "UpgradeDone")
    assert conditions["Degraded"][0] == "False"


def test_the_contract_waits_until_the_old_slot_has_drained_and_exited() -> None:
    """Blue's Pods drain for ticks after its Deployment is deleted (they still answer the
    keep-alive connections they held since the switch): no contract Job while they run."""
    run = Run(World(drain_ticks=3), plan())
    retiring = 0
    while run.status is None or run.status.phase is not P.CONTRACT_MIGRATION:
        if run.status is not None and run.status.phase is P.RETIRE_BLUE:
            retiring += 1
            assert not [k for k in run.world.jobs if k[0] is JobKind.CONTRACT]
        run.step()
    assert retiring >= 3
    assert Colour.BLUE not in run.world.deployments
    assert "OldVersionRetired" in [e.reason for e in run.world.events]
    run.until_done()
    assert run.phases[-1] is P.QUALIFIED


def test_the_next_upgrade_goes_back_to_blue() -> None:
    run = Run(World(), plan()).until_done()
    run.plan = replace(run.plan, version="1.2.0")
    run.until_done()
    assert run.phases[-1] is P.QUALIFIED
    assert run.world.deployments == {Colour.BLUE: "1.2.0"}
    assert run.world.selector is Colour.BLUE


@pytest.mark.parametrize(
    "changes",
    [
        {"version": "1.0.0"},
        {"current_version": None},
        {"strategy": UpgradeStrategyType.RECREATE},
    ],
    ids=["same-version", "first-install", "recreate"],
)
def test_nothing_to_upgrade(changes: dict[str, object]) -> None:
    p = replace(plan(), **changes)  # type: ignore[arg-type]
    decision = decide(None, p, World().observe(None, Colour.BLUE))
    assert decision.status is None
    assert decision.actions == ()
    assert decision.active_colour is Colour.BLUE


def test_migration_in_progress_only_during_migration_jobs() -> None:
    run = Run(World(), plan())
    seen: dict[P, str] = {}
    for _ in range(30):
        if run.status is not None:
            migration = upgrade_conditions(run.status, paused=False)[1]
            assert migration.type == "MigrationInProgress"
            seen[run.status.phase] = migration.status
        run.step()
    assert seen[P.EXPAND_MIGRATION] == "True"
    assert seen[P.CONTRACT_MIGRATION] == "True"
    assert {phase for phase, value in seen.items() if value == "True"} == {
        P.EXPAND_MIGRATION,
        P.CONTRACT_MIGRATION,
    }


def _rolled_back(run: Run, cause: str) -> None:
    assert run.status is not None
    assert run.status.phase is P.ROLLED_BACK
    assert run.status.cause == cause
    w = run.world
    assert w.deployments == {Colour.BLUE: "1.0.0"}
    assert (w.selector, w.grant, w.pending) == (Colour.BLUE, Colour.BLUE, False)
    assert run.plan.active_colour is Colour.BLUE
    assert run.plan.current_version == "1.0.0"
    assert not any(kind is JobKind.CONTRACT for kind, _, _ in w.jobs)
    assert cause in [e.reason for e in w.events if e.type is EventType.WARNING]
    degraded = _conditions(run)["Degraded"]
    assert degraded[:2] == ("True", cause)


def test_new_version_never_ready_rolls_back_with_the_schema_expanded() -> None:
    run = Run(World(new_never_ready=True), plan()).until_done()
    assert P.DEPLOY_GREEN in run.phases
    _rolled_back(run, "NewVersionNotReady")
    assert run.world.jobs[(JobKind.EXPAND, "1.1.0", 1)] is JobState.SUCCEEDED


def test_the_new_slot_starts_only_once_the_old_one_holds_the_grant() -> None:
    run = Run(World(grant_refused=True), plan()).until_done()
    assert P.DEPLOY_GREEN in run.phases
    assert Colour.GREEN not in run.world.deployments  # never started, so owned nothing
    assert run.status is not None
    assert (run.status.phase, run.status.cause) == (P.ROLLED_BACK, "GrantNotTaken")


def test_failing_checks_roll_back() -> None:
    run = Run(World(checks=CheckState.FAILED), plan()).until_done()
    _rolled_back(run, "NewVersionChecksFailed")


def test_no_verified_backup_no_migration() -> None:
    run = Run(World(backup_problem="object store unreachable: s3.local:8333"), plan()).until_done()
    _rolled_back(run, "BackupNotVerified")
    assert not any(kind is JobKind.EXPAND for kind, _, _ in run.world.jobs)
    assert run.status is not None
    assert "object store unreachable" in (run.status.message or "")


def test_a_failed_expand_rolls_back() -> None:
    run = Run(World(failing_jobs={JobKind.EXPAND}), plan()).until_done()
    _rolled_back(run, "ExpandMigrationFailed")


def test_sqlite_cannot_go_blue_green() -> None:
    run = Run(World(), plan(postgresql=False)).until_done()
    _rolled_back(run, "BlueGreenNeedsPostgreSQL")


def test_a_rolled_back_version_waits_for_retry_or_a_new_version() -> None:
    run = Run(World(new_never_ready=True), plan()).until_done()
    jobs = dict(run.world.jobs)
    for _ in range(5):
        run.step()
    assert run.world.jobs == jobs  # nothing restarts by itself
    run.world.new_never_ready = False
    run.world.request = Request(verb=RequestVerb.RETRY, token="retry/1")
    run.until_done()
    assert run.status is not None
    assert (run.status.phase, run.status.attempt) == (P.QUALIFIED, 2)
    assert (JobKind.EXPAND, "1.1.0", 2) in run.world.jobs  # a new Job for the new attempt
    run.step()
    assert run.status.attempt == 2  # the same request is not acted on twice


def test_a_new_version_after_a_rollback_starts_a_new_upgrade() -> None:
    run = Run(World(new_never_ready=True), plan()).until_done()
    run.world.new_never_ready = False
    run.plan = replace(run.plan, version="1.1.1")
    run.until_done()
    assert run.status is not None
    assert (run.status.phase, run.status.to_version) == (P.QUALIFIED, "1.1.1")
    assert run.status.attempt == 2


def test_a_backup_is_never_reused_by_a_later_upgrade_to_the_same_version() -> None:
    run = Run(World(new_never_ready=True), plan()).until_done()
    run.plan = replace(run.plan, version="1.1.1")
    run.until_done()
    run.world.new_never_ready = False
    run.plan = replace(run.plan, version="1.1.0")
    run.until_done()
    assert run.status is not None
    assert (run.status.phase, run.status.attempt) == (P.QUALIFIED, 3)
    backups = sorted((v, a) for k, v, a in run.world.jobs if k is JobKind.BACKUP)
    assert backups == [("1.1.0", 1), ("1.1.0", 3), ("1.1.1", 2)]


def test_a_version_changed_mid_upgrade_rolls_back_then_upgrades_to_it() -> None:
    run = Run(World(), plan())
    while run.status is None or run.status.phase is not P.SAFE_POINT:
        run.step()
    run.plan = replace(run.plan, version="1.2.0")
    run.until_done()
    assert P.ROLLING_BACK in run.phases
    run.until_done()
    assert run.status is not None
    assert (run.status.phase, run.status.to_version) == (P.QUALIFIED, "1.2.0")
    assert run.world.deployments == {Colour.GREEN: "1.2.0"}


def test_paused_holds_between_phases() -> None:
    run = Run(World(), plan())
    while run.status is None or run.status.phase is not P.DEPLOY_GREEN:
        run.step()
    run.plan = replace(run.plan, paused=True)
    obs = run.world.observe(run.status, run.plan.active_colour)
    decision = decide(run.status, run.plan, obs)
    assert decision.actions == ()
    for _ in range(20):  # far beyond the green-ready timeout's ticks, but paused
        run.step()
    assert run.status is not None
    assert run.status.phase is P.DEPLOY_GREEN
    assert _conditions(run)["Progressing"][:2] == ("False", "Paused")
    run.plan = replace(run.plan, paused=False)
    run.until_done()
    assert run.status.phase in {P.QUALIFIED, P.ROLLED_BACK}


def test_a_safe_point_that_never_comes_holds_the_upgrade_naming_batch_and_phase() -> None:
    p = plan()
    p = replace(p, timeouts=replace(p.timeouts, safe_point=300))
    run = Run(World(safe=False), p)
    for _ in range(30):
        run.step()
    assert run.status is not None
    assert (run.status.phase, run.status.held) == (P.SAFE_POINT, True)
    progressing = _conditions(run)["Progressing"]
    assert progressing[:2] == ("False", "SafePointTimeout")
    assert "B-17" in progressing[2]
    assert "transfer-to-harvest" in progressing[2]
    assert _conditions(run)["Degraded"][:2] == ("True", "SafePointTimeout")
    w = run.world
    assert (w.grant, w.pending, w.selector) == (Colour.BLUE, False, Colour.BLUE)
    # resume: the wait starts again; the batch reaches a safe point
    w.request, w.safe = Request(verb=RequestVerb.RESUME, token="resume/1"), True
    run.until_done()
    assert run.status.phase is P.QUALIFIED


def test_the_switch_waits_for_a_safe_point_with_the_upgrade_pending() -> None:
    run = Run(World(safe=False), plan())
    for _ in range(12):
        run.step()
    assert run.status is not None
    assert run.status.phase is P.SAFE_POINT
    assert (run.world.grant, run.world.pending, run.world.selector) == (
        Colour.BLUE,
        True,
        Colour.BLUE,
    )
    run.world.safe = True
    run.until_done()
    assert run.status.phase is P.QUALIFIED


def test_rollback_on_request_during_observe() -> None:
    run = Run(World(), plan())
    while run.status is None or run.status.phase is not P.OBSERVE:
        run.step()
    run.world.request = Request(verb=RequestVerb.ROLLBACK, token="rollback/1")
    run.until_done()
    _rolled_back(run, "RollbackRequested")


def test_after_contract_no_automatic_rollback_and_a_rollback_request_says_restore() -> None:
    run = Run(World(failing_jobs={JobKind.CONTRACT}), plan()).until_done()
    assert run.status is not None
    assert (run.status.phase, run.status.cause) == (P.FAILED, "ContractMigrationFailed")
    assert run.world.selector is Colour.GREEN  # the new version keeps serving
    assert run.plan.active_colour is Colour.GREEN
    run.world.request = Request(verb=RequestVerb.ROLLBACK, token="rollback/1")
    run.step()
    assert run.status.phase is P.FAILED
    # a rollback request on a Failed upgrade is not a retry: nothing moves
    assert run.world.selector is Colour.GREEN
    run.world.failing_jobs.clear()
    run.world.request = Request(verb=RequestVerb.RETRY, token="retry/1")
    run.until_done()
    assert (run.status.phase, run.status.attempt) == (P.QUALIFIED, 2)
    assert (JobKind.CONTRACT, "1.1.0", 2) in run.world.jobs


def test_rollback_request_after_contract_is_refused_with_a_warning() -> None:
    run = Run(World(), plan())
    while run.status is None or run.status.phase is not P.CONTRACT_MIGRATION:
        run.step()
    run.world.request = Request(verb=RequestVerb.ROLLBACK, token="rollback/1")
    run.step()
    assert "RollbackNeedsRestore" in [e.reason for e in run.world.events]
    run.until_done()
    assert run.status is not None
    assert run.status.phase is P.QUALIFIED


def test_request_annotation_parsing() -> None:
    assert Request.parse("retry/2026-11-30T19:50:00Z") == Request(
        verb=RequestVerb.RETRY, token="retry/2026-11-30T19:50:00Z"
    )
    assert Request.parse("explode/1") is None
    assert Request.parse(None) is None
    assert Request.parse("retry") is None


def test_with_evidence_required_green_passes_its_oq_before_the_switch() -> None:
    """The OQ Job runs on the new version (its image) from the verified backup on, beside
    the migrations and green's start, and the safe point is sought only once it has
    passed; each phase's entry is timed in the status."""
    run = Run(World(), plan(operational_qualification=True)).until_done()
    assert run.phases == HAPPY
    assert run.world.created[:2] == [(JobKind.BACKUP, "1.1.0", 1), (JobKind.OQ, "1.1.0", 1)]
    assert run.world.jobs[(JobKind.OQ, "1.1.0", 1)] is JobState.SUCCEEDED
    assert run.status is not None
    timeline = run.status.timeline
    assert [m.phase for m in timeline] == HAPPY
    assert [m.at for m in timeline] == sorted(m.at for m in timeline)


def test_no_switch_without_an_oq_result_the_wait_is_bounded() -> None:
    world = World(stuck_jobs={JobKind.OQ})
    run = Run(world, plan(operational_qualification=True)).until_done()
    _rolled_back(run, "NewVersionChecksTimedOut")
    assert P.SAFE_POINT not in run.phases


def test_a_failing_oq_row_rolls_back_before_anything_was_handed_over() -> None:
    failure = "OQ failed: OQ-04 (URS-OQ-04): batch B-1 ended Aborted"
    run = Run(World(oq_failure=failure), plan(operational_qualification=True)).until_done()
    _rolled_back(run, "OperationalQualificationFailed")
    assert run.status is not None
    assert run.status.message == failure
    assert run.world.jobs[(JobKind.OQ, "1.1.0", 1)] is JobState.SUCCEEDED  # kept: evidence
    assert P.SAFE_POINT not in run.phases  # green never owned a batch
    assert [m.phase for m in run.status.timeline][-2:] == [P.ROLLING_BACK, P.ROLLED_BACK]


def test_an_oq_job_that_fails_without_a_report_rolls_back_too() -> None:
    world = World(failing_jobs={JobKind.OQ})
    run = Run(world, plan(operational_qualification=True)).until_done()
    _rolled_back(run, "OperationalQualificationFailed")
    assert run.status is not None
    assert "reported no rows" in (run.status.message or "")


def test_without_evidence_no_oq_job_runs() -> None:
    run = Run(World(), plan()).until_done()
    assert run.phases == HAPPY
    assert not any(kind is JobKind.OQ for kind, _, _ in run.world.jobs)


def test_a_rollback_stops_an_oq_job_that_has_not_finished() -> None:
    world = World(new_never_ready=True, stuck_jobs={JobKind.OQ})
    run = Run(world, plan(operational_qualification=True)).until_done()
    _rolled_back(run, "NewVersionNotReady")
    assert (JobKind.OQ, "1.1.0", 1) in run.world.created  # started with the backup
    assert (JobKind.OQ, "1.1.0", 1) not in run.world.jobs
