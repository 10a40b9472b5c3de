"""Reconcile one Equipment: check the interface when due, record the outcome once.

The check itself lives in :mod:`mes_operator.equipment.check`; this adds Kubernetes:
reading the client certificate Secret and the manifest's ConfigMap, the status patch and
the Events.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.resources.core_v1 import ConfigMap
from lightkube.types import PatchType

from mes_operator.equipment.manifest import manifest_from_config_map, manifest_not_found
from mes_operator.equipment.outcome import CheckResult, ClientCredentials, ManifestUnavailable
from mes_operator.kube.resources import Equipment, Secret
from mes_operator.metrics import equipment_checked
from mes_operator.models.equipment import EquipmentSpec, SecurityPolicy
from mes_operator.reconcile.events import Event, EventSink
from mes_operator.reconcile.qualify import Capture, capture_interface, interface_due
from mes_operator.status.conditions import condition, now_rfc3339
from mes_operator.status.equipment import CONNECTED, VERIFIED, check_due, equipment_status
from mtp_manifest import ModuleManifest


async def reconcile_equipment(
    client: AsyncClient,
    body: Mapping[str, Any],
    *,
    emit: EventSink,
    force: bool = False,
    capture: Capture | None = None,
) -> CheckResult | None:
    """Check the equipment if due (or ``force``); None when it was not due. With
    ``capture``, a check of a new spec, or one that changed Verified, is recorded as an
    interface Qualification."""
    meta = body["metadata"]
    previous: Mapping[str, Any] = body.get("status") or {}
    generation = int(meta.get("generation", 0))
    spec = EquipmentSpec.model_validate(body["spec"])
    due = check_due(
        previous,
        generation=generation,
        interval_seconds=spec.check_interval_seconds,
        now=datetime.now(UTC),
    )
    if not (force or due):
        return None
    result = await _check(client, spec, meta["namespace"])
    equipment_checked(result.reason, result.duration_seconds)
    status = equipment_status(previous, result, generation=generation, now=now_rfc3339())
    await client.patch(
        Equipment.Status,
        meta["name"],
        {"status": status},
        namespace=meta["namespace"],
        patch_type=PatchType.MERGE,
    )
    _report(previous, status, emit)
    if capture is not None and interface_due(previous, status):
        await capture_interface(client, body, status, capture, emit=emit)
    return result


async def _check(client: AsyncClient, spec: EquipmentSpec, namespace: str) -> CheckResult:
    credentials = None
    if spec.security_policy is not SecurityPolicy.NONE and spec.certificate_secret_ref:
        secret_name = spec.certificate_secret_ref.name
        credentials = await _credentials(client, spec, namespace, secret_name)
        if credentials is None:
            return CheckResult(
                connected=False,
                verified=False,
                reason="CertificateSecretMissing",
                message=f"Secret {secret_name} with tls.crt and tls.key not found",
                duration_seconds=0.0,
            )
    # imported here: asyncua costs the operator ~85 MB, paid once an Equipment is checked
    from mes_operator.equipment.check import check_equipment

    return await check_equipment(
        spec.endpoint,
        spec.required_services,
        connect_timeout=float(spec.timeout_seconds),
        credentials=credentials,
        manifest=await _manifest(client, spec, namespace),
    )


async def _manifest(
    client: AsyncClient, spec: EquipmentSpec, namespace: str
) -> ModuleManifest | ManifestUnavailable | None:
    """The manifest ``spec.manifest`` names, read by the shared reader (None when unset)."""
    if spec.manifest is None:
        return None
    ref = spec.manifest.config_map_ref
    try:
        config_map = await client.get(ConfigMap, ref.name, namespace=namespace)
    except ApiError as exc:
        if exc.status.code == 404:
            return manifest_not_found(ref.name, namespace)
        raise
    return manifest_from_config_map(
        config_map.data, config_map.binaryData, name=ref.name, key=ref.key
    )


async def _credentials(
    client: AsyncClient, spec: EquipmentSpec, namespace: str, secret_name: str
) -> ClientCredentials | None:
    try:
        secret = await client.get(Secret, secret_name, namespace=namespace)
    except ApiError as exc:
        if exc.status.code == 404:
            return None
        raise
    data = secret.data or {}
    if "tls.crt" not in data or "tls.key" not in data:
        return None
    return ClientCredentials(
        policy=spec.security_policy.value,
        mode=spec.security_mode.value,
        certificate=base64.b64decode(data["tls.crt"]),
        private_key=base64.b64decode(data["tls.key"]),
    )


def _report(previous: Mapping[str, Any], status: Mapping[str, Any], emit: EventSink) -> None:
    for type_ in (CONNECTED, VERIFIED):
        before = condition(previous.get("conditions"), type_)
        after = condition(status.get("conditions"), type_)
        if before.get("status") == after.get("status") and before.get("reason") == after.get(
            "reason"
        ):
            continue
        good = after.get("status") == "True"
        emit(
            Event(
                type="Normal" if good else "Warning",
                reason=str(after.get("reason", type_)),
                message=f"{type_}={after.get('status')}: {after.get('message', '')}"
                + (
                    f" (check took {status['checkDurationSeconds']} s)" if type_ == VERIFIED else ""
                ),
            )
        )
