"""kopf entry point: decorated one-liners that hand each event to one module.

Importing this module registers the handlers (``kopf run -m mes_operator.handlers`` or
``mes-operator run``). Everything with logic lives in ``reconcile/``, ``builders/`` and
``status/``; nothing here decides anything.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any, cast

import httpx
import kopf
from lightkube import ApiError, AsyncClient

from mes_operator.builders.context import MANAGED_BY, MODULE_LABEL
from mes_operator.builders.upgrade import JOB_KIND_LABEL
from mes_operator.evidence.keys import ensure_signing_key
from mes_operator.kube.peering import ensure_peering_object
from mes_operator.kube.seen import CHILD_INDICES, VERIFIED, Seen, index_entry
from mes_operator.metrics import (
    RECONCILE_HEARTBEAT,
    UPGRADE_NOW,
    measured_reconcile,
    serve_metrics,
    upgrade_series_removed,
)
from mes_operator.models.crds import EQUIPMENT, GROUP, MESMODULE, QUALIFICATION_APPROVAL, VERSION
from mes_operator.reconcile.equipment import reconcile_equipment
from mes_operator.reconcile.events import Event, EventSink
from mes_operator.reconcile.locks import forget, lock_for
from mes_operator.reconcile.module import (
    InvalidSpecError,
    delete_children,
    follow_approval,
    follow_deployment,
    follow_job,
    owned_children,
    reconcile_module,
)
from mes_operator.reconcile.qualify import Capture
from mes_operator.settings import OperatorConfig, configure
from mes_operator.trace import enable as enable_trace
from mes_operator.trace import mark, traced
from mes_operator.upgrade.runtime import Runtime, RuntimeUnavailableError

CONFIG = OperatorConfig.from_env(os.environ)
log = logging.getLogger(__name__)
MODULES = (GROUP, VERSION, MESMODULE.plural)
EQUIPMENTS = (GROUP, VERSION, EQUIPMENT.plural)
RUNTIME_TIMEOUT = 5.0
"""Seconds an upgrade step waits for a runtime's answer (safe point, grant)."""


class _Clients:
    """The one API client of the process, opened at startup, closed at cleanup."""

    client: AsyncClient | None = None
    runtime_access: Runtime | None = None
    evidence: Capture | None = None

    @classmethod
    def get(cls) -> AsyncClient:
        if cls.client is None:
            cls.client = AsyncClient(field_manager="holon-operator")
        return cls.client

    @classmethod
    def runtime(cls) -> Runtime:
        """How orchestrated upgrades reach the runtimes (their upgrade endpoints)."""
        if cls.runtime_access is None:
            http = httpx.AsyncClient(timeout=RUNTIME_TIMEOUT)
            cls.runtime_access = Runtime(http=http, url=CONFIG.runtime_url)
        return cls.runtime_access

    @classmethod
    async def capture(cls) -> Capture | None:
        """How evidence is captured: the signing key (made once, in the operator's own
        namespace) and the runtime's access; None when the operator runs without a
        namespace (by hand) or the key cannot be had yet (said in the log, tried again)."""
        if cls.evidence is not None or CONFIG.namespace is None:
            return cls.evidence
        try:
            key = await ensure_signing_key(cls.get(), CONFIG.namespace)
        except ApiError as exc:
            log.warning("no evidence signing key in %s yet: %s", CONFIG.namespace, exc)
            return None
        cls.evidence = Capture(key=key, runtime=cls.runtime(), chart_version=CONFIG.chart_version)
        return cls.evidence


def _events_for(body: Mapping[str, Any]) -> EventSink:
    def emit(event: Event) -> None:
        kopf.event(
            cast(kopf.Body, body), type=event.type, reason=event.reason, message=event.message
        )

    return emit


def _child_index(body: kopf.Body, **_: Any) -> dict[Any, Any]:
    """One watched child's entry in its kind's index (:mod:`mes_operator.kube.seen`)."""
    return index_entry(body)


for _index_id, _resource in CHILD_INDICES.items():
    kopf.index(*_resource, id=_index_id, labels={"app.kubernetes.io/managed-by": MANAGED_BY})(
        _child_index
    )


