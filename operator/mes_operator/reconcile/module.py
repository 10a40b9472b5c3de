"""Reconcile one MESModule: small named steps that return early.

Level-based and idempotent: every call compares the world with the spec and fixes the
difference, so the same function serves create, update, resume, the drift timer and a
child's change. The status is computed by a pure function and patched once, only when
it changed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from lightkube import ApiError, AsyncClient
from pydantic import ValidationError

from mes_operator.builders import ModuleContext, build_children, deployment_name
from mes_operator.builders.configmap import left_out_settings
from mes_operator.builders.upgrade import build_new_slot
from mes_operator.drift import drifted_paths
from mes_operator.kube.apply import (
    APPLIED_HASH,
    Action,
    Applied,
    delete_owned,
    ensure,
    get_dict,
    patch_module_status,
    with_applied_hash,
)
from mes_operator.kube.resources import MESModule
from mes_operator.kube.seen import ChildKey, Seen
from mes_operator.metrics import DRIFT_CORRECTIONS, upgrade_series
from mes_operator.models.mesmodule import Colour, UpgradePhase, UpgradeStatus
from mes_operator.reconcile.events import Event, EventSink
from mes_operator.reconcile.install import install_gate
from mes_operator.reconcile.qualify import (
    Capture,
    capture_evidence,
    due_event,
    ended_attempt,
    settle_approvals,
    start_oq,
)
from mes_operator.status.conditions import (
    condition,
    dump,
    merge_conditions,
    now_rfc3339,
    seconds_since,
)
from mes_operator.status.module import (
    READY,
    DeploymentState,
    invalid_status,
    module_status,
    paused_status,
    qualified,
)
from mes_operator.trace import traced
from mes_operator.upgrade.actions import UpgradeEvent
from mes_operator.upgrade.drive import drive, in_flight, orchestrating
from mes_operator.upgrade.install import (
    SCHEMA_MIGRATED,
    held_at_install,
    install_events,
    install_status,
    needs_install_job,
)
from mes_operator.upgrade.observation import JobState
from mes_operator.upgrade.read import job_state
from mes_operator.upgrade.runtime import Runtime


class InvalidSpecError(Exception):
    """The spec passed admission but the operator cannot act on it (never retried)."""


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What one reconcile found: whether the module is Ready, and what changed."""

    ready: bool
    applied: list[Applied]
    status_patched: bool


