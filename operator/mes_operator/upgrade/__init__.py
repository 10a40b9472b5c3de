"""The zero-downtime upgrade (DESIGN §5): a pure state machine and its typed actions.

``decide(status, plan, observation) -> Decision``; the operator gathers the observation,
carries out the actions (each an idempotent ensure) and persists the new status.
"""

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
from mes_operator.upgrade.machine import ROLLBACKABLE, TERMINAL, Decision, decide, other
from mes_operator.upgrade.observation import (
    REQUEST_ANNOTATION,
    CheckState,
    JobState,
    Observation,
    OQResult,
    Plan,
    Request,
    RequestVerb,
    SafePoint,
    Timeouts,
)

__all__ = [
    "REQUEST_ANNOTATION",
    "ROLLBACKABLE",
    "TERMINAL",
    "Action",
    "CheckState",
    "Decision",
    "DeleteColour",
    "DeployColour",
    "EventType",
    "JobKind",
    "JobState",
    "MoveActiveSelector",
    "MovePreviewService",
    "OQResult",
    "Observation",
    "Plan",
    "Request",
    "RequestVerb",
    "RunJob",
    "SafePoint",
    "SetGrant",
    "StopJob",
    "Timeouts",
    "UpgradeEvent",
    "decide",
    "other",
]
