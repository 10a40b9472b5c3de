"""The local Kubernetes test cluster: `up`, `down`, `status`, `env` (used by hack/cluster.mk).

Why this shape: no Docker here, so the cluster is Kubernetes' own binaries (built by
binaries.py) run as plain processes on 127.0.0.1: etcd, kube-apiserver (TLS, RBAC + Node
authorization, default admission incl. CEL), kube-controller-manager (default controllers),
kube-scheduler, and kwok, which plays the kubelets of N simulated nodes. Everything the
cluster owns lives in one state directory (.holon/cluster/: PKI, etcd data, logs, pid files,
kubeconfig), so `down` can remove it whole. Where Docker and kind exist, `--kind` makes a
kind cluster with the same kubeconfig path instead; the e2e tests only need that file.

stdlib only, so it runs before the project's venv exists.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from hack import project
from hack.cluster import binaries, certs, node, procs

KIND_NAME = "holon-e2e"
KIND_CONTEXT = f"kind-{KIND_NAME}"
SERVICE_CIDR = node.SERVICE_CIDR
POD_CIDR = "10.244.0.0/16"  # kwok's fake pod IPs; nothing dials them either
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
DEFAULT_NODES = 3
COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "local-volumes",  # hack/cluster/volumes.py: the default StorageClass's provisioner
)
# The API clients that simulate a cluster's worth of nodes and controllers. Their default
# client rate limits (controller-manager 20 QPS/burst 30, scheduler 50/100) cap how fast a
# few hundred Deployments become Ready, which is a property of the defaults, not of what we
# test; kwokctl's --disable-qps-limits raises them the same way. `up` restarts just these
# when their command line (or kwok's config) changed, so a running cluster picks it up.
CLIENT_COMPONENTS = ("kube-controller-manager", "kube-scheduler", "kwok")
CLIENT_QPS, CLIENT_BURST = 1000, 2000
KWOK_PARALLELISM = 16  # kwok's own client is unthrottled; its stage workers default to 4


def state_dir() -> Path:
    return Path(os.environ.get("HOLON_CLUSTER_DIR", project.REPO / ".holon" / "cluster"))


def info_path() -> Path:
    return state_dir() / "cluster.json"


def read_info() -> dict[str, object] | None:
    try:
        data: dict[str, object] = json.loads(info_path().read_text())
    except (OSError, ValueError):
        return None
    return data


def apiserver_port(info: dict[str, object]) -> int:
    """The API server's port as cluster.json records it (under "ports")."""
    ports = info.get("ports")
    if not isinstance(ports, dict):
        raise SystemExit(f"{info_path()} records no ports: `make cluster-down`, then up")
    return int(ports["apiserver"])


def _get(url: str, ctx: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=ctx) as resp:  # noqa: S310
            return bool(resp.status == 200)
    except OSError:
        return False


def admin_tls(state: Path) -> ssl.SSLContext:
    pki = state / "pki"
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    return ctx


def apiserver_ready(state: Path, port: int) -> bool:
    try:
        ctx = admin_tls(state)
    except (OSError, ssl.SSLError):
        return False
    return _get(f"https://127.0.0.1:{port}/readyz", ctx)


def kubectl(bins: Path, state: Path, *args: str, stdin: str | None = None) -> str:
    res = subprocess.run(
        [str(bins / "kubectl"), "--kubeconfig", str(state / "kubeconfig"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0:
        raise procs.ComponentFailed(f"kubectl {' '.join(args)} failed:\n{res.stderr}")
    return res.stdout


def node_manifests(count: int) -> str:
    """Nodes that kwok adopts (by annotation) and keeps Ready with fake kubelets."""
    items = []
    for i in range(count):
        name = f"kwok-node-{i}"
        resources = {"cpu": "32", "memory": "256Gi", "pods": "110"}
        items.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": {
                        KWOK_NODE_ANNOTATION: "fake",
                        "node.alpha.kubernetes.io/ttl": "0",
                    },
                    "labels": {
                        "kubernetes.io/arch": "amd64",
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/hostname": name,
                        "type": "kwok",
                    },
                },
                "status": {"allocatable": resources, "capacity": resources},
            }
        )
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})


