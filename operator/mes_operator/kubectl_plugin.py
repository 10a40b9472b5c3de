"""``kubectl mes``: Holon's kubectl plugin (installed as ``kubectl-mes``).

    kubectl mes status NAME [-n NAMESPACE]   a tree of the module's resources and conditions

In the spirit of ``kubectl argo rollouts get rollout``: one screen that says whether the
module is healthy, what it consists of, and why not. Rendering is a pure function of the
objects; only :func:`main` talks to the cluster.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from typing import Any

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


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``kubectl-mes``; returns the exit code."""
    parser = argparse.ArgumentParser(prog="kubectl mes", description="Holon's kubectl plugin")
    sub = parser.add_subparsers(dest="command", required=True)
    status = sub.add_parser("status", help="tree of a MESModule's resources and conditions")
    status.add_argument("name", help="MESModule name")
    status.add_argument("-n", "--namespace", default=None, help="namespace (default: context's)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    from lightkube import ApiError, Client

    client = Client()
    namespace = args.namespace or client.namespace
    try:
        module, children, pods = _fetch(client, args.name, namespace)
    except ApiError as exc:
        print(f"kubectl mes: {exc.status.message}", file=sys.stderr)
        return 1
    sys.stdout.write(render_status(module, children, pods))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
