"""MESModule status as a pure function of the spec and the live Deployment.

The reconcile observes; this decides what the status says; the caller patches once,
and not at all when nothing changed. The status is built as the typed
:class:`~mes_operator.models.mesmodule.MESModuleStatus` (the model the CRD schema is
generated from) and dumped by alias, so it cannot hold a key the schema lacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mes_operator.builders.context import ModuleContext
from mes_operator.models.mesmodule import MESModuleStatus, Phase, Verdict
from mes_operator.status.conditions import Observation, condition, dump, merge_conditions

READY = "Ready"
PROGRESSING = "Progressing"
DEGRADED = "Degraded"
QUALIFIED = "Qualified"
MIGRATION = "MigrationInProgress"

_KEPT = ("upgrade", "lastEvidence", "pendingEvidence")
"""Status fields owned by later steps (upgrade machine, evidence): carried over as is."""


@dataclass(frozen=True, kw_only=True)
class DeploymentState:
    """What the live Deployment reports (from its status)."""

    generation: int
    observed_generation: int
    replicas: int
    updated_replicas: int
    ready_replicas: int
    available_replicas: int
    pods: int  # status.replicas: every non-terminating Pod, old template included
    deadline_exceeded: bool

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> DeploymentState:
        """Read the state out of a Deployment as the API returns it."""
        status = obj.get("status") or {}
        progressing = condition(status.get("conditions"), "Progressing")
        return cls(
            generation=int(obj.get("metadata", {}).get("generation", 0)),
            observed_generation=int(status.get("observedGeneration", 0)),
            replicas=int(obj.get("spec", {}).get("replicas", 0)),
            updated_replicas=int(status.get("updatedReplicas", 0)),
            ready_replicas=int(status.get("readyReplicas", 0)),
            available_replicas=int(status.get("availableReplicas", 0)),
            pods=int(status.get("replicas", 0)),
            deadline_exceeded=progressing.get("reason") == "ProgressDeadlineExceeded",
        )

    @property
    def rolled_out(self) -> bool:
        """Every wanted Pod runs the current template and is ready (it serves: the Service
        routes to ready Pods), and no Pod of an older template is left.

        Not "available": availability comes ``minReadySeconds`` after readiness. That
        pause paces a rollout (each new Pod stays ready that long before an old one goes),
        but waiting for it here made every module's Ready lag its Pods by a constant 2 s
        (issue #18)."""
        return (
            self.observed_generation >= self.generation
            and self.updated_replicas >= self.replicas
            and self.ready_replicas >= self.replicas
            and self.pods <= self.replicas
        )


def module_status(
    previous: Mapping[str, Any],
    ctx: ModuleContext,
    deployment: DeploymentState,
    *,
    now: str,
) -> dict[str, Any]:
    """The status a reconciled module should have."""
    ready = deployment.rolled_out
    counts = f"{deployment.ready_replicas}/{ctx.spec.replicas} runtime Pods ready"
    observations = [
        Observation(
            type=READY,
            status="True" if ready else "False",
            reason="RuntimeAvailable" if ready else "RuntimeNotReady",
            message=f"{counts} (version {ctx.spec.version})",
        ),
        Observation(
            type=PROGRESSING,
            status="False" if ready else "True",
            reason="RolloutComplete" if ready else "RollingOut",
            message="Deployment is up to date" if ready else f"waiting: {counts}",
        ),
        Observation(
            type=DEGRADED,
            status="True" if deployment.deadline_exceeded else "False",
            reason="ProgressDeadlineExceeded" if deployment.deadline_exceeded else "AsExpected",
            message="the Deployment stopped making progress"
            if deployment.deadline_exceeded
            else "no problem observed",
        ),
        qualified(ctx, previous.get("lastEvidence")),
        Observation(
            type=MIGRATION, status="False", reason="NoMigration", message="no migration running"
        ),
    ]
    if deployment.deadline_exceeded:
        phase = Phase.DEGRADED
    elif ready:
        phase = Phase.READY
    else:
        phase = Phase.PROGRESSING
    current = ctx.spec.version if ready else previous.get("currentVersion")
    status = MESModuleStatus(
        observed_generation=ctx.generation,
        phase=phase,
        conditions=merge_conditions(
            previous.get("conditions"), observations, generation=ctx.generation, now=now
        ),
        current_version=current,
        target_version=ctx.spec.version,
        active_colour=ctx.colour,
        replicas=ctx.spec.replicas,
        ready_replicas=deployment.ready_replicas,
    )
    return {**dump(status), **{key: previous[key] for key in _KEPT if key in previous}}


def qualified(ctx: ModuleContext, evidence: Mapping[str, Any] | None) -> Observation:
    """``Qualified`` from the last evidence (``status.lastEvidence``) and its approvals:
    True only for a package approved by a Part 11 signature (or auto-approved), False for a
    failed or rejected one, Unknown while it awaits evidence for this version or approval."""
    if not ctx.spec.qualification.required:
        return Observation(
            type=QUALIFIED,
            status="True",
            reason="NotRequired",
            message="spec.qualification.required is false",
        )
    if not evidence or evidence.get("version") != ctx.spec.version:
        return Observation(
            type=QUALIFIED,
            status="Unknown",
            reason="AwaitingEvidence",
            message=f"no evidence package for version {ctx.spec.version} yet",
        )
    name = f"qualification/{evidence.get('qualification')}"
    verdict = evidence.get("verdict")
    by = evidence.get("approvedBy")
    if verdict == Verdict.QUALIFIED.value:
        how = f"approved by {by}" if by else "auto-approved"
        return Observation(
            type=QUALIFIED, status="True", reason="Qualified", message=f"{name}: {how}"
        )
    if verdict == Verdict.NOT_QUALIFIED.value:
        why = f"rejected by {by}" if by else "its checks failed"
        return Observation(
            type=QUALIFIED, status="False", reason="NotQualified", message=f"{name}: {why}"
        )
    return Observation(
        type=QUALIFIED,
        status="Unknown",
        reason="AwaitingApproval",
        message=f"{name} is provisional: kubectl mes approve {evidence.get('qualification')} "
        "--meaning approved",
    )


def paused_status(previous: Mapping[str, Any], *, generation: int, now: str) -> dict[str, Any]:
    """The status of a module whose reconciliation is paused by spec.paused."""
    conditions = merge_conditions(
        previous.get("conditions"),
        [
            Observation(
                type=PROGRESSING,
                status="False",
                reason="Paused",
                message="spec.paused is true: the operator leaves the module as it is",
            )
        ],
        generation=generation,
        now=now,
    )
    changed = MESModuleStatus(
        observed_generation=generation, phase=Phase.PAUSED, conditions=conditions
    )
    return {**previous, **dump(changed)}


def invalid_status(
    previous: Mapping[str, Any], *, generation: int, problem: str, now: str
) -> dict[str, Any]:
    """The status of a module whose spec the operator cannot act on."""
    conditions = merge_conditions(
        previous.get("conditions"),
        [
            Observation(type=READY, status="False", reason="InvalidSpec", message=problem),
            Observation(type=DEGRADED, status="True", reason="InvalidSpec", message=problem),
        ],
        generation=generation,
        now=now,
    )
    changed = MESModuleStatus(
        observed_generation=generation, phase=Phase.FAILED, conditions=conditions
    )
    return {**previous, **dump(changed)}