async def reconcile_module(
    client: AsyncClient,
    body: Mapping[str, Any],
    *,
    emit: EventSink,
    runtime: Runtime | None = None,
    capture: Capture | None = None,
    seen: Seen | None = None,
) -> Outcome:
    """Bring one MESModule's children and status in line with its spec.

    An orchestrated module's first install makes its schema by a Job before any child
    but the ServiceAccount exists (:mod:`~mes_operator.upgrade.install`). An orchestrated
    upgrade (``spec.upgradeStrategy.orchestrated``) is stepped by the
    upgrade machine instead (:func:`~mes_operator.upgrade.drive.drive`), which owns both
    slots and the Service until it ends: the plain steps below never roll the old slot
    to the new version meanwhile. ``runtime`` is how the machine reaches the runtime;
    without it such a module is left as it is. ``seen`` spares reading back children that
    have not changed since they last matched. A setting the spec asks for that the
    runtime at ``spec.version`` does not know is left out of its ConfigMap, and said in a
    Warning Event once per generation (:func:`left_out_events`)."""
    previous: Mapping[str, Any] = body.get("status") or {}
    meta = body["metadata"]
    generation = int(meta.get("generation", 0))
    try:
        ctx = ModuleContext.from_body(body)
    except ValidationError as exc:
        problem = f"spec rejected by the operator: {exc.error_count()} error(s): {exc}"
        status = invalid_status(previous, generation=generation, problem=problem, now=now_rfc3339())
        await patch_module_status(client, meta, previous, status)
        emit(Event(type="Warning", reason="InvalidSpec", message=problem[:1000]))
        raise InvalidSpecError(problem) from exc
    for warning in left_out_events(previous, ctx):
        emit(warning)

    if ctx.spec.upgrade_strategy.orchestrated:
        upgrade_series(meta["namespace"], meta["name"])
    if orchestrating(ctx.spec, previous) and not (ctx.spec.paused and not in_flight(previous)):
        if runtime is not None:
            upgrade = await drive(
                client,
                runtime,
                body,
                emit=lambda e: emit(_event(e)),
                qualifying=capture is not None,
            )
            if capture is not None and _unrecorded_end(ctx, previous, upgrade):
                await _attempt_evidence(client, meta, capture, emit)
        return Outcome(ready=False, applied=[], status_patched=runtime is not None)

    if ctx.spec.paused:
        status = paused_status(previous, generation=generation, now=now_rfc3339())
        patched = await patch_module_status(client, meta, previous, status)
        return Outcome(ready=False, applied=[], status_patched=patched)

    if needs_install_job(ctx.spec, previous):
        job, made = await install_gate(client, ctx, existed_before=_reconciled_before(previous))
        if not job.done:
            _report(made, emit)
            status = install_status(previous, ctx, job, now=now_rfc3339())
            patched = await patch_module_status(client, meta, previous, status)
            for event in install_events(previous, status):
                emit(_event(event))
            return Outcome(ready=False, applied=made, status_patched=patched)
        if held_at_install(previous):
            message = f"Job {job.name} made the schema; creating the runtime"
            emit(Event(type="Normal", reason=SCHEMA_MIGRATED, message=message))

    applied = await _ensure_children(
        client, ctx, existed_before=_reconciled_before(previous), seen=seen
    )
    if held_at_install(previous):  # held at the schema gate: no child was made to be deleted
        applied = [_born(item) for item in applied]
    _report(applied, emit)
    deployment = next(a for a in applied if a.kind == "Deployment")
    state = DeploymentState.from_object(deployment.live)
    now = now_rfc3339()
    status = with_drift(module_status(previous, ctx, state, now=now), applied, ctx, now=now)
    patched = await patch_module_status(client, meta, previous, status)
    if patched:
        _report_transitions(previous, status, emit)
    if state.rolled_out and capture is not None:
        patched = await _evidence(client, body, ctx, state, status, capture, emit) or patched
    elif capture is not None:  # its OQ runs while the Pods start
        await start_oq(client, {**body, "status": status}, ctx)
    return Outcome(ready=state.rolled_out, applied=applied, status_patched=patched)


def with_drift(
    status: dict[str, Any], applied: list[Applied], ctx: ModuleContext, *, now: str
) -> dict[str, Any]:
    """``status`` with the drift just corrected added to its pending evidence (a Drift
    Qualification, captured once the module is Ready again), if evidence is required."""
    changes = [
        {
            "kind": item.kind,
            "name": item.name,
            "action": item.action.value,
            "paths": item.drift[:32],
            "managers": item.managers[:16],
            "at": now,
        }
        for item in applied
        if item.action in {Action.RECREATED, Action.CORRECTED}
    ]
    if not changes or not ctx.spec.qualification.required:
        return status
    pending = dict(status.get("pendingEvidence") or {"event": "Drift", "since": now})
    pending["changes"] = [*(pending.get("changes") or []), *changes][-64:]
    return {**status, "pendingEvidence": pending}


RUNTIME_WAIT = 120.0
"""Seconds after Ready that evidence waits for the runtime to answer (its machine account
may be made just after the install); then it is captured with the runtime's rows failed."""


async def _evidence(
    client: AsyncClient,
    body: Mapping[str, Any],
    ctx: ModuleContext,
    state: DeploymentState,
    status: Mapping[str, Any],
    capture: Capture,
    emit: EventSink,
) -> bool:
    """Capture the evidence a Ready module is due, if any; whether the status changed."""
    event = due_event(ctx, status)
    if event is None:
        return False
    since = condition(status.get("conditions"), READY).get("lastTransitionTime")
    waited = seconds_since(since) if since else RUNTIME_WAIT
    attempt = ended_attempt(ctx, status) if event == "Upgrade" else None
    if attempt is not None and (
        attempt.phase is not UpgradePhase.QUALIFIED or attempt.to_version != ctx.spec.version
    ):
        attempt = None  # a plain version change (spec.version set back after a rollback)
    reference = await capture_evidence(
        client, body, ctx, capture, event=event, emit=emit, wait_for_runtime=waited < RUNTIME_WAIT,
        pending=status.get("pendingEvidence"), upgrade=attempt,
    )  # fmt: skip
    if reference is None:
        return False
    with_evidence = {**status, "lastEvidence": reference}
    if event == "Drift":  # recorded: no longer due (status_patch removes it)
        with_evidence.pop("pendingEvidence", None)
    after = module_status(with_evidence, ctx, state, now=now_rfc3339())
    return await patch_module_status(client, body["metadata"], status, after)


