"""Capture a module's evidence: observe, qualify, sign, keep, record (DESIGN §7).

Called by the reconcile once a module is Ready at a version without evidence (its install,
then each version change). The package is kept first and the Qualification created second,
so a Qualification never names a package that is not there; both are idempotent (the same
change is recorded once, however often a crash repeats the step). The chain's previous link
and the baseline are read from the module's Qualifications themselves, not from a cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lightkube import ApiError, AsyncClient
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.core_v1 import Pod
from lightkube.resources.rbac_authorization_v1 import RoleBinding
from lightkube.types import PatchType

from mes_operator.builders import ModuleContext, build_children
from mes_operator.builders.upgrade import at_version, build_oq_job
from mes_operator.evidence.approval import decide
from mes_operator.evidence.assemble import assemble
from mes_operator.evidence.interface import interface_rows
from mes_operator.evidence.iq import FACTS, Observed, installation_qualification, load_requirements
from mes_operator.evidence.oq import oq_rows
from mes_operator.evidence.package import (
    AutoApproval,
    Baseline,
    Deviation,
    Header,
    Package,
    Result,
    Row,
)
from mes_operator.evidence.store import fetch, keep
from mes_operator.evidence.upgrade import upgrade_evidence
from mes_operator.kube.apply import ensure, get_dict
from mes_operator.kube.resources import Equipment, Qualification, QualificationApproval
from mes_operator.models.crds import API_VERSION, all_crds
from mes_operator.models.mesmodule import UpgradePhase, UpgradeStatus
from mes_operator.reconcile.events import Event, EventSink
from mes_operator.status.conditions import condition
from mes_operator.upgrade.actions import JobKind
from mes_operator.upgrade.fetch import job_log
from mes_operator.upgrade.jobs import upgrade_job
from mes_operator.upgrade.observation import JobState
from mes_operator.upgrade.read import job_state
from mes_operator.upgrade.runtime import NotServedError, Runtime, RuntimeUnavailableError

__all__ = [
    "EVIDENCE_FOR",
    "Capture",
    "capture_evidence",
    "capture_interface",
    "due_event",
    "interface_due",
    "record",
    "settle_approvals",
]

log = logging.getLogger(__name__)

MODULE_LABEL = "mes.holon.dev/module"
EVIDENCE_FOR = "mes.holon.dev/evidence-for"
"""Annotation naming the change a Qualification records (``<module uid>/<event>/<version>``):
what makes capturing the same change twice a no-op."""

INTENDED_USE = (
    "{module} module of the Holon MES: executes ISA-88 recipes on MTP equipment over OPC UA "
    "and keeps the hash-chained electronic batch record (GMP, 21 CFR Part 11)."
)
RISK = {
    "Install": "high: a new installation of a GMP batch-execution system; full IQ",
    "Upgrade": "high: a new version of a GMP batch-execution system; full IQ against the "
    "approved baseline",
    "Drift": "high: the installation was changed outside the operator and restored; full IQ "
    "of the restored state, each change a deviation to assess",
    "Rollback": "high: an upgrade did not pass its gates and the previous version serves "
    "again; full IQ of what serves, the new version's OQ rows as they ran",
}
AUTO_APPROVAL_RULE = (
    "listed in spec.qualification.autoApproveCategories: QUALIFIED without a signature when "
    "every IQ and OQ row passed and every difference from the approved baseline is "
    "explained by the change"
)
AUTO_APPROVAL_RULE_VERSION = "1"


def auto_approval(ctx: ModuleContext, event: str) -> AutoApproval | None:
    """The auto-approval a package of ``event`` carries, if the module lists its category
    (whether it then counts is the verdict's rule: every row passed, nothing unexplained)."""
    if event not in {c.value for c in ctx.spec.qualification.auto_approve_categories}:
        return None
    return AutoApproval(
        category=event,
        rule=f"{AUTO_APPROVAL_RULE} (generation {ctx.generation})",
        rule_version=AUTO_APPROVAL_RULE_VERSION,
    )


def operator_version() -> str:
    try:
        return importlib.metadata.version("holon")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree
        return "unknown"


ENDED = frozenset({UpgradePhase.QUALIFIED, UpgradePhase.ROLLED_BACK, UpgradePhase.FAILED})


def ended_attempt(ctx: ModuleContext, status: Mapping[str, Any]) -> UpgradeStatus | None:
    """The orchestrated upgrade attempt whose package is due: ended (switched, rolled back
    or failed) and not recorded yet. Each attempt has its own package, so a retry that
    succeeds after a rolled-back attempt is recorded too."""
    raw = status.get("upgrade")
    if not ctx.spec.qualification.required or not raw:
        return None
    upgrade = UpgradeStatus.model_validate(raw)
    last = status.get("lastEvidence") or {}
    if upgrade.phase not in ENDED or last.get("attempt") == upgrade.attempt:
        return None
    if last.get("attempt") is None and last.get("version") == upgrade.to_version:
        return None  # recorded as a plain version change before attempts were recorded
    return upgrade


def due_event(ctx: ModuleContext, status: Mapping[str, Any]) -> str | None:
    """Which evidence a Ready module is due: a corrected Drift (``pendingEvidence``), its
    Install (none yet), an Upgrade (an orchestrated attempt that switched and is not
    recorded, or the last evidence is about another version), or None."""
    if not ctx.spec.qualification.required:
        return None
    pending = status.get("pendingEvidence")
    if pending:
        return str(pending.get("event") or "Drift")
    last = status.get("lastEvidence")
    if not last:
        return "Install"
    attempt = ended_attempt(ctx, status)
    if attempt is not None and attempt.to_version == ctx.spec.version:
        return "Upgrade"
    if last.get("version") != ctx.spec.version:
        return "Upgrade"
    return None


@dataclass(frozen=True, kw_only=True)
class Capture:
    """How evidence is made: the signing key, the runtime's access, who runs it."""

    key: Ed25519PrivateKey
    runtime: Runtime | None
    chart_version: str | None = None


async def _qualifications(
    client: AsyncClient, namespace: str, label: str, about: str
) -> list[dict[str, Any]]:
    """The Qualifications about one module or equipment, oldest first."""
    found = [
        dict(q.to_dict())
        async for q in client.list(Qualification, namespace=namespace, labels={label: about})
    ]
    return sorted(found, key=lambda q: str(q["metadata"].get("creationTimestamp")))


def _head(qualifications: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The newest package of the module's chain: the latest one no other names as previous."""
    named = {q.get("spec", {}).get("previousDigest") for q in qualifications}
    heads = [q for q in qualifications if q.get("spec", {}).get("digest") not in named]
    return heads[-1] if heads else (qualifications[-1] if qualifications else None)


async def _baseline(
    client: AsyncClient, qualifications: list[dict[str, Any]]
) -> tuple[Baseline | None, dict[str, Any] | None]:
    """The last QUALIFIED (approved) Qualification and its facts."""
    for q in reversed(qualifications):
        status = q.get("status") or {}
        if status.get("verdict") != "QUALIFIED":
            continue
        spec = q["spec"]
        facts: dict[str, Any] | None = None
        try:
            files = await fetch(client, spec["packageLocation"])
            facts = json.loads(files[FACTS])
        except Exception as exc:  # a baseline we cannot read: compare with nothing, say so
            log.warning("baseline %s unreadable: %s", q["metadata"]["name"], exc)
        return (
            Baseline(
                qualification=q["metadata"]["name"],
                package_digest=spec["digest"],
                approved_by=status.get("approvedBy"),
            ),
            facts,
        )
    return None, None


async def _installation(
    client: AsyncClient, ctx: ModuleContext, capture: Capture
) -> tuple[dict[str, Any] | None, str | None, bool]:
    """The runtime's installation facts, or None and why it could not be asked; whether
    it serves them (False: too old to, so there is nothing to wait for)."""
    if capture.runtime is None:
        return None, "the operator has no access to the runtime", False
    try:
        return await capture.runtime.installation(client, ctx), None, True
    except NotServedError as exc:  # an older runtime: waiting changes nothing
        return None, f"{exc}: a runtime version older than the installation facts", False
    except RuntimeUnavailableError as exc:
        return None, str(exc), True


async def _handover(
    client: AsyncClient, ctx: ModuleContext, capture: Capture, upgrade: UpgradeStatus
) -> tuple[dict[str, Any] | None, str | None]:
    """The runtime's hand-over record since the attempt started, or None and why not."""
    if capture.runtime is None:
        return None, "the operator has no access to the runtime"
    try:
        return await capture.runtime.handover(client, ctx, since=upgrade.started_at), None
    except RuntimeUnavailableError as exc:
        return None, str(exc)


async def _observe(
    client: AsyncClient,
    ctx: ModuleContext,
    body: Mapping[str, Any],
    capture: Capture,
    *,
    installation: dict[str, Any] | None,
    error: str | None,
) -> Observed:
    desired = [c for c in build_children(ctx) if c["kind"] != "PersistentVolumeClaim"]
    live = {
        (c["kind"], c["metadata"]["name"]): await get_dict(
            client, c["kind"], c["metadata"]["name"], ctx.namespace
        )
        for c in desired
    }
    deployment = next(c for c in desired if c["kind"] == "Deployment")
    selector = deployment["spec"]["selector"]["matchLabels"]
    pods = [
        dict(p.to_dict())
        async for p in client.list(Pod, namespace=ctx.namespace, labels=selector)
        if not p.metadata or not p.metadata.deletionTimestamp
    ]
    shipped = {crd["metadata"]["name"]: crd for crd in all_crds().values()}
    crds_live: dict[str, Any] = {}
    for name in shipped:
        try:
            crds_live[name] = dict((await client.get(CustomResourceDefinition, name)).to_dict())
        except ApiError as exc:
            if exc.status.code != 404:
                raise
            crds_live[name] = None
    bindings = [dict(b.to_dict()) async for b in client.list(RoleBinding, namespace=ctx.namespace)]
    equipment = [dict(e.to_dict()) async for e in client.list(Equipment, namespace=ctx.namespace)]
    return Observed(
        at=_now(),
        module=body,
        desired=desired,
        live=live,
        pods=pods,
        crds_shipped=shipped,
        crds_live=crds_live,
        role_bindings=bindings,
        installation=installation,
        installation_error=error,
        equipment=equipment,
        operator_version=operator_version(),
        chart_version=capture.chart_version,
    )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def capture_evidence(
    client: AsyncClient,
    body: Mapping[str, Any],
    ctx: ModuleContext,
    capture: Capture,
    *,
    event: str,
    emit: EventSink,
    wait_for_runtime: bool,
    pending: Mapping[str, Any] | None = None,
    upgrade: UpgradeStatus | None = None,
) -> dict[str, Any] | None:
    """Produce, keep and record the module's evidence for ``event``; its ``lastEvidence``.

    ``upgrade``: the ended orchestrated attempt the package records (its OQ ran on the new
    slot before the switch; its outcome, phases and the runtime's hand-over record fill the
    disruption record); IQ checks the version that serves after it (the old one again
    after a rollback). None when the runtime did not answer and ``wait_for_runtime`` (the
    caller tries again later: a runtime that just became ready may not have its machine
    account yet)."""
    key = evidence_key(body, ctx, event, pending=pending, upgrade=upgrade)
    drift = list((pending or {}).get("changes") or []) if event == "Drift" else []
    existing = await _qualifications(client, ctx.namespace, MODULE_LABEL, ctx.name)
    for q in existing:
        if (q["metadata"].get("annotations") or {}).get(EVIDENCE_FOR) == key:
            return _reference(q)  # recorded before a crash: never twice
    oq: tuple[list[Row], dict[str, bytes]] = ([], {})
    if upgrade is not None:
        oq = await _attempt_oq(client, ctx, upgrade)
    elif event in OQ_EVENTS:
        ran = await _operational_qualification(client, ctx, key, event)
        if ran is None:
            return None  # the OQ Job runs; its end reconciles the module again
        oq = ran
    serving, serving_body = ctx, body
    if upgrade is not None:  # the version the attempt left serving, in its slot
        version = str((body.get("status") or {}).get("currentVersion") or ctx.spec.version)
        serving = at_version(ctx, version)
        serving_body = {**body, "spec": {**body["spec"], "version": version}}
    installation, error, served = await _installation(client, serving, capture)
    if installation is None and served and wait_for_runtime:  # nothing else read meanwhile
        log.info("evidence of %s/%s waits for the runtime: %s", ctx.namespace, ctx.name,
                 error)  # fmt: skip
        return None
    attempt = None
    if upgrade is not None:
        handover, why = await _handover(client, serving, capture, upgrade)
        attempt = upgrade_evidence(upgrade, handover, error=why, at=_now())
        oq = ([*oq[0], *attempt.rows], {**oq[1], **attempt.evidence})
    observed = await _observe(
        client, serving, serving_body, capture, installation=installation, error=error
    )
    head = _head(existing)
    baseline, baseline_facts = await _baseline(client, existing)
    iq = installation_qualification(observed, event=event, baseline_facts=baseline_facts)
    deviations = [*drift_deviations(drift), *iq.deviations]
    evidence = {**iq.evidence, **oq[1]}
    if drift:
        evidence[DRIFT_EVIDENCE] = json.dumps(drift, indent=2, sort_keys=True).encode() + b"\n"
    from_version = None if head is None else head["spec"].get("toVersion")
    package = Package(
        header=Header(
            module=ctx.name,
            namespace=ctx.namespace,
            qualification="",  # set below, from the digest of everything else
            event=event,
            from_version=upgrade.from_version
            if upgrade is not None
            else (from_version if event != "Install" else None),
            to_version=upgrade.to_version if upgrade is not None else ctx.spec.version,
            created_at=observed.at,
            operator_version=observed.operator_version,
        ),
        intended_use=INTENDED_USE.format(module=ctx.spec.module),
        risk=RISK.get(event, "high"),
        requirements=load_requirements(),
        iq=iq.rows,
        oq=oq[0],
        deviations=deviations,
        disruption=None if attempt is None else attempt.disruption,
        auto_approval=auto_approval(ctx, event),
        baseline=baseline,
        previous_digest=None if head is None else head["spec"]["digest"],
    )
    return await record(
        client,
        namespace=ctx.namespace,
        subject=(MODULE_LABEL, ctx.name),
        key=key,
        package=package,
        evidence=evidence,
        signing=capture.key,
        emit=emit,
    )


def evidence_key(
    body: Mapping[str, Any],
    ctx: ModuleContext,
    event: str,
    *,
    pending: Mapping[str, Any] | None = None,
    upgrade: UpgradeStatus | None = None,
) -> str:
    """The change a package records (``<module uid>/<event>/<version>``, an orchestrated
    attempt's number, a drift episode's start): its Qualification's idempotency key, and
    the name of its OQ Job."""
    uid = body["metadata"]["uid"]
    if upgrade is not None:
        return f"{uid}/{event}/{upgrade.to_version}/attempt-{upgrade.attempt}"
    key = f"{uid}/{event}/{ctx.spec.version}"
    if event == "Drift" and (pending or {}).get("changes"):  # one record per episode
        key += f"/{(pending or {}).get('since')}"
    return key


async def start_oq(client: AsyncClient, body: Mapping[str, Any], ctx: ModuleContext) -> None:
    """Start the OQ Job of the Install or version change a module will be due once Ready,
    now: it needs only the module's image (its own scratch installation), so its minute
    runs while the runtime's Pods start instead of after them. Idempotent."""
    status = body.get("status") or {}
    event = due_event(ctx, status)
    if event not in OQ_EVENTS or ended_attempt(ctx, status) is not None:
        return  # nothing due, or an orchestrated attempt's OQ ran on its own
    key = evidence_key(body, ctx, event)
    manifest = build_oq_job(
        ctx, version=ctx.spec.version, suffix=key_suffix(key), scope="full",
        reason=_oq_reason(ctx, event),
    )  # fmt: skip
    if await get_dict(client, "Job", manifest["metadata"]["name"], ctx.namespace) is None:
        await ensure(client, manifest, existed_before=False)


async def record(
    client: AsyncClient,
    *,
    namespace: str,
    subject: tuple[str, str],
    key: str,
    package: Package,
    evidence: Mapping[str, bytes],
    signing: Ed25519PrivateKey,
    emit: EventSink,
) -> dict[str, Any]:
    """Sign and keep ``package``, then create its immutable Qualification (named from
    ``key``, labelled ``subject``: the module or equipment it is about) with its review
    state; an Event says the verdict and any failed row. Its ``lastEvidence`` reference."""
    label, about = subject
    event = package.header.event
    name = f"{about}-{event.lower()}-{key_suffix(key)}"[:253]
    package = _named(package, name)
    assembled = assemble(package, evidence, signing)
    location = await keep(
        client, namespace=namespace, qualification=name, module=about, files=assembled.files
    )
    verdict = assembled.document["verdict"]
    header = package.header
    manifest = {
        "apiVersion": API_VERSION,
        "kind": "Qualification",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {label: about, "mes.holon.dev/event": event.lower()},
            "annotations": {EVIDENCE_FOR: key},
        },
        "spec": {
            "module": header.module,
            "event": event,
            "toVersion": header.to_version,
            "digest": assembled.digest,
            "verdict": verdict,
            "packageLocation": location,
            **({"fromVersion": header.from_version} if header.from_version else {}),
            **({"previousDigest": package.previous_digest} if package.previous_digest else {}),
        },
    }
    try:
        created = await client.create(Qualification.from_dict(manifest))
    except ApiError as exc:
        if exc.status.code != 409:
            raise
        created = await client.get(Qualification, name, namespace=namespace)
    qualification = dict(created.to_dict())
    decision = decide(qualification, [])
    await client.patch(
        Qualification.Status, name, {"status": decision.status()}, namespace=namespace,
        patch_type=PatchType.MERGE,
    )  # fmt: skip
    failed = [f"{r.id} ({r.requirement})" for r in package.rows if r.result is Result.FAIL]
    message = (
        f"qualification/{name}: {verdict}, {len(package.rows)} rows"
        + (f", failed: {', '.join(failed)}" if failed else "")
        + f", {len(package.deviations)} deviation(s) or difference(s); package "
        + assembled.digest
    )
    emit(
        Event(
            type="Warning" if failed else "Normal",
            reason="NotQualified" if failed else "EvidenceCaptured",
            message=message[:1000],
        )
    )
    return _reference({**qualification, "status": decision.status()})


EQUIPMENT_LABEL = "mes.holon.dev/equipment"


def interface_due(previous: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    """An Equipment's interface evidence is due after the first check of its spec, and
    whenever its Verified condition changes (never for a check that changed nothing)."""
    if previous.get("observedGeneration") != status.get("observedGeneration"):
        return True
    before = condition(previous.get("conditions"), "Verified").get("status")
    return before != condition(status.get("conditions"), "Verified").get("status")


async def capture_interface(
    client: AsyncClient,
    body: Mapping[str, Any],
    status: Mapping[str, Any],
    capture: Capture,
    *,
    emit: EventSink,
) -> dict[str, Any]:
    """Record one Equipment's interface Qualification from its check just made."""
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    verified = condition(status.get("conditions"), "Verified")
    key = (
        f"{meta['uid']}/Interface/{status.get('observedGeneration')}/"
        f"{verified.get('status')}/{verified.get('lastTransitionTime')}"
    )
    existing = await _qualifications(client, namespace, EQUIPMENT_LABEL, name)
    for q in existing:
        if (q["metadata"].get("annotations") or {}).get(EVIDENCE_FOR) == key:
            return _reference(q)
    rows, evidence, figures = interface_rows(body, status)
    head = _head(existing)
    spec = body.get("spec") or {}
    package = Package(
        header=Header(
            module=name,
            namespace=namespace,
            qualification="",
            event="Interface",
            from_version=None if head is None else head["spec"].get("toVersion"),
            to_version=f"generation-{status.get('observedGeneration')}",
            created_at=_now(),
            operator_version=operator_version(),
        ),
        intended_use=f"Equipment {name} ({spec.get('endpoint')}): the MTP interface the MES "
        "runs recipes through",
        risk="high: the services recipes command on the plant floor",
        requirements=load_requirements(),
        iq=rows,
        previous_digest=None if head is None else head["spec"]["digest"],
        extra={"interface": figures},
    )
    return await record(
        client,
        namespace=namespace,
        subject=(EQUIPMENT_LABEL, name),
        key=key,
        package=package,
        evidence=evidence,
        signing=capture.key,
        emit=emit,
    )


OQ_EVENTS = frozenset({"Install", "Upgrade"})
"""The changes whose package holds OQ rows: a new installation, a new version (full set:
what changed in a version is not known to the operator, so everything is at risk)."""


def _oq_reason(ctx: ModuleContext, event: str) -> str:
    what = "a new installation" if event == "Install" else "a new version"
    return f"full set: {what} of {ctx.spec.module} {ctx.spec.version}"


async def _operational_qualification(
    client: AsyncClient, ctx: ModuleContext, key: str, event: str
) -> tuple[list[Row], dict[str, bytes]] | None:
    """The OQ Job's rows for this change: started if absent, None while it runs."""
    manifest = build_oq_job(
        ctx, version=ctx.spec.version, suffix=key_suffix(key), scope="full",
        reason=_oq_reason(ctx, event),
    )  # fmt: skip
    name = manifest["metadata"]["name"]
    live = await get_dict(client, "Job", name, ctx.namespace)
    state = job_state(live)
    if state is JobState.ABSENT:
        await ensure(client, manifest, existed_before=False)
        return None
    if state is JobState.RUNNING:
        return None
    log, ended = await job_log(client, ctx.namespace, name)
    known = {r.id for r in load_requirements()}
    return oq_rows(log, ended=ended, known=known, at=_now())


async def _attempt_oq(
    client: AsyncClient, ctx: ModuleContext, upgrade: UpgradeStatus
) -> tuple[list[Row], dict[str, bytes]]:
    """The rows of the OQ Job the attempt ran on its new slot before the switch; none if it
    never got that far (the attempt's own row says where it stopped)."""
    name = upgrade_job(ctx, JobKind.OQ, upgrade)["metadata"]["name"]
    state = job_state(await get_dict(client, "Job", name, ctx.namespace))
    if state is JobState.ABSENT:
        return [], {}
    if state is JobState.RUNNING:
        ended = "still running when the upgrade ended"
        log = ""
    else:
        log, ended = await job_log(client, ctx.namespace, name)
    known = {r.id for r in load_requirements()}
    return oq_rows(log, ended=ended, known=known, at=_now())


DRIFT_EVIDENCE = "evidence/drift/changes.json"


def drift_deviations(changes: list[Mapping[str, Any]]) -> list[Deviation]:
    """One deviation per child changed outside the operator: what, by whom as far as the
    object said, and what the operator restored (never explained away: a person assesses)."""
    out = []
    for i, change in enumerate(changes, start=1):
        what = f"{change.get('kind')}/{change.get('name')}"
        by = ", ".join(change.get("managers") or []) or "unknown (see the API audit log)"
        recreated = change.get("action") == "recreated"
        out.append(
            Deviation(
                id=f"DRIFT-{i:02d}",
                subject=what,
                baseline="as the module's spec renders it",
                actual="deleted" if recreated else {"changed": change.get("paths"), "by": by},
                explained=False,
                explanation=(
                    f"{'recreated' if recreated else 'restored'} by the operator at "
                    f"{change.get('at')}; changed by: {by}"
                ),
            )
        )
    return out


def key_suffix(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:10]


def _named(package: Package, name: str) -> Package:
    return dataclasses.replace(
        package, header=dataclasses.replace(package.header, qualification=name)
    )


def _attempt_of(qualification: Mapping[str, Any]) -> int | None:
    """The upgrade attempt a Qualification records, from its evidence-for key."""
    key = (qualification["metadata"].get("annotations") or {}).get(EVIDENCE_FOR) or ""
    _, _, last = str(key).rpartition("/attempt-")
    return int(last) if last.isdigit() else None


def _reference(qualification: Mapping[str, Any]) -> dict[str, Any]:
    spec = qualification["spec"]
    status = qualification.get("status") or {}
    return {
        "qualification": qualification["metadata"]["name"],
        "digest": spec["digest"],
        "verdict": status.get("verdict") or spec["verdict"],
        "event": spec.get("event"),
        "version": spec.get("toVersion"),
        **({"attempt": attempt} if (attempt := _attempt_of(qualification)) else {}),
        **({"approvedBy": status["approvedBy"]} if status.get("approvedBy") else {}),
    }


async def settle_approvals(
    client: AsyncClient, namespace: str, qualification_name: str
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Apply the namespace's approvals to one Qualification's status; the Qualification and
    its reference for the module's ``lastEvidence`` (None if the Qualification is gone)."""
    try:
        obj = await client.get(Qualification, qualification_name, namespace=namespace)
    except ApiError as exc:
        if exc.status.code == 404:
            return None
        raise
    qualification = dict(obj.to_dict())
    approvals = [
        dict(a.to_dict()) async for a in client.list(QualificationApproval, namespace=namespace)
    ]
    decision = decide(qualification, approvals)
    for why in decision.ignored:
        log.warning("qualification/%s: approval not counted: %s", qualification_name, why)
    status = decision.status()
    current = qualification.get("status") or {}
    if any(current.get(k) != v for k, v in status.items()):
        await client.patch(
            Qualification.Status, qualification_name, {"status": status},
            namespace=namespace, patch_type=PatchType.MERGE,
        )  # fmt: skip
    updated = {**qualification, "status": {**current, **status}}
    return updated, _reference(updated)
