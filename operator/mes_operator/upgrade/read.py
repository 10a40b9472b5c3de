"""Pure readers: Kubernetes objects and runtime answers -> what the machine observes.

The operator fetches (a Job, its Pod, a Deployment, ``GET /api/v1/upgrade/safe-point``
and ``/owner``) and these turn the raw answers into :class:`.observation.Observation`
parts, so that the only untested code left is the fetching itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mes_operator.models.mesmodule import Colour
from mes_operator.upgrade.observation import JobState, SafePoint

__all__ = [
    "BackupResult",
    "backup_result",
    "grant",
    "job_state",
    "safe_point",
    "slot_ready",
    "termination",
]

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_HEX = re.compile(r"^[0-9a-f]{64}$")  # the runtime writes the bare hex digest


def _true(conditions: Any, type_: str) -> bool:
    return any(c.get("type") == type_ and c.get("status") == "True" for c in conditions or ())


def job_state(job: Mapping[str, Any] | None) -> JobState:
    """A Job's state from its status conditions (``Complete`` / ``Failed``)."""
    if job is None:
        return JobState.ABSENT
    conditions = (job.get("status") or {}).get("conditions")
    if _true(conditions, "Complete"):
        return JobState.SUCCEEDED
    if _true(conditions, "Failed"):
        return JobState.FAILED
    return JobState.RUNNING


def _terminated(pod: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The Job container's ``state.terminated`` (empty when it has not ended)."""
    statuses = ((pod or {}).get("status") or {}).get("containerStatuses") or []
    state = (statuses[0].get("state") or {}) if statuses else {}
    return state.get("terminated") or {}


def termination(pod: Mapping[str, Any] | None) -> str:
    """How a Job's Pod ended, in its own words: exit code, reason and the end of its
    termination message (its log's tail on an error: ``FallbackToLogsOnError``)."""
    ended = _terminated(pod)
    if not ended:
        return "its Pod reported no exit (none ended, or none is left)"
    said = f"exit code {ended.get('exitCode', '?')}"
    if ended.get("reason"):
        said += f" ({ended['reason']})"
    message = str(ended.get("message") or "").strip()
    return f"{said}: {message[-500:]}" if message else said


@dataclass(frozen=True, kw_only=True)
class BackupResult:
    """What the backup Job reported (its Pod's termination message)."""

    location: str | None = None
    digest: str | None = None
    problem: str | None = None


def backup_result(pod: Mapping[str, Any] | None) -> BackupResult:
    """The backup Job's result: the summary ``mes-runtime backup create --verify
    --result-file`` writes as its container's termination message (``verified``,
    ``location``, ``digest`` - the dump's sha256 - and ``mismatches`` or ``error``).
    Anything short of a verified backup with a well-formed location and digest is a
    problem, named."""
    message = _terminated(pod).get("message")
    if not message:
        return BackupResult(problem="the backup Job reported nothing")
    try:
        data = json.loads(message)
    except ValueError:
        return BackupResult(problem=f"the backup Job said: {message.strip()[-500:]}")
    if not isinstance(data, dict):
        return BackupResult(problem="the backup Job's report is not an object")
    if data.get("verified") is not True:
        return BackupResult(problem=_why_not_verified(data))
    location, digest = data.get("location"), data.get("digest")
    if isinstance(digest, str) and _HEX.match(digest):
        digest = f"sha256:{digest}"
    if not isinstance(location, str) or not location.startswith("s3://"):
        return BackupResult(problem=f"backup location {location!r} is not s3://")
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        return BackupResult(problem=f"backup digest {digest!r} is not sha256:<64 hex>")
    return BackupResult(location=location, digest=digest)


def _why_not_verified(data: Mapping[str, Any]) -> str:
    if data.get("error"):
        return str(data["error"])[:500]
    mismatches = data.get("mismatches")
    if isinstance(mismatches, list) and mismatches:
        return "the restored backup differs in: " + ", ".join(str(m) for m in mismatches)
    code = data.get("exit_code")
    return "backup not verified" + (f" (exit code {code})" if code is not None else "")


def slot_ready(deployment: Mapping[str, Any] | None, version: str) -> bool:
    """Every replica of the slot's Deployment is updated, ready and runs ``version``."""
    if deployment is None:
        return False
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    meta = deployment.get("metadata") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or [{}]
    replicas = int(spec.get("replicas", 1))
    return (
        str(containers[0].get("image", "")).endswith(f":{version}")
        and int(status.get("observedGeneration", 0)) >= int(meta.get("generation", 0))
        and int(status.get("updatedReplicas", 0)) == replicas
        and int(status.get("readyReplicas", 0)) == replicas
        and int(status.get("replicas", 0)) == replicas
    )


def safe_point(answer: Mapping[str, Any]) -> SafePoint:
    """``GET /api/v1/upgrade/safe-point``: the first blocker names batch and element."""
    blocking = answer.get("blocking") or []
    if answer.get("safe") is True and not blocking:
        return SafePoint(safe=True)
    first = blocking[0] if blocking else {}
    return SafePoint(safe=False, batch=first.get("batch_id"), element=first.get("element"))


def grant(answer: Mapping[str, Any]) -> tuple[Colour | None, bool]:
    """``GET /api/v1/upgrade/owner``: the colour granted (None: every replica) and whether
    an upgrade is pending."""
    colour = answer.get("colour")
    return (Colour(colour) if colour else None), bool(answer.get("upgrade_pending"))