UNSWITCHED_ENDS = frozenset({UpgradePhase.ROLLED_BACK, UpgradePhase.FAILED})
"""An orchestrated attempt's ends that leave the module to the upgrade machine (not Ready
at the new version): their package is captured here, not by the plain reconcile's."""


def _unrecorded_end(
    ctx: ModuleContext, previous: Mapping[str, Any], upgrade: UpgradeStatus | None
) -> bool:
    """Whether the attempt ``drive`` ended in is rolled back or failed and not recorded
    yet, judged from the status the reconcile began with: a module that stays rolled back
    is not read again at every reconcile."""
    if upgrade is None or upgrade.phase not in UNSWITCHED_ENDS:
        return False
    status = {**previous, "upgrade": upgrade.model_dump(mode="json", by_alias=True)}
    return ended_attempt(ctx, status) is not None


async def _attempt_evidence(
    client: AsyncClient, meta: Mapping[str, Any], capture: Capture, emit: EventSink
) -> None:
    """Record a rolled-back (a ``Rollback`` package) or failed upgrade attempt's package
    once: NOT QUALIFIED, its failing rows named (the OQ on the new slot, or where it
    stopped), IQ of the version that serves again; ``Qualified`` follows it."""
    body = await _get_module(client, meta["namespace"], meta["name"])
    if body is None:
        return
    ctx = ModuleContext.from_body(body)
    status: Mapping[str, Any] = body.get("status") or {}
    attempt = ended_attempt(ctx, status)
    if attempt is None or attempt.phase not in UNSWITCHED_ENDS:
        return
    since = attempt.phase_started_at or attempt.started_at
    event = "Rollback" if attempt.phase is UpgradePhase.ROLLED_BACK else "Upgrade"
    reference = await capture_evidence(
        client, body, ctx, capture, event=event, emit=emit, upgrade=attempt,
        wait_for_runtime=seconds_since(since) < RUNTIME_WAIT,
    )  # fmt: skip
    if reference is None:
        return
    now = now_rfc3339()
    conditions = merge_conditions(
        status.get("conditions"), [qualified(ctx, reference)], generation=ctx.generation, now=now
    )
    after = {**status, "lastEvidence": reference, "conditions": [dump(c) for c in conditions]}
    await patch_module_status(client, body["metadata"], status, after)


async def follow_approval(
    client: AsyncClient,
    namespace: str,
    qualification: str,
    *,
    emit_for: Callable[[Mapping[str, Any]], EventSink],
    runtime: Runtime | None = None,
    capture: Capture | None = None,
) -> None:
    """A QualificationApproval appeared: settle its Qualification's review state and, when
    that is the module's last evidence, its ``lastEvidence`` and ``Qualified``."""
    settled = await settle_approvals(client, namespace, qualification)
    if settled is None:
        return
    record, reference = settled
    body = await _get_module(client, namespace, record["spec"]["module"])
    if body is None or body.get("metadata", {}).get("deletionTimestamp"):
        return
    previous: Mapping[str, Any] = body.get("status") or {}
    last = previous.get("lastEvidence") or {}
    if last.get("qualification") != qualification or last == reference:
        return
    status = {**previous, "lastEvidence": reference}
    await patch_module_status(client, body["metadata"], previous, status)
    body = {**body, "status": status}
    await reconcile_module(client, body, emit=emit_for(body), runtime=runtime, capture=capture)


