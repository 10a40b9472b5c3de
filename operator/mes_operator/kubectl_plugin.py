"""``kubectl mes``: Holon's kubectl plugin (installed as ``kubectl-mes``).

    kubectl mes status NAME [-n NAMESPACE]   a tree of the module's resources and conditions
    kubectl mes upgrade status NAME          the upgrade's phase table, cause and conditions
    kubectl mes upgrade pause|resume NAME    spec.paused (resume also ends a safe-point hold)
    kubectl mes upgrade retry NAME           a new attempt after a rollback or a failure
    kubectl mes rollback NAME                back to the old slot (before the contract only)
    kubectl mes approve NAME --meaning M     sign a Qualification's package (Part 11)
    kubectl mes evidence get NAME -o DIR     download a Qualification's evidence package
    kubectl mes evidence verify DIR --key K  check packages offline (no cluster needed)

Requests (retry, resume, rollback) are written to the ``mes.holon.dev/upgrade-request``
annotation as ``<verb>/<UTC time>``; the operator acts on each distinct value once.

``approve`` creates a QualificationApproval over the Qualification's package digest, signed
as the user the API server authenticates (the SelfSubjectReview API, as ``kubectl auth
whoami``); the chart's admission policy refuses any other signer, a wrong digest and a
signer who made the change, and that refusal is printed as the server's message.

In the spirit of ``kubectl argo rollouts get rollout``: one screen that says whether the
module is healthy, what it consists of, and why not. Rendering is a pure function of the
objects; only :func:`main` talks to the cluster.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from mes_operator.evidence import cli as evidence_cli
from mes_operator.evidence.store import StoreError
from mes_operator.models.approval import Meaning, QualificationApprovalSpec
from mes_operator.models.crds import API_VERSION, QUALIFICATION_APPROVAL
from mes_operator.models.mesmodule import UpgradePhase
from mes_operator.upgrade.observation import REQUEST_ANNOTATION

UPGRADE_ORDER = [
    p
    for p in UpgradePhase
    if p not in {UpgradePhase.ROLLING_BACK, UpgradePhase.ROLLED_BACK, UpgradePhase.FAILED}
]
"""The phases of a successful upgrade, in order."""

NEGATIVE = frozenset({"Degraded", "MigrationInProgress", "Progressing"})
"""Conditions that are healthy when False."""
CHILD_ORDER = ("ServiceAccount", "ConfigMap", "Deployment", "Service", "PodDisruptionBudget")


def _name(obj: Mapping[str, Any]) -> str:
    return str(obj.get("metadata", {}).get("name", "?"))


def _child_info(obj: Mapping[str, Any], module: Mapping[str, Any]) -> str:
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    active = (module.get("status") or {}).get("activeColour")
    if kind == "Deployment":
        colour = obj.get("metadata", {}).get("labels", {}).get("mes.holon.dev/colour")
        ready = f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)} ready"
        image = ((spec.get("template") or {}).get("spec") or {}).get("containers", [{}])[0]
        tag = str(image.get("image", "")).rsplit(":", 1)[-1]
        return f"{ready}, {tag}" + (" (active)" if colour == active else "")
    if kind == "Service":
        colour = (spec.get("selector") or {}).get("mes.holon.dev/colour", "?")
        return f"{spec.get('type', 'ClusterIP')} {spec.get('clusterIP', '')} -> {colour}".strip()
    if kind == "PodDisruptionBudget":
        return f"allowed disruptions {status.get('disruptionsAllowed', '?')}"
    if kind == "ConfigMap":
        return f"{len(obj.get('data') or {})} settings"
    return ""


def _symbol(type_: str, status: str) -> str:
    """✔ healthy, ✖ unhealthy, ⟳ in progress, ? unknown."""
    if status not in {"True", "False"}:
        return "?"
    if type_ == "Progressing" and status == "True":
        return "⟳"
    healthy = (status == "False") if type_ in NEGATIVE else (status == "True")
    return "✔" if healthy else "✖"


def _pod_info(pod: Mapping[str, Any]) -> str:
    status = pod.get("status") or {}
    ready = next(
        (c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"),
        "Unknown",
    )
    return f"{status.get('phase', 'Unknown')}, ready={ready}"


def render_status(
    module: Mapping[str, Any],
    children: Sequence[Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]] = (),
) -> str:
    """The text `kubectl mes status` prints for one module."""
    meta = module.get("metadata") or {}
    spec = module.get("spec") or {}
    status = module.get("status") or {}
    lines = [
        f"Name:          {meta.get('name')}",
        f"Namespace:     {meta.get('namespace')}",
        f"Module:        {spec.get('module')}",
        f"Version:       {spec.get('version')} (current: {status.get('currentVersion', '-')})",
        f"Phase:         {status.get('phase', 'Pending')}",
        f"Active colour: {status.get('activeColour', '-')}",
        f"Generation:    {meta.get('generation')} "
        f"(observed: {status.get('observedGeneration', '-')})",
    ]
    upgrade = status.get("upgrade")
    if upgrade:
        lines.append(
            f"Upgrade:       {upgrade.get('fromVersion')} -> {upgrade.get('toVersion')}"
            f" at {upgrade.get('phase')}"
        )
    lines += ["", "Conditions:"]
    conditions = status.get("conditions") or []
    if not conditions:
        lines.append("  (none yet: the operator has not reconciled this module)")
    for c in conditions:
        symbol = _symbol(str(c.get("type")), str(c.get("status")))
        lines.append(
            f"  {symbol} {c.get('type', ''):<20} {c.get('status', ''):<8}"
            f"{c.get('reason', ''):<24} {c.get('message', '')}".rstrip()
        )
    ordered = sorted(
        children,
        key=lambda o: (
            CHILD_ORDER.index(o["kind"]) if o.get("kind") in CHILD_ORDER else 99,
            _name(o),
        ),
    )
    lines += ["", f"{'RESOURCE':<48} {'KIND':<20} INFO"]
    lines.append(f"{_name(module):<48} {'MESModule':<20} {status.get('phase', 'Pending')}")
    for index, child in enumerate(ordered):
        last = index == len(ordered) - 1
        branch = "└── " if last else "├── "
        lines.append(
            f"{branch + _name(child):<48} {child.get('kind', ''):<20} "
            f"{_child_info(child, module)}".rstrip()
        )
        if child.get("kind") == "Deployment":
            colour = child.get("metadata", {}).get("labels", {}).get("mes.holon.dev/colour")
            mine = [
                p
                for p in pods
                if p.get("metadata", {}).get("labels", {}).get("mes.holon.dev/colour") == colour
            ]
            for pod_index, pod in enumerate(sorted(mine, key=_name)):
                stem = "    " if last else "│   "
                pod_branch = "└── " if pod_index == len(mine) - 1 else "├── "
                lines.append(f"{stem + pod_branch + _name(pod):<48} {'Pod':<20} {_pod_info(pod)}")
    return "\n".join(lines) + "\n"


def _fetch(
    client: Any, name: str, namespace: str
) -> tuple[dict[str, Any], list[dict[str, Any]], list[Any]]:
    from lightkube import ApiError
    from lightkube.resources.core_v1 import Pod

    from mes_operator.kube.resources import CHILD_RESOURCES, MESModule

    module = dict(client.get(MESModule, name, namespace=namespace).to_dict())
    wanted = [
        ("ServiceAccount", name),
        ("ConfigMap", f"{name}-config"),
        ("Deployment", f"{name}-blue"),
        ("Deployment", f"{name}-green"),
        ("Service", name),
        ("Service", f"{name}-preview"),  # during a blue-green upgrade
        ("PodDisruptionBudget", name),
    ]
    children = []
    for kind, child in wanted:
        try:
            obj = dict(client.get(CHILD_RESOURCES[kind], child, namespace=namespace).to_dict())
        except ApiError as exc:
            if exc.status.code == 404:
                continue
            raise
        obj.setdefault("kind", kind)
        children.append(obj)
    pods = [
        p.to_dict()
        for p in client.list(
            Pod,
            namespace=namespace,
            labels={"app.kubernetes.io/name": "mes-runtime", "app.kubernetes.io/instance": name},
        )
    ]
    return module, children, pods


def render_upgrade(module: Mapping[str, Any]) -> str:
    """The text `kubectl mes upgrade status` prints: one row per phase, ✔ done, ⟳ now."""
    meta = module.get("metadata") or {}
    status = module.get("status") or {}
    upgrade = status.get("upgrade")
    lines = [f"Name:          {meta.get('name')}"]
    if not upgrade:
        lines.append(f"Upgrade:       none (version {status.get('currentVersion', '-')})")
        return "\n".join(lines) + "\n"
    phase = str(upgrade.get("phase"))
    lines += [
        f"Upgrade:       {upgrade.get('fromVersion')} -> {upgrade.get('toVersion')} "
        f"in {upgrade.get('colour', 'green')} (attempt {upgrade.get('attempt', 1)})",
        f"Phase:         {phase}" + (" (held)" if upgrade.get("held") else ""),
        f"Started:       {upgrade.get('startedAt')}",
    ]
    for label, key in (("Cause", "cause"), ("Message", "message"), ("Backup", "backupLocation")):
        if upgrade.get(key):
            lines.append(f"{label + ':':<15}{upgrade[key]}")
    order = [p.value for p in UPGRADE_ORDER]
    reached = order.index(phase) if phase in order else -1
    lines += ["", f"  {'PHASE':<28} STATE"]
    for index, name in enumerate(order):
        if phase == UpgradePhase.QUALIFIED.value or index < reached:
            state = "✔ done"
        elif index == reached:
            state = "⟳ now" + (
                f", since {upgrade.get('phaseStartedAt')}" if upgrade.get("phaseStartedAt") else ""
            )
        else:
            state = "·"
        lines.append(f"  {name:<28} {state}")
    if reached < 0:
        lines.append(f"  {phase:<28} ✖ {upgrade.get('cause', '')}".rstrip())
    lines += ["", "Conditions:"]
    for c in status.get("conditions") or []:
        if c.get("type") in NEGATIVE:
            symbol = _symbol(str(c.get("type")), str(c.get("status")))
            lines.append(
                f"  {symbol} {c.get('type', ''):<20} {c.get('status', ''):<8}"
                f"{c.get('reason', ''):<24} {c.get('message', '')}".rstrip()
            )
    return "\n".join(lines) + "\n"


def upgrade_patch(action: str, *, now: datetime) -> dict[str, Any]:
    """The merge patch ``kubectl mes upgrade ACTION`` / ``kubectl mes rollback`` sends."""
    if action == "pause":
        return {"spec": {"paused": True}}
    request = {
        "metadata": {"annotations": {REQUEST_ANNOTATION: f"{action}/{now:%Y-%m-%dT%H:%M:%S.%fZ}"}}
    }
    if action == "resume":
        return {"spec": {"paused": False}, **request}
    if action in {"retry", "rollback"}:
        return request
    raise ValueError(f"unknown upgrade action {action!r}")


MAX_NAME = 253
"""The longest name Kubernetes gives a custom resource (an RFC 1123 subdomain)."""


class ApprovalError(Exception):
    """The approval cannot be written: what is missing, in words for the signer."""


def approval_name(qualification: str, meaning: str, suffix: str) -> str:
    """``<qualification>-<meaning>-<suffix>``, the Qualification's part shortened to fit."""
    tail = f"-{meaning}-{suffix}"
    head = qualification[: MAX_NAME - len(tail)].rstrip("-.")
    return head + tail


