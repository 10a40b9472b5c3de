"""Installation qualification from the live system (DESIGN §7, issue 11 part 2).

Pure: the operator reads the objects (:class:`Observed`) and this module turns them into
IQ rows, the raw evidence files they name, the *facts* (what was found, in one canonical
object kept in the package as ``evidence/iq/facts.json``) and the differences from the
approved baseline's facts, each explained by the change or a deviation.

Nothing here reads a Secret: credentials appear only as the names and keys the workload
references.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from mes_operator.drift import drifted_paths
from mes_operator.evidence.canonical import canonical, digest
from mes_operator.evidence.package import Deviation, Requirement, Result, Row

__all__ = [
    "FACTS",
    "IqResult",
    "Observed",
    "differences",
    "installation_qualification",
    "load_requirements",
]

FACTS = "evidence/iq/facts.json"

#: Per event, the facts its change is expected to move (a difference there is explained);
#: any other difference from the baseline is a deviation a person must assess.
EXPLAINED: Mapping[str, frozenset[str]] = {
    "Install": frozenset(),
    "Upgrade": frozenset(
        {"image", "version", "schema", "settings", "config", "operator", "crds", "replicas"}
    ),
    "Rollback": frozenset(
        {"image", "version", "schema", "settings", "config", "operator", "crds", "replicas"}
    ),
    "DatabaseMove": frozenset({"settings", "config", "secrets"}),
    "Drift": frozenset(),
    "Interface": frozenset({"equipment"}),
}


def load_requirements() -> list[Requirement]:
    """The URS shipped with the operator (``evidence/requirements.yaml``)."""
    text = resources.files("mes_operator.evidence").joinpath("requirements.yaml").read_text()
    return [Requirement(id=r["id"], text=r["text"], risk=r["risk"]) for r in yaml.safe_load(text)]


@dataclass(frozen=True, kw_only=True)
class Observed:
    """What the operator read for one module, at one moment."""

    at: str  # RFC 3339 UTC: when it was read (every row's timestamp)
    module: Mapping[str, Any]  # the MESModule
    desired: Sequence[Mapping[str, Any]]  # the children as the spec renders them
    live: Mapping[tuple[str, str], Mapping[str, Any] | None]  # (kind, name) -> object
    pods: Sequence[Mapping[str, Any]]  # the active slot's Pods
    crds_shipped: Mapping[str, Mapping[str, Any]]  # name -> CRD as this operator ships it
    crds_live: Mapping[str, Mapping[str, Any] | None]  # name -> installed CRD
    role_bindings: Sequence[Mapping[str, Any]]  # RoleBindings of the module's namespace
    installation: Mapping[str, Any] | None  # the runtime's GET /api/v1/upgrade/installation
    installation_error: str | None = None  # why it is None
    equipment: Sequence[Mapping[str, Any]] = ()  # the namespace's Equipment
    operator_version: str
    chart_version: str | None = None


@dataclass(frozen=True)
class IqResult:
    rows: list[Row]
    evidence: dict[str, bytes]
    facts: dict[str, Any]
    deviations: list[Deviation] = field(default_factory=list)


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).encode() + b"\n"


class _Rows:
    """Collects rows and the evidence files they name."""

    def __init__(self, at: str) -> None:
        self.at = at
        self.rows: list[Row] = []
        self.evidence: dict[str, bytes] = {}

    def add(
        self,
        requirement: str,
        *,
        expected: Any,
        actual: Any,
        ok: bool,
        evidence: str,
        content: Any,
        note: str | None = None,
    ) -> None:
        path = f"evidence/iq/{evidence}"
        if path not in self.evidence:
            self.evidence[path] = _json(content)
        self.rows.append(
            Row(
                id=f"IQ-{len(self.rows) + 1:02d}",
                requirement=requirement,
                expected=expected,
                actual=actual,
                result=Result.PASS if ok else Result.FAIL,
                timestamp=self.at,
                evidence=path,
                note=note,
            )
        )


def _container(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = obj.get("spec", {}).get("template", {}).get("spec", {})
    containers: list[Mapping[str, Any]] = spec.get("containers") or [{}]
    return containers[0]


def _pod_summary(pod: Mapping[str, Any]) -> dict[str, Any]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return {
        "name": pod.get("metadata", {}).get("name"),
        "node": (pod.get("spec") or {}).get("nodeName"),
        "phase": (pod.get("status") or {}).get("phase"),
        "containers": [
            {
                "name": s.get("name"),
                "image": s.get("image"),
                "imageID": s.get("imageID"),
                "ready": s.get("ready"),
                "restartCount": s.get("restartCount"),
            }
            for s in statuses
        ],
    }


def _images(rows: _Rows, obs: Observed, name: str, facts: dict[str, Any]) -> None:
    deployment = next((d for d in obs.desired if d.get("kind") == "Deployment"), {})
    container = _container(deployment)
    expected = container.get("image")
    pods = [_pod_summary(p) for p in obs.pods]
    running = [c for p in pods for c in p["containers"] if c["name"] == container.get("name")]
    digests = sorted({str(c["imageID"]) for c in running if c.get("imageID")})
    refs = sorted({str(c["image"]) for c in running})
    ok = (
        bool(running)
        and all(c.get("ready") for c in running)
        and len(digests) == 1
        and all(_same_image(ref, str(expected)) for ref in refs)
    )
    facts["image"] = {"ref": expected, "digests": digests}
    rows.add(
        "URS-IQ-01",
        expected=f"every ready Pod of {name} runs {expected}, one digest",
        actual={"images": refs, "digests": digests, "pods": len(pods)},
        ok=ok,
        evidence="pods.json",
        content=pods,
    )


def _same_image(running: str, expected: str) -> bool:
    """The kubelet may report a registry-qualified name (docker.io/...) for a short one."""
    return running == expected or running.endswith("/" + expected)


def _runtime(rows: _Rows, obs: Observed, facts: dict[str, Any]) -> None:
    answer = obs.installation
    want = obs.module.get("spec", {}).get("version")
    why = obs.installation_error or "no answer"
    content = answer if answer is not None else {"error": why}
    version = None if answer is None else answer.get("version")
    facts["version"] = version
    rows.add(
        "URS-IQ-02",
        expected=want,
        actual=version if answer is not None else f"runtime not asked: {why}",
        ok=version == want,
        evidence="installation.json",
        content=content,
    )
    schema = (answer or {}).get("schema") or {}
    facts["schema"] = {"current": schema.get("current"), "heads": schema.get("heads")}
    rows.add(
        "URS-IQ-03",
        expected={"heads": schema.get("heads")},
        actual={"current": schema.get("current"), "dialect": schema.get("dialect")},
        ok=bool(schema.get("atHeads")),
        evidence="installation.json",
        content=content,
    )
    facts["settings"] = (answer or {}).get("settingsDigest")
    rows.add(
        "URS-IQ-08",
        expected="the runtime reports its settings (compared with the baseline below)",
        actual=(answer or {}).get("settingsDigest") or f"not reported: {why}",
        ok=bool((answer or {}).get("settingsDigest")),
        evidence="installation.json",
        content=content,
    )


def _crds(rows: _Rows, obs: Observed, facts: dict[str, Any]) -> None:
    found: dict[str, Any] = {}
    problems: dict[str, Any] = {}
    for name, shipped in sorted(obs.crds_shipped.items()):
        live = obs.crds_live.get(name)
        if live is None:
            problems[name] = "not installed"
            continue
        drift = drifted_paths(shipped.get("spec"), live.get("spec"))
        if drift:
            problems[name] = drift[:20]
        found[name] = digest(canonical(live.get("spec", {}).get("versions", [])))
    facts["crds"] = found
    rows.add(
        "URS-IQ-04",
        expected=f"{len(obs.crds_shipped)} CRDs as operator {obs.operator_version} ships them",
        actual=problems or "all as shipped",
        ok=not problems,
        evidence="crds.json",
        content={"digests": found, "differences": problems},
    )


def _rbac(rows: _Rows, obs: Observed, name: str, facts: dict[str, Any]) -> None:
    account = obs.live.get(("ServiceAccount", name))
    namespace = obs.module.get("metadata", {}).get("namespace")
    grants = [
        {"binding": b.get("metadata", {}).get("name"), "role": b.get("roleRef")}
        for b in obs.role_bindings
        if any(
            s.get("kind") == "ServiceAccount"
            and s.get("name") == name
            and s.get("namespace", namespace) == namespace
            for s in b.get("subjects") or []
        )
    ]
    automount = None if account is None else account.get("automountServiceAccountToken")
    facts["rbac"] = {"automountToken": automount, "bindings": grants}
    rows.add(
        "URS-IQ-05",
        expected={"serviceAccount": name, "automountToken": False, "bindings": []},
        actual={
            "serviceAccount": None if account is None else name,
            "automountToken": automount,
            "bindings": grants,
        },
        ok=account is not None and automount is False and not grants,
        evidence="rbac.json",
        content={"serviceAccount": account, "bindings": grants},
    )


def _children(rows: _Rows, obs: Observed, facts: dict[str, Any]) -> None:
    differences: dict[str, Any] = {}
    for desired in obs.desired:
        key = (str(desired.get("kind")), str(desired.get("metadata", {}).get("name")))
        live = obs.live.get(key)
        if live is None:
            differences[f"{key[0]}/{key[1]}"] = "missing"
            continue
        drift = drifted_paths(desired, live)
        if drift:
            differences[f"{key[0]}/{key[1]}"] = drift[:20]
    config = next((obj for (kind, _), obj in obs.live.items() if kind == "ConfigMap" and obj), None)
    facts["config"] = None if config is None else digest(canonical(config.get("data") or {}))
    rows.add(
        "URS-IQ-06",
        expected=f"{len(obs.desired)} children as the spec renders them",
        actual=differences or "all as rendered",
        ok=not differences,
        evidence="children.json",
        content={
            "desired": list(obs.desired),
            "differences": differences,
            "config": None if config is None else config.get("data"),
        },
    )


def _secret_refs(obj: Mapping[str, Any]) -> list[str]:
    """``name/key`` of every Secret the Pod template references (never a value)."""
    spec = obj.get("spec", {}).get("template", {}).get("spec", {})
    refs: set[str] = set()
    for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        for env in container.get("env") or []:
            ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                refs.add(f"{ref.get('name')}/{ref.get('key')}")
        for source in container.get("envFrom") or []:
            if source.get("secretRef"):
                refs.add(f"{source['secretRef'].get('name')}/*")
    for volume in spec.get("volumes") or []:
        if volume.get("secret"):
            refs.add(f"{volume['secret'].get('secretName')}/*")
    return sorted(refs)


def _secrets(rows: _Rows, obs: Observed, facts: dict[str, Any]) -> None:
    deployments = [d for d in obs.desired if d.get("kind") == "Deployment"]
    expected = sorted({r for d in deployments for r in _secret_refs(d)})
    actual = sorted(
        {
            r
            for d in deployments
            for r in _secret_refs(
                obs.live.get(("Deployment", str(d.get("metadata", {}).get("name")))) or {}
            )
        }
    )
    facts["secrets"] = actual
    rows.add(
        "URS-IQ-07",
        expected=expected,
        actual=actual,
        ok=expected == actual,
        evidence="secret-references.json",
        content={"referenced": actual, "note": "names and keys only; no value was read"},
    )


def _equipment(rows: _Rows, obs: Observed, facts: dict[str, Any]) -> None:
    found: dict[str, Any] = {}
    unverified: list[str] = []
    for unit in obs.equipment:
        name = str(unit.get("metadata", {}).get("name"))
        conditions = (unit.get("status") or {}).get("conditions") or []
        ready = next((c.get("status") for c in conditions if c.get("type") == "Verified"), None)
        found[name] = {"spec": digest(canonical(unit.get("spec") or {})), "ready": ready}
        if ready != "True":
            unverified.append(name)
    facts["equipment"] = {name: v["spec"] for name, v in found.items()}
    rows.add(
        "URS-IQ-09",
        expected="every Equipment of the namespace Verified (by the operator's check)",
        actual=found or "no Equipment declared",
        ok=not unverified,
        evidence="equipment.json",
        content=[
            {
                "name": u.get("metadata", {}).get("name"),
                "spec": u.get("spec"),
                "status": u.get("status"),
            }
            for u in obs.equipment
        ],
        note=None if not unverified else f"not verified: {', '.join(sorted(unverified))}",
    )


def _replicas(rows: _Rows, obs: Observed, facts: dict[str, Any]) -> None:
    want = obs.module.get("spec", {}).get("replicas")
    ready = sum(
        1
        for p in obs.pods
        if any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (p.get("status") or {}).get("conditions") or []
        )
    )
    facts["replicas"] = want
    rows.add(
        "URS-IQ-10",
        expected=want,
        actual=ready,
        ok=want is not None and ready >= int(want),
        evidence="pods.json",
        content=[_pod_summary(p) for p in obs.pods],
    )


STEPS: Sequence[Callable[[_Rows, Observed, dict[str, Any]], None]] = (
    _runtime,
    _crds,
    _children,
    _secrets,
    _equipment,
    _replicas,
)


def installation_qualification(
    obs: Observed, *, event: str, baseline_facts: Mapping[str, Any] | None
) -> IqResult:
    """The IQ rows of one module as observed, and its differences from the baseline."""
    name = str(obs.module.get("metadata", {}).get("name"))
    rows = _Rows(obs.at)
    facts: dict[str, Any] = {
        "operator": {"version": obs.operator_version, "chart": obs.chart_version}
    }
    _images(rows, obs, name, facts)
    _rbac(rows, obs, name, facts)
    for step in STEPS:
        step(rows, obs, facts)
    rows.rows.sort(key=lambda r: (r.requirement, r.id))
    renumbered = [
        dataclasses.replace(row, id=f"IQ-{i:02d}") for i, row in enumerate(rows.rows, start=1)
    ]
    evidence = {**rows.evidence, FACTS: _json(facts)}
    deviations = [] if baseline_facts is None else differences(baseline_facts, facts, event=event)
    return IqResult(rows=renumbered, evidence=evidence, facts=facts, deviations=deviations)


def differences(
    baseline: Mapping[str, Any], facts: Mapping[str, Any], *, event: str
) -> list[Deviation]:
    """One entry per fact that differs from the baseline's, explained when the event's
    change is expected to move it (:data:`EXPLAINED`), a deviation otherwise."""
    explained = EXPLAINED.get(event, frozenset())
    out: list[Deviation] = []
    for key in sorted(set(baseline) | set(facts)):
        before, after = baseline.get(key), facts.get(key)
        if canonical(before) == canonical(after):
            continue
        ok = key in explained
        out.append(
            Deviation(
                id=f"DEV-{len(out) + 1:02d}",
                subject=key,
                baseline=before,
                actual=after,
                explained=ok,
                explanation=(
                    f"expected: a {event.lower()} changes the {key}"
                    if ok
                    else f"a {event.lower()} does not change the {key}: assess this difference"
                ),
            )
        )
    return out