def kwok_config(bins: Path, state: Path) -> Path:
    """kwok's stages (node init + lease heartbeat, pod ready/complete/delete), taken from
    the pinned kwok module's own stage files so that they match the binary."""
    mod = project.cache_root() / "go" / "mod" / f"sigs.k8s.io/kwok@{binaries.KWOK_VERSION}"
    stage = mod / "kustomize" / "stage"
    files = [
        stage / "node" / "fast" / "node-initialize.yaml",
        stage / "node" / "heartbeat-with-lease" / "node-heartbeat-with-lease.yaml",
        *(stage / "pod" / "fast" / f for f in ("pod-ready.yaml", "pod-complete.yaml")),
        stage / "pod" / "fast" / "pod-delete.yaml",
    ]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        subprocess.run(
            ["go", "mod", "download", f"sigs.k8s.io/kwok@{binaries.KWOK_VERSION}"],
            env=project.go_env(),
            cwd=bins,
            check=True,
            capture_output=True,
        )
    docs = [f.read_text().strip().removeprefix("---").strip() for f in files]
    docs.insert(
        0,
        json.dumps(
            {
                "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
                "kind": "KwokConfiguration",
                # a KwokConfiguration given here is not defaulted: every option kwok
                # needs is spelled out (values as its defaults, but the parallelism)
                "options": {
                    "podPlayStageParallelism": KWOK_PARALLELISM,
                    "nodePlayStageParallelism": KWOK_PARALLELISM,
                    "nodeLeaseParallelism": 4,
                    "podsOnNodeSyncParallelism": 1,
                    "enablePodsOnNodeSyncListPager": True,
                    "enablePodsOnNodeSyncStreamWatch": False,
                    "enableDebuggingHandlers": True,
                    "enableContentionProfiling": False,
                    "enableProfilingHandler": True,
                },
            }
        ),
    )
    out = state / "kwok.yaml"
    out.write_text("\n---\n".join(docs) + "\n")
    return out


