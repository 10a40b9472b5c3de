"""Gather the machine's :class:`~.observation.Observation`: the I/O half of a decision.

Reads by name only (the upgrade's Jobs, both slots' Deployments, the module's Service),
lists Pods only by their Job's ``job-name`` label (the backup's result is its Pod's
termination message), and asks the runtime for the safe point and the batch-ownership
grant through the module's Service (:mod:`.runtime`). The pure readers in :mod:`.read`
turn every answer into the observation's parts.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from lightkube import ApiError, AsyncClient

from mes_operator.builders.context import (
    COLOUR_LABEL,
    ModuleContext,
    colour_selector_labels,
    deployment_name,
)
from mes_operator.evidence.iq import load_requirements
from mes_operator.evidence.oq import judge, oq_rows
from mes_operator.kube.apply import get_dict
from mes_operator.kube.resources import Pod
from mes_operator.models.mesmodule import Colour, UpgradePhase, UpgradeStatus
from mes_operator.upgrade.actions import JobKind
from mes_operator.upgrade.jobs import upgrade_job
from mes_operator.upgrade.machine import TERMINAL, other
from mes_operator.upgrade.observation import (
    CheckState,
    JobState,
    Observation,
    OQResult,
    Request,
    SafePoint,
)
from mes_operator.upgrade.read import (
    backup_result,
    grant,
    job_state,
    safe_point,
    slot_ready,
    termination,
)
from mes_operator.upgrade.runtime import Runtime, RuntimeUnavailableError
from mes_operator.upgrade.steps import stamp

__all__ = ["finished_pod", "job_log", "observe", "selector_colour"]

log = logging.getLogger(__name__)
P = UpgradePhase
_ASKS_RUNTIME = frozenset(
    {
        P.DEPLOY_GREEN,
        P.OPERATIONAL_QUALIFICATION,
        P.SAFE_POINT,
        P.SWITCH,
        P.OBSERVE,
        P.RETIRE_BLUE,
        P.CONTRACT_MIGRATION,
        P.ROLLING_BACK,
    }
)
"""Phases whose decision depends on the runtime's grant or safe point, or that ensure the
grant (a grant already as wanted is not written again: each write is journalled)."""
_FINISHED = frozenset({JobState.SUCCEEDED, JobState.FAILED})


def selector_colour(service: dict[str, Any] | None) -> Colour | None:
    """The colour a Service selects, if any."""
    value = (((service or {}).get("spec") or {}).get("selector") or {}).get(COLOUR_LABEL)
    return Colour(value) if value in {c.value for c in Colour} else None


def _problem(deployment: dict[str, Any] | None) -> str | None:
    """Why a Deployment is not progressing, in its own words (ProgressDeadlineExceeded)."""
    for cond in ((deployment or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("status") == "False":
            return str(cond.get("message") or cond.get("reason"))
    return None


async def finished_pod(client: AsyncClient, namespace: str, job: str) -> dict[str, Any] | None:
    """A Job's last finished Pod (its termination message: the backup's result, or why a
    migration failed)."""
    pods = [
        dict(p.to_dict())
        async for p in client.list(Pod, namespace=namespace, labels={"job-name": job})
    ]
    done = [p for p in pods if (p.get("status") or {}).get("phase") in {"Succeeded", "Failed"}]
    done.sort(key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp") or ""))
    return done[-1] if done else None


async def job_log(
    client: AsyncClient, namespace: str, job: str, *, tail_lines: int = 20
) -> tuple[str, str]:
    """A finished Job's last Pod's log tail and how that Pod ended (``termination``); the
    log says why it could not be read, if it could not."""
    pod = await finished_pod(client, namespace, job)
    log = ""
    if pod is not None:
        try:
            lines = client.log(pod["metadata"]["name"], namespace=namespace, tail_lines=tail_lines)
            log = "".join([line async for line in lines])
        except ApiError as exc:
            log = f"(its log could not be read: {exc.status.message})"
    return log, termination(pod)


async def _oq_result(
    client: AsyncClient, ctx: ModuleContext, upgrade: UpgradeStatus, state: JobState
) -> OQResult | None:
    """The new slot's OQ Job's rows, judged, once it has finished."""
    if upgrade.phase is not P.OPERATIONAL_QUALIFICATION or state not in _FINISHED:
        return None
    name = upgrade_job(ctx, JobKind.OQ, upgrade)["metadata"]["name"]
    log, ended = await job_log(client, ctx.namespace, name)
    known = {r.id for r in load_requirements()}
    rows, _ = oq_rows(log, ended=ended, known=known, at=stamp(datetime.now(UTC)))
    passed, summary = judge(rows)
    return OQResult(passed=passed, summary=summary)


async def _slot_running(
    client: AsyncClient, ctx: ModuleContext, colour: Colour, deployment: dict[str, Any] | None
) -> bool:
    """Whether a slot still runs: its Deployment, or any of its Pods (a deleted slot's Pods
    drain for seconds after the Deployment is gone, and still answer the requests on the
    connections they hold)."""
    if deployment is not None:
        return True
    labels: dict[str, Any] = dict(colour_selector_labels(ctx, colour))
    async for _ in client.list(Pod, namespace=ctx.namespace, labels=labels):
        return True
    return False


async def _jobs(
    client: AsyncClient, ctx: ModuleContext, upgrade: UpgradeStatus
) -> tuple[dict[str, JobState], dict[str, Any] | None]:
    states: dict[str, JobState] = {}
    backup_pod = None
    for kind in JobKind:
        name = upgrade_job(ctx, kind, upgrade)["metadata"]["name"]
        state = job_state(await get_dict(client, "Job", name, ctx.namespace))
        states[kind.value] = state
        if kind is JobKind.BACKUP and state in {JobState.SUCCEEDED, JobState.FAILED}:
            backup_pod = await finished_pod(client, ctx.namespace, name)
    return states, backup_pod


async def observe(
    client: AsyncClient,
    runtime: Runtime,
    ctx: ModuleContext,
    upgrade: UpgradeStatus | None,
    *,
    now: datetime,
    request: Request | None,
) -> Observation:
    """What the machine needs to decide the next step of ``upgrade`` (the persisted one)."""
    service = await get_dict(client, "Service", ctx.name, ctx.namespace)
    selector = selector_colour(service)
    if upgrade is None or upgrade.phase in TERMINAL:
        # the only decision possible is whether to start: nothing else is looked at
        return Observation(now=now, request=request, selector=selector)
    new, old = upgrade.colour, other(upgrade.colour)
    jobs, backup_pod = await _jobs(client, ctx, upgrade)
    finished = jobs[JobKind.BACKUP.value] in {JobState.SUCCEEDED, JobState.FAILED}
    backup = backup_result(backup_pod) if finished else None
    new_dep = await get_dict(client, "Deployment", deployment_name(ctx, new), ctx.namespace)
    old_dep = await get_dict(client, "Deployment", deployment_name(ctx, old), ctx.namespace)
    ready = slot_ready(new_dep, upgrade.to_version)
    colour: Colour | None = None
    pending, point = False, SafePoint(safe=False)
    if upgrade.phase in _ASKS_RUNTIME:
        try:
            colour, pending = grant(await runtime.call(client, ctx, "GET", "/api/v1/upgrade/owner"))
            point = safe_point(await runtime.call(client, ctx, "GET", "/api/v1/upgrade/safe-point"))
        except RuntimeUnavailableError as exc:
            # an unknown grant is no grant and no safe point: the step waits (and times
            # out); a rollback's hand-back is a PUT, which fails too and stops the step
            log.warning("upgrade of %s/%s: %s", ctx.namespace, ctx.name, exc)
    oq = await _oq_result(client, ctx, upgrade, jobs[JobKind.OQ.value])
    return Observation(
        now=now,
        request=request,
        jobs=jobs,
        oq=oq,
        backup_location=backup.location if backup else None,
        backup_digest=backup.digest if backup else None,
        backup_problem=backup.problem if backup else None,
        new_ready=ready,
        # the new slot's checks: its readiness (its OQ Job is judged apart, ``oq``)
        new_checks=CheckState.PASSED if ready else CheckState.PENDING,
        new_problem=_problem(new_dep),
        new_exists=new_dep is not None,
        old_exists=await _slot_running(client, ctx, old, old_dep)
        if upgrade.phase is P.RETIRE_BLUE
        else old_dep is not None,
        safe_point=point,
        grant=colour,
        upgrade_pending=pending,
        selector=selector,
    )
