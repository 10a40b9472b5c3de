"""Build the local test cluster's binaries from their Go modules, once, and cache them.

Why from source: our machines have no Docker (so no kind) and may reach only package
registries; the Go module proxy serves every component we need. The pinned versions live
here and in tools/kubernetes/go.mod (+ go.sum); the cache key hashes both, so a version bump
rebuilds and a warm run does not. Go's module and build caches are shared under
~/.cache/holon/go so that a rebuild after a bump is incremental.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from hack.project import PREBUILD_LOGS, cache_root, go_env, locked

HERE = Path(__file__).resolve().parent
TOOLS_K8S = HERE / "tools" / "kubernetes"


def _pinned(module: str) -> str:
    """The version tools/kubernetes/go.mod pins for ``module``: the build uses that file,
    so the version is read from it rather than written twice."""
    go_mod = TOOLS_K8S / "go.mod"
    found = re.search(rf"^\s*{re.escape(module)} (v\S+)", go_mod.read_text(), re.MULTILINE)
    if found is None:
        raise RuntimeError(f"{go_mod} pins no {module}")
    return found.group(1)


KUBERNETES_VERSION = _pinned("k8s.io/kubernetes")
ETCD_VERSION = _pinned("go.etcd.io/etcd/server/v3")  # the etcd the release's own go.mod pins
KWOK_VERSION = "v0.8.0"
HELM_VERSION = "v3.22.0"
COREDNS_VERSION = "v1.14.7"

K8S_COMMANDS = {
    "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
    "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
    "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
    "kubectl": "k8s.io/kubernetes/cmd/kubectl",
    "kubelet": "k8s.io/kubernetes/cmd/kubelet",
    "kube-proxy": "k8s.io/kubernetes/cmd/kube-proxy",
    "etcd": "go.etcd.io/etcd/server/v3",
}
HELM_KUBE_MINOR = "37"  # helm v3.22 is built on client-go v0.37: its default kubeVersion


def _helm_ldflags() -> str:
    """What helm's own Makefile stamps in: without it, `helm template` assumes Kubernetes
    1.20 and rejects charts with a newer kubeVersion constraint."""
    flags = ["-s", "-w", f"-X helm.sh/helm/v3/internal/version.version={HELM_VERSION}"]
    for pkg in ("helm.sh/helm/v3/pkg/lint/rules", "helm.sh/helm/v3/pkg/chartutil"):
        flags += [f"-X {pkg}.k8sVersionMajor=1", f"-X {pkg}.k8sVersionMinor={HELM_KUBE_MINOR}"]
    return " ".join(flags)


# name -> (package@version, ldflags) of the tools installed straight from their modules
GO_INSTALLS = {
    "kwok": (f"sigs.k8s.io/kwok/cmd/kwok@{KWOK_VERSION}", "-s -w"),
    "helm": (f"helm.sh/helm/v3/cmd/helm@{HELM_VERSION}", _helm_ldflags()),
    "coredns": (f"github.com/coredns/coredns@{COREDNS_VERSION}", "-s -w"),
}
BINARIES = (*K8S_COMMANDS, *GO_INSTALLS)
STAMP = ".complete"


def _version_ldflags() -> str:
    """Stamp the release into the binaries, as the upstream build does (kubectl version)."""
    major, minor = KUBERNETES_VERSION.lstrip("v").split(".")[:2]
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={KUBERNETES_VERSION}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
        ]
    return " ".join(flags)


def go_version() -> str:
    out = subprocess.run(
        ["go", "env", "GOVERSION"],
        cwd=TOOLS_K8S,
        env=go_env(),
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def cache_key() -> str:
    """Hash of everything that decides the binaries' content."""
    h = hashlib.sha256()
    for part in (KUBERNETES_VERSION, ETCD_VERSION, KWOK_VERSION, HELM_VERSION, go_version()):
        h.update(part.encode() + b"\0")
    h.update(_version_ldflags().encode())
    h.update(json.dumps(K8S_COMMANDS, sort_keys=True).encode())
    for spec, ldflags in GO_INSTALLS.values():
        h.update(f"{spec} {ldflags}".encode() + b"\0")
    for name in ("go.mod", "go.sum"):
        h.update((TOOLS_K8S / name).read_bytes())
    return f"k8s-{KUBERNETES_VERSION}-{h.hexdigest()[:12]}"


