"""Make one child object match its manifest, and say what that took.

Server-side apply with our own field manager, forced: the operator owns the fields it
sets. The live object is read first so that drift (a hand edit, a deletion) is noticed
and reported, and so that an unchanged object costs one GET and no write.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.types import PatchType

from mes_operator.drift import drifted_paths
from mes_operator.kube.resources import CHILD_RESOURCES, MESModule
from mes_operator.kube.seen import Seen
from mes_operator.trace import traced

FIELD_MANAGER = "holon-operator"
APPLIED_HASH = "mes.holon.dev/applied-hash"
"""Digest of the manifest last applied: tells a spec change (new digest) from a hand
edit (same digest, different fields)."""


def with_applied_hash(manifest: dict[str, Any]) -> dict[str, Any]:
    """``manifest`` annotated with its own digest."""
    canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:20]
    meta = dict(manifest["metadata"])
    meta["annotations"] = {**meta.get("annotations", {}), APPLIED_HASH: digest}
    return {**manifest, "metadata": meta}


class Action(StrEnum):
    """What ensuring a child did."""

    UNCHANGED = "unchanged"
    CREATED = "created"
    RECREATED = "recreated"
    UPDATED = "updated"
    CORRECTED = "corrected"


@dataclass(frozen=True, kw_only=True)
class Applied:
    """The outcome of ensuring one child."""

    kind: str
    name: str
    action: Action
    live: dict[str, Any]
    drift: list[str] = field(default_factory=list)
    managers: list[str] = field(default_factory=list)  # who else wrote the drifted object


def other_managers(live: Mapping[str, Any]) -> list[str]:
    """The field managers of ``live`` other than the operator: who changed it (a client's
    name, e.g. ``kubectl-edit``; the API server's audit log names the user)."""
    entries = live.get("metadata", {}).get("managedFields") or []
    return sorted({str(e.get("manager")) for e in entries if e.get("manager") != FIELD_MANAGER})


def is_not_found(exc: ApiError) -> bool:
    """Whether the API said 404."""
    return exc.status.code == 404


async def get_dict(
    client: AsyncClient, kind: str, name: str, namespace: str
) -> dict[str, Any] | None:
    """The live object as a dict, or None when it does not exist."""
    try:
        obj = await client.get(CHILD_RESOURCES[kind], name, namespace=namespace)
    except ApiError as exc:
        if is_not_found(exc):
            return None
        raise
    return dict(obj.to_dict())


async def ensure(
    client: AsyncClient,
    manifest: dict[str, Any],
    *,
    existed_before: bool,
    seen: Seen | None = None,
) -> Applied:
    """Create or correct ``manifest``'s object; ``existed_before`` tells a drift from a birth.
    With ``seen`` (the watched children), a child unchanged since it was last found to
    match is not read again (:mod:`mes_operator.kube.seen`)."""
    manifest = with_applied_hash(manifest)
    kind = manifest["kind"]
    meta = manifest["metadata"]
    name, namespace = meta["name"], meta["namespace"]
    key, wanted = (kind, namespace, name), meta["annotations"][APPLIED_HASH]
    if existed_before and seen is not None:
        known = seen.unchanged(key, wanted)
        if known is not None:
            return Applied(kind=kind, name=name, action=Action.UNCHANGED, live=dict(known))
    # A module never reconciled has no children worth comparing: apply straight away
    # (one request instead of two per child when 500 modules arrive at once).
    live = await get_dict(client, kind, name, namespace) if existed_before else None
    if live is None:
        action = Action.RECREATED if existed_before else Action.CREATED
        drift: list[str] = []
    else:
        drift = drifted_paths(manifest, live)
        if not drift:
            if seen is not None:
                seen.matched(key, wanted, live)
            return Applied(kind=kind, name=name, action=Action.UNCHANGED, live=live)
        live_hash = (live["metadata"].get("annotations") or {}).get(APPLIED_HASH)
        action = Action.CORRECTED if live_hash == wanted else Action.UPDATED
    async with traced(f"apply {kind}/{name}", namespace, name, action=action.value):
        applied = await client.patch(
            CHILD_RESOURCES[kind],
            name,
            manifest,
            namespace=namespace,
            patch_type=PatchType.APPLY,
            field_manager=FIELD_MANAGER,
            force=True,
        )
    result = dict(applied.to_dict())
    if seen is not None:
        seen.matched(key, wanted, result)
    return Applied(
        kind=kind,
        name=name,
        action=action,
        live=result,
        drift=drift,
        managers=other_managers(live) if live is not None else [],
    )


async def delete_owned(
    client: AsyncClient, kind: str, name: str, namespace: str, *, owner_uid: str
) -> bool:
    """Delete the object if (and only if) ``owner_uid`` owns it; True when a delete was sent."""
    live = await get_dict(client, kind, name, namespace)
    if live is None:
        return False
    owners = live.get("metadata", {}).get("ownerReferences") or []
    if not any(ref.get("uid") == owner_uid for ref in owners):
        return False
    try:
        await client.delete(CHILD_RESOURCES[kind], name, namespace=namespace)
    except ApiError as exc:
        if is_not_found(exc):
            return False
        raise
    return True


REPLACED_WHOLE = ("upgrade", "pendingEvidence")
"""Status fields written whole: a key the new value lacks is removed (a merge patch would
keep it, e.g. a previous attempt's backup location in a new attempt's upgrade status)."""


def status_patch(previous: Mapping[str, Any], status: Mapping[str, Any]) -> dict[str, Any]:
    """The merge patch that makes ``previous`` into ``status`` (pure)."""
    patch = dict(status)
    for key in REPLACED_WHOLE:
        before, after = previous.get(key), status.get(key)
        if isinstance(before, dict) and isinstance(after, dict):
            patch[key] = {**dict.fromkeys(set(before) - set(after)), **after}
        elif before is not None and after is None:
            patch[key] = None
    return patch


async def patch_module_status(
    client: AsyncClient,
    meta: Mapping[str, Any],
    previous: Mapping[str, Any],
    status: Mapping[str, Any],
) -> bool:
    """Patch a MESModule's status subresource once; skip when nothing changed."""
    if dict(previous) == dict(status):
        return False
    patch = status_patch(previous, status)
    async with traced("status patch", meta["namespace"], meta["name"], keys=",".join(patch)):
        await client.patch(
            MESModule.Status,
            meta["name"],
            {"status": patch},
            namespace=meta["namespace"],
            patch_type=PatchType.MERGE,
        )
    return True