def signer_of(review: Mapping[str, Any]) -> str:
    """The authenticated username in a SelfSubjectReview's status."""
    username = ((review.get("status") or {}).get("userInfo") or {}).get("username")
    if not username:
        raise ApprovalError("the API server did not say who you are (SelfSubjectReview)")
    return str(username)


def approval_manifest(
    qualification: Mapping[str, Any],
    *,
    meaning: str,
    signer: str,
    now: datetime,
    suffix: str,
    comment: str | None = None,
) -> dict[str, Any]:
    """The QualificationApproval that signs ``qualification``'s package as ``signer``."""
    meta = qualification.get("metadata") or {}
    name = str(meta.get("name", ""))
    digest = (qualification.get("spec") or {}).get("digest")
    if not digest:
        raise ApprovalError(f"qualification/{name} has no spec.digest: nothing to sign")
    spec = QualificationApprovalSpec(
        qualification=name,
        digest=str(digest),
        signer=signer,
        meaning=Meaning(meaning),
        signed_at=f"{now.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}",
        comment=comment or None,
    )
    return {
        "apiVersion": API_VERSION,
        "kind": QUALIFICATION_APPROVAL.kind,
        "metadata": {
            "name": approval_name(name, spec.meaning.value, suffix),
            "namespace": meta.get("namespace"),
        },
        "spec": spec.model_dump(by_alias=True, exclude_none=True, mode="json"),
    }