def bin_dir() -> Path:
    return cache_root() / "bin" / cache_key()


def cached() -> bool:
    d = bin_dir()
    return (d / STAMP).is_file() and all((d / b).is_file() for b in BINARIES)


def _run_with_progress(
    label: str, cmd: list[str], cwd: Path, total: int, gobin: Path | None = None
) -> None:
    """Run a `go build -v`/`go install -v`, turning its per-package lines into a periodic
    progress line (with a percentage when the package count is known)."""
    target = cmd[-1] if gobin else f"{total} packages at most"
    print(f"  [{label}] {' '.join(cmd[:2])} ({target})", flush=True)
    env = go_env()
    if gobin is not None:
        env["GOBIN"] = str(gobin)
    started = time.monotonic()
    lines: list[str] = []
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    done = threading.Event()

    def ticker() -> None:
        while not done.wait(20):
            mins, secs = divmod(int(time.monotonic() - started), 60)
            pct = f" (~{min(99, 100 * len(lines) // total)}%)" if total else ""
            print(f"  [{label}] {len(lines)} packages{pct}, {mins}m{secs:02d}s", flush=True)

    t = threading.Thread(target=ticker, daemon=True)
    t.start()
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.rstrip())
    rc = proc.wait()
    done.set()
    t.join()
    if rc != 0:
        print("\n".join(lines[-40:]), file=sys.stderr)
        raise SystemExit(f"build of {label} failed (exit {rc})")


def _count_packages(cwd: Path, pkgs: list[str]) -> int:
    out = subprocess.run(
        ["go", "list", "-deps", *pkgs],
        cwd=cwd,
        env=go_env(),
        check=False,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        print(out.stderr[-4000:], file=sys.stderr)
        raise SystemExit(
            "resolving the Kubernetes modules failed (is the Go module proxy reachable?)"
        )
    return len(out.stdout.splitlines())


def build() -> Path:
    """Build every binary unless the cache already holds this exact set. Returns its dir."""
    if shutil.which("go") is None:
        raise SystemExit("go is not on PATH: install Go (>= 1.26) first")
    waiting = (
        "==> another build of the cluster binaries is running (make test starts one in the "
        f"background: {PREBUILD_LOGS / 'cluster.log'}); waiting for it"
    )
    with locked(cache_root() / "build.lock", waiting):
        return _build()


def _prune(keep: Path) -> None:
    """Drop binaries of other pinned versions (each set is ~0.5 GB)."""
    for old in keep.parent.glob("k8s-*"):
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)


def _build() -> Path:
    dest = bin_dir()
    if cached():
        took = (dest / STAMP).read_text().split()[1:2] or ["?"]
        print(f"==> cluster binaries: cached in {dest} (their cold build took {took[0]})")
        return dest
    print(f"==> building cluster binaries into {dest} (cold build: this takes a while)")
    started = time.monotonic()
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".partial-", dir=dest.parent))
    try:
        flags = ["-trimpath", f"-ldflags={_version_ldflags()}"]
        pkgs = list(K8S_COMMANDS.values())
        print("  [kubernetes+etcd] resolving modules (downloads them on a fresh machine)")
        total = _count_packages(TOOLS_K8S, pkgs)
        _run_with_progress(
            "kubernetes+etcd",
            ["go", "build", "-v", *flags, "-o", f"{work}/", *pkgs],
            TOOLS_K8S,
            total,
        )
        # the etcd main package is the module root, so Go names the binary after it
        (work / "server").rename(work / "etcd")
        for name, (spec, ldflags) in GO_INSTALLS.items():
            _run_with_progress(
                name,
                ["go", "install", "-v", "-trimpath", f"-ldflags={ldflags}", spec],
                work,
                0,
                gobin=work,
            )
        mins, secs = divmod(int(time.monotonic() - started), 60)
        (work / STAMP).write_text(f"{cache_key()} {mins}m{secs:02d}s\n")
        work.chmod(0o755)
        if dest.exists():
            shutil.rmtree(dest)
        work.rename(dest)
        _prune(dest)
    finally:
        if work.exists():
            shutil.rmtree(work)
    print(f"==> cold build time (binaries were not cached): {mins}m{secs:02d}s", flush=True)
    return dest


if __name__ == "__main__":
    print(build())