async def follow_deployment(
    client: AsyncClient,
    namespace: str,
    module_name: str,
    deployment: Mapping[str, Any],
    *,
    deleted: bool,
    emit_for: Callable[[Mapping[str, Any]], EventSink],
    runtime: Runtime | None = None,
    capture: Capture | None = None,
    seen: Seen | None = None,
) -> None:
    """React to a change of a module's Deployment.

    A deletion or a hand edit is drift: reconcile now instead of waiting for the timer.
    Anything else (Pods becoming ready) only moves the status, which is what makes
    Ready follow the Pods within moments.
    """
    body = await _get_module(client, namespace, module_name)
    if body is None or body.get("metadata", {}).get("deletionTimestamp"):
        return
    previous: Mapping[str, Any] = body.get("status") or {}
    if not _reconciled_before(previous):
        return  # the first reconcile is the change handler's
    try:
        ctx = ModuleContext.from_body(body)
    except ValidationError:
        return
    if orchestrating(ctx.spec, previous):
        # either slot's change may be what the upgrade waits for (green became ready)
        await reconcile_module(
            client, body, emit=emit_for(body), runtime=runtime, capture=capture, seen=seen
        )
        return
    if ctx.spec.paused or deployment["metadata"]["name"] != deployment_name(ctx, ctx.colour):
        return
    _, active = build_new_slot(ctx, ctx.colour, ctx.spec.version)
    desired = with_applied_hash(active)
    if deleted or drifted_paths(desired, deployment):
        await reconcile_module(
            client, body, emit=emit_for(body), runtime=runtime, capture=capture, seen=seen
        )
        return
    if seen is not None:  # as it should be: the next reconcile need not read it back
        key = ("Deployment", namespace, deployment["metadata"]["name"])
        seen.matched(key, desired["metadata"]["annotations"][APPLIED_HASH], deployment)
    state = DeploymentState.from_object(deployment)
    status = module_status(previous, ctx, state, now=now_rfc3339())
    if await patch_module_status(client, body["metadata"], previous, status):
        _report_transitions(previous, status, emit_for(body))
    if state.rolled_out and capture is not None:
        await _evidence(client, body, ctx, state, status, capture, emit_for(body))


async def follow_job(
    client: AsyncClient,
    namespace: str,
    module_name: str,
    job: Mapping[str, Any],
    *,
    emit_for: Callable[[Mapping[str, Any]], EventSink],
    runtime: Runtime | None = None,
    capture: Capture | None = None,
    seen: Seen | None = None,
) -> None:
    """React to a module's Job (a first install's schema, an upgrade's backup, expand or
    contract): once it has finished, reconcile now, since the install or the upgrade
    waits for exactly that; the timer would take up to a whole interval to notice."""
    if job_state(job) not in {JobState.SUCCEEDED, JobState.FAILED}:
        return
    body = await _get_module(client, namespace, module_name)
    if body is None or body.get("metadata", {}).get("deletionTimestamp"):
        return
    if not _reconciled_before(body.get("status") or {}):
        return  # the first reconcile is the change handler's
    await reconcile_module(
        client, body, emit=emit_for(body), runtime=runtime, capture=capture, seen=seen
    )


async def delete_children(client: AsyncClient, body: Mapping[str, Any]) -> list[str]:
    """Delete every child this module owns; the children that still exist afterwards.

    Owner references make the garbage collector do this eventually; the finalizer makes
    it happen before the MESModule disappears, so "deleted" means "gone".
    """
    meta = body["metadata"]
    name, namespace, uid = meta["name"], meta["namespace"], meta["uid"]
    ctx_names = [(kind, child) for kind, _, child in owned_children(namespace, name)]
    for kind, child in ctx_names:
        await delete_owned(client, kind, child, namespace, owner_uid=uid)
    remaining = []
    for kind, child in ctx_names:
        live = await get_dict(client, kind, child, namespace)
        owners = (live or {}).get("metadata", {}).get("ownerReferences") or []
        if any(ref.get("uid") == uid for ref in owners):
            remaining.append(f"{kind}/{child}")
    return remaining


def owned_children(namespace: str, name: str) -> list[ChildKey]:
    """Every child a module named ``name`` may own (its Jobs aside: their names are per
    attempt, so they are left to the garbage collector)."""
    return [
        (kind, namespace, child)
        for kind, child in [
            ("Deployment", f"{name}-{Colour.BLUE.value}"),
            ("Deployment", f"{name}-{Colour.GREEN.value}"),
            ("Service", name),
            ("PodDisruptionBudget", name),
            ("ConfigMap", f"{name}-config"),
            ("ServiceAccount", name),
            # an orchestrated upgrade's: the green slot's settings and the preview Service
            ("ConfigMap", f"{name}-config-{Colour.GREEN.value}"),
            ("Service", f"{name}-preview"),
        ]
    ]


SETTING_NOT_SUPPORTED = "SettingNotSupported"