def _argv(
    bins: Path, state: Path, ports: dict[str, int], real_node: bool = False
) -> dict[str, list[str]]:
    pki = state / "pki"
    etcd = f"http://127.0.0.1:{ports['etcd']}"
    peer = f"http://127.0.0.1:{ports['etcd_peer']}"
    api = f"https://127.0.0.1:{ports['apiserver']}"
    for client in ("controller-manager", "scheduler", "kwok"):
        (state / f"{client}.kubeconfig").write_text(certs.kubeconfig(pki, api, client))
    return {
        "etcd": [
            str(bins / "etcd"),
            "--name=holon-e2e",
            f"--data-dir={state / 'etcd'}",
            f"--listen-client-urls={etcd}",
            f"--advertise-client-urls={etcd}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=holon-e2e={peer}",
            "--listen-metrics-urls=",
            "--quota-backend-bytes=4294967296",
            "--unsafe-no-fsync=true",  # a test cluster: speed over durability
            "--log-level=warn",
        ],
        "kube-apiserver": [
            str(bins / "kube-apiserver"),
            f"--etcd-servers={etcd}",
            # with a real node, Pods reach the API server on the bridge's gateway address
            # (the `kubernetes` Service's endpoint) while host clients keep 127.0.0.1: one
            # listener on both needs the wildcard; without the real node, loopback only
            f"--bind-address={'0.0.0.0' if real_node else '127.0.0.1'}",  # noqa: S104
            f"--advertise-address={node.GATEWAY if real_node else '127.0.0.1'}",
            f"--secure-port={ports['apiserver']}",
            f"--cert-dir={pki}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            f"--endpoint-reconciler-type={'lease' if real_node else 'none'}",
            f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
            f"--kubelet-certificate-authority={pki / 'ca.crt'}",
            "--kubelet-preferred-address-types=InternalIP",
            "--allow-privileged=true",
            "--profiling=false",
            "--v=1",
        ],
        "kube-controller-manager": [
            str(bins / "kube-controller-manager"),
            f"--kubeconfig={state / 'controller-manager.kubeconfig'}",
            f"--authentication-kubeconfig={state / 'controller-manager.kubeconfig'}",
            f"--authorization-kubeconfig={state / 'controller-manager.kubeconfig'}",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports['controller_manager']}",
            f"--cert-dir={pki}",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            f"--cluster-signing-cert-file={pki / 'ca.crt'}",
            f"--cluster-signing-key-file={pki / 'ca.key'}",
            "--use-service-account-credentials=true",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--leader-elect=false",
            "--controllers=*",
            f"--kube-api-qps={CLIENT_QPS}",
            f"--kube-api-burst={CLIENT_BURST}",
            "--profiling=false",
            "--v=1",
        ],
        "local-volumes": [
            "local-volumes",
            # by path, not -m: it runs in the state dir and imports nothing of ours
            str(Path(__file__).with_name("volumes.py")),
            f"--server={api}",
            f"--pki={pki}",
            f"--root={state / 'volumes'}",
        ],
        "kube-scheduler": [
            str(bins / "kube-scheduler"),
            f"--kubeconfig={state / 'scheduler.kubeconfig'}",
            f"--authentication-kubeconfig={state / 'scheduler.kubeconfig'}",
            f"--authorization-kubeconfig={state / 'scheduler.kubeconfig'}",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports['scheduler']}",
            f"--cert-dir={pki}",
            "--leader-elect=false",
            f"--kube-api-qps={CLIENT_QPS}",
            f"--kube-api-burst={CLIENT_BURST}",
            "--profiling=false",
            "--v=1",
        ],
        "kwok": [
            str(bins / "kwok"),
            f"--kubeconfig={state / 'kwok.kubeconfig'}",
            f"--config={kwok_config(bins, state)}",
            f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
            f"--cidr={POD_CIDR}",
            "--node-ip=127.0.0.1",
            f"--server-address=127.0.0.1:{ports['kwok']}",
            "--node-lease-duration-seconds=40",
        ],
    }


def fingerprint(argv: list[str]) -> str:
    """What decides whether a running component is current: its command line and the
    contents of the config file it reads (kwok's stages and options)."""
    digest = hashlib.sha256(json.dumps(argv).encode())
    for arg in argv:
        if arg.startswith("--config="):
            digest.update(Path(arg.removeprefix("--config=")).read_bytes())
    return digest.hexdigest()[:16]


def refresh_clients(bins: Path, state: Path, info: dict[str, object]) -> None:
    """Restart the client components whose command line changed since they started (a
    cluster from before a flag change has no fingerprints: all of them restart once)."""
    ports_info, recorded = info.get("ports"), info.get("fingerprints")
    ports = {str(k): int(v) for k, v in ports_info.items()} if isinstance(ports_info, dict) else {}
    recorded = recorded if isinstance(recorded, dict) else {}
    argv = _argv(bins, state, ports)
    fingerprints = {name: fingerprint(argv[name]) for name in CLIENT_COMPONENTS}
    restarted = [name for name in CLIENT_COMPONENTS if recorded.get(name) != fingerprints[name]]
    for name in restarted:
        print(f"==> {name}: command line changed since it started, restarting it")
        procs.stop(name, state)
        procs.start(name, argv[name], state)
    if restarted:
        time.sleep(2)  # a bad flag makes the binary exit at once: catch it here, with its log
        procs.wait_for("the restarted components", lambda: True, 5, state, tuple(restarted))
    info["fingerprints"] = fingerprints


def running(state: Path) -> bool:
    info = read_info()
    if info is None or info.get("mode") != "local":
        return False
    port = apiserver_port(info)
    parts = COMPONENTS + (node.COMPONENTS if info.get("real_node") else ())
    return all(procs.alive(c, state) for c in parts) and apiserver_ready(state, port)


