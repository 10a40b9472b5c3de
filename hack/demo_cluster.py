"""``make demo-cluster``: Holon as a platform team meets it, on the local cluster.

1. the local cluster with its real node (``make cluster``), and Holon's images
   (``make images``) imported into the node's containerd;
2. on this host, the equipment simulator and a PostgreSQL server, both listening on the
   real node's bridge gateway so that Pods reach them (PostgreSQL with a random password,
   kept in a Secret; the host's server rather than a Pod: see the README);
3. ``helm install`` of the chart, the operator running from its image on the real node;
4. a MESModule (PostgreSQL, two replicas, the UI on) and one Equipment per simulated module;
   the operator reconciles the module to Ready and verifies the equipment over OPC UA;
5. the demo batch, through the runtime's HTTP API as in ``make demo``; then the UI's URL.

Runs in the foreground until Ctrl-C (``--exit``: stop after the batch; tests use that);
on the way out it removes what it installed, and leaves the cluster running.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hack.cluster import node
from hack.project import REPO
from hack.project import version as project_version
from holon_testing.kube import ToolFailed, run_tool
from holon_testing.postgres import PgServer, PostgresUnavailable, postgres_for_clients
from mes_runtime.demo import Demo
from mes_runtime.mtp.manifest import load_manifest

NAMESPACE = "holon-demo"
RELEASE = "holon"
MODULE = "demo"
TOOL_TIMEOUT = 300  # longer than any --timeout the demo gives helm or kubectl
VERSION = project_version()  # the tag `make images` gives
PLACEMENT = {
    "nodeSelector": {node.NODE_LABEL[0]: node.NODE_LABEL[1]},
    "tolerations": [{"key": node.NODE_TAINT, "operator": "Exists", "effect": "NoSchedule"}],
}


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


class Kube:
    """kubectl and helm on the local cluster, run by the one runner the tests use
    (:func:`holon_testing.kube.run_tool`); a failed command ends the demo naming it."""

    def __init__(self, info: dict[str, Any]) -> None:
        bins = Path(str(info["bin_dir"]))
        self.kubectl_bin, self.helm_bin = bins / "kubectl", bins / "helm"
        self.kubeconfig = str(info["kubeconfig"])

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        return self._run(self.kubectl_bin, *args, stdin=stdin, check=check)

    def apply(self, *objects: dict[str, Any]) -> None:
        doc = json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)})
        self.kubectl("apply", "-n", NAMESPACE, "-f", "-", stdin=doc)

    def helm(self, *args: str, check: bool = True) -> None:
        self._run(self.helm_bin, *args, check=check)

    def _run(self, binary: Path, *args: str, stdin: str | None = None, check: bool) -> str:
        try:
            res = run_tool(
                binary,
                "--kubeconfig",
                self.kubeconfig,
                *args,
                env=os.environ,
                stdin=stdin,
                timeout=TOOL_TIMEOUT,
                check=check,
            )
        except ToolFailed as exc:
            raise SystemExit(str(exc)) from exc
        return res.stdout

    def condition(self, kind: str, name: str, type_: str) -> bool:
        body = json.loads(self.kubectl("get", kind, name, "-n", NAMESPACE, "-o", "json"))
        conditions = body.get("status", {}).get("conditions", [])
        return any(c["type"] == type_ and c["status"] == "True" for c in conditions)


def wait(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = 0.0
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"not within {timeout:.0f} s: {what}")
        if time.monotonic() - last > 15:
            print(f"    waiting for {what} ...", flush=True)
            last = time.monotonic()
        time.sleep(1)


def cluster_up() -> dict[str, Any]:
    say("the local cluster with its real node (make cluster)")
    subprocess.run([sys.executable, "-m", "hack.cluster.cluster", "up"], check=True, cwd=REPO)
    state = REPO / ".holon" / "cluster"
    info: dict[str, Any] = json.loads((state / "cluster.json").read_text())
    if not info.get("real_node"):
        raise SystemExit("the cluster runs without its real node: `make cluster-down` first")
    say("Holon's images (make images), imported into the node's containerd")
    socket = node.containerd_socket(Path(str(info["kubeconfig"])).parent)
    subprocess.run(
        [sys.executable, "-m", "hack.images.build", "--import-address", str(socket)],
        check=True,
        cwd=REPO,
    )
    return info


def install(kube: Kube, pg: PgServer, database: str, workdir: Path) -> None:
    say(f"namespace {NAMESPACE}: PostgreSQL Service and the runtime's database Secret")
    kube.kubectl("create", "namespace", NAMESPACE, check=False)
    kube.apply(*node.host_service("postgres", NAMESPACE, 5432, pg.port))
    url = pg.url(database, host=f"postgres.{NAMESPACE}.svc.cluster.local")
    url = url.replace(f":{pg.port}/", ":5432/")
    kube.kubectl("delete", "secret", "runtime-db", "-n", NAMESPACE, check=False)
    kube.kubectl("create", "secret", "generic", "runtime-db", "-n", NAMESPACE,
                 f"--from-literal=url={url}")  # fmt: skip
    say("the CRDs and the chart (helm install), the operator from its image on the real node")
    kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    values = workdir / "values.json"
    values.write_text(
        json.dumps(
            {
                "crds": {"enabled": False},
                "replicaCount": 1,
                "image": {"repository": "holon.local/mes-operator", "tag": VERSION},
                "operator": {"watchNamespaces": [NAMESPACE]},
                **PLACEMENT,
            }
        )
    )
    kube.helm("upgrade", "--install", RELEASE, str(REPO / "charts/holon"), "-n", NAMESPACE,
              "-f", str(values), "--wait", "--timeout", "180s")  # fmt: skip


def declare(kube: Kube, demo: Demo, manifests: dict[str, Path]) -> str:
    say("a MESModule (PostgreSQL, 2 replicas, UI, e-signatures), an Equipment per simulated module")
    kube.apply(
        {
            "apiVersion": "mes.holon.dev/v1alpha1",
            "kind": "MESModule",
            "metadata": {"name": MODULE},
            "spec": {
                "module": "batch-execution",
                "version": VERSION,
                "image": "holon.local/mes-runtime",
                "replicas": 2,
                "database": {
                    "engine": "postgresql",
                    "credentialsSecretRef": {"name": "runtime-db", "key": "url"},
                },
                # QA approves the demo recipe by an electronic signature
                "features": {"ui": True, "electronicSignatures": True},
                "placement": PLACEMENT,
            },
        },
        *(
            {
                "apiVersion": "mes.holon.dev/v1alpha1",
                "kind": "Equipment",
                "metadata": {"name": name.lower()},
                "spec": {
                    "endpoint": demo.endpoints[name],
                    "requiredServices": sorted(load_manifest(path).services),
                },
            }
            for name, path in sorted(manifests.items())
        ),
    )
    wait(f"MESModule {MODULE} Ready", lambda: kube.condition("mesmodule", MODULE, "Ready"), 240)
    for equipment in sorted(name.lower() for name in manifests):
        wait(
            f"Equipment {equipment} Verified",
            functools.partial(kube.condition, "equipment", equipment, "Verified"),
            120,
        )
    print(kube.kubectl("get", "mes", "-n", NAMESPACE), flush=True)
    service = json.loads(kube.kubectl("get", "service", MODULE, "-n", NAMESPACE, "-o", "json"))
    return f"http://{service['spec']['clusterIP']}"


def uninstall(kube: Kube) -> None:
    say(f"removing the demo (namespace {NAMESPACE}, release {RELEASE}); the cluster stays up")
    kube.kubectl("delete", "mesmodules,equipment", "--all", "-n", NAMESPACE, "--timeout=60s",
                 check=False)  # fmt: skip
    kube.helm("uninstall", RELEASE, "-n", NAMESPACE, "--wait", "--timeout", "120s", check=False)
    kube.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)


def host_postgres(stack: contextlib.ExitStack) -> PgServer:
    """The host's throw-away PostgreSQL for the Pods, stopped when ``stack`` closes."""
    try:
        return stack.enter_context(postgres_for_clients(node.GATEWAY, node.POD_CIDR))
    except PostgresUnavailable as exc:
        raise SystemExit(f"demo-cluster needs PostgreSQL: {exc}") from exc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hack.demo_cluster", description=__doc__)
    parser.add_argument("--time-factor", type=float, default=3600.0)
    parser.add_argument("--exit", action="store_true", help="stop after the batch")
    args = parser.parse_args(argv)
    started = time.monotonic()
    info = cluster_up()
    kube = Kube(info)
    workdir = Path(tempfile.mkdtemp(prefix="holon-demo-cluster-"))
    demo = Demo(workdir=workdir, port=0, time_factor=args.time_factor,
                simulator_host=node.GATEWAY)  # fmt: skip
    try:
        with contextlib.ExitStack() as stack:
            pg = host_postgres(stack)
            database = f"holon_{secrets.token_hex(4)}"
            pg.create_database(database)
            manifests = demo.start_simulator()
            try:
                ok = run(kube, demo, pg, database, manifests, args, started, workdir)
            finally:
                uninstall(kube)
    finally:
        demo.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


