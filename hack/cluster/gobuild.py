"""Tools built once from their Go modules and cached (standard library only).

SeaweedFS and Dex are built the same way: their go.mod has a ``replace`` directive, so
``go install module@version`` refuses them; the module is downloaded and built in its own
directory, where it is the main module. The binary lands in
``~/.cache/holon/bin/<key>/<binary>`` ($HOLON_CACHE), the key hashing the version, the Go
version and the flags; Go's module and build caches are the cluster build's
(~/.cache/holon/go), so shared dependencies are compiled once. One builder at a time (a
file lock); ``go build -v`` lists each package it compiles on stderr, and every 15 s a
progress line counts them; a failed build ends with the last lines it printed.
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from hack.project import cache_root, go_env  # the cluster build's cache and Go environment

__all__ = ["GoTool", "compile_go"]

PROGRESS_EVERY = 15.0  # seconds between progress lines
LDFLAGS = "-s -w"
STAMP = ".complete"


def _go(*args: str, cwd: Path | None = None) -> str:
    out = subprocess.run(
        ["go", *args], env=go_env(), cwd=cwd, check=True, capture_output=True, text=True
    )
    return out.stdout


def compile_go(
    args: list[str], *, cwd: Path, what: str, started: float, log: Callable[[str], None]
) -> None:
    """Run ``go build -v -trimpath ARGS`` in ``cwd`` (``started``: when the whole build
    began, for the progress lines); SystemExit naming ``what`` with the output's tail if
    it fails."""
    proc = subprocess.Popen(
        ["go", "build", "-v", "-trimpath", *args],
        cwd=cwd,
        env=go_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    last = time.monotonic()
    tail: list[str] = []
    for packages, line in enumerate(proc.stderr, start=1):
        tail = [*tail[-20:], line.rstrip()]
        if time.monotonic() - last > PROGRESS_EVERY:
            last = time.monotonic()
            log(f"{packages} packages, {time.monotonic() - started:.0f} s")
    if proc.wait() != 0:
        raise SystemExit(f"{what} build failed:\n" + "\n".join(tail))


@dataclass(frozen=True)
class GoTool:
    """One tool: its name (cache key prefix, lock, log tag), the binary it builds, its
    module and version, the package to build, and what else its build needs."""

    name: str
    binary_name: str
    module: str
    version: str
    package: str
    cold: str = "several minutes"
    key_parts: tuple[str, ...] = ()
    """More of what the binary depends on, hashed into the cache key."""
    build_args: Callable[[Path, Path], list[str]] | None = None
    """Extra ``go build`` arguments from the module's source and a scratch directory."""

    def cache_key(self) -> str:
        h = hashlib.sha256()
        parts = (self.module, self.version, *self.key_parts, LDFLAGS)
        for part in (*parts, _go("env", "GOVERSION").strip()):
            h.update(part.encode() + b"\0")
        return f"{self.name}-{self.version.rsplit('-', 1)[-1]}-{h.hexdigest()[:12]}"

    def binary(self) -> Path:
        return cache_root() / "bin" / self.cache_key() / self.binary_name

    def cached(self) -> bool:
        path = self.binary()
        return path.is_file() and (path.parent / STAMP).is_file()

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        cache_root().mkdir(parents=True, exist_ok=True)
        with (cache_root() / f"{self.name}.lock").open("w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            yield

    def log(self, message: str) -> None:
        print(f"  [{self.name}] {message}", file=sys.stderr, flush=True)

    def build(self) -> Path:
        """The cached binary, built first if missing (one builder at a time)."""
        with self._lock():
            if self.cached():
                return self.binary()
            started = time.monotonic()
            self.log(
                f"building {self.binary_name} from {self.module}@{self.version} "
                f"(cold: {self.cold}; cached after)"
            )
            info = json.loads(_go("mod", "download", "-json", f"{self.module}@{self.version}"))
            source = Path(info["Dir"])
            self.log(f"module downloaded ({time.monotonic() - started:.0f} s); compiling")
            target = self.binary()
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
                out = Path(tmp) / self.binary_name
                extra = self.build_args(source, Path(tmp)) if self.build_args else []
                compile_go(
                    [*extra, "-ldflags", LDFLAGS, "-o", str(out), self.package],
                    cwd=source, what=self.name, started=started, log=self.log,
                )  # fmt: skip
                out.replace(target)
            (target.parent / STAMP).write_text(self.version + "\n")
            self.log(f"built {target} in {time.monotonic() - started:.0f} s")
            return target

    def main(self, argv: list[str], usage: str) -> int:
        """``build`` (build if missing, print the path) or ``path`` (exit 1 if not built)."""
        action = argv[0] if argv else "build"
        if action == "path":
            if not self.cached():
                print(f"not built yet: run python3 {sys.argv[0]} build", file=sys.stderr)
                return 1
            print(self.binary())
            return 0
        if action == "build":
            print(self.build())
            return 0
        print(usage, file=sys.stderr)
        return 2
