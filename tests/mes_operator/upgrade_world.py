"""A small, deterministic model of what the upgrade machine acts on, for its tests.

Not a mock of an API: the machine is pure, and this is the world its actions change
(Deployments, Jobs, the runtime's grant, the Service selectors) with the delays the real
one has (a Job finishes, a Deployment becomes ready one tick after it is applied).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from mes_operator.models.mesmodule import Colour, UpgradePhase, UpgradeStatus, UpgradeStrategyType
from mes_operator.upgrade import (
    TERMINAL,
    Action,
    CheckState,
    DeleteColour,
    DeployColour,
    JobKind,
    JobState,
    MoveActiveSelector,
    MovePreviewService,
    Observation,
    OQResult,
    Plan,
    Request,
    RunJob,
    SafePoint,
    SetGrant,
    StopJob,
    UpgradeEvent,
    decide,
)

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def plan(version: str = "1.1.0", **changes: object) -> Plan:
    base = Plan(
        version=version,
        current_version="1.0.0",
        active_colour=Colour.BLUE,
        strategy=UpgradeStrategyType.BLUE_GREEN,
        postgresql=True,
        observe_seconds=300,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@dataclass
class World:
    """Cluster and runtime as the operator would observe them."""

    now: datetime = T0
    tick_seconds: int = 60
    deployments: dict[Colour, str] = field(default_factory=lambda: {Colour.BLUE: "1.0.0"})
    ready_at: dict[Colour, datetime] = field(default_factory=dict)
    jobs: dict[tuple[JobKind, str, int], JobState] = field(default_factory=dict)
    failing_jobs: set[JobKind] = field(default_factory=set)
    stuck_jobs: set[JobKind] = field(default_factory=set)
    """Jobs that never finish."""
    created: list[tuple[JobKind, str, int]] = field(default_factory=list)
    """Every Job ever created, in order (deleted ones included)."""
    backup_problem: str | None = None
    new_never_ready: bool = False
    checks: CheckState = CheckState.PASSED
    oq_failure: str | None = None
    """What the new slot's OQ Job reports failed (None: every row passes)."""
    safe: bool = True
    grant_refused: bool = False
    grant: Colour | None = None
    pending: bool = False
    selector: Colour = Colour.BLUE
    preview: Colour | None = None
    request: Request | None = None
    events: list[UpgradeEvent] = field(default_factory=list)
    drain_ticks: int = 0
    """Ticks a deleted slot's Pods go on draining after its Deployment is gone."""
    draining: dict[Colour, datetime] = field(default_factory=dict)

    def apply(self, actions: tuple[Action, ...]) -> None:
        for action in actions:
            match action:
                case RunJob(kind=kind, version=version, attempt=attempt):
                    if (kind, version, attempt) not in self.jobs:
                        self.created.append((kind, version, attempt))
                    self.jobs.setdefault((kind, version, attempt), JobState.RUNNING)
                case StopJob(kind=kind, version=version, attempt=attempt):
                    if self.jobs.get((kind, version, attempt)) is JobState.RUNNING:
                        del self.jobs[(kind, version, attempt)]
                case DeployColour(colour=colour, version=version):
                    if self.deployments.get(colour) != version:
                        self.deployments[colour] = version
                        self.ready_at[colour] = self.now + timedelta(seconds=self.tick_seconds)
                case MovePreviewService(colour=colour):
                    self.preview = colour
                case SetGrant(colour=colour, upgrade_pending=pending):
                    if not self.grant_refused:
                        self.grant, self.pending = colour, pending
                case MoveActiveSelector(colour=colour):
                    self.selector = colour
                case DeleteColour(colour=colour):
                    if colour in self.deployments and self.drain_ticks:
                        until = self.now + timedelta(seconds=self.tick_seconds * self.drain_ticks)
                        self.draining[colour] = until
                    self.deployments.pop(colour, None)
                    self.ready_at.pop(colour, None)
                    if self.preview is colour:
                        self.preview = None
                case UpgradeEvent():
                    self.events.append(action)

    def tick(self) -> None:
        self.now += timedelta(seconds=self.tick_seconds)
        for key, state in self.jobs.items():
            if state is JobState.RUNNING and key[0] not in self.stuck_jobs:
                failed = key[0] in self.failing_jobs
                self.jobs[key] = JobState.FAILED if failed else JobState.SUCCEEDED

    def observe(self, status: UpgradeStatus | None, active: Colour) -> Observation:
        new = status.colour if status else (Colour.GREEN if active is Colour.BLUE else Colour.BLUE)
        old = Colour.BLUE if new is Colour.GREEN else Colour.GREEN
        version = status.to_version if status else ""
        attempt = status.attempt if status else 1
        jobs = {
            kind.value: self.jobs.get((kind, version, attempt), JobState.ABSENT) for kind in JobKind
        }
        backup_ok = jobs[JobKind.BACKUP] is JobState.SUCCEEDED and self.backup_problem is None
        ready = (
            new in self.deployments
            and not self.new_never_ready
            and self.now >= self.ready_at.get(new, self.now)
        )
        oq = None
        if jobs[JobKind.OQ] in {JobState.SUCCEEDED, JobState.FAILED}:
            failure = self.oq_failure
            if jobs[JobKind.OQ] is JobState.FAILED:
                failure = failure or "OQ failed: OQ-01 (URS-OQ-04): the OQ Job reported no rows"
            oq = OQResult(passed=failure is None, summary=failure or "OQ passed: 9 rows")
        return Observation(
            now=self.now,
            jobs=jobs,
            oq=oq,
            backup_location="s3://backups/batch/1.1.0.dump" if backup_ok else None,
            backup_digest="sha256:" + "ab" * 32 if backup_ok else None,
            backup_problem=self.backup_problem,
            new_ready=ready,
            new_checks=self.checks if ready else CheckState.PENDING,
            new_exists=new in self.deployments,
            old_exists=old in self.deployments or self.now < self.draining.get(old, self.now),
            safe_point=SafePoint(safe=True)
            if self.safe
            else SafePoint(safe=False, batch="B-17", element="transfer-to-harvest"),
            grant=self.grant,
            upgrade_pending=self.pending,
            selector=self.selector,
            request=self.request,
        )