def sync_nodes(bins: Path, state: Path, count: int) -> None:
    """Make exactly `count` simulated nodes exist, then wait for them to be Ready."""
    kubectl(bins, state, "apply", "-f", "-", stdin=node_manifests(count))
    names = kubectl(
        bins, state, "get", "nodes", "-l", "type=kwok", "-o", "jsonpath={.items[*].metadata.name}"
    ).split()
    extra = [n for n in names if int(n.rsplit("-", 1)[-1]) >= count]
    if extra:
        kubectl(bins, state, "delete", "node", *extra, "--wait=false")

    def ready() -> bool:
        out = kubectl(
            bins,
            state,
            "get",
            "nodes",
            "-l",
            "type=kwok",
            "-o",
            'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{" "}{end}',
        )
        return out.split().count("True") == count

    procs.wait_for(f"{count} Ready nodes", ready, 60, state, COMPONENTS)


def wait_default_serviceaccount(bins: Path, state: Path) -> None:
    """Pods need the `default` ServiceAccount: proof the controller-manager is working."""

    def exists() -> bool:
        res = subprocess.run(
            [
                str(bins / "kubectl"),
                *("--kubeconfig", str(state / "kubeconfig")),
                *("get", "serviceaccount", "default", "-n", "default", "-o", "name"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        return res.returncode == 0

    procs.wait_for("the default ServiceAccount", exists, 60, state, COMPONENTS)


def print_env(kubeconfig: Path) -> None:
    print(f"export KUBECONFIG={kubeconfig}")


def up_local(nodes: int | None, real_node: bool = True) -> int:
    """Start the cluster, or reuse a running one. `nodes=None` keeps a running cluster's
    node count (3 for a new one), so the e2e fixture does not undo `make cluster NODES=5`."""
    if real_node and (problems := node.missing_prerequisites()):
        print("!! the real node cannot start on this machine:", file=sys.stderr)
        for problem in problems:
            print(f"!!   {problem}", file=sys.stderr)
        print("!! run `make setup` as root, or `make cluster REAL_NODE=0`", file=sys.stderr)
        return 1
    bins = binaries.build()
    with project.locked(state_dir().parent / "cluster.lock"):
        try:
            return _up_local(bins, nodes, real_node)
        except procs.ComponentFailed as exc:
            print(f"!! cluster failed to start: {exc}", file=sys.stderr)
            print(
                f"!! logs: {state_dir() / 'logs'}; clean up with `make cluster-down`",
                file=sys.stderr,
            )
            return 1


def _up_local(bins: Path, nodes: int | None, real_node: bool) -> int:
    state = state_dir()
    started = time.monotonic()
    info = read_info()
    if info is not None and running(state) and info.get("bin_dir") != str(bins):
        print("==> cluster binaries changed since the cluster started: restarting it")
        down_local(quiet=True)
    elif info is not None and running(state) and bool(info.get("real_node")) != real_node:
        print(f"==> restarting the cluster {'with' if real_node else 'without'} the real node")
        down_local(quiet=True)
    if info is not None and running(state):
        count = nodes if nodes is not None else int(str(info.get("nodes", DEFAULT_NODES)))
        print(f"==> cluster already running ({state}); syncing {count} node(s)")
        refresh_clients(bins, state, info)
        sync_nodes(bins, state, count)
        info["nodes"] = count
        info_path().write_text(json.dumps(info, indent=2))
        print(f"==> cluster reused in {time.monotonic() - started:.1f}s")
        print_env(state / "kubeconfig")
        return 0
    nodes = DEFAULT_NODES if nodes is None else nodes
    if state.exists():
        print(f"==> removing stale cluster state in {state}")
        down_local(quiet=True)
    state.mkdir(parents=True)
    print("==> generating certificates")
    certs.make_pki(state / "pki")
    node.make_certs(state / "pki")
    ports = {
        k: procs.free_port()
        for k in ("etcd", "etcd_peer", "apiserver", "controller_manager", "scheduler", "kwok")
    }
    api = f"https://127.0.0.1:{ports['apiserver']}"
    (state / "kubeconfig").write_text(certs.kubeconfig(state / "pki", api, "admin"))
    (state / "kubeconfig").chmod(0o600)
    argv = _argv(bins, state, ports, real_node)
    info = {
        "mode": "local",
        "real_node": real_node,
        "kubeconfig": str(state / "kubeconfig"),
        "context": certs.CONTEXT,
        "bin_dir": str(bins),
        "server": api,
        "ports": ports,
        "nodes": nodes,
        "logs": str(state / "logs"),
        "kubernetes_version": binaries.KUBERNETES_VERSION,
        "fingerprints": {n: fingerprint(argv[n]) for n in CLIENT_COMPONENTS},
    }
    info_path().write_text(json.dumps(info, indent=2))
    print(f"==> starting etcd on 127.0.0.1:{ports['etcd']}")
    procs.start("etcd", argv["etcd"], state)
    procs.wait_for(
        "etcd health",
        lambda: _get(f"http://127.0.0.1:{ports['etcd']}/health"),
        30,
        state,
        ("etcd",),
    )
    print(f"==> starting kube-apiserver on {api}")
    procs.start("kube-apiserver", argv["kube-apiserver"], state)
    procs.wait_for(
        "kube-apiserver /readyz",
        lambda: apiserver_ready(state, ports["apiserver"]),
        90,
        state,
        ("etcd", "kube-apiserver"),
    )
    for name in ("kube-controller-manager", "kube-scheduler", "kwok"):
        print(f"==> starting {name}")
        procs.start(name, argv[name], state)
    print("==> starting local-volumes (directories on this host for PersistentVolumeClaims)")
    procs.start("local-volumes", argv["local-volumes"], state, executable=sys.executable)
    print(f"==> creating {nodes} simulated node(s)")
    sync_nodes(bins, state, nodes)
    wait_default_serviceaccount(bins, state)
    if real_node:
        start_node(bins, state, api)
    print(f"==> cluster ready: warm start time {time.monotonic() - started:.1f}s")
    print(f"    logs in {state / 'logs'}")
    print_env(state / "kubeconfig")
    return 0


def start_node(bins: Path, state: Path, api: str) -> None:
    """The real worker node: host networking, containerd (+ the pause image), kubelet,
    kube-proxy, CoreDNS; returns once the node is Ready."""
    print(f"==> real node {node.NODE_NAME}: bridge {node.BRIDGE} {node.POD_CIDR}, containerd")
    if (taken := node.another_node_running()) is not None:
        raise procs.ComponentFailed(taken)
    node.prepare_host()
    node.write_files(state, api)
    objects = "\n---\n".join(json.dumps(o) for o in node.cluster_objects())
    kubectl(bins, state, "apply", "-f", "-", stdin=objects)
    argv = node.argv(bins, state)
    procs.start("containerd", argv["containerd"], state)
    socket_path = node.containerd_socket(state)
    procs.wait_for("the containerd socket", socket_path.exists, 30, state, ("containerd",))
    print("==> importing the pause image into the node's containerd")
    images = [sys.executable, "-m", "hack.images.build", "--only", "pause"]
    subprocess.run([*images, "--import-address", str(socket_path)], check=True, cwd=project.REPO)
    for name in ("kubelet", "kube-proxy", "coredns"):
        print(f"==> starting {name}")
        procs.start(name, argv[name], state)

    def node_ready() -> bool:
        out = kubectl(
            bins,
            state,
            "get",
            "node",
            node.NODE_NAME,
            "--ignore-not-found",
            "-o",
            'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
        )
        return out.strip() == "True"

    procs.wait_for(
        f"node {node.NODE_NAME} Ready", node_ready, 90, state, COMPONENTS + node.COMPONENTS
    )


def up_kind() -> int:
    """A kind cluster for laptops with Docker; same kubeconfig path, context kind-holon-e2e."""
    missing = [t for t in ("kind", "docker", "kubectl", "helm") if shutil.which(t) is None]
    if missing:
        print(f"!! CLUSTER=kind needs {', '.join(missing)} on PATH", file=sys.stderr)
        return 1
    state = state_dir()
    state.mkdir(parents=True, exist_ok=True)
    kubeconfig = state / "kubeconfig"
    names = subprocess.run(
        ["kind", "get", "clusters"], capture_output=True, text=True, check=True
    ).stdout.split()
    if KIND_NAME not in names:
        subprocess.run(
            ["kind", "create", "cluster", "--name", KIND_NAME, "--wait", "120s"], check=True
        )
    with kubeconfig.open("w") as f:
        subprocess.run(["kind", "get", "kubeconfig", "--name", KIND_NAME], stdout=f, check=True)
    kubeconfig.chmod(0o600)
    tools = Path(shutil.which("kubectl") or "kubectl").parent
    info = {
        "mode": "kind",
        "kubeconfig": str(kubeconfig),
        "context": KIND_CONTEXT,
        "bin_dir": str(tools),
        "helm": shutil.which("helm"),
        "kubectl": shutil.which("kubectl"),
    }
    info_path().write_text(json.dumps(info, indent=2))
    print_env(kubeconfig)
    return 0


def down_local(quiet: bool = False) -> None:
    state = state_dir()
    info = read_info() or {}
    bins = Path(str(info["bin_dir"])) if info.get("bin_dir") else None
    if info.get("real_node") or (node.node_dir(state)).exists():
        node.stop(state, bins, quiet)
    for name in reversed(COMPONENTS):
        if procs.stop(name, state) and not quiet:
            print(f"==> stopped {name}")
    if state.exists():
        shutil.rmtree(state)
        if not quiet:
            print(f"==> removed {state}")


def down() -> int:
    info = read_info()
    if info is not None and info.get("mode") == "kind" and shutil.which("kind"):
        subprocess.run(["kind", "delete", "cluster", "--name", KIND_NAME], check=False)
    with project.locked(state_dir().parent / "cluster.lock"):
        down_local()
    return 0


def status() -> int:
    state = state_dir()
    info = read_info()
    if info is None:
        print("cluster: not created (make cluster)")
        return 1
    print(f"cluster: mode={info['mode']} state={state}")
    if info["mode"] == "kind":
        print_env(Path(str(info["kubeconfig"])))
        return 0
    ok = True
    for name in COMPONENTS + (node.COMPONENTS if info.get("real_node") else ()):
        pid = procs.pid_of(name, state)
        ok &= pid is not None
        print(f"  {name:<24} {'running pid ' + str(pid) if pid else 'NOT RUNNING'}")
    ready = apiserver_ready(state, apiserver_port(info))
    ok &= ready
    print(f"  {'apiserver /readyz':<24} {'ok' if ready else 'FAILING'}")
    if ready:
        print(kubectl(Path(str(info["bin_dir"])), state, "get", "nodes", "-o", "wide"))
    print_env(Path(str(info["kubeconfig"])))
    return 0 if ok else 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m hack.cluster.cluster", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="build (once) and start the cluster, or reuse it")
    p_up.add_argument(
        "--nodes",
        type=int,
        default=None,
        help=f"simulated kwok nodes (default: keep a running cluster's, else {DEFAULT_NODES})",
    )
    p_up.add_argument("--kind", action="store_true", help="make a kind cluster instead")
    p_up.add_argument(
        "--no-real-node",
        action="store_true",
        help="only simulated nodes (no containerd/kubelet; for machines without root)",
    )
    sub.add_parser("build", help="only build (or find cached) binaries")
    sub.add_parser("down", help="stop everything and remove the state")
    sub.add_parser("status", help="show components and nodes")
    sub.add_parser("env", help="print the export KUBECONFIG=... line")
    args = parser.parse_args(argv)
    if args.cmd == "up":
        # a kind cluster made earlier stays the test cluster until `down` (the e2e fixture
        # runs a plain `up`)
        existing = read_info() or {}
        if args.kind or existing.get("mode") == "kind":
            return up_kind()
        return up_local(args.nodes, real_node=not args.no_real_node)
    if args.cmd == "build":
        binaries.build()
        return 0
    if args.cmd == "down":
        return down()
    if args.cmd == "status":
        return status()
    info = read_info()
    if info is None:
        print("no cluster (make cluster)", file=sys.stderr)
        return 1
    print_env(Path(str(info["kubeconfig"])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
