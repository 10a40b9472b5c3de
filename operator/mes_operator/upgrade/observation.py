"""What the upgrade machine is told: the module's wish and what the operator observed.

Both are plain frozen data, gathered by the operator before each decision (the cluster,
the runtime's safe-point and grant endpoints, the Jobs), so the machine stays pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from mes_operator.models.mesmodule import (
    CHECKS_TIMEOUT_SECONDS,
    GREEN_READY_TIMEOUT_SECONDS,
    SAFE_POINT_TIMEOUT_SECONDS,
    Colour,
    UpgradeStrategy,
    UpgradeStrategyType,
)

__all__ = [
    "CheckState",
    "JobState",
    "OQResult",
    "Observation",
    "Plan",
    "Request",
    "RequestVerb",
    "SafePoint",
    "Timeouts",
]


class JobState(StrEnum):
    """A Job as observed: not there yet, running, or finished either way."""

    ABSENT = "Absent"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class CheckState(StrEnum):
    """The new slot's checks (readiness, then OQ): still running, passed or failed."""

    PENDING = "Pending"
    PASSED = "Passed"
    FAILED = "Failed"


class RequestVerb(StrEnum):
    """What ``kubectl mes upgrade retry|resume`` and ``kubectl mes rollback`` ask for."""

    RETRY = "retry"
    RESUME = "resume"
    ROLLBACK = "rollback"


REQUEST_ANNOTATION = "mes.holon.dev/upgrade-request"
"""Annotation holding ``<verb>/<unique token>``; each distinct value is acted on once."""


@dataclass(frozen=True, kw_only=True)
class Request:
    """One user request, as read from :data:`REQUEST_ANNOTATION`."""

    verb: RequestVerb
    token: str

    @classmethod
    def parse(cls, value: str | None) -> Request | None:
        """``retry/2026-11-30T19:50:00Z`` → a request; anything else → None."""
        if not value or "/" not in value:
            return None
        verb, _, _ = value.partition("/")
        try:
            return cls(verb=RequestVerb(verb), token=value)
        except ValueError:
            return None


@dataclass(frozen=True, kw_only=True)
class Timeouts:
    """How long each waiting step may take (seconds): ``spec.upgradeStrategy``'s
    ``*TimeoutSeconds`` (:meth:`from_strategy`), the CRD's defaults when not given."""

    green_ready: int = GREEN_READY_TIMEOUT_SECONDS
    checks: int = CHECKS_TIMEOUT_SECONDS
    safe_point: int = SAFE_POINT_TIMEOUT_SECONDS

    @classmethod
    def from_strategy(cls, strategy: UpgradeStrategy) -> Timeouts:
        """The timeouts a module's upgrade strategy sets."""
        return cls(
            green_ready=strategy.green_ready_timeout_seconds,
            checks=strategy.checks_timeout_seconds,
            safe_point=strategy.safe_point_timeout_seconds,
        )


@dataclass(frozen=True, kw_only=True)
class Plan:
    """What the MESModule asks for, as far as upgrades are concerned."""

    version: str
    current_version: str | None
    active_colour: Colour
    strategy: UpgradeStrategyType
    postgresql: bool
    paused: bool = False
    observe_seconds: int = 300
    auto_rollback: bool = True
    timeouts: Timeouts = field(default_factory=Timeouts)
    operational_qualification: bool = False
    """Run the OQ Job on the new slot's image before the switch (``spec.qualification``
    requires evidence and the operator captures it); else the checks are its readiness."""


@dataclass(frozen=True, kw_only=True)
class SafePoint:
    """``GET /api/v1/upgrade/safe-point``: may batches be handed over now, else who blocks."""

    safe: bool
    batch: str | None = None
    element: str | None = None


@dataclass(frozen=True, kw_only=True)
class OQResult:
    """A finished OQ Job's rows, judged: all passed, or which failed and why."""

    passed: bool
    summary: str


@dataclass(frozen=True, kw_only=True)
class Observation:
    """The world as the operator saw it just before this decision."""

    now: datetime
    jobs: dict[str, JobState] = field(default_factory=dict)
    """Job state by :class:`~mes_operator.upgrade.actions.JobKind` value."""
    backup_location: str | None = None
    backup_digest: str | None = None
    backup_problem: str | None = None
    """Why the backup is not verified (store unreachable, restore mismatch), if it is not."""
    new_ready: bool = False
    """The new slot's Deployment has all its replicas ready on the target version."""
    new_checks: CheckState = CheckState.PENDING
    oq: OQResult | None = None
    """The OQ Job's result, once it has finished (read in OperationalQualification only)."""
    new_problem: str | None = None
    new_exists: bool = False
    old_exists: bool = True
    """The old slot's Deployment exists (in RetireBlue: or any of its Pods still drains)."""
    safe_point: SafePoint = field(default_factory=lambda: SafePoint(safe=False))
    grant: Colour | None = None
    upgrade_pending: bool = False
    selector: Colour | None = None
    request: Request | None = None

    def job(self, kind: str) -> JobState:
        """One Job's state (absent when not observed)."""
        return self.jobs.get(kind, JobState.ABSENT)
