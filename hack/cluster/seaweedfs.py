"""Build SeaweedFS's `weed` (Apache-2.0) from its Go module, once, and cache it.

The local cluster and the backup tests need a real S3-compatible object store; MinIO is
AGPL, SeaweedFS is Apache-2.0 and served by the Go module proxy. `go install module@version`
refuses it (its go.mod has a `replace` directive), so the module is downloaded and built in
its own directory, where it is the main module and its replace and go.sum apply.

The binary lands in ~/.cache/holon/bin/<key>/weed ($HOLON_CACHE), the key hashing the
version, the Go version and the flags; Go's module and build caches are the ones the cluster
build uses (~/.cache/holon/go), so shared dependencies are compiled once.

    python3 -m hack.cluster.seaweedfs build   # build if missing (progress: stderr), print path
    python3 -m hack.cluster.seaweedfs path    # print the path if cached, exit 1 otherwise
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from hack.cluster.gobuild import compile_go
from hack.project import cache_root, go_env  # the cluster build's cache and Go environment

MODULE = "github.com/seaweedfs/seaweedfs"
VERSION = "v0.0.0-20261109003541-7506e5f91cd6"
LDFLAGS = "-s -w"
STAMP = ".complete"


def _go(*args: str, cwd: Path | None = None) -> str:
    out = subprocess.run(
        ["go", *args], env=go_env(), cwd=cwd, check=True, capture_output=True, text=True
    )
    return out.stdout


def cache_key() -> str:
    h = hashlib.sha256()
    for part in (MODULE, VERSION, LDFLAGS, _go("env", "GOVERSION").strip()):
        h.update(part.encode() + b"\0")
    return f"seaweedfs-{VERSION.rsplit('-', 1)[-1]}-{h.hexdigest()[:12]}"


def binary() -> Path:
    return cache_root() / "bin" / cache_key() / "weed"


def cached() -> bool:
    path = binary()
    return path.is_file() and (path.parent / STAMP).is_file()


@contextlib.contextmanager
def _lock() -> Iterator[None]:
    cache_root().mkdir(parents=True, exist_ok=True)
    with (cache_root() / "seaweedfs.lock").open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _log(message: str) -> None:
    print(f"  [seaweedfs] {message}", file=sys.stderr, flush=True)


def build() -> Path:
    """The cached `weed`, built first if missing (one builder at a time)."""
    with _lock():
        if cached():
            return binary()
        started = time.monotonic()
        _log(f"building weed from {MODULE}@{VERSION} (cold: several minutes; cached after)")
        info = json.loads(_go("mod", "download", "-json", f"{MODULE}@{VERSION}"))
        source = Path(info["Dir"])
        _log(f"module downloaded ({time.monotonic() - started:.0f} s); compiling")
        target = binary()
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            out = Path(tmp) / "weed"
            compile_go(
                ["-ldflags", LDFLAGS, "-o", str(out), "./weed"],
                cwd=source, what="seaweedfs", started=started, log=_log,
            )  # fmt: skip
            out.replace(target)
        (target.parent / STAMP).write_text(VERSION + "\n")
        _log(f"built {target} in {time.monotonic() - started:.0f} s")
        return target


def main(argv: list[str]) -> int:
    action = argv[0] if argv else "build"
    if action == "path":
        if not cached():
            print(f"not built yet: run python3 {sys.argv[0]} build", file=sys.stderr)
            return 1
        print(binary())
        return 0
    if action == "build":
        print(build())
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