def _seen(kwargs: Mapping[str, Any]) -> Seen:
    """The children's indices kopf passed to a handler, and the process's verified versions."""
    return Seen(watched=[kwargs[i] for i in CHILD_INDICES if i in kwargs], verified=VERIFIED)


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    """All kopf settings, in one place."""
    configure(settings, CONFIG)
    enable_trace(CONFIG.trace)
    serve_metrics(CONFIG.metrics_port)
    # an upgrade in flight is stepped every interval; a replica that stopped (now the
    # standby) drops its gauges after a few missed ones
    UPGRADE_NOW.stale_after = 4 * CONFIG.reconcile_interval + 60
    RECONCILE_HEARTBEAT.window = UPGRADE_NOW.stale_after  # every module's timer ran in it
    if CONFIG.peering:
        await ensure_peering_object(_Clients.get(), CONFIG.peering_name)


@kopf.on.cleanup()
async def cleanup(**_: Any) -> None:
    """Close the API client."""
    if _Clients.client is not None:
        await _Clients.client.close()
        _Clients.client = None
    if _Clients.runtime_access is not None:
        await _Clients.runtime_access.http.aclose()
        _Clients.runtime_access = None


@kopf.on.probe(id="reconcileInterval")
def probe(**_: Any) -> float:
    """Reported on /healthz next to kopf's own liveness."""
    return CONFIG.reconcile_interval


async def _reconcile(body: Mapping[str, Any], why: str, seen: Seen) -> None:
    """Reconcile under the module's lock. Not-yet-ready is no error: the Deployment's
    events move the status to Ready, and the timer is the safety net."""
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    mark(f"{why} handler called", namespace, name, rv=meta.get("resourceVersion"))
    async with (
        lock_for("MESModule", namespace, name),
        traced(f"{why} reconcile", namespace, name),
        measured_reconcile("MESModule", module=(namespace, name)),
    ):
        try:
            await reconcile_module(
                _Clients.get(),
                body,
                emit=_events_for(body),
                runtime=_Clients.runtime(),
                capture=await _Clients.capture(),
                seen=seen,
            )
        except InvalidSpecError as exc:
            raise kopf.PermanentError(str(exc)) from exc
        except httpx.TimeoutException as exc:  # a busy API server: soon again, not in 60 s
            raise kopf.TemporaryError(f"Kubernetes API timed out: {exc!r}", delay=3) from exc
        except RuntimeUnavailableError as exc:  # an upgrade step needs the runtime's answer
            raise kopf.TemporaryError(f"upgrade step not done: {exc}", delay=10) from exc


@kopf.on.resume(*MODULES)
@kopf.on.create(*MODULES)
@kopf.on.update(*MODULES, field="spec")
async def module_changed(body: kopf.Body, reason: str, **kwargs: Any) -> None:
    """A MESModule appeared or its spec changed: reconcile it (or step its upgrade)."""
    await _reconcile(body, str(reason), _seen(kwargs))


@kopf.timer(*MODULES, interval=CONFIG.reconcile_interval, initial_delay=CONFIG.reconcile_interval)
async def module_timer(body: kopf.Body, **kwargs: Any) -> None:
    """Level-based re-reconcile: corrects drift nobody told us about (reading back only
    the children whose watched version moved since they last matched)."""
    await _reconcile(body, "timer", _seen(kwargs))


@kopf.on.delete(*MODULES)
async def module_deleted(body: kopf.Body, **_: Any) -> None:
    """Delete the children before the MESModule goes (the finalizer holds it until then)."""
    meta = body["metadata"]
    async with lock_for("MESModule", meta["namespace"], meta["name"]):
        remaining = await delete_children(_Clients.get(), body)
    if remaining:
        raise kopf.TemporaryError(f"still deleting {', '.join(remaining)}", delay=2)
    forget("MESModule", meta["namespace"], meta["name"])
    data = ("PersistentVolumeClaim", meta["namespace"], f"{meta['name']}-data")  # kept, not owned
    Seen(verified=VERIFIED).forget([*owned_children(meta["namespace"], meta["name"]), data])
    upgrade_series_removed(meta["namespace"], meta["name"])
    RECONCILE_HEARTBEAT.deleted(meta["namespace"], meta["name"])
    if _Clients.runtime_access is not None:
        _Clients.runtime_access.forget(meta["namespace"], meta["name"])