def run(
    kube: Kube,
    demo: Demo,
    pg: PgServer,
    database: str,
    manifests: dict[str, Path],
    args: argparse.Namespace,
    started: float,
    workdir: Path,
) -> bool:
    """Install, declare, run the batch; then serve until Ctrl-C (unless --exit)."""
    install(kube, pg, database, workdir)
    base = declare(kube, demo, manifests)
    demo.use_runtime(base, pg.url(database))
    people = demo.prepare(demo.create_admin(), manifests)
    state = demo.run_batch(people)
    verified = demo.verify(people)
    ok = state == "complete" and verified
    print(
        f"\n{'OK' if ok else 'FAILED'}: batch {state}, journal "
        f"{'verified' if verified else 'BROKEN'}, {time.monotonic() - started:.0f} s "
        "in all (cluster, images, install, batch)",
        flush=True,
    )
    print(f"\nUI: {base}/ui/  (from this machine; sign in as operator, password above)")
    print(
        f"    or: kubectl -n {NAMESPACE} port-forward svc/{MODULE} 8080:80, then "
        "http://127.0.0.1:8080/ui/",
        flush=True,
    )
    if ok and not args.exit:
        print("press Ctrl-C to stop", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(1)
    return ok


if __name__ == "__main__":
    sys.exit(main())
