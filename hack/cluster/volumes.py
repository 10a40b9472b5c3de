"""The local cluster's storage: a default StorageClass and a small dynamic provisioner that
gives each claim a directory on this host.

Why our own: the local cluster's nodes are this machine (the real node) and kwok's
simulated ones, so a hostPath directory per claim is what "local storage" means here.
kube-controller-manager's built-in hostpath provisioner creates its directories as root
with mode 0750, which the runtime's non-root user cannot write; the usual add-on
provisioners need container images of their own. This one is a plain process beside the
control plane, like kwok: it watches PersistentVolumeClaims of the class ``holon-local``
(the default class, so a claim that names none gets it), creates a directory and a
PersistentVolume bound to the claim, and deletes both when the claim is gone (reclaim
policy Delete). A production cluster has its own provisioner; the operator only asks for
a claim.

Run by ``cluster.py`` (``procs.start``, by path: it imports nothing of hack); talks to the
API server over HTTPS with the cluster's admin certificate, using only the standard library.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import ssl
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CLASS = "holon-local"
PROVISIONER = "holon.dev/local-dir"
STORAGE_CLASS: dict[str, Any] = {
    "apiVersion": "storage.k8s.io/v1",
    "kind": "StorageClass",
    "metadata": {
        "name": CLASS,
        "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
    },
    "provisioner": PROVISIONER,
    "reclaimPolicy": "Delete",
    "volumeBindingMode": "Immediate",
}
SWEEP_SECONDS = 5.0  # how often released volumes are looked for (at most)
WATCH_SECONDS = 20  # a watch ends after this; claims are listed again and volumes swept


class Api:
    """Just enough of a Kubernetes client: JSON requests and one watch stream."""

    def __init__(self, server: str, tls: ssl.SSLContext) -> None:
        host, _, port = server.removeprefix("https://").partition(":")
        self._host, self._port, self._tls = host, int(port), tls

    def _connection(self, timeout: float) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(
            self._host, self._port, context=self._tls, timeout=timeout
        )

    def request(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        conn = self._connection(30)
        try:
            data = None if body is None else json.dumps(body).encode()
            conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            raw = resp.read()
            return resp.status, (json.loads(raw) if raw else None)
        finally:
            conn.close()

    def watch(self, path: str, resource_version: str) -> Iterator[Any]:
        """Yield watch events until the server ends the stream."""
        conn = self._connection(WATCH_SECONDS + 30)
        try:
            conn.request(
                "GET",
                f"{path}?watch=1&resourceVersion={resource_version}&timeoutSeconds={WATCH_SECONDS}",
            )
            resp = conn.getresponse()
            if resp.status != 200:
                return
            while line := resp.readline():
                yield json.loads(line)
        finally:
            conn.close()


def provision(api: Api, root: Path, claim: dict[str, Any]) -> None:
    """A directory and a PersistentVolume bound to ``claim`` (idempotent)."""
    meta, spec = claim["metadata"], claim["spec"]
    if spec.get("storageClassName") != CLASS or spec.get("volumeName"):
        return
    if claim.get("status", {}).get("phase") not in {None, "Pending"}:
        return
    name = f"pvc-{meta['uid']}"
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o777)  # the Pod's user is not root, and hostPath knows no fsGroup
    volume = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER}},
        "spec": {
            "capacity": {"storage": spec["resources"]["requests"]["storage"]},
            "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": CLASS,
            "volumeMode": spec.get("volumeMode", "Filesystem"),
            "hostPath": {"path": str(path), "type": "Directory"},
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": meta["namespace"],
                "name": meta["name"],
                "uid": meta["uid"],
            },
        },
    }
    status, body = api.request("POST", "/api/v1/persistentvolumes", volume)
    if status == 201:
        print(f"provisioned {name} at {path} for {meta['namespace']}/{meta['name']}", flush=True)
    elif status != 409:
        print(f"creating {name} failed: {status} {body}", flush=True)


def sweep(api: Api, root: Path) -> None:
    """Delete the volumes (and their directories) whose claims are gone."""
    status, listing = api.request("GET", "/api/v1/persistentvolumes")
    if status != 200:
        return
    for volume in listing["items"]:
        meta = volume["metadata"]
        ours = meta.get("annotations", {}).get("pv.kubernetes.io/provisioned-by") == PROVISIONER
        if not ours or volume.get("status", {}).get("phase") != "Released":
            continue
        path = Path(volume["spec"]["hostPath"]["path"])
        if path.parent == root:
            shutil.rmtree(path, ignore_errors=True)
        api.request("DELETE", f"/api/v1/persistentvolumes/{meta['name']}")
        print(f"deleted {meta['name']} (its claim is gone)", flush=True)


def run(api: Api, root: Path) -> None:
    status, body = api.request("POST", "/apis/storage.k8s.io/v1/storageclasses", STORAGE_CLASS)
    if status not in {201, 409}:
        raise SystemExit(f"creating StorageClass {CLASS} failed: {status} {body}")
    last_sweep = 0.0
    while True:
        status, listing = api.request("GET", "/api/v1/persistentvolumeclaims")
        if status != 200:
            time.sleep(1)
            continue
        for claim in listing["items"]:
            provision(api, root, claim)
        for event in api.watch(
            "/api/v1/persistentvolumeclaims", listing["metadata"]["resourceVersion"]
        ):
            if event.get("type") in {"ADDED", "MODIFIED"}:
                provision(api, root, event["object"])
            elif event.get("type") == "ERROR":
                break  # e.g. the resource version expired: list again
            if time.monotonic() - last_sweep > SWEEP_SECONDS:
                sweep(api, root)
                last_sweep = time.monotonic()
        sweep(api, root)
        last_sweep = time.monotonic()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True)
    parser.add_argument("--pki", type=Path, required=True, help="ca.crt, admin.crt, admin.key")
    parser.add_argument("--root", type=Path, required=True, help="where volumes are created")
    args = parser.parse_args(argv)
    tls = ssl.create_default_context(cafile=str(args.pki / "ca.crt"))
    tls.load_cert_chain(str(args.pki / "admin.crt"), str(args.pki / "admin.key"))
    args.root.mkdir(parents=True, exist_ok=True)
    print(f"local volumes under {args.root} for StorageClass {CLASS}", flush=True)
    run(Api(args.server, tls), args.root)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