def left_out_events(previous: Mapping[str, Any], ctx: ModuleContext) -> list[Event]:
    """A Warning for each setting the spec asks for that the runtime at ``spec.version``
    does not know (rendered without it, so that its Pods start: ``builders.runtime_settings``),
    once per generation of the spec: a new generation is the change that may ask for it."""
    if previous.get("observedGeneration") == ctx.generation:
        return []
    return [
        Event(type="Warning", reason=SETTING_NOT_SUPPORTED, message=left.sentence(ctx.spec.version))
        for left in left_out_settings(ctx)
    ]


def _event(event: UpgradeEvent) -> Event:
    return Event(type=event.type.value, reason=event.reason, message=event.message[:1000])


def _born(item: Applied) -> Applied:
    """A child missing because it was never made is created, not recreated (no drift)."""
    return replace(item, action=Action.CREATED) if item.action is Action.RECREATED else item


def _reconciled_before(previous: Mapping[str, Any]) -> bool:
    return previous.get("observedGeneration") is not None


POD_PREREQUISITES = frozenset({"ServiceAccount", "ConfigMap", "PersistentVolumeClaim"})
"""Children a Pod of the Deployment needs when it is created (admission refuses a Pod
whose ServiceAccount is missing; a missing ConfigMap or claim holds it in Pending)."""


async def _ensure_children(
    client: AsyncClient, ctx: ModuleContext, *, existed_before: bool, seen: Seen | None
) -> list[Applied]:
    """Every child ensured, in :func:`build_children`'s order, at once where nothing
    waits: the Pod's prerequisites together, then the Deployment; the Service and the
    PodDisruptionBudget beside them. One after another, a module's first reconcile was
    the sum of six requests (the Service's, with its cluster IP allocated, the longest:
    median 2 s of 3.7 under 500 modules at once), now the longest chain of them."""
    manifests = build_children(ctx)

    async def one(manifest: dict[str, Any]) -> Applied:
        return await ensure(client, manifest, existed_before=existed_before, seen=seen)

    async def pods_chain() -> list[Applied]:
        before = [m for m in manifests if m["kind"] in POD_PREREQUISITES]
        after = [m for m in manifests if m["kind"] == "Deployment"]
        first = await asyncio.gather(*(one(m) for m in before))
        return [*first, *[await one(m) for m in after]]

    beside = [m for m in manifests if m["kind"] not in POD_PREREQUISITES | {"Deployment"}]
    chain, others = await asyncio.gather(pods_chain(), asyncio.gather(*(one(m) for m in beside)))
    done = {(a.kind, a.name): a for a in [*chain, *others]}
    return [done[(m["kind"], m["metadata"]["name"])] for m in manifests]


def _report(applied: list[Applied], emit: EventSink) -> None:
    for item in applied:
        what = f"{item.kind} {item.name}"
        if item.action in {Action.RECREATED, Action.CORRECTED}:
            DRIFT_CORRECTIONS.labels(item.kind).inc()
        if item.action is Action.CREATED:
            emit(Event(type="Normal", reason="Created", message=f"created {what}"))
        elif item.action is Action.RECREATED:
            emit(
                Event(
                    type="Warning",
                    reason="DriftCorrected",
                    message=f"{what} was deleted outside the operator; recreated it",
                )
            )
        elif item.action is Action.UPDATED:
            emit(Event(type="Normal", reason="Updated", message=f"updated {what} to the spec"))
        elif item.action is Action.CORRECTED:
            fields = ", ".join(item.drift[:8]) + (" ..." if len(item.drift) > 8 else "")
            emit(
                Event(
                    type="Warning",
                    reason="DriftCorrected",
                    message=f"{what} differed from the spec at {fields}; restored it",
                )
            )


def _report_transitions(
    previous: Mapping[str, Any], status: Mapping[str, Any], emit: EventSink
) -> None:
    before = condition(previous.get("conditions"), READY).get("status")
    after = condition(status.get("conditions"), READY)
    if before == after.get("status"):
        return
    if after.get("status") == "True":
        emit(Event(type="Normal", reason="Ready", message=after.get("message", "")))
    elif before == "True":
        emit(Event(type="Warning", reason="NotReady", message=after.get("message", "")))


async def _get_module(client: AsyncClient, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        async with traced("get module", namespace, name):
            obj = await client.get(MESModule, name, namespace=namespace)
    except ApiError as exc:
        if exc.status.code == 404:
            return None
        raise
    return dict(obj.to_dict())
