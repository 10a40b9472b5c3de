"""Carry out a decision's actions: each an idempotent *ensure* against the cluster or the
runtime, in the order the machine gave them.

Jobs are created once and left alone (a Job's template is immutable; a retry is a new
attempt, so a new name); Deployments, the preview Service and the module's Service are
server-side applied (``kube/apply.ensure``); a slot is deleted only if this module owns
it; the grant is a ``PUT /api/v1/upgrade/owner``. Any failure raises before the status is
written, so the next step re-decides from the last persisted status.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from lightkube import ApiError, AsyncClient
from lightkube.types import CascadeType

from mes_operator.builders.context import ModuleContext, deployment_name
from mes_operator.builders.service import build_service
from mes_operator.builders.upgrade import (
    build_new_slot,
    build_preview_service,
    preview_service_name,
    slot_config_map_name,
)
from mes_operator.kube.apply import delete_owned, ensure, get_dict, is_not_found
from mes_operator.kube.resources import CHILD_RESOURCES
from mes_operator.models.mesmodule import UpgradeStatus
from mes_operator.upgrade.actions import (
    Action,
    DeleteColour,
    DeployColour,
    MoveActiveSelector,
    MovePreviewService,
    RunJob,
    SetGrant,
    StopJob,
    UpgradeEvent,
)
from mes_operator.upgrade.jobs import upgrade_job
from mes_operator.upgrade.observation import JobState, Observation
from mes_operator.upgrade.read import job_state
from mes_operator.upgrade.runtime import Runtime

__all__ = ["execute"]


async def _run_job(
    client: AsyncClient, ctx: ModuleContext, action: RunJob, upgrade: UpgradeStatus
) -> None:
    if (upgrade.attempt, upgrade.to_version) != (action.attempt, action.version):
        raise ValueError(f"{action} does not belong to the upgrade {upgrade}")
    job = upgrade_job(ctx, action.kind, upgrade)
    if await get_dict(client, "Job", job["metadata"]["name"], ctx.namespace) is None:
        await ensure(client, job, existed_before=False)


async def _stop_job(
    client: AsyncClient, ctx: ModuleContext, action: StopJob, upgrade: UpgradeStatus
) -> None:
    if (upgrade.attempt, upgrade.to_version) != (action.attempt, action.version):
        raise ValueError(f"{action} does not belong to the upgrade {upgrade}")
    name = upgrade_job(ctx, action.kind, upgrade)["metadata"]["name"]
    if job_state(await get_dict(client, "Job", name, ctx.namespace)) is not JobState.RUNNING:
        return  # absent, or finished: its log stays the attempt's evidence
    try:  # a Job's Pods are orphaned by default: delete them with it
        job = CHILD_RESOURCES["Job"]
        await client.delete(job, name, namespace=ctx.namespace, cascade=CascadeType.BACKGROUND)
    except ApiError as exc:
        if not is_not_found(exc):
            raise


async def _delete_colour(client: AsyncClient, ctx: ModuleContext, action: DeleteColour) -> None:
    for kind, name in (
        ("Deployment", deployment_name(ctx, action.colour)),
        ("ConfigMap", slot_config_map_name(ctx, action.colour)),
        ("Service", preview_service_name(ctx)),
    ):
        await delete_owned(client, kind, name, ctx.namespace, owner_uid=ctx.uid)


async def execute(
    client: AsyncClient,
    runtime: Runtime,
    ctx: ModuleContext,
    upgrade: UpgradeStatus | None,
    actions: tuple[Action, ...],
    *,
    seen: Observation,
    emit: Callable[[UpgradeEvent], None],
) -> None:
    """Apply ``actions`` (decided for ``upgrade``, the status about to be persisted, from
    ``seen``: a grant already as wanted is not written again, since each write is
    journalled by the runtime)."""
    for action in actions:
        match action:
            case RunJob():
                if upgrade is None:
                    raise ValueError("a Job without an upgrade")
                await _run_job(client, ctx, action, upgrade)
            case DeployColour(colour=colour, version=version):
                for manifest in build_new_slot(ctx, colour, version):
                    await ensure(client, manifest, existed_before=True)
            case MovePreviewService(colour=colour):
                await ensure(client, build_preview_service(ctx, colour), existed_before=True)
            case MoveActiveSelector(colour=colour):
                service = build_service(replace(ctx, colour=colour))
                await ensure(client, service, existed_before=True)
            case SetGrant(colour=colour, upgrade_pending=pending, reason=reason):
                if (seen.grant, seen.upgrade_pending) == (colour, pending):
                    continue
                body = {"colour": colour.value, "upgrade_pending": pending, "reason": reason}
                await runtime.call(client, ctx, "PUT", "/api/v1/upgrade/owner", body)
            case StopJob():
                if upgrade is None:
                    raise ValueError("a Job without an upgrade")
                await _stop_job(client, ctx, action, upgrade)
            case DeleteColour():
                await _delete_colour(client, ctx, action)
            case UpgradeEvent():
                emit(action)
