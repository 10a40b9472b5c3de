"""One real worker node for the local cluster: containerd + runc, CNI bridge, kubelet,
kube-proxy (iptables) and CoreDNS, all on this machine.

Why: simulated (kwok) nodes prove orchestration but serve no traffic; zero-downtime
upgrades can only be measured with real Pods answering real requests. The node is
tainted (``holon.dev/real-node:NoSchedule``) and labelled (``holon.dev/node=real``), so
only workloads that ask for it land here and the kwok nodes keep the scale tests.

Networking, all local to this machine: the Pods sit on a Linux bridge (``holon0``,
10.88.0.0/16, gateway 10.88.0.1 = this host) made by the CNI bridge plugin; nothing is
masqueraded out and a guard chain drops any Pod packet that would leave through another
interface, so Pods reach only each other and this host. Host services the cluster uses
(CoreDNS, the API server, PostgreSQL, the equipment simulator) listen on the gateway
address and appear in the cluster as selector-less Services.

Needs root (network namespaces, iptables, cgroups) and Debian's containerd, runc,
containernetworking-plugins, iptables and conntrack (hack/setup.sh installs them).
stdlib only, like the rest of hack/cluster.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from hack.cluster import certs, procs

NODE_NAME = "holon-node"
NODE_LABEL = ("holon.dev/node", "real")
NODE_TAINT = "holon.dev/real-node"
BRIDGE = "holon0"
POD_CIDR = "10.88.0.0/16"
GATEWAY = "10.88.0.1"  # this host, on the Pods' bridge
DNS_SERVICE_IP = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"
GUARD_CHAIN = "HOLON-NODE-GUARD"
HOST_GUARD_CHAIN = "HOLON-NODE-OUT"
SERVICE_CIDR = "10.96.0.0/16"  # --service-cluster-ip-range: virtual, only kube-proxy's rules
PAUSE_IMAGE = "holon.local/pause:3.10"
CNI_BIN_DIRS = ("/usr/lib/cni", "/opt/cni/bin")
COMPONENTS = ("containerd", "kubelet", "kube-proxy", "coredns")
PACKAGES = {  # binary -> Debian package
    "containerd": "containerd",
    "runc": "runc",
    "iptables": "iptables",
    "conntrack": "conntrack",
}
# client identities of the node's components: name -> (CN, O)
CLIENTS = {
    "kubelet": (f"system:node:{NODE_NAME}", "system:nodes"),
    "kube-proxy": ("system:kube-proxy", ""),
    "coredns": ("holon-coredns", ""),
    "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", ""),
}
KUBELET_PORT = 10250


def node_dir(state: Path) -> Path:
    return state / "node"


def containerd_socket(state: Path) -> Path:
    return node_dir(state) / "containerd.sock"


def missing_prerequisites() -> list[str]:
    """What this machine lacks for a real node, as sentences (empty: all there)."""
    problems: list[str] = []
    if os.geteuid() != 0:
        problems.append("the real node needs root (network namespaces, iptables, cgroups)")
    for binary, package in PACKAGES.items():
        if shutil.which(binary) is None:
            problems.append(f"{binary} is missing (apt-get install {package})")
    if cni_bin_dir() is None:
        problems.append("the CNI plugins are missing (apt-get install containernetworking-plugins)")
    return problems


def another_node_running() -> str | None:
    """The real node's addresses are machine-wide (bridge, kubelet port, DNS): a second
    cluster's node cannot start beside a running one. Says which port is taken.

    Reads the kernel's socket table rather than dialling: before the bridge exists the
    gateway address is not local, and a dial would leave the machine."""
    # /proc/net/tcp writes an IPv4 address as the hex of its bytes in host (little-endian)
    # order; a listener on the gateway or on every address blocks ours
    ours = {socket.inet_aton(GATEWAY)[::-1].hex().upper(), "00000000"}
    listening: set[int] = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if fields[3] == "0A" and address in ours:  # TCP_LISTEN
                listening.add(int(hex_port, 16))
    for port in (KUBELET_PORT, 53):
        if port in listening:
            return (
                f"port {port} is taken: another local cluster's real node may run on this "
                "machine; stop it with `make cluster-down` in its checkout"
            )
    return None


def cni_bin_dir() -> str | None:
    for d in CNI_BIN_DIRS:
        if (Path(d) / "bridge").is_file():
            return d
    return None


# ----------------------------------------------------------------------------- files


def make_certs(pki: Path) -> None:
    """Client certificates of the node's components, and the kubelet's serving cert."""
    for name, (cn, org) in CLIENTS.items():
        certs.client_cert(pki, name, cn, org)
    certs.serving_cert(pki, "kubelet-serving", f"system:node:{NODE_NAME}", [GATEWAY, "127.0.0.1"])


def containerd_config(state: Path) -> str:
    d = node_dir(state)
    return f"""version = 2