@dataclass
class Run:
    """The operator's loop: observe, decide, act, persist; optionally crash once."""

    world: World
    plan: Plan
    status: UpgradeStatus | None = None
    phases: list[UpgradePhase] = field(default_factory=list)

    def step(self, *, crash: str | None = None) -> None:
        """One reconcile. ``crash``: "before-actions" (nothing done, nothing written) or
        "after-actions" (actions done, the status write lost)."""
        obs = self.world.observe(self.status, self.plan.active_colour)
        decision = decide(self.status, self.plan, obs)
        if crash != "before-actions":
            self.world.apply(decision.actions)
        if crash is None:
            self.status = decision.status
            self.plan = replace(
                self.plan,
                active_colour=decision.active_colour,
                current_version=decision.current_version,
            )
            if self.status and (not self.phases or self.phases[-1] is not self.status.phase):
                self.phases.append(self.status.phase)
        self.world.tick()

    def until_done(
        self,
        *,
        crash_in: UpgradePhase | None = None,
        crash_at: int | None = None,
        mode: str = "after-actions",
        limit: int = 60,
    ) -> Run:
        """Reconcile until a terminal phase; crash once, at the first step in ``crash_in``
        or at step number ``crash_at``."""
        crashed = False
        for index in range(limit):
            here = self.status.phase if self.status else None
            due = (crash_in is not None and here is crash_in) or index == crash_at
            if due and not crashed:
                crashed = True
                self.step(crash=mode)
            else:
                self.step()
            if self.status is not None and self.status.phase in TERMINAL:
                self.step()  # one more: terminal is stable
                return self
        return self

    def end_state(self) -> tuple[object, ...]:
        assert self.status is not None
        w = self.world
        return (
            self.status.phase,
            self.status.cause,
            self.status.attempt,
            self.plan.current_version,
            self.plan.active_colour,
            dict(w.deployments),
            w.grant,
            w.pending,
            w.selector,
            sorted((k.value, v, a, s.value) for (k, v, a), s in w.jobs.items()),
        )
