"""End to end: build the images (from the cache when warm), import them into a private
containerd, and run them with runc: the runtime answers /readyz on a read-only root like its
Deployment's, the operator image imports both packages as uid 10001, and pause stops on
SIGTERM. A second import is skipped because containerd already holds the same digests.

Needs root (debootstrap, containerd); CI's e2e stage runs as root. `make images` must not
be running a cold build at the same time (the build lock makes this test wait for it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hack.images.build import RUNTIME_PORT

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: debootstrap and containerd"),
    pytest.mark.timeout(900),  # a cold base layer is a debootstrap (about a minute here)
]

REPO = Path(__file__).resolve().parents[3]
NAMESPACE = "holon-e2e"
TOOLS = ("debootstrap", "containerd", "ctr", "runc", "go", "uv")
RUNTIME_REF_PREFIX = "holon.local/mes-runtime:"


def _build(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "hack.images.build", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def summary() -> dict[str, dict[str, str]]:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    assert not missing, f"tools missing for the images e2e test: {missing}"
    out = _build()
    assert "==> images: " in out
    path = Path(os.environ.get("HOLON_CACHE", Path.home() / ".cache" / "holon"))
    images: dict[str, dict[str, str]] = json.loads(
        (path / "images" / "oci" / "images.json").read_text()
    )
    # the summary is shared by every tree built with this cache (the upgrade tests build
    # the previous release's image too): this tree's images are the ones it just listed
    built = {line.split()[0] for line in out.splitlines() if line.startswith("  holon.local/")}
    assert len(built) == 3, out
    return {ref: info for ref, info in images.items() if ref in built}


@pytest.fixture(scope="module")
def containerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private containerd (no CRI) in a temporary directory; its socket address."""
    d = tmp_path_factory.mktemp("ctrd")
    sock = d / "c.sock"
    (d / "config.toml").write_text(
        "version = 2\n"
        f'root = "{d / "root"}"\n'
        f'state = "{d / "state"}"\n'
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        f'[grpc]\n  address = "{sock}"\n'
    )
    log = (d / "containerd.log").open("wb")
    proc = subprocess.Popen(
        ["containerd", "--config", str(d / "config.toml")], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 30
        while subprocess.run(_ctr(str(sock), "version"), capture_output=True).returncode != 0:
            assert proc.poll() is None, (d / "containerd.log").read_text()
            assert time.monotonic() < deadline, "containerd did not come up in 30 s"
            time.sleep(0.2)
        yield str(sock)
    finally:
        _remove_containers(str(sock))
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _ctr(address: str, *args: str) -> list[str]:
    return ["ctr", "--address", address, "--namespace", NAMESPACE, *args]


def _remove_containers(address: str) -> None:
    listing = subprocess.run(
        _ctr(address, "containers", "ls", "-q"), capture_output=True, text=True, check=False
    )
    for cid in listing.stdout.split():
        subprocess.run(_ctr(address, "tasks", "kill", "-s", "SIGKILL", cid), check=False)
        subprocess.run(_ctr(address, "tasks", "delete", "-f", cid), check=False)
        subprocess.run(_ctr(address, "containers", "rm", cid), check=False)


@pytest.fixture(scope="module")
def imported(summary: dict[str, dict[str, str]], containerd: str) -> dict[str, str]:
    """Import twice: the first imports every image, the second finds them all present."""
    first = _build("--import-address", containerd, "--namespace", NAMESPACE)
    second = _build("--import-address", containerd, "--namespace", NAMESPACE)
    for ref in summary:
        assert any(ref in line and line.endswith("imported") for line in first.splitlines())
        assert any(ref in line and "already present" in line for line in second.splitlines())
    assert "==> images: warm (cached)" in second
    return {ref: info["digest"] for ref, info in summary.items()}


def _ref(refs: dict[str, str], prefix: str) -> str:
    (ref,) = [r for r in refs if r.startswith(prefix)]
    return ref


def _run(address: str, ref: str, *cmd: str, options: tuple[str, ...] = ()) -> str:
    cid = f"t-{uuid.uuid4().hex[:10]}"
    proc = subprocess.run(
        _ctr(address, "run", "--rm", *options, ref, cid, *cmd),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_containerd_holds_the_built_digests(imported: dict[str, str], containerd: str) -> None:
    listing = subprocess.run(
        _ctr(containerd, "images", "ls"), capture_output=True, text=True, check=True
    ).stdout
    for ref, digest in imported.items():
        assert any(line.split()[:1] == [ref] and digest in line for line in listing.splitlines())


def test_runtime_image_runs_its_cli(imported: dict[str, str], containerd: str) -> None:
    out = _run(containerd, _ref(imported, RUNTIME_REF_PREFIX), "mes-runtime", "--help")
    assert out.startswith("usage: mes-runtime <command>")
    assert "serve" in out


def test_runtime_serves_ready_on_a_read_only_root(
    imported: dict[str, str], containerd: str
) -> None:
    """Like its Deployment: read-only root, a writable data dir and /tmp, uid 10001."""
    probe = (
        "mes-runtime serve > /tmp/serve.log 2>&1 & "
        "for i in $(seq 150); do "
        'python3 -c "import urllib.request as u; '
        f"print(u.urlopen('http://127.0.0.1:{RUNTIME_PORT}/readyz').read().decode())\" 2>/dev/null "
        "&& exit 0; sleep 0.2; done; cat /tmp/serve.log; exit 1"
    )
    out = _run(
        containerd,
        _ref(imported, RUNTIME_REF_PREFIX),
        "sh",
        "-c",
        probe,
        options=(
            "--read-only",
            "--mount",
            "type=tmpfs,src=tmpfs,dst=/var/lib/holon,options=rw:nosuid:nodev:uid=10001:gid=10001",
            "--mount",
            "type=tmpfs,src=tmpfs,dst=/tmp,options=rw:nosuid:nodev:mode=1777",
        ),
    )
    assert json.loads(out)["status"] == "ok"


def test_operator_image_has_both_packages_as_non_root(
    imported: dict[str, str], containerd: str
) -> None:
    code = "import os, mes_runtime, mes_operator; print(os.getuid(), mes_operator.__file__)"
    out = _run(containerd, _ref(imported, "holon.local/mes-operator:"), "python3", "-c", code)
    assert out.split() == ["10001", "/opt/holon/site/mes_operator/__init__.py"]


def test_pause_stops_on_sigterm(imported: dict[str, str], containerd: str) -> None:
    cid = f"pause-{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen(
        _ctr(containerd, "run", "--rm", _ref(imported, "holon.local/pause:"), cid),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            tasks = subprocess.run(
                _ctr(containerd, "tasks", "ls"), capture_output=True, text=True, check=True
            ).stdout
            if any(line.split()[:1] == [cid] and "RUNNING" in line for line in tasks.splitlines()):
                break
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "pause did not start in 60 s"
            time.sleep(0.2)
        subprocess.run(_ctr(containerd, "tasks", "kill", "-s", "SIGTERM", cid), check=True)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert "SIGTERM" in out or "terminated" in out