root = "{d / "containerd" / "root"}"
state = "{d / "containerd" / "state"}"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs"]

[grpc]
  address = "{containerd_socket(state)}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  disable_apparmor = true
  # this machine's root lacks CAP_SYS_RESOURCE: a negative oom_score_adj (containerd's
  # default for sandboxes) cannot be set, so clamp it to our own, as for rootless
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni_bin_dir()}"
    conf_dir = "{d / "cni" / "net.d"}"
"""


def cni_config(state: Path) -> dict[str, object]:
    """bridge + host-local IPAM + portmap. ipMasq off: Pods never talk to the outside."""
    return {
        "cniVersion": "1.0.0",
        "name": "holon",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_CIDR, "gateway": GATEWAY}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(node_dir(state) / "cni" / "ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def kubelet_config(state: Path) -> dict[str, object]:
    pki = state / "pki"
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": GATEWAY,
        "port": KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 0,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(pki / "kubelet-serving.crt"),
        "tlsPrivateKeyFile": str(pki / "kubelet-serving.key"),
        "clusterDomain": CLUSTER_DOMAIN,
        "clusterDNS": [DNS_SERVICE_IP],
        "resolvConf": str(node_dir(state) / "resolv.conf"),
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,  # this machine's kernel mounts cgroup v1 hierarchies
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{containerd_socket(state)}",
        "registerWithTaints": [{"key": NODE_TAINT, "value": "true", "effect": "NoSchedule"}],
        "maxPods": 60,
        "serializeImagePulls": False,
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "200Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "localStorageCapacityIsolation": False,
        "protectKernelDefaults": False,
        "makeIPTablesUtilChains": False,
        "shutdownGracePeriod": "0s",
        "nodeStatusReportFrequency": "10s",
        "syncFrequency": "10s",
        "fileCheckFrequency": "20s",
        "staticPodPath": "",
        "volumeStatsAggPeriod": "0s",
    }


def kube_proxy_config(state: Path) -> dict[str, object]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clusterCIDR": POD_CIDR,
        "hostnameOverride": NODE_NAME,
        "bindAddress": GATEWAY,
        "healthzBindAddress": f"127.0.0.1:{procs.free_port()}",
        "metricsBindAddress": f"127.0.0.1:{procs.free_port()}",
        "clientConnection": {"kubeconfig": str(state / "kube-proxy.kubeconfig")},
        "conntrack": {"maxPerCore": 0, "min": 0},  # leave the machine's conntrack sysctls alone
        "iptables": {"syncPeriod": "30s", "minSyncPeriod": "0s", "masqueradeAll": False},
        "nodePortAddresses": ["127.0.0.0/8", f"{GATEWAY}/32"],
    }


def corefile(state: Path) -> str:
    """Cluster names from the API; every other name is NXDOMAIN at once (the machine
    reaches no DNS upstream worth waiting for, and Pods need none)."""
    return f"""{CLUSTER_DOMAIN}:53 in-addr.arpa:53 ip6.arpa:53 {{
    bind {GATEWAY}
    errors
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {state / "coredns.kubeconfig"} {certs.CONTEXT}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }}
    cache 5
}}
.:53 {{
    bind {GATEWAY}
    errors
    template ANY ANY {{
        rcode NXDOMAIN
    }}
}}
"""


def cluster_objects() -> list[dict[str, object]]:
    """API objects the node needs: CoreDNS's read access, the kube-dns Service backed by
    the host's CoreDNS, and kube-proxy's node-proxier binding."""
    dns_slice: dict[str, object] = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "kube-dns-host",
            "namespace": "kube-system",
            "labels": {
                "kubernetes.io/service-name": "kube-dns",
                "endpointslice.kubernetes.io/managed-by": "cluster.holon.dev",
            },
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [GATEWAY], "conditions": {"ready": True}}],
        "ports": [
            {"name": "dns", "port": 53, "protocol": "UDP"},
            {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
        ],
    }
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "holon:coredns"},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["services", "pods", "namespaces"],
                    "verbs": ["list", "watch"],
                },
                {
                    "apiGroups": ["discovery.k8s.io"],
                    "resources": ["endpointslices"],
                    "verbs": ["list", "watch"],
                },
            ],
        },
        _binding("holon:coredns", "ClusterRole", "holon:coredns", "holon-coredns"),
        _binding("holon:kube-proxy", "ClusterRole", "system:node-proxier", "system:kube-proxy"),
        _binding(
            "holon:apiserver-kubelet-client",
            "ClusterRole",
            "system:kubelet-api-admin",
            "kube-apiserver-kubelet-client",
        ),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": "kube-dns",
                "namespace": "kube-system",
                "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"},
            },
            "spec": {
                "clusterIP": DNS_SERVICE_IP,
                "ports": [
                    {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                ],
            },
        },
        dns_slice,
    ]


def host_service(name: str, namespace: str, port: int, target_port: int) -> list[dict[str, object]]:
    """A selector-less Service whose one endpoint is this host (the bridge gateway): how a
    server running on the host (PostgreSQL, the equipment simulator) gets a cluster name."""
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"ports": [{"name": "tcp", "port": port, "targetPort": target_port}]},
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{name}-host",
                "namespace": namespace,
                "labels": {
                    "kubernetes.io/service-name": name,
                    "endpointslice.kubernetes.io/managed-by": "cluster.holon.dev",
                },
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": [GATEWAY], "conditions": {"ready": True}}],
            "ports": [{"name": "tcp", "port": target_port, "protocol": "TCP"}],
        },
    ]


def _binding(name: str, kind: str, role: str, user: str) -> dict[str, object]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }


def write_files(state: Path, api: str) -> None:
    d = node_dir(state)
    for sub in ("cni/net.d", "cni/ipam", "kubelet", "containerd"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    pki = state / "pki"
    for client in ("kubelet", "kube-proxy", "coredns"):
        (state / f"{client}.kubeconfig").write_text(certs.kubeconfig(pki, api, client))
    (d / "containerd.toml").write_text(containerd_config(state))
    (d / "cni" / "net.d" / "10-holon.conflist").write_text(json.dumps(cni_config(state), indent=2))
    (d / "kubelet.json").write_text(json.dumps(kubelet_config(state), indent=2))
    (d / "kube-proxy.json").write_text(json.dumps(kube_proxy_config(state), indent=2))
    (d / "Corefile").write_text(corefile(state))
    # Pods resolve through the cluster DNS only; this file is what kubelet copies for
    # hostNetwork Pods and the DNS "Default" policy
    (d / "resolv.conf").write_text(f"nameserver {GATEWAY}\n")


def argv(bins: Path, state: Path) -> dict[str, list[str]]:
    d = node_dir(state)
    return {
        "containerd": ["containerd", f"--config={d / 'containerd.toml'}", "--log-level=warn"],
        "kubelet": [
            str(bins / "kubelet"),
            f"--config={d / 'kubelet.json'}",
            f"--kubeconfig={state / 'kubelet.kubeconfig'}",
            f"--root-dir={d / 'kubelet'}",
            f"--hostname-override={NODE_NAME}",
            f"--node-ip={GATEWAY}",
            f"--node-labels={NODE_LABEL[0]}={NODE_LABEL[1]}",
            "--v=1",
        ],
        "kube-proxy": [str(bins / "kube-proxy"), f"--config={d / 'kube-proxy.json'}", "--v=1"],
        "coredns": [str(bins / "coredns"), "-conf", str(d / "Corefile")],
    }


# ----------------------------------------------------------------------------- host


def _run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=check)


def _sysctl(key: str, value: str) -> None:
    path = Path("/proc/sys") / key.replace(".", "/")
    if path.exists() and path.read_text().strip() != value:
        path.write_text(value)


def prepare_host() -> None:
    """Forwarding on, bridged traffic through iptables (kube-proxy needs both), the bridge
    with the gateway address (so CoreDNS can bind before the first Pod), and the guard
    that keeps Pod traffic on this machine."""
    if shutil.which("modprobe") and not Path("/proc/sys/net/bridge").exists():
        subprocess.run(["modprobe", "br_netfilter"], capture_output=True, check=False)
    _sysctl("net.ipv4.ip_forward", "1")
    _sysctl("net.bridge.bridge-nf-call-iptables", "1")
    if _run("ip", "link", "show", BRIDGE, check=False).returncode != 0:
        _run("ip", "link", "add", BRIDGE, "type", "bridge")
    if GATEWAY not in _run("ip", "-4", "addr", "show", BRIDGE).stdout:
        _run("ip", "addr", "add", f"{GATEWAY}/16", "dev", BRIDGE)
    _run("ip", "link", "set", BRIDGE, "up")
    if _run("iptables", "-w", "-L", GUARD_CHAIN, "-n", check=False).returncode != 0:
        _run("iptables", "-w", "-N", GUARD_CHAIN)
    _run("iptables", "-w", "-F", GUARD_CHAIN)
    # Pod traffic may go to Pods (same bridge) and to this host; never out of the machine
    _run("iptables", "-w", "-A", GUARD_CHAIN, "-s", POD_CIDR, "!", "-o", BRIDGE, "-j", "DROP")
    # a Service address that kube-proxy did not translate (a deleted Service, say) must not
    # follow the default route off the machine: reject it here (the filter table's OUTPUT
    # comes after kube-proxy's DNAT in nat OUTPUT, so translated traffic never matches)
    if _run("iptables", "-w", "-L", HOST_GUARD_CHAIN, "-n", check=False).returncode != 0:
        _run("iptables", "-w", "-N", HOST_GUARD_CHAIN)
    _run("iptables", "-w", "-F", HOST_GUARD_CHAIN)
    _run("iptables", "-w", "-A", HOST_GUARD_CHAIN, "-d", SERVICE_CIDR, "-j", "REJECT")
    for chain, target in (("FORWARD", GUARD_CHAIN), ("OUTPUT", HOST_GUARD_CHAIN)):
        rule = ("-j", target)
        if _run("iptables", "-w", "-C", chain, *rule, check=False).returncode != 0:
            _run("iptables", "-w", "-I", chain, "1", *rule)


def cleanup_host(bins: Path | None) -> None:
    """Undo prepare_host and kube-proxy's rules (idempotent)."""
    if bins is not None and (bins / "kube-proxy").exists():
        for mode in ("iptables",):
            subprocess.run(
                [str(bins / "kube-proxy"), "--cleanup", f"--proxy-mode={mode}"],
                capture_output=True,
                check=False,
            )
    # ours, and the loopback firewall kubelet installs whatever its settings say
    for chain, target in (
        ("FORWARD", GUARD_CHAIN),
        ("OUTPUT", HOST_GUARD_CHAIN),
        ("INPUT", "KUBE-FIREWALL"),
        ("OUTPUT", "KUBE-FIREWALL"),
    ):
        _run("iptables", "-w", "-D", chain, "-j", target, check=False)
    for target in (GUARD_CHAIN, HOST_GUARD_CHAIN, "KUBE-FIREWALL"):
        _run("iptables", "-w", "-F", target, check=False)
        _run("iptables", "-w", "-X", target, check=False)
    if shutil.which("ip6tables"):
        for chain in ("INPUT", "OUTPUT"):
            _run("ip6tables", "-w", "-D", chain, "-j", "KUBE-FIREWALL", check=False)
        _run("ip6tables", "-w", "-F", "KUBE-FIREWALL", check=False)
        _run("ip6tables", "-w", "-X", "KUBE-FIREWALL", check=False)
    _run("ip", "link", "del", BRIDGE, check=False)


