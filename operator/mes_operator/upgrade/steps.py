"""One step of each upgrade phase: its actions and, when the world shows it done, the move.

Each phase is a small function of :class:`Step` (the persisted status, the plan, the
observation) that returns the next status and the actions. A phase advances only on what
it observes (a Job succeeded, the grant and the selector moved), never on what the
operator believes it did, so re-running a step after a crash is harmless.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from mes_operator.models.mesmodule import (
    TIMELINE_LENGTH,
    Colour,
    PhaseMark,
    UpgradePhase,
    UpgradeStatus,
)
from mes_operator.upgrade.actions import (
    Action,
    DeleteColour,
    DeployColour,
    EventType,
    JobKind,
    MoveActiveSelector,
    MovePreviewService,
    RunJob,
    SetGrant,
    StopJob,
    UpgradeEvent,
)
from mes_operator.upgrade.observation import CheckState, JobState, Observation, Plan

__all__ = ["CONTRACT_FAILED", "Outcome", "Step", "fail", "move", "other", "stamp", "step"]

P = UpgradePhase
CONTRACT_FAILED = "ContractMigrationFailed"
Outcome = tuple[UpgradeStatus, list[Action]]


def other(colour: Colour) -> Colour:
    """The other slot."""
    return Colour.GREEN if colour is Colour.BLUE else Colour.BLUE


def stamp(now: datetime) -> str:
    """RFC 3339, UTC, second precision: how the status stores times."""
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def move(
    status: UpgradeStatus, phase: UpgradePhase, obs: Observation, **changes: object
) -> UpgradeStatus:
    """The status in ``phase`` from now on (the phase's entry added to its timeline)."""
    at = stamp(obs.now)
    timeline = [*status.timeline, PhaseMark(phase=phase, at=at)][-TIMELINE_LENGTH:]
    update: dict[str, object] = {
        "phase": phase,
        "phase_started_at": at,
        "message": None,
        "timeline": timeline,
    }
    return status.model_copy(update=update | changes)


def fail(status: UpgradeStatus, plan: Plan, obs: Observation, cause: str, message: str) -> Outcome:
    """A failure before the contract: roll back (or stop, with autoRollback off)."""
    phase = P.ROLLING_BACK if plan.auto_rollback else P.FAILED
    event = UpgradeEvent(
        reason=cause,
        message=f"upgrade to {status.to_version} failed at {status.phase.value}: {message}"
        + ("; rolling back" if plan.auto_rollback else ""),
        type=EventType.WARNING,
    )
    return move(status, phase, obs, cause=cause, message=message), [event]


@dataclass(frozen=True, kw_only=True)
class Step:
    """What one step decides from."""

    status: UpgradeStatus
    plan: Plan
    obs: Observation

    @property
    def new(self) -> Colour:
        return self.status.colour

    @property
    def old(self) -> Colour:
        return other(self.status.colour)

    @property
    def version(self) -> str:
        return self.status.to_version

    @property
    def elapsed(self) -> float:
        """Seconds spent in the current phase (persisted start, so a crash does not reset it)."""
        started = self.status.phase_started_at or self.status.started_at
        since = datetime.fromisoformat(started.replace("Z", "+00:00"))
        return (self.obs.now - since).total_seconds()

    def to(self, phase: UpgradePhase, **changes: object) -> UpgradeStatus:
        return move(self.status, phase, self.obs, **changes)

    def fail(self, cause: str, message: str) -> Outcome:
        return fail(self.status, self.plan, self.obs, cause, message)

    def new_slot(self) -> list[Action]:
        """The new slot and its preview, ensured in every phase from DeployGreen to Observe."""
        return [
            DeployColour(colour=self.new, version=self.version),
            MovePreviewService(colour=self.new),
        ]

    def oq_job(self) -> list[Action]:
        """The new version's OQ Job, where the plan asks for OQ: ensured from the verified
        backup on. It needs nothing of the plant's (its own scratch installation), so its
        minute or so runs beside the backup, the expand and green's start."""
        if not self.plan.operational_qualification:
            return []
        return [RunJob(kind=JobKind.OQ, version=self.version, attempt=self.status.attempt)]

    def switched(self) -> list[Action]:
        return [
            *self.new_slot(),
            MoveActiveSelector(colour=self.new),
            SetGrant(colour=self.new, upgrade_pending=False, reason=f"switched to {self.version}"),
        ]


def _preflight(s: Step) -> Outcome:
    if not s.plan.postgresql:
        return s.fail(
            "BlueGreenNeedsPostgreSQL",
            "two versions side by side need a shared PostgreSQL database",
        )
    return s.to(P.VERIFIED_BACKUP), []


def _backup(s: Step) -> Outcome:
    obs, job = s.obs, s.obs.job(JobKind.BACKUP)
    run: list[Action] = [
        RunJob(kind=JobKind.BACKUP, version=s.version, attempt=s.status.attempt),
        *s.oq_job(),
    ]
    if job is JobState.FAILED or (job is JobState.SUCCEEDED and obs.backup_problem):
        return s.fail("BackupNotVerified", obs.backup_problem or "backup Job failed")
    if job is JobState.SUCCEEDED and obs.backup_location and obs.backup_digest:
        done = UpgradeEvent(
            reason="BackupVerified", message=f"{obs.backup_location} {obs.backup_digest}"
        )
        verified = s.to(
            P.EXPAND_MIGRATION, backup_location=obs.backup_location, backup_digest=obs.backup_digest
        )
        return verified, [*run, done]
    return s.status, run


def _expand(s: Step) -> Outcome:
    run: list[Action] = [
        RunJob(kind=JobKind.EXPAND, version=s.version, attempt=s.status.attempt),
        *s.oq_job(),
    ]
    job = s.obs.job(JobKind.EXPAND)
    if job is JobState.SUCCEEDED:
        return s.to(P.DEPLOY_GREEN), run
    if job is JobState.FAILED:
        return s.fail("ExpandMigrationFailed", "the expand migration Job failed")
    return s.status, run


def _deploy(s: Step) -> Outcome:
    # the old slot holds the grant before the new one starts, so it never owns a batch
    grant = SetGrant(
        colour=s.old, upgrade_pending=False, reason=f"{s.new.value} starting; owns no batches"
    )
    granted = s.obs.grant is s.old
    started = [*s.new_slot(), *s.oq_job()]
    if granted and s.obs.new_ready:
        return s.to(P.OPERATIONAL_QUALIFICATION), [grant, *started]
    limit = s.plan.timeouts.green_ready
    if s.elapsed > limit:
        cause = "NewVersionNotReady" if granted else "GrantNotTaken"
        why = f"{s.new.value} not ready" if granted else f"the runtime did not grant {s.old.value}"
        return s.fail(cause, s.obs.new_problem or f"{why} within {limit}s")
    return s.status, [grant, *started] if granted else [grant]


def _checks(s: Step) -> Outcome:
    """Green's readiness and, where evidence is required, its OQ Job (the new version's
    image, a scratch installation): every row passed, or the upgrade fails here and rolls
    back, naming the failing rows (before the switch, so nothing was handed over)."""
    actions: list[Action] = [*s.new_slot(), *s.oq_job()]
    if s.plan.operational_qualification:
        oq = s.obs.oq
        if oq is not None and not oq.passed:
            return s.fail("OperationalQualificationFailed", oq.summary)
        passed = oq is not None and s.obs.new_checks is CheckState.PASSED
    else:
        passed = s.obs.new_checks is CheckState.PASSED
    if passed:
        return s.to(P.SAFE_POINT), actions
    if s.elapsed > s.plan.timeouts.checks:
        what = "the OQ Job did not finish" if s.plan.operational_qualification else "no checks"
        return s.fail("NewVersionChecksTimedOut", f"{what} within {s.plan.timeouts.checks}s")
    return s.status, actions


def _safe_point(s: Step) -> Outcome:
    obs, limit = s.obs, s.plan.timeouts.safe_point
    pending = SetGrant(colour=s.old, upgrade_pending=True, reason=f"upgrade to {s.version} pending")
    if obs.grant is s.old and obs.upgrade_pending and obs.safe_point.safe:
        return s.to(P.SWITCH), [*s.new_slot(), pending]
    if s.elapsed <= limit:
        return s.status, [*s.new_slot(), pending]
    # held, and the plant released: the runtime may start non-interruptible phases again
    blocking = f"batch {obs.safe_point.batch} phase {obs.safe_point.element} is not interruptible"
    release = SetGrant(
        colour=s.old, upgrade_pending=False, reason="upgrade held: safe-point timeout"
    )
    held = UpgradeEvent(
        reason="SafePointTimeout",
        type=EventType.WARNING,
        message=f"no safe point within {limit}s: {blocking}; held",
    )
    update = {"held": True, "cause": "SafePointTimeout", "message": blocking}
    return s.status.model_copy(update=update), [*s.new_slot(), release, held]


def _switch(s: Step) -> Outcome:
    if s.obs.selector is s.new and s.obs.grant is s.new:
        done = UpgradeEvent(
            reason="Switched", message=f"{s.new.value} ({s.version}) serves and owns batches"
        )
        return s.to(P.OBSERVE), [*s.switched(), done]
    return s.status, s.switched()


def _observe(s: Step) -> Outcome:
    if s.elapsed >= s.plan.observe_seconds:
        return s.to(P.RETIRE_BLUE), s.switched()
    return s.status, s.switched()


def _retire(s: Step) -> Outcome:
    """The old slot goes before the contract: its Pods drain (answering the requests on the
    keep-alive connections they still hold since the switch) and exit, so no process of
    the old version is left to write the columns the contract drops."""
    retire: list[Action] = [*s.switched(), DeleteColour(colour=s.old)]
    if not s.obs.old_exists:
        gone = UpgradeEvent(reason="OldVersionRetired", message=f"{s.old.value} has exited")
        return s.to(P.CONTRACT_MIGRATION), [*retire, gone]
    return s.status, retire


def _contract(s: Step) -> Outcome:
    run: list[Action] = [RunJob(kind=JobKind.CONTRACT, version=s.version, attempt=s.status.attempt)]
    job = s.obs.job(JobKind.CONTRACT)
    if job is JobState.SUCCEEDED:
        done = UpgradeEvent(reason="UpgradeDone", message=f"{s.version} serves from {s.new.value}")
        return s.to(P.QUALIFIED), [*run, done]
    if job is JobState.FAILED:
        failed = UpgradeEvent(
            reason=CONTRACT_FAILED,
            type=EventType.WARNING,
            message=f"the contract migration to {s.version} failed; no automatic rollback after "
            f"contract: retry, or restore the verified backup {s.status.backup_location}",
        )
        return s.to(P.FAILED, cause=CONTRACT_FAILED, message="contract migration Job failed"), [
            failed
        ]
    return s.status, run


def _rolling_back(s: Step) -> Outcome:
    obs, old = s.obs, s.old
    back: list[Action] = [
        SetGrant(colour=old, upgrade_pending=False, reason=f"rolled back: {s.status.cause}"),
        MoveActiveSelector(colour=old),
        DeleteColour(colour=s.new),
    ]
    if s.plan.operational_qualification:  # an unfinished OQ run has nothing left to decide
        back.append(StopJob(kind=JobKind.OQ, version=s.version, attempt=s.status.attempt))
    if obs.grant in {old, None} and obs.selector in {old, None} and not obs.new_exists:
        done = UpgradeEvent(
            reason="RolledBack",
            type=EventType.WARNING,
            message=f"back on {s.status.from_version} in {old.value}: {s.status.cause}",
        )
        return s.to(P.ROLLED_BACK, message=s.status.message), [*back, done]
    return s.status, back


_PHASES: dict[UpgradePhase, Callable[[Step], Outcome]] = {
    P.PREFLIGHT: _preflight,
    P.VERIFIED_BACKUP: _backup,
    P.EXPAND_MIGRATION: _expand,
    P.DEPLOY_GREEN: _deploy,
    P.OPERATIONAL_QUALIFICATION: _checks,
    P.SAFE_POINT: _safe_point,
    P.SWITCH: _switch,
    P.OBSERVE: _observe,
    P.CONTRACT_MIGRATION: _contract,
    P.RETIRE_BLUE: _retire,
    P.ROLLING_BACK: _rolling_back,
}
_WATCHED = frozenset({P.OPERATIONAL_QUALIFICATION, P.SAFE_POINT, P.SWITCH, P.OBSERVE})
"""Phases in which the new slot runs and must stay ready and pass its checks."""


def step(status: UpgradeStatus, plan: Plan, obs: Observation) -> Outcome:
    """One phase's actions and, when the world shows it done, the move to the next."""
    s = Step(status=status, plan=plan, obs=obs)
    if status.phase in _WATCHED and (not obs.new_ready or obs.new_checks is CheckState.FAILED):
        cause = "NewVersionChecksFailed" if obs.new_ready else "NewVersionNotReady"
        return s.fail(cause, obs.new_problem or f"{s.new.value} failing")
    phase = _PHASES.get(status.phase)
    return phase(s) if phase else (status, [])  # terminal phases do nothing
