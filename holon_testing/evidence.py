"""A module as the operator observes it right after a good install, for the IQ tests and
the evidence benchmark: its children as the spec renders them and as the API server returns
them, two ready Pods running one image digest, the CRDs as shipped, one verified Equipment
and the runtime's installation answer. ``observed(**changes)`` replaces any field."""

from __future__ import annotations

import copy
from typing import Any

from mes_operator.builders import ModuleContext, build_children
from mes_operator.evidence.iq import IqResult, Observed, load_requirements
from mes_operator.evidence.package import Header, Package
from mes_operator.models.crds import all_crds

__all__ = [
    "DIGEST",
    "INSTALLATION",
    "MODULE",
    "NOW",
    "install_package",
    "live_copy",
    "observed",
    "pod",
]

NOW = "2026-12-01T18:30:00Z"
DIGEST = "sha256:" + "1f" * 32
MODULE: dict[str, Any] = {
    "apiVersion": "mes.holon.dev/v1alpha1",
    "kind": "MESModule",
    "metadata": {"name": "batch", "namespace": "plant-a", "uid": "u-1", "generation": 1},
    "spec": {"module": "batch-execution", "version": "1.4.2", "replicas": 2},
}
INSTALLATION = {
    "version": "1.4.2",
    "schema": {"current": ["a1"], "heads": ["a1"], "atHeads": True, "dialect": "sqlite"},
    "settingsDigest": "sha256:" + "2e" * 32,
    "settings": {"timezone": "UTC"},
}


def live_copy(desired: dict[str, Any]) -> dict[str, Any]:
    """What the API server gives back: the object plus fields it and others add."""
    live = copy.deepcopy(desired)
    live["metadata"] = {**live["metadata"], "uid": "x", "resourceVersion": "7"}
    if live["kind"] == "Deployment":
        live["status"] = {"readyReplicas": 2}
        live["spec"]["template"]["spec"]["dnsPolicy"] = "ClusterFirst"
    return live


def pod(name: str, image: str, image_id: str = DIGEST, ready: bool = True) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"nodeName": "node-1"},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [
                {
                    "name": "runtime",
                    "image": image,
                    "imageID": image_id,
                    "ready": ready,
                    "restartCount": 0,
                }
            ],
        },
    }


def observed(**changes: Any) -> Observed:
    desired = build_children(ModuleContext.from_body(MODULE))
    image = next(d for d in desired if d["kind"] == "Deployment")
    ref = image["spec"]["template"]["spec"]["containers"][0]["image"]
    crds = {crd["metadata"]["name"]: crd for crd in all_crds().values()}
    base: dict[str, Any] = {
        "at": NOW,
        "module": MODULE,
        "desired": desired,
        "live": {(d["kind"], d["metadata"]["name"]): live_copy(d) for d in desired},
        "pods": [pod("batch-blue-1", ref), pod("batch-blue-2", f"docker.io/{ref}")],
        "crds_shipped": crds,
        "crds_live": {
            name: {**copy.deepcopy(c), "status": {"acceptedNames": {}}} for name, c in crds.items()
        },
        "role_bindings": [
            {
                "metadata": {"name": "other"},
                "roleRef": {"name": "view"},
                "subjects": [{"kind": "ServiceAccount", "name": "someone-else"}],
            }
        ],
        "installation": INSTALLATION,
        "equipment": [
            {
                "metadata": {"name": "br-101"},
                "spec": {"endpoint": "opc.tcp://br-101:4840"},
                "status": {"conditions": [{"type": "Verified", "status": "True"}]},
            }
        ],
        "operator_version": "0.3.0",
        "chart_version": "0.3.0",
    }
    base.update(changes)
    return Observed(**base)


def install_package(iq: IqResult) -> Package:
    """The install package of :data:`MODULE` with ``iq``'s rows and differences."""
    return Package(
        header=Header(
            module=MODULE["metadata"]["name"],
            namespace=MODULE["metadata"]["namespace"],
            qualification="batch-install-1",
            event="Install",
            to_version=MODULE["spec"]["version"],
            created_at=NOW,
            operator_version="0.3.0",
        ),
        intended_use="test",
        risk="low",
        requirements=load_requirements(),
        iq=iq.rows,
        deviations=iq.deviations,
    )
