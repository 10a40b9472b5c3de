"""What the upgrade machine asks the operator to do: typed, each one idempotent.

Every action is a *desired state*, never a delta: applying it twice (the operator crashed
after doing it and before recording the step) changes nothing the second time. Job names
are derived from the module, the kind and the target version, so a re-run finds the Job
it created instead of starting another.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mes_operator.models.mesmodule import Colour

__all__ = [
    "Action",
    "DeleteColour",
    "DeployColour",
    "EventType",
    "JobKind",
    "MoveActiveSelector",
    "MovePreviewService",
    "RunJob",
    "SetGrant",
    "StopJob",
    "UpgradeEvent",
]


class JobKind(StrEnum):
    """The Jobs an upgrade runs, in the order it runs them."""

    BACKUP = "backup"
    EXPAND = "expand"
    OQ = "oq"
    CONTRACT = "contract"


class EventType(StrEnum):
    """Kubernetes Event types."""

    NORMAL = "Normal"
    WARNING = "Warning"


@dataclass(frozen=True, kw_only=True)
class RunJob:
    """Ensure the Job of ``kind`` for ``version`` and ``attempt`` exists (created once,
    never restarted: a retry is a new attempt, so a new Job)."""

    kind: JobKind
    version: str
    attempt: int


@dataclass(frozen=True, kw_only=True)
class StopJob:
    """Ensure the Job of ``kind`` for ``version`` and ``attempt`` is not running: deleted
    with its Pods if it has not finished (a rollback's OQ Job, whose result can no longer
    matter); a finished Job stays, its log being the attempt's evidence."""

    kind: JobKind
    version: str
    attempt: int


@dataclass(frozen=True, kw_only=True)
class DeployColour:
    """Ensure ``colour``'s Deployment runs ``version`` (the new slot: green in DESIGN §5)."""

    colour: Colour
    version: str


@dataclass(frozen=True, kw_only=True)
class MovePreviewService:
    """Ensure the preview Service selects ``colour`` (the slot under test)."""

    colour: Colour


@dataclass(frozen=True, kw_only=True)
class SetGrant:
    """Ensure the runtime's batch-ownership grant (``PUT /api/v1/upgrade/owner``)."""

    colour: Colour
    upgrade_pending: bool
    reason: str


@dataclass(frozen=True, kw_only=True)
class MoveActiveSelector:
    """Ensure the module's Service selects ``colour``."""

    colour: Colour


@dataclass(frozen=True, kw_only=True)
class DeleteColour:
    """Ensure ``colour``'s Deployment (and the preview Service) are gone."""

    colour: Colour


@dataclass(frozen=True, kw_only=True)
class UpgradeEvent:
    """A Kubernetes Event on the MESModule. Not idempotent on the wire (a crash may repeat
    one), which Events tolerate: the API server counts repeats of the same reason."""

    reason: str
    message: str
    type: EventType = EventType.NORMAL


Action = (
    RunJob
    | StopJob
    | DeployColour
    | MovePreviewService
    | SetGrant
    | MoveActiveSelector
    | DeleteColour
    | UpgradeEvent
)