@kopf.on.event("apps", "v1", "deployments", labels={"app.kubernetes.io/managed-by": MANAGED_BY})
async def deployment_event(body: kopf.Body, event: Mapping[str, Any], **kwargs: Any) -> None:
    """A module's Deployment changed: follow it (status now, drift correction at once)."""
    module = body["metadata"].get("labels", {}).get(MODULE_LABEL)
    if not module or event.get("type") is None:
        return
    namespace = body["metadata"]["namespace"]
    status = body.get("status") or {}
    mark(
        f"deployment {body['metadata']['name']} {event.get('type')}", namespace, module,
        rv=body["metadata"].get("resourceVersion"), generation=body["metadata"].get("generation"),
        observed=status.get("observedGeneration"), updated=status.get("updatedReplicas"),
        available=status.get("availableReplicas"),
    )  # fmt: skip
    async with (
        lock_for("MESModule", namespace, module),
        traced("follow deployment", namespace, module),
    ):
        try:
            await follow_deployment(
                _Clients.get(),
                namespace,
                module,
                body,
                deleted=event.get("type") == "DELETED",
                emit_for=_events_for,
                runtime=_Clients.runtime(),
                capture=await _Clients.capture(),
                seen=_seen(kwargs),
            )
        except RuntimeUnavailableError as exc:  # the module's timer steps it again
            log.warning("upgrade of %s/%s: step not done: %s", namespace, module, exc)


@kopf.on.event("batch", "v1", "jobs", labels={JOB_KIND_LABEL: kopf.PRESENT})
async def job_event(body: kopf.Body, event: Mapping[str, Any], **kwargs: Any) -> None:
    """A module's install or upgrade Job changed: once it has finished, step the module
    at once (not at the next timer: every Job is a phase's wait)."""
    module = body["metadata"].get("labels", {}).get(MODULE_LABEL)
    if not module or event.get("type") in {None, "DELETED"}:
        return
    namespace = body["metadata"]["namespace"]
    async with lock_for("MESModule", namespace, module):
        try:
            await follow_job(
                _Clients.get(), namespace, module, body,
                emit_for=_events_for, runtime=_Clients.runtime(), capture=await _Clients.capture(),
                seen=_seen(kwargs),
            )  # fmt: skip
        except RuntimeUnavailableError as exc:  # the module's timer steps it again
            log.warning("upgrade of %s/%s: step not done: %s", namespace, module, exc)


@kopf.on.event(GROUP, VERSION, QUALIFICATION_APPROVAL.plural)
async def approval_event(body: kopf.Body, event: Mapping[str, Any], **_: Any) -> None:
    """A Part 11 signature appeared (or was listed at start-up): settle the review state of
    the Qualification it signs, and that module's Qualified. Watched, never written: an
    approval is the signer's record, so the operator keeps no marks on it."""
    if event.get("type") in {None, "DELETED"}:
        return
    namespace = body["metadata"]["namespace"]
    qualification = (body.get("spec") or {}).get("qualification")
    if not qualification:
        return
    await follow_approval(
        _Clients.get(), namespace, str(qualification),
        emit_for=_events_for, runtime=_Clients.runtime(), capture=await _Clients.capture(),
    )  # fmt: skip


@kopf.on.resume(*EQUIPMENTS)
@kopf.on.create(*EQUIPMENTS)
@kopf.on.update(*EQUIPMENTS, field="spec")
async def equipment_changed(body: kopf.Body, **_: Any) -> None:
    """Check new or changed equipment at once."""
    meta = body["metadata"]
    async with (
        lock_for("Equipment", meta["namespace"], meta["name"]),
        measured_reconcile("Equipment"),
    ):
        await reconcile_equipment(
            _Clients.get(), body, emit=_events_for(body), force=True,
            capture=await _Clients.capture(),
        )  # fmt: skip


@kopf.timer(*EQUIPMENTS, interval=CONFIG.equipment_poll, initial_delay=CONFIG.equipment_poll)
async def equipment_timer(body: kopf.Body, **_: Any) -> None:
    """Re-check equipment whose spec.checkIntervalSeconds has elapsed."""
    meta = body["metadata"]
    async with (
        lock_for("Equipment", meta["namespace"], meta["name"]),
        measured_reconcile("Equipment"),
    ):
        await reconcile_equipment(
            _Clients.get(), body, emit=_events_for(body), capture=await _Clients.capture()
        )
