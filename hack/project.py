"""Facts and helpers every tool shares, each written once: where the repository is, where
the tools cache what they build (and Go's caches), a build lock, and the project's version
(pyproject.toml's: the tag `make images` gives). Stdlib only, like the rest of hack."""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def cache_root() -> Path:
    """Where binaries, images and Go caches live: outside the work tree, shared by clones."""
    return Path(os.environ.get("HOLON_CACHE", Path.home() / ".cache" / "holon"))


def go_env() -> dict[str, str]:
    """Go's environment for every build: shared caches, no VCS stamping, module mode."""
    env = dict(os.environ)
    env["GOMODCACHE"] = str(cache_root() / "go" / "mod")
    env["GOCACHE"] = str(cache_root() / "go" / "build")
    env["GOFLAGS"] = "-buildvcs=false"
    env.setdefault("GOTOOLCHAIN", "local")
    return env


@contextlib.contextmanager
def locked(path: Path, waiting: str | None = None) -> Iterator[None]:
    """An exclusive flock: parallel test sessions must not build or start twice at once.
    When another process holds it, ``waiting`` (if given) is printed before the wait, so a
    long wait is never silent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting:
                print(waiting, file=sys.stderr, flush=True)
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


PREBUILD_LOGS = REPO / ".holon" / "prebuild"
"""Logs of the cold builds ``make test`` starts in the background (``make prebuild``)."""


def version() -> str:
    """``project.version`` of pyproject.toml."""
    return str(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"])