def render_approval(approval: Mapping[str, Any]) -> str:
    """What `kubectl mes approve` prints once the API server has admitted the signature."""
    meta = approval.get("metadata") or {}
    spec = approval.get("spec") or {}
    lines = [
        f"qualificationapproval/{meta.get('name')} created in {meta.get('namespace')}",
        f"Qualification: {spec.get('qualification')}",
        f"Digest:        {spec.get('digest')}",
        f"Signer:        {spec.get('signer')}",
        f"Meaning:       {spec.get('meaning')}",
        f"Signed at:     {spec.get('signedAt')}",
    ]
    if spec.get("comment"):
        lines.append(f"Comment:       {spec['comment']}")
    return "\n".join(lines) + "\n"


def approve(
    client: Any,
    name: str,
    namespace: str,
    *,
    meaning: str,
    comment: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Sign Qualification ``name`` as the client's authenticated user; the created object.

    The API server's refusals (RBAC, the admission policy) propagate as ``ApiError``.
    """
    from lightkube.resources.authentication_v1 import SelfSubjectReview

    from mes_operator.kube.resources import Qualification, QualificationApproval

    qualification = dict(client.get(Qualification, name, namespace=namespace).to_dict())
    signer = signer_of(dict(client.create(SelfSubjectReview()).to_dict()))
    manifest = approval_manifest(
        qualification,
        meaning=meaning,
        signer=signer,
        now=now or datetime.now(UTC),
        suffix=secrets.token_hex(3),
        comment=comment,
    )
    created = client.create(QualificationApproval.from_dict(manifest), namespace=namespace)
    return dict(created.to_dict())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubectl mes", description="Holon's kubectl plugin")
    sub = parser.add_subparsers(dest="command", required=True)

    def named(target: Any, command: str, help_: str) -> None:
        p = target.add_parser(command, help=help_)
        p.add_argument("name", help="MESModule name")
        p.add_argument("-n", "--namespace", default=None, help="namespace (default: context's)")

    named(sub, "status", "tree of a MESModule's resources and conditions")
    named(sub, "rollback", "roll an upgrade back to the old slot (before its contract only)")
    upgrade = sub.add_parser("upgrade", help="the blue-green upgrade of a MESModule")
    actions = upgrade.add_subparsers(dest="action", required=True)
    named(actions, "status", "the upgrade's phase table")
    named(actions, "pause", "hold the upgrade between phases (spec.paused)")
    named(actions, "resume", "continue a paused or held upgrade")
    named(actions, "retry", "a new attempt after a rollback or a failure")
    sign = sub.add_parser("approve", help="sign a Qualification's evidence package (Part 11)")
    sign.add_argument("name", help="Qualification name")
    sign.add_argument(
        "--meaning", required=True, choices=[m.value for m in Meaning], help="what you sign"
    )
    sign.add_argument("--comment", default=None, help="a remark recorded with the signature")
    sign.add_argument("-n", "--namespace", default=None, help="namespace (default: context's)")
    evidence_cli.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``kubectl-mes``; returns the exit code."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "evidence" and args.evidence_command == "verify":
        return evidence_cli.run(args)  # offline: no cluster, no kubeconfig
    from lightkube import ApiError, Client
    from lightkube.types import PatchType

    from mes_operator.kube.resources import MESModule

    client = Client()
    namespace = args.namespace or client.namespace
    action = "rollback" if args.command == "rollback" else getattr(args, "action", None)
    try:
        if args.command == "status":
            module, children, pods = _fetch(client, args.name, namespace)
            sys.stdout.write(render_status(module, children, pods))
        elif args.command == "approve":
            approval = approve(
                client, args.name, namespace, meaning=args.meaning, comment=args.comment
            )
            sys.stdout.write(render_approval(approval))
        elif args.command == "evidence":
            location = evidence_cli.get(client, args.name, namespace, args.output)
            print(f"qualification/{args.name}: package from {location} written to {args.output}")
        elif action == "status":
            obj = client.get(MESModule, args.name, namespace=namespace)
            sys.stdout.write(render_upgrade(dict(obj.to_dict())))
        else:
            patch = upgrade_patch(str(action), now=datetime.now(UTC))
            client.patch(
                MESModule, args.name, patch, namespace=namespace, patch_type=PatchType.MERGE
            )
            print(f"mesmodule/{args.name}: {action} requested")
    except ApiError as exc:
        print(f"kubectl mes: {exc.status.message}", file=sys.stderr)
        return 1
    except (ApprovalError, StoreError, OSError) as exc:
        print(f"kubectl mes: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()  # main() is also called in-process (the e2e tests)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
