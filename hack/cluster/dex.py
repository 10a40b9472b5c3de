"""Build Dex (Apache-2.0), the OpenID Connect provider of the sign-in tests, from its Go
module, once, and cache it.

The runtime's OIDC sign-in is tested against a real provider, not a mock: Dex, the one the
Kubernetes ecosystem uses, served by the Go module proxy. Its go.mod has a `replace`
directive (its api/v2 module), so `go install module@version` refuses it, as it does
SeaweedFS: the module is downloaded and built in its own directory. v2.41.1 is the newest
release the proxy serves here (as the pseudo-version of its commit; the module path has no
/v2, so its tags are not module versions). Its command needs cgo (SQLite storage), so a C
compiler too (gcc).

The binary lands in ~/.cache/holon/bin/<key>/dex ($HOLON_CACHE), the key hashing the
version, the Go version and the flags; Go's module and build caches are the cluster build's
(~/.cache/holon/go).

    python3 -m hack.cluster.dex build   # build if missing (progress: stderr), print path
    python3 -m hack.cluster.dex path    # print the path if cached, exit 1 otherwise
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

MODULE = "github.com/dexidp/dex"
VERSION = "v0.0.0-20240807174518-43956db7fd75"  # v2.41.1
# Dex's go.mod replaces its api/v2 module with ./api/v2, a nested module that the module
# zip leaves out: the build uses a copy of go.mod (-modfile) that takes it from the proxy.
API_MODULE = "github.com/dexidp/dex/api/v2"
API_VERSION = "v2.1.1-0.20240807174518-43956db7fd75"
# Its hashes, pinned here: the checksum database has no entry for this pseudo-version, and a
# go.sum line is what the go command then checks the download against.
API_SUMS = (
    f"{API_MODULE} {API_VERSION} h1:+6yv8pY6NPzvEExj/rWp8xu9LZNNUQImWofqpcaW+Og=\n"
    f"{API_MODULE} {API_VERSION}/go.mod h1:wW7pJO4K9SxAgwjTWGv9jzBS6sbKcItdtbC25uJoZvg=\n"
)
LDFLAGS = "-s -w"
STAMP = ".complete"


def _go(*args: str, cwd: Path | None = None) -> str:
    out = subprocess.run(
        ["go", *args], env=go_env(), cwd=cwd, check=True, capture_output=True, text=True
    )
    return out.stdout


def cache_key() -> str:
    h = hashlib.sha256()
    for part in (MODULE, VERSION, API_VERSION, LDFLAGS, _go("env", "GOVERSION").strip()):
        h.update(part.encode() + b"\0")
    return f"dex-{VERSION.rsplit('-', 1)[-1]}-{h.hexdigest()[:12]}"


def binary() -> Path:
    return cache_root() / "bin" / cache_key() / "dex"


def cached() -> bool:
    path = binary()
    return path.is_file() and (path.parent / STAMP).is_file()


@contextlib.contextmanager
def _lock() -> Iterator[None]:
    cache_root().mkdir(parents=True, exist_ok=True)
    with (cache_root() / "dex.lock").open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _log(message: str) -> None:
    print(f"  [dex] {message}", file=sys.stderr, flush=True)


def _modfile(source: Path, tmp: Path) -> Path:
    """A copy of Dex's go.mod (and go.sum) whose api/v2 comes from the module proxy."""
    text = (source / "go.mod").read_text()
    local = f"replace {API_MODULE} => ./api/v2"
    if local not in text:
        raise SystemExit(f"dex's go.mod no longer has {local!r}: update hack/cluster/dex.py")
    modfile = tmp / "dex.mod"
    modfile.write_text(text.replace(local, f"replace {API_MODULE} => {API_MODULE} {API_VERSION}"))
    (tmp / "dex.sum").write_text((source / "go.sum").read_text() + API_SUMS)
    return modfile


def build() -> Path:
    """The cached `dex`, built first if missing (one builder at a time)."""
    with _lock():
        if cached():
            return binary()
        started = time.monotonic()
        _log(f"building dex from {MODULE}@{VERSION} (cold: a few minutes; cached after)")
        info = json.loads(_go("mod", "download", "-json", f"{MODULE}@{VERSION}"))
        source = Path(info["Dir"])
        _log(f"module downloaded ({time.monotonic() - started:.0f} s); compiling")
        target = binary()
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            out = Path(tmp) / "dex"
            modfile = _modfile(source, Path(tmp))
            compile_go(
                ["-mod=mod", f"-modfile={modfile}", "-ldflags", LDFLAGS, "-o", str(out),
                 "./cmd/dex"],
                cwd=source, what="dex", started=started, log=_log,
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