def _shim_pids(state: Path) -> list[int]:
    """containerd-shim processes serving our containerd (they outlive it by design)."""
    needle = str(containerd_socket(state)).encode()
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"containerd-shim" in cmd.split(b"\0", 1)[0] and needle in cmd:
            pids.append(int(proc.name))
    return pids


def _unmount_under(root: Path) -> None:
    """Unmount everything mounted below root, deepest first (kubelet volumes, rootfs)."""
    if not root.exists():
        return
    prefix = str(root.resolve())
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            mounts.append(point)
    for point in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def _netns_of_pods(state: Path) -> list[str]:
    """Network namespaces containerd made for our Pods (named cni-*)."""
    out = _run("ip", "netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith("cni-")]


def stop(state: Path, bins: Path | None, quiet: bool = False) -> None:
    """Stop the node's processes, its containers and their mounts; undo host changes."""
    for name in ("coredns", "kube-proxy", "kubelet"):
        if procs.stop(name, state) and not quiet:
            print(f"==> stopped {name}")
    for pid in _shim_pids(state):  # each shim's group holds its containers
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _shim_pids(state) and time.monotonic() < deadline:
        time.sleep(0.1)
    if procs.stop("containerd", state) and not quiet:
        print("==> stopped containerd")
    for ns in _netns_of_pods(state):
        _run("ip", "netns", "delete", ns, check=False)
    _unmount_under(node_dir(state))
    _unmount_under(Path("/run/containerd/io.containerd.grpc.v1.cri"))
    cleanup_host(bins)
